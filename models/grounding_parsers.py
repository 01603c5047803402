"""Text side of grounding: find the boxes a model wrote, whatever shape its text is in.

Each extractor turns raw model text into :class:`Candidate` records (a label, four numbers in
the model's own order and scale, and an optional reference to the image the box is drawn on),
plus the text with the box markup taken out for display. Geometry (which image, which pixels)
is :mod:`models.grounding`'s business; nothing here knows about mappings.

The extractors never raise on model text. JSON is read by a small tolerant reader rather than
:func:`json.loads`, because models write JSON the way people do: inside ```json fences or bare
in prose, with single quotes, trailing commas, unquoted keys, numbers as strings, and cut off at
the token limit. A container cut off at the end of the text is kept with what it held; a box
entry that was itself cut off is reported, not guessed at.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "Candidate",
    "Extraction",
    "extract_json",
    "extract_maira2",
    "extract_medrega",
    "extract_qwen_tokens",
]

CUT_OFF = "cut off at the end of the output"


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


# --------------------------------------------------------------------------- tolerant JSON reader


class _PartialList(list[object]):
    """A list the text ended inside of."""


class _PartialDict(dict[str, object]):
    """An object the text ended inside of."""


class _Malformed(Exception):
    """Not JSON at this position (internal: the scanner moves on)."""


_WS = frozenset(" \t\r\n")
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")  # no nested repeats
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_WORDS: dict[str, object] = {
    "true": True,
    "false": False,
    "null": None,
    "none": None,
    "nan": math.nan,
    "infinity": math.inf,
    "inf": math.inf,
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_MAX_DEPTH = 10  # a box list nests 5 deep at most ({"boxes": [{"box_2d": [[...]]}]})


class _Reader:
    """Recursive descent over one string; ``cut`` is set when the text ends inside a value."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.cut = False

    def skip(self, i: int) -> int:
        while i < self.n and self.s[i] in _WS:
            i += 1
        return i

    def value(self, i: int, depth: int = 0) -> tuple[object, int]:
        i = self.skip(i)
        if i >= self.n:
            self.cut = True
            return None, self.n
        c = self.s[i]
        if c in "[{":
            if depth >= _MAX_DEPTH:
                raise _Malformed
            return self.array(i, depth + 1) if c == "[" else self.object(i, depth + 1)
        if c in "\"'":
            return self.string(i)
        number = _NUMBER.match(self.s, i)
        if number:
            return float(number.group()), number.end()
        word = _WORD.match(self.s, i)
        if word and word.group().lower() in _WORDS:
            return _WORDS[word.group().lower()], word.end()
        raise _Malformed

    def string(self, i: int) -> tuple[str, int]:
        quote, i = self.s[i], i + 1
        chars: list[str] = []
        while i < self.n:
            c = self.s[i]
            if c == quote:
                return "".join(chars), i + 1
            if c == "\\" and i + 1 < self.n:
                nxt = self.s[i + 1]
                hexa = self.s[i + 2 : i + 6]
                if (
                    nxt == "u"
                    and len(hexa) == 4
                    and all(h in "0123456789abcdefABCDEF" for h in hexa)
                ):
                    chars.append(chr(int(hexa, 16)))
                    i += 6
                    continue
                chars.append(_ESCAPES.get(nxt, nxt))
                i += 2
                continue
            chars.append(c)
            i += 1
        self.cut = True
        return "".join(chars), self.n

    def array(self, i: int, depth: int) -> tuple[list[object], int]:
        out: list[object] = []
        i += 1
        while True:
            i = self.skip(i)
            if i >= self.n:
                self.cut = True
                return _PartialList(out), self.n
            if self.s[i] == "]":
                return out, i + 1
            if self.s[i] == ",":  # leading, doubled and trailing commas are tolerated
                i += 1
                continue
            item, i = self.value(i, depth)
            out.append(item)
            if self.cut:
                return _PartialList(out), self.n
            i = self.skip(i)
            if i < self.n and self.s[i] not in ",]":
                raise _Malformed

    def object(self, i: int, depth: int) -> tuple[dict[str, object], int]:
        out: dict[str, object] = {}
        i += 1
        while True:
            i = self.skip(i)
            if i >= self.n:
                self.cut = True
                return _PartialDict(out), self.n
            c = self.s[i]
            if c == "}":
                return out, i + 1
            if c == ",":
                i += 1
                continue
            if c in "\"'":
                key, i = self.string(i)
            elif word := _WORD.match(self.s, i):
                key, i = word.group(), word.end()
            else:
                raise _Malformed
            i = self.skip(i)
            if self.cut or i >= self.n:
                self.cut = True
                return _PartialDict(out), self.n
            if self.s[i] != ":":
                raise _Malformed
            item, i = self.value(i + 1, depth)
            out[key] = item
            if self.cut:
                return _PartialDict(out), self.n
            i = self.skip(i)
            if i < self.n and self.s[i] not in ",}":
                raise _Malformed


_OPENER = re.compile(r"[\[{]")


def _json_values(text: str) -> list[tuple[int, int, object]]:
    """Every JSON-like value in ``text`` as ``(start, end, value)``, outermost ones only."""
    reader = _Reader(text)
    found = []
    i = 0
    while match := _OPENER.search(text, i):
        j = match.start()
        reader.cut = False
        try:
            value, end = reader.value(j)
        except _Malformed:
            i = j + 1
            continue
        found.append((j, end, value))
        i = end
    return found


# ------------------------------------------------------------------------------ value coercion


def to_number(value: object) -> float | None:
    """A finite number from a JSON number or a string holding one; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
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


def _short(value: object, limit: int = 24) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def coordinates(
    raw: object, cut: bool = False
) -> tuple[tuple[float, float, float, float] | None, str | None]:
    """Four numbers from a list, or the reason there are not."""
    if cut or isinstance(raw, _PartialList):
        return None, CUT_OFF
    if not isinstance(raw, list):
        return None, f"not a list of 4 numbers: {_short(raw)}"
    if len(raw) != 4:
        return None, f"wrong length: {len(raw)} numbers, expected 4"
    numbers = [to_number(v) for v in raw]
    for v, number in zip(raw, numbers, strict=True):
        if number is None:
            return None, f"non-numeric coordinate {_short(v)}"
    a, b, c, d = (n for n in numbers if n is not None)
    return (a, b, c, d), None


# ------------------------------------------------------------------------------------ JSON boxes

_LABEL_KEYS = ("label", "name", "finding", "text", "object")
_LOOKBACK = 200
_FINAL_ANSWER = re.compile(r"final\s*answer[\s*]*:", re.IGNORECASE)  # also **Final Answer:**


def _label(entry: dict[str, object]) -> str:
    for key in _LABEL_KEYS:
        if key in entry and entry[key] is not None:
            return str(entry[key]).strip()
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
        for item in value.values():
            _walk(item, keys, refs, out)
        return
    label, raw = _label(value), value[key]
    cut = isinstance(value, _PartialDict)
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
    blocks = [(s, e, v) for s, e, v in _json_values(text) if _has_box(v, keys)]
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


# ------------------------------------------------------------------------------- markup boxes


def tidy(text: str) -> str:
    """Trailing spaces off each line, at most one blank line in a row, no outer blank space."""
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


# Content classes exclude "<" so that a tag never opened or closed costs one pass, not n.
_MEDREGA = re.compile(r"(?:<ref>([^<]*)</ref>\s*)?<box>([^<]*)(</box>)?")


def extract_medrega(text: str) -> Extraction:
    """``<ref>text</ref><box>[[x1, y1, x2, y2], ...]</box>`` (InternVL style, as MedRegA writes).

    A ``<box>`` without a ``<ref>`` before it gets an empty label. The ref text stays in the
    display text; the box markup goes.
    """
    candidates: list[Candidate] = []
    text_end = len(text.rstrip())

    def replace(match: re.Match[str]) -> str:
        label = (match.group(1) or "").strip()
        body = match.group(2)
        # Without </box>, the text either ends inside the box or goes on with something else.
        ended = match.group(3) is None and match.end() >= text_end
        unclosed = match.group(3) is None and not ended
        malformed = f"malformed box {_short(body.strip())}"
        opener = body.find("[")
        if opener < 0:
            reason = CUT_OFF if ended else f"not a list of 4 numbers: {_short(body.strip())}"
            candidates.append(Candidate(label, None, reason))
            return label
        try:
            value, _ = _Reader(body).value(opener)
        except _Malformed:
            candidates.append(Candidate(label, None, malformed))
            return label
        many = isinstance(value, list) and bool(value) and all(isinstance(v, list) for v in value)
        for item in value if many and isinstance(value, list) else [value]:
            values, why = coordinates(item)  # a list the text ended in is reported as cut
            if why == CUT_OFF and unclosed:
                why = malformed
            candidates.append(Candidate(label, values, why))
        return label

    stripped = _MEDREGA.sub(replace, text)
    stripped = re.sub(r"</?ref>", "", stripped)
    return Extraction(tuple(candidates), tidy(stripped))


_QWEN_TOKENS = re.compile(
    r"(?:<\|object_ref_start\|>([^<]*)<\|object_ref_end\|>\s*)?"
    r"<\|box_start\|>([^<]*)(<\|box_end\|>)?"
)


def extract_qwen_tokens(text: str) -> Extraction:
    """``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``.

    Qwen2-VL's native grounding form (kept only when the text was decoded with special tokens).
    """
    candidates: list[Candidate] = []
    text_end = len(text.rstrip())

    def replace(match: re.Match[str]) -> str:
        label = (match.group(1) or "").strip()
        if match.group(3) is None:
            cut = match.end() >= text_end
            why = CUT_OFF if cut else f"malformed box {_short(match.group(2).strip())}"
            candidates.append(Candidate(label, None, why))
            return label
        numbers = _NUMBER.findall(match.group(2))
        values, problem = coordinates(numbers)
        candidates.append(Candidate(label, values, problem))
        return label

    stripped = _QWEN_TOKENS.sub(replace, text)
    stripped = re.sub(r"<\|object_ref_(?:start|end)\|>", "", stripped)
    return Extraction(tuple(candidates), tidy(stripped))


_MAIRA_TOKEN = re.compile(r"<obj>|</obj>|<box>((?:\s*<[xy]\d*>)*)\s*(</box>)?")
_MAIRA_BOX = re.compile(r"<x(\d+)><y(\d+)><x(\d+)><y(\d+)>")


def extract_maira2(text: str) -> Extraction:
    """``<obj>phrase<box><xNN><yNN><xNN><yNN></box>...</obj>`` (MAIRA-2's grounded reports).

    ``values`` are the raw bin numbers. The phrase of a box is the text of the ``<obj>`` it sits
    in (MAIRA-2's own processor puts boxes inside), or of the ``<obj>`` just before it.
    """
    candidates: list[Candidate] = []
    pieces: list[str] = []
    phrase: list[str] = []
    in_obj = boxed = False
    label = ""
    last = 0
    text_end = len(text.rstrip())
    for match in _MAIRA_TOKEN.finditer(text):
        segment = text[last : match.start()]
        pieces.append(segment)
        phrase.append(segment)
        last = match.end()
        token = match.group(0)
        if token == "<obj>":
            in_obj, boxed, phrase, label = True, False, [], ""
        elif token == "</obj>":
            pieces.append(" ")
            if in_obj and not boxed:
                label = " ".join("".join(phrase).split())
            in_obj = False
        else:
            if in_obj and not boxed:
                label, boxed = " ".join("".join(phrase).split()), True
            body = "".join((match.group(1) or "").split())
            box = _MAIRA_BOX.fullmatch(body)
            if match.group(2) is None and match.end() >= text_end:
                candidates.append(Candidate(label, None, CUT_OFF))
            elif box is None or match.group(2) is None:
                candidates.append(Candidate(label, None, f"malformed box {_short(body)}"))
            else:
                a, b, c, d = (float(v) for v in box.groups())
                candidates.append(Candidate(label, (a, b, c, d)))
    pieces.append(text[last:])
    display = re.sub(r"[ \t]{2,}", " ", "".join(pieces))
    return Extraction(tuple(candidates), tidy(re.sub(r" +([.,;:])", r"\1", display)))
