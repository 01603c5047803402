"""Boxes a model drew, turned into source pixels of the slice they were drawn on.

Each model family writes boxes in its own native convention (:class:`Convention`); the numbers
refer to the image the model received, which RadLens made from a source slice by crop, pad and
resize (:class:`~models.inputs.mapping.ImageMapping`). :func:`parse_boxes` reads the boxes from
the raw text (leniently: :mod:`models.grounding.parsers`), picks the image each box refers to,
converts
it through that image's mapping and clips it. It never raises on model text: every box it could
not use is listed in ``dropped`` with the reason, every repair it made in ``notes``.

The conventions, and where their facts come from, are described in
:mod:`models.grounding.conventions`.

Which image a box refers to. With one image, that one. With several (a CT or MR sent as slices,
each followed by a text part ``SLICE n`` with ``n`` its 1-based position among the images sent,
as MedGemma's CT notebook labels them; or current and prior), a box must say which:
``"slice": n`` (the label's number: the n-th image, whose mapping gives the source slice) or
``"image": i`` (the 1-based position of the image in the request, the same number); a key on an
enclosing object applies to the boxes inside it. Failing those, a ``SLICE k`` written in the
label is used (and taken out of it), which is how markup conventions can say it. A box with no
reference on a multi-image request is dropped, not guessed: a box on the wrong slice is worse
than none. :func:`image_reference_instruction` gives the sentence that asks for the key.

Geometry. Coordinates are pixel edges: ``x`` right in ``[0, width]``, ``y`` down in
``[0, height]``. Corners given in the wrong order (MedGemma sometimes swaps them) are sorted,
with a note. A box of zero width or height as written is dropped as degenerate. Boxes are
clipped to the part of the source slice the model saw (the mapping's crop, which is the whole
slice unless a crop was asked for, cut to the model's own view: MAIRA-2's centre square, which
is applied to every MAIRA-2 mapping that does not record a view yet): padding the model saw
shows no anatomy. A box left with no
area is dropped as outside the image.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from dicom_io.errors import InvalidArgumentError
from models.grounding.box import Box
from models.grounding.conventions import (
    JSON_KEYS,
    SCALES,
    Convention,
    Scale,
    parse_convention,
)
from models.grounding.markup import extract_maira2, extract_medrega, extract_qwen_tokens
from models.grounding.parsers import Candidate, Extraction, extract_json
from models.inputs.mapping import ImageMapping

__all__ = ["GroundingResult", "parse_boxes"]


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


def _extract(text: str, convention: Convention) -> Extraction:
    if convention is Convention.MEDREGA:
        return extract_medrega(text)
    if convention is Convention.MAIRA2:
        return extract_maira2(text)
    found = extract_json(text, JSON_KEYS[convention])
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
    if slice_ref is not None:  # "SLICE n" labels the n-th image sent (models.inputs)
        if 1 <= slice_ref <= len(mappings):
            return mappings[slice_ref - 1], label, None
        if image_ref is None:
            sent = f"SLICE 1 to SLICE {len(mappings)}"
            return None, label, f"unknown image: slice {slice_ref} was not sent (sent: {sent})"
    if image_ref is not None:
        if 1 <= image_ref <= len(mappings):
            return mappings[image_ref - 1], label, None
        return None, label, f"unknown image: image {image_ref} (sent: 1 to {len(mappings)})"
    return None, label, f'no "slice" given on a {len(mappings)}-image request'


def _native_to_source(
    values: tuple[float, float, float, float], scale: Scale, mapping: ImageMapping
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
    scale: Scale,
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
    cx0, cy0, cx1, cy1 = mapping.seen_region  # the crop, cut to the model's own view
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


def _locate(
    candidate: Candidate,
    mappings: Sequence[ImageMapping],
    convention: Convention,
    name: str,
    notes: list[str],
) -> tuple[str, ImageMapping, tuple[float, float, float, float]] | str:
    """The label, image and source corners of one box as written, or why it is unusable."""
    if candidate.values is None:
        return f"{candidate.problem}"
    mapping, label, problem = _pick_image(candidate, mappings, convention)
    if mapping is None:
        return f"{problem}"
    if convention is Convention.MAIRA2 and mapping.view is None:
        mapping = mapping.centre_square_view()  # its processor crops what it is sent
    placed = _place(candidate.values, SCALES[convention], mapping, name, notes)
    if isinstance(placed, str):
        return placed
    return label, mapping, placed


def _in_mm(
    corners: tuple[float, float, float, float], row_col: tuple[float, float] | None
) -> tuple[float, float, float, float] | None:
    """Source corners in millimetres from the slice's top-left corner, when spacing is known."""
    if row_col is None:
        return None
    x0, y0, x1, y1 = corners
    row_mm, col_mm = row_col
    return (x0 * col_mm, y0 * row_mm, x1 * col_mm, y1 * row_mm)


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
    convention = parse_convention(convention)
    if not mappings:
        raise InvalidArgumentError("Argument 'mappings' must hold one mapping per image, not 0.")
    row_col = _spacing(spacing)
    found = _extract(text, convention)
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
        located = _locate(candidate, mappings, convention, name, notes)
        if isinstance(located, str):
            dropped.append(f"{name}: {located}")
            continue
        label, mapping, placed = located
        key = (label, mapping.slice_index, *placed)
        if key in seen:
            notes.append(f"{name}: duplicate of an earlier box, skipped")
            continue
        seen.add(key)
        x0, y0, x1, y1 = placed
        boxes.append(Box(label, mapping.slice_index, x0, y0, x1, y1, _in_mm(placed, row_col)))
    return GroundingResult(tuple(boxes), tuple(dropped), found.text, tuple(notes))
