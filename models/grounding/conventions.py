"""How each model family writes a box (:class:`Convention`), and a source box written that way.

The numbers a model writes refer to the image the model received, which RadLens made from a
source slice by crop, pad and resize (:class:`~models.inputs.mapping.ImageMapping`). Reading them
back is :func:`models.grounding.placement.parse_boxes`; the functions here go the other way, from a
:class:`~models.grounding.box.Box` in source pixels to what the model would write (to ask about a
user's region).

Conventions, and where the facts come from:

``gemma_box_2d`` (MedGemma 1.5)
    ``{"box_2d": [y0, x0, y1, x1], "label": ...}``, 0-1000 over the image the model saw, which
    is the slice padded to a square (its localization notebook; its prompt asks for reasoning,
    then ``Final Answer: X`` with ``X`` the JSON list). y comes first.
``qwen_abs`` (Qwen2.5-VL, Lingshu)
    ``{"bbox_2d": [x1, y1, x2, y2], "label": ...}`` in absolute pixels of the processor-resized
    image (``smart_resize``: the mapping's ``model_size``); values may fall outside: clipped.
``qwen_norm_1000`` (Qwen2-VL, Qwen3-VL)
    Same keys, 0-1000 over the model image: QwenLM/Qwen3-VL ``cookbooks/2d_grounding.ipynb``
    says Qwen3-VL moved from Qwen2.5-VL's absolute pixels to "relative coordinates ranging from
    0 to 1000" (cell ``e6ad3b52``) and draws a box at ``value / 1000 * width`` (x) and
    ``/ 1000 * height`` (y) on the image it sent (``plot_bounding_boxes``, cell ``07044e07``).
    Relative values do not depend on the processor's resize. Qwen2-VL's special-token form
    ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`` is
    read too (both Qwen conventions), when the text was decoded with special tokens kept.
``medrega`` (MedRegA)
    ``<ref>text</ref><box>[[x1, y1, x2, y2], ...]</box>``, integers 0-999 over the model image:
    MedRegA's prompts say "integers ranging from 0 to 999" and its evaluator
    (``src/eval/regt2r/evaluator_reg.py``, ``BBOX_SCALE = 999``) divides by 999 and multiplies
    by the image size, so 999 is the right/bottom edge.
``maira2`` (MAIRA-2)
    ``<obj>phrase<box><x55><y45><x70><y56></box></obj>`` (no underscore in the tokens; the box
    sits inside the ``<obj>``): 100 bins over the centre-cropped square MAIRA-2 sees. Each bin
    number is read as the centre of its cell, ``(NN + 0.5) / 100``, for both corners, exactly as
    its processor does (``convert_output_to_plaintext_or_grounded_sequence``, then
    ``adjust_box_for_original_image_size`` for the crop, which the mapping records here). Boxes
    always refer to the current frontal image, the first image of the request. The crop is its
    processor's, applied to whatever image it is sent, so it is recorded on the mapping of that
    image as its view (:meth:`ImageMapping.centre_square_view`, the processor's own integer
    offsets) when a box is read or written: a non-square image (a remote server's MAIRA-2 gets
    RadLens's unpadded images) loses its two ends, and boxes come back in source pixels of the
    square that was kept. RadLens cannot load MAIRA-2 itself (its processor and model are remote
    code, ``trust_remote_code``, which RadLens never runs), so the convention serves a remote
    server declared with ``RADLENS_REMOTE_GROUNDING=maira2`` and saved MAIRA-2 text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum

from dicom_io.errors import InvalidArgumentError
from models.grounding.box import Box
from models.inputs.mapping import ImageMapping

__all__ = [
    "JSON_KEYS",
    "SCALES",
    "Convention",
    "Scale",
    "box_to_model",
    "image_reference_instruction",
    "native_text",
    "parse_convention",
    "to_native",
]


class Convention(StrEnum):
    """How a model family writes a box (see the module documentation)."""

    GEMMA_BOX_2D = "gemma_box_2d"
    QWEN_ABS = "qwen_abs"
    QWEN_NORM_1000 = "qwen_norm_1000"
    MEDREGA = "medrega"
    MAIRA2 = "maira2"


@dataclass(frozen=True)
class Scale:
    y_first: bool
    full: float | None  # None: absolute model pixels
    offset: float = 0.0  # added to each native value before dividing by full
    key: str = ""


SCALES = {
    Convention.GEMMA_BOX_2D: Scale(True, 1000.0, key="box_2d"),
    Convention.QWEN_ABS: Scale(False, None, key="bbox_2d"),
    Convention.QWEN_NORM_1000: Scale(False, 1000.0, key="bbox_2d"),
    Convention.MEDREGA: Scale(False, 999.0),
    Convention.MAIRA2: Scale(False, 100.0, offset=0.5),
}
# JSON keys read as a box, by convention; the coordinate order is always the convention's.
JSON_KEYS = {
    Convention.GEMMA_BOX_2D: ("box_2d", "bbox_2d", "bbox", "box"),
    Convention.QWEN_ABS: ("bbox_2d", "box_2d", "bbox", "box"),
    Convention.QWEN_NORM_1000: ("bbox_2d", "box_2d", "bbox", "box"),
}


def parse_convention(convention: Convention | str) -> Convention:
    try:
        return Convention(convention)
    except ValueError as err:
        names = ", ".join(c.value for c in Convention)
        raise InvalidArgumentError(
            f"Unknown grounding convention {convention!r}; use one of: {names}."
        ) from err


def box_to_model(box: Box, mapping: ImageMapping) -> tuple[float, float, float, float]:
    """A source box as ``(x0, y0, x1, y1)`` pixels of the model image (to draw a user's region)."""
    x0, y0 = mapping.to_model(box.x0, box.y0)
    x1, y1 = mapping.to_model(box.x1, box.y1)
    return x0, y0, x1, y1


def to_native(
    box: Box, convention: Convention | str, mapping: ImageMapping
) -> tuple[int, int, int, int]:
    """A source box as the four integers the model would write, in its order and scale."""
    convention = parse_convention(convention)
    scale = SCALES[convention]
    if convention is Convention.MAIRA2 and mapping.view is None:
        mapping = mapping.centre_square_view()  # the square its processor keeps
    if scale.full is None:
        mw, mh = mapping.model_size
        x0, y0, x1, y1 = box_to_model(box, mapping)
        xs = [min(max(round(v), 0), mw) for v in (x0, x1)]
        ys = [min(max(round(v), 0), mh) for v in (y0, y1)]
        return (ys[0], xs[0], ys[1], xs[1]) if scale.y_first else (xs[0], ys[0], xs[1], ys[1])
    x0, y0 = mapping.source_to_normalized(box.x0, box.y0, scale.full)
    x1, y1 = mapping.source_to_normalized(box.x1, box.y1, scale.full)
    if scale.offset:  # bins: the cell a corner falls in
        top = int(scale.full) - 1
        xs = [min(max(math.floor(v), 0), top) for v in (x0, x1)]
        ys = [min(max(math.floor(v), 0), top) for v in (y0, y1)]
    else:
        full = int(scale.full)
        xs = [min(max(round(v), 0), full) for v in (x0, x1)]
        ys = [min(max(round(v), 0), full) for v in (y0, y1)]
    if scale.y_first:
        return ys[0], xs[0], ys[1], xs[1]
    return xs[0], ys[0], xs[1], ys[1]


def native_text(box: Box, convention: Convention | str, mapping: ImageMapping) -> str:
    """A source box written the way the model writes boxes (to ask about a user's region)."""
    convention = parse_convention(convention)
    a, b, c, d = to_native(box, convention, mapping)
    if convention is Convention.MEDREGA:
        return f"<ref>{box.label}</ref><box>[[{a}, {b}, {c}, {d}]]</box>"
    if convention is Convention.MAIRA2:
        return f"<obj>{box.label}<box><x{a}><y{b}><x{c}><y{d}></box></obj>"
    return json.dumps({SCALES[convention].key: [a, b, c, d], "label": box.label})


def image_reference_instruction(convention: Convention | str, n_images: int) -> str:
    """The sentence a prompt adds so that each box says which image it is on ("" if moot)."""
    convention = parse_convention(convention)
    if n_images <= 1 or convention is Convention.MAIRA2:
        return ""
    if convention is Convention.MEDREGA:
        return (
            'Each image is followed by its label "SLICE k". Inside every <ref></ref>, after the '
            'name of the region, write "SLICE k" for the image its box is drawn on.'
        )
    return (
        'Each image is followed by its label "SLICE k". Give every box a "slice" key whose '
        'value is the number k of the image it is drawn on, for example {"slice": 4, ...}.'
    )
