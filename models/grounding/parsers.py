"""Text side of grounding: find the boxes a model wrote, whatever shape its text is in.

Each extractor turns raw model text into :class:`Candidate` records (a label, four numbers in
the model's own order and scale, and an optional reference to the image the box is drawn on),
plus the text with the box markup taken out for display. Geometry (which image, which pixels)
is :mod:`models.grounding.placement`'s business; nothing here knows about mappings.

The extractors never raise on model text. JSON is read by the tolerant reader of
:mod:`models.grounding.lenient_json` rather than :func:`json.loads`, because models write JSON the
way people do: inside ```json fences or bare in prose, with single quotes, trailing commas,
unquoted
keys, numbers as strings, and cut off at the token limit. A container cut off at the end of the
text is kept with what it held; a box entry that was itself cut off is reported, not guessed at.
Boxes written as markup tags (MedRegA, Qwen2-VL's special tokens, MAIRA-2) are read by
:mod:`models.grounding.markup`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from models.grounding.lenient_json import NUMBER, PartialDict, PartialList, json_values

__all__ = [
    "CUT_OFF",
    "Candidate",
    "Extraction",
    "coordinates",
    "extract_json",
    "short",
    "tidy",
    "to_index",
    "to_number",
]

CUT_OFF = "cut off at the end of the output"
# Qwen2.5-VL and Qwen3-VL answer "locate ... output the point coordinates" with
# {"point_2d": [x, y], "label": ...} (QwenLM/Qwen3-VL cookbooks/spatial_understanding.ipynb,
# cell ad9e934f). A point is no box: it is taken out of the text and dropped with this reason,
# never stretched into a box.
POINT_KEYS = ("point_2d",)
POINT = "a point (point_2d), not a box"


@dataclass(frozen=True)
class Candidate:
    """One box as written: ``values`` in the model's order and scale, or the reason it is unusable.

    ``slice_ref`` is a source slice index the model named (``"slice": k``); ``image_ref`` the
    1-based position of the image in the request (``"image": i``).
    """

    label: str
    values: tuple[float, float, float, float] | None
    problem: str | None = None
    slice_ref: int | None = None
    image_ref: int | None = None


@dataclass(frozen=True)
class Extraction:
    candidates: tuple[Candidate, ...]
    text: str
    ignored_before_final_answer: int = 0


# ------------------------------------------------------------------------------ value coercion


def to_number(value: object) -> float | None:
    """A finite number from a JSON number or a string holding one; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        return None
    return number if math.isfinite(number) else None


def to_index(value: object) -> int | None:
    """A non-negative integer from ``12``, ``12.0``, ``"12"`` or ``"SLICE 12"``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and (digits := re.search(r"\d+", value)):
        return int(digits.group())
    return None


def short(value: object, limit: int = 24) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def coordinates(
    raw: object, cut: bool = False
) -> tuple[tuple[float, float, float, float] | None, str | None]:
    """Four numbers from a list, or the reason there are not."""
    if cut or isinstance(raw, PartialList):
        return None, CUT_OFF
    if not isinstance(raw, list):
        return None, f"not a list of 4 numbers: {short(raw)}"
    if len(raw) != 4:
        return None, f"wrong length: {len(raw)} numbers, expected 4"
    numbers = [to_number(v) for v in raw]
    for v, number in zip(raw, numbers, strict=True):
        if number is None:
            return None, f"non-numeric coordinate {short(v)}"
    a, b, c, d = (n for n in numbers if n is not None)
    return (a, b, c, d), None


# ------------------------------------------------------------------------------------ JSON boxes

# The text of a box: "label" in the grounding cookbooks; Qwen2.5-VL's OCR cookbook reads
# "text_content" beside "bbox_2d" (QwenLM/Qwen2.5-VL cookbooks/ocr.ipynb at f0af2996, cell
# 9596c50d plot_text_bounding_boxes, for cell 94e969b5's "output in JSON format" answer), and
# models name their own keys when asked for JSON. Known keys first, in this order; failing them,
# any other key holding text (not a box, slice or image key) is the label, so none is lost.
_LABEL_KEYS = (
    "label",
    "text_content",
    "name",
    "object",
    "finding",
    "description",
    "category",
    "class",
    "text",
    "caption",
)
_NOT_LABELS = frozenset({"slice", "image", "confidence", "score"})
_LOOKBACK = 200
_FINAL_ANSWER = re.compile(r"final\s*answer[\s*]*:", re.IGNORECASE)  # also **Final Answer:**


def _label(entry: dict[str, object], box_keys: tuple[str, ...] = ()) -> str:
    for key in _LABEL_KEYS:
        if key in entry and entry[key] is not None:
            return str(entry[key]).strip()
    for key, value in entry.items():
        if key not in box_keys and key not in _NOT_LABELS and isinstance(value, str):
            if value.strip():
                return value.strip()
    return ""


def _refs(
    entry: dict[str, object], inherited: tuple[int | None, int | None]
) -> tuple[int | None, int | None]:
    slice_ref, image_ref = inherited
    if "slice" in entry:
        slice_ref = to_index(entry["slice"])
    if "image" in entry:
        image_ref = to_index(entry["image"])
    return slice_ref, image_ref


def _walk(
    value: object,
    keys: tuple[str, ...],
    refs: tuple[int | None, int | None],
    out: list[Candidate],
) -> None:
    if isinstance(value, list):
        for item in value:
            _walk(item, keys, refs, out)
        return
    if not isinstance(value, dict):
        return
    refs = _refs(value, refs)
    key = next((k for k in keys if k in value), None)
    if key is None:
        if point := next((k for k in POINT_KEYS if k in value), None):
            out.append(Candidate(_label(value, (point,)), None, POINT, *refs))
            return
        for item in value.values():
            _walk(item, keys, refs, out)
        return
    label, raw = _label(value, keys), value[key]
    cut = isinstance(value, PartialDict)
    # [[x0, y0, x1, y1], ...] under one label: one candidate per inner list.
    many = isinstance(raw, list) and bool(raw) and all(isinstance(r, list) for r in raw)
    for item in raw if many and isinstance(raw, list) else [raw]:
        values, problem = coordinates(item, cut=cut)
        out.append(Candidate(label, values, problem, *refs))


def _has_box(value: object, keys: tuple[str, ...]) -> bool:
    if isinstance(value, list):
        return any(_has_box(v, keys) for v in value)
    if isinstance(value, dict):
        return any(k in value for k in keys) or any(_has_box(v, keys) for v in value.values())
    return False


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Take in the ```json fence around a block and a "Final Answer:" right before it."""
    head = text[
        max(0, start - _LOOKBACK) : start
    ]  # bounded: these searches are anchored at the end
    before = re.search(r"```[A-Za-z]*[ \t]*\r?\n?[ \t]*\Z", head)
    after = re.match(r"[ \t]*\r?\n?[ \t]*```", text[end : end + _LOOKBACK])
    if before and (after or end >= len(text)):
        start -= len(head) - before.start()
        end = end + after.end() if after else end
    head = text[max(0, start - _LOOKBACK) : start]
    if answer := re.search(r"[\s*]*final\s*answer[\s*]*:[\s*]*\Z", head, re.I):
        start -= len(head) - answer.start()
    return start, end


def extract_json(text: str, keys: tuple[str, ...]) -> Extraction:
    """Boxes written as JSON objects holding one of ``keys`` (``box_2d``, ``bbox_2d``...).

    When the text has a "Final Answer:" followed by boxes (MedGemma's localization prompt asks
    for reasoning first), only the boxes after the last such marker count: earlier ones are
    drafts in the reasoning and stay in the text.
    """
    blocks = [(s, e, v) for s, e, v in json_values(text) if _has_box(v, keys + POINT_KEYS)]
    markers = [m.end() for m in _FINAL_ANSWER.finditer(text)]
    ignored = 0
    if markers and any(s >= markers[-1] for s, _, _ in blocks):
        kept = [b for b in blocks if b[0] >= markers[-1]]
        for _, _, value in blocks[: len(blocks) - len(kept)]:
            drafts: list[Candidate] = []
            _walk(value, keys, (None, None), drafts)
            ignored += len(drafts)
        blocks = kept
    candidates: list[Candidate] = []
    pieces, last = [], 0
    for start, end, value in blocks:
        _walk(value, keys, (None, None), candidates)
        start, end = _widen(text, start, end)
        pieces.append(text[last:start])
        last = end
    pieces.append(text[last:])
    return Extraction(tuple(candidates), tidy("".join(pieces)), ignored)


def tidy(text: str) -> str:
    """Trailing spaces off each line, at most one blank line in a row, no outer blank space."""
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
