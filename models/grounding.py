"""Boxes a model drew, turned into source pixels of the slice they were drawn on.

Each model family writes boxes in its own native convention (:class:`Convention`); the numbers
refer to the image the model received, which RadLens made from a source slice by crop, pad and
resize (:class:`~models.mapping.ImageMapping`). :func:`parse_boxes` reads the boxes from the raw
text (leniently: :mod:`models.grounding_parsers`), picks the image each box refers to, converts
it through that image's mapping and clips it. It never raises on model text: every box it could
not use is listed in ``dropped`` with the reason, every repair it made in ``notes``.

Conventions, and where the facts come from:

``gemma_box_2d`` (MedGemma 1.5)
    ``{"box_2d": [y0, x0, y1, x1], "label": ...}``, 0-1000 over the image the model saw, which
    is the slice padded to a square (its localization notebook; its prompt asks for reasoning,
    then ``Final Answer: X`` with ``X`` the JSON list). y comes first.
``qwen_abs`` (Qwen2.5-VL, Lingshu)
    ``{"bbox_2d": [x1, y1, x2, y2], "label": ...}`` in absolute pixels of the processor-resized
    image (``smart_resize``: the mapping's ``model_size``); values may fall outside: clipped.
``qwen_norm_1000`` (Qwen2-VL, Qwen3-VL)
    Same keys, 0-1000 over the model image. Qwen2-VL's special-token form
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
    always refer to the current frontal image, the first image of the request.

Which image a box refers to. With one image, that one. With several (a CT or MR sent as slices,
each preceded by a text part ``SLICE k`` with ``k`` the source slice index; or current and
prior), a box must say which: ``"slice": k`` (the source slice index, as written before the
image) or ``"image": i`` (the 1-based position of the image in the request); a key on an
enclosing object applies to the boxes inside it. Failing those, a ``SLICE k`` written in the
label is used (and taken out of it), which is how markup conventions can say it. A box with no
reference on a multi-image request is dropped, not guessed: a box on the wrong slice is worse
than none. :func:`image_reference_instruction` gives the sentence that asks for the key.

Geometry. Coordinates are pixel edges: ``x`` right in ``[0, width]``, ``y`` down in
``[0, height]``. Corners given in the wrong order (MedGemma sometimes swaps them) are sorted,
with a note. A box of zero width or height as written is dropped as degenerate. Boxes are
clipped to the part of the source slice the model saw (the mapping's crop, which is the whole
slice unless a crop was asked for): padding the model saw shows no anatomy. A box left with no
area is dropped as outside the image.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dicom_io.errors import InvalidArgumentError
from models.grounding_parsers import (
    Candidate,
    Extraction,
    extract_json,
    extract_maira2,
    extract_medrega,
    extract_qwen_tokens,
)
from models.mapping import ImageMapping

__all__ = [
    "Box",
    "Convention",
    "GroundingResult",
    "box_to_model",
    "image_reference_instruction",
    "native_text",
    "parse_boxes",
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
class _Scale:
    y_first: bool
    full: float | None  # None: absolute model pixels
    offset: float = 0.0  # added to each native value before dividing by full
    key: str = ""


_SCALES = {
    Convention.GEMMA_BOX_2D: _Scale(True, 1000.0, key="box_2d"),
    Convention.QWEN_ABS: _Scale(False, None, key="bbox_2d"),
    Convention.QWEN_NORM_1000: _Scale(False, 1000.0, key="bbox_2d"),
    Convention.MEDREGA: _Scale(False, 999.0),
    Convention.MAIRA2: _Scale(False, 100.0, offset=0.5),
}
# JSON keys read as a box, by convention; the coordinate order is always the convention's.
_JSON_KEYS = {
    Convention.GEMMA_BOX_2D: ("box_2d", "bbox_2d", "bbox", "box"),
    Convention.QWEN_ABS: ("bbox_2d", "box_2d", "bbox", "box"),
    Convention.QWEN_NORM_1000: ("bbox_2d", "box_2d", "bbox", "box"),
}


@dataclass(frozen=True)
class Box:
    """A box on a source slice, in source pixels (``x`` right, ``y`` down, pixel edges).

    ``mm`` is ``(x0, y0, x1, y1)`` in millimetres from the slice's top-left corner when the
    pixel spacing is known (not patient coordinates).
    """

    label: str
    slice: int
    x0: float
    y0: float
    x1: float
    y1: float
    mm: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        corners = (self.x0, self.y0, self.x1, self.y1)
        if not all(math.isfinite(v) for v in corners):
            raise InvalidArgumentError(f"Box corners must be finite, not {corners}.")
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            raise InvalidArgumentError(
                f"Box corners must satisfy x0 < x1 and y0 < y1, not {corners}."
            )
        if self.slice < 0:
            raise InvalidArgumentError(f"Box slice must be >= 0, not {self.slice}.")
        if self.mm is not None and (
            len(self.mm) != 4 or not all(math.isfinite(v) for v in self.mm)
        ):
            raise InvalidArgumentError(f"Box mm must be 4 finite numbers, not {self.mm}.")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, coordinates rounded to 0.01 (pixels) and 0.01 mm."""
        return {
            "label": self.label,
            "slice": self.slice,
            "x0": round(self.x0, 2),
            "y0": round(self.y0, 2),
            "x1": round(self.x1, 2),
            "y1": round(self.y1, 2),
            "mm": None if self.mm is None else [round(v, 2) for v in self.mm],
        }


@dataclass(frozen=True)
class GroundingResult:
    """What :func:`parse_boxes` made of a model's text.

    ``dropped`` has one line per box that could not be used, with the reason; ``notes`` one
    line per repair (corners sorted, box clipped, duplicates, drafts before a final answer).
    ``text_without_boxes`` is the answer with the box markup taken out, for display.
    """

    boxes: tuple[Box, ...]
    dropped: tuple[str, ...]
    text_without_boxes: str
    notes: tuple[str, ...] = ()


def _convention(convention: Convention | str) -> Convention:
    try:
        return Convention(convention)
    except ValueError as err:
        names = ", ".join(c.value for c in Convention)
        raise InvalidArgumentError(
            f"Unknown grounding convention {convention!r}; use one of: {names}."
        ) from err


def _extract(text: str, convention: Convention) -> Extraction:
    if convention is Convention.MEDREGA:
        return extract_medrega(text)
    if convention is Convention.MAIRA2:
        return extract_maira2(text)
    found = extract_json(text, _JSON_KEYS[convention])
    if "<|box_start|>" not in found.text:
        return found
    tokens = extract_qwen_tokens(found.text)
    return Extraction(
        found.candidates + tokens.candidates, tokens.text, found.ignored_before_final_answer
    )


_SLICE_IN_LABEL = re.compile(r"\bslice[\s:#]*(\d+)\b", re.IGNORECASE)


def _name(number: int, label: str) -> str:
    if not label:
        return f"box {number}"
    short = label if len(label) <= 40 else label[:37] + "..."
    return f'box {number} "{short}"'


def _slices_text(mappings: Sequence[ImageMapping]) -> str:
    indices = [m.slice_index for m in mappings]
    shown = ", ".join(str(i) for i in indices[:6])
    return shown + (", ..." if len(indices) > 6 else "")


def _pick_image(
    candidate: Candidate, mappings: Sequence[ImageMapping], convention: Convention
) -> tuple[ImageMapping | None, str, str | None]:
    """The mapping a box refers to, its label (a ``SLICE k`` taken out), or why there is none."""
    label = candidate.label
    if len(mappings) == 1 or convention is Convention.MAIRA2:
        return mappings[0], label, None
    slice_ref, image_ref = candidate.slice_ref, candidate.image_ref
    if slice_ref is None and image_ref is None and (found := _SLICE_IN_LABEL.search(label)):
        slice_ref = int(found.group(1))
        before = label[: found.start()].rstrip(" ,;:-([")
        after = label[found.end() :].lstrip(" ,;:-)]")
        label = " ".join(f"{before} {after}".split())
    if slice_ref is not None:
        matches = [m for m in mappings if m.slice_index == slice_ref]
        if len(matches) == 1:
            return matches[0], label, None
        if not matches:
            sent = _slices_text(mappings)
            return None, label, f"unknown image: slice {slice_ref} was not sent (sent: {sent})"
        if image_ref is None:
            return None, label, f'slice {slice_ref} was sent more than once: give "image": i'
    if image_ref is not None:
        if 1 <= image_ref <= len(mappings):
            return mappings[image_ref - 1], label, None
        return None, label, f"unknown image: image {image_ref} (sent: 1 to {len(mappings)})"
    return None, label, f'no "slice" given on a {len(mappings)}-image request'


def _native_to_source(
    values: tuple[float, float, float, float], scale: _Scale, mapping: ImageMapping
) -> tuple[float, float, float, float]:
    a, b, c, d = values
    x0, y0, x1, y1 = (b, a, d, c) if scale.y_first else (a, b, c, d)
    if scale.full is None:
        p0, p1 = mapping.to_source(x0, y0), mapping.to_source(x1, y1)
    else:
        o, full = scale.offset, scale.full
        p0 = mapping.normalized_to_source(x0 + o, y0 + o, full)
        p1 = mapping.normalized_to_source(x1 + o, y1 + o, full)
    return p0[0], p0[1], p1[0], p1[1]


def _place(
    values: tuple[float, float, float, float],
    scale: _Scale,
    mapping: ImageMapping,
    name: str,
    notes: list[str],
) -> tuple[float, float, float, float] | str:
    """Source corners, sorted and clipped to what the model saw, or why the box is unusable."""
    x0, y0, x1, y1 = _native_to_source(values, scale, mapping)
    if x0 == x1 or y0 == y1:
        return "degenerate (zero width or height)"
    if x0 > x1 or y0 > y1:
        notes.append(f"{name}: corners in the wrong order, sorted")
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
    cx0, cy0, cx1, cy1 = mapping.crop
    clipped = (
        float(max(x0, cx0)),
        float(max(y0, cy0)),
        float(min(x1, cx1)),
        float(min(y1, cy1)),
    )
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        return "outside the image entirely"
    if clipped != (x0, y0, x1, y1):
        notes.append(f"{name}: clipped to the image")
    return clipped


def _spacing(spacing: tuple[float, float] | None) -> tuple[float, float] | None:
    if spacing is None:
        return None
    if len(spacing) != 2 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise InvalidArgumentError(
            f"Argument 'spacing' must be (row_mm, col_mm), both > 0, not {spacing}."
        )
    return float(spacing[0]), float(spacing[1])


def parse_boxes(
    text: str,
    convention: Convention | str,
    mappings: Sequence[ImageMapping],
    spacing: tuple[float, float] | None = None,
) -> GroundingResult:
    """The boxes in a model's answer, in source pixels of the slices they were drawn on.

    Args:
        text: the model's raw answer.
        convention: how the model writes boxes (:class:`Convention` or its value).
        mappings: one per image of the request, in request order.
        spacing: ``(row_mm, col_mm)`` pixel spacing of the source slices, to fill ``Box.mm``.

    Raises:
        InvalidArgumentError: an unknown convention, no mappings, or a bad spacing (never for
            anything in ``text``).
    """
    convention = _convention(convention)
    if not mappings:
        raise InvalidArgumentError("Argument 'mappings' must hold one mapping per image, not 0.")
    row_col = _spacing(spacing)
    found = _extract(text, convention)
    scale = _SCALES[convention]
    boxes: list[Box] = []
    dropped: list[str] = []
    notes: list[str] = []
    if found.ignored_before_final_answer:
        notes.append(
            f"{found.ignored_before_final_answer} box(es) in the reasoning before the last "
            "'Final Answer:' ignored"
        )
    seen: set[tuple[str, int, float, float, float, float]] = set()
    for number, candidate in enumerate(found.candidates, start=1):
        name = _name(number, candidate.label)
        if candidate.values is None:
            dropped.append(f"{name}: {candidate.problem}")
            continue
        mapping, label, problem = _pick_image(candidate, mappings, convention)
        if mapping is None:
            dropped.append(f"{name}: {problem}")
            continue
        placed = _place(candidate.values, scale, mapping, name, notes)
        if isinstance(placed, str):
            dropped.append(f"{name}: {placed}")
            continue
        key = (label, mapping.slice_index, *placed)
        if key in seen:
            notes.append(f"{name}: duplicate of an earlier box, skipped")
            continue
        seen.add(key)
        x0, y0, x1, y1 = placed
        mm = None
        if row_col is not None:
            row_mm, col_mm = row_col
            mm = (x0 * col_mm, y0 * row_mm, x1 * col_mm, y1 * row_mm)
        boxes.append(Box(label, mapping.slice_index, x0, y0, x1, y1, mm))
    return GroundingResult(tuple(boxes), tuple(dropped), found.text, tuple(notes))


def box_to_model(box: Box, mapping: ImageMapping) -> tuple[float, float, float, float]:
    """A source box as ``(x0, y0, x1, y1)`` pixels of the model image (to draw a user's region)."""
    x0, y0 = mapping.to_model(box.x0, box.y0)
    x1, y1 = mapping.to_model(box.x1, box.y1)
    return x0, y0, x1, y1


def to_native(
    box: Box, convention: Convention | str, mapping: ImageMapping
) -> tuple[int, int, int, int]:
    """A source box as the four integers the model would write, in its order and scale."""
    scale = _SCALES[_convention(convention)]
    mw, mh = mapping.model_size
    x0, y0, x1, y1 = box_to_model(box, mapping)
    if scale.full is None:
        xs = [min(max(round(v), 0), mw) for v in (x0, x1)]
        ys = [min(max(round(v), 0), mh) for v in (y0, y1)]
    elif scale.offset:  # bins: the cell a corner falls in
        top = int(scale.full) - 1
        xs = [min(max(math.floor(v / mw * scale.full), 0), top) for v in (x0, x1)]
        ys = [min(max(math.floor(v / mh * scale.full), 0), top) for v in (y0, y1)]
    else:
        full = int(scale.full)
        xs = [min(max(round(v / mw * full), 0), full) for v in (x0, x1)]
        ys = [min(max(round(v / mh * full), 0), full) for v in (y0, y1)]
    if scale.y_first:
        return ys[0], xs[0], ys[1], xs[1]
    return xs[0], ys[0], xs[1], ys[1]


def native_text(box: Box, convention: Convention | str, mapping: ImageMapping) -> str:
    """A source box written the way the model writes boxes (to ask about a user's region)."""
    convention = _convention(convention)
    a, b, c, d = to_native(box, convention, mapping)
    if convention is Convention.MEDREGA:
        return f"<ref>{box.label}</ref><box>[[{a}, {b}, {c}, {d}]]</box>"
    if convention is Convention.MAIRA2:
        return f"<obj>{box.label}<box><x{a}><y{b}><x{c}><y{d}></box></obj>"
    return json.dumps({_SCALES[convention].key: [a, b, c, d], "label": box.label})


def image_reference_instruction(convention: Convention | str, n_images: int) -> str:
    """The sentence a prompt adds so that each box says which image it is on ("" if moot)."""
    convention = _convention(convention)
    if n_images <= 1 or convention is Convention.MAIRA2:
        return ""
    if convention is Convention.MEDREGA:
        return (
            'Each image is preceded by "SLICE k". Inside every <ref></ref>, after the name of '
            'the region, write "SLICE k" for the image its box is drawn on.'
        )
    return (
        'Each image is preceded by "SLICE k". Give every box a "slice" key whose value is the '
        'number k of the image it is drawn on, for example {"slice": 42, ...}.'
    )
