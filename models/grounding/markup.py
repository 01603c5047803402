"""Boxes written as markup tags rather than JSON: MedRegA, Qwen2-VL's special tokens, MAIRA-2.

Each extractor turns raw model text into :class:`~models.grounding.parsers.Candidate` records
plus the text with the box markup taken out for display, and never raises on model text.
:func:`strip_reasoning` takes a family's thinking trace out of a model's text before any of
them runs (the one place both live answers and ``--from-raw`` go through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.grounding.lenient_json import NUMBER, Malformed, PartialList, Reader
from models.grounding.parsers import CUT_OFF, Candidate, Extraction, coordinates, short, tidy

__all__ = [
    "Reasoning",
    "extract_maira2",
    "extract_medrega",
    "extract_qwen_tokens",
    "strip_reasoning",
]


@dataclass(frozen=True)
class Reasoning:
    """A model's text split into its thinking ``trace`` and the ``text`` of its answer.

    ``finished`` is False when the trace was opened and never closed (cut off at the token
    limit, or stopped): then everything after the opening marker is trace, and no box may be
    taken from it (a draft the model never confirmed).
    """

    text: str
    trace: str
    finished: bool = True

    @property
    def note(self) -> str:
        """What was taken out, for a report's or answer's notes ("" when nothing was)."""
        if not self.trace:
            return ""
        if not self.finished:
            return (
                "the model's reasoning trace was cut off before an answer (no closing "
                "marker): it was left out of the text and no boxes were taken from it"
            )
        return "the model's reasoning trace was left out of the text (kept in raw)"


def strip_reasoning(text: str, markers: tuple[str, str] | None) -> Reasoning:
    """``text`` without the thinking traces between ``markers`` (``(open, close)``).

    MedGemma 1.5 writes ``<unused94>thought\n...<unused95>`` before its answer, unprompted
    (Google-Health/medgemma notebooks/cxr_anatomy_localization_with_hugging_face.ipynb, cell
    WqRPOJe9pr0W, keeps only what follows ``<unused95>``). Every closed trace is removed; an
    opened trace never closed takes the rest of the text. A closing marker with no opening one
    (the opener was in the prompt, or lost) ends a trace that began at the start of the text,
    as the notebook's split reads it.
    """
    if markers is None:
        return Reasoning(text, "")
    opener, closer = markers
    kept: list[str] = []
    traces: list[str] = []
    rest = text
    if closer in rest and (opener not in rest or rest.index(closer) < rest.index(opener)):
        head, rest = rest.split(closer, 1)
        traces.append(head)
    while opener in rest:
        head, tail = rest.split(opener, 1)
        kept.append(head)
        if closer not in tail:
            traces.append(tail)
            return Reasoning("".join(kept).strip(), "\n".join(traces).strip(), finished=False)
        trace, rest = tail.split(closer, 1)
        traces.append(trace)
    kept.append(rest)
    return Reasoning("".join(kept).strip(), "\n".join(t.strip() for t in traces).strip())


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
        malformed = f"malformed box {short(body.strip())}"
        opener = body.find("[")
        if opener < 0:
            reason = CUT_OFF if ended else f"not a list of 4 numbers: {short(body.strip())}"
            candidates.append(Candidate(label, None, reason))
            return label
        try:
            value, _ = Reader(body).value(opener)
        except Malformed:
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
    bare = _medrega_bare(stripped)
    return Extraction(tuple(candidates) + bare.candidates, bare.text)


# MedRegA's own evaluator reads its answers as ``label[[x1, y1, x2, y2], ...]`` with no tags
# (xmed-lab/MedRegA src/eval/regt2r/evaluator_reg.py at 838def5d, PATTERN_REGCAP: the text
# before a ``[[`` list is the object, the list its boxes, each divided by BBOX_SCALE = 999);
# only its ground truth carries <ref>/<box>. The text before the list, back to the start of its
# clause, is the label; it stays in the display text, the numbers go.
_BARE_LIST = re.compile(r"\[\s*\[")
_CLAUSE_END = re.compile(r"[.;:\n]|\]\]")


def _medrega_bare(text: str) -> Extraction:
    candidates: list[Candidate] = []
    pieces: list[str] = []
    last = 0
    i = 0
    while match := _BARE_LIST.search(text, i):
        start = match.start()
        reader = Reader(text)
        try:
            value, end = reader.value(start)
        except Malformed:
            i = start + 1
            continue
        head = text[last:start]
        clause = _CLAUSE_END.split(head.rstrip(" \t:*-"))[-1]
        label = clause.strip(" \t,-:*")
        cut = reader.cut or isinstance(value, PartialList)
        items = value if isinstance(value, list) else [value]
        for item in items or [None]:
            values, why = coordinates(item, cut=cut or isinstance(item, PartialList))
            candidates.append(Candidate(label, values, why))
        pieces.append(head.rstrip(" \t:"))
        last = i = end
    pieces.append(text[last:])
    return Extraction(tuple(candidates), tidy(re.sub(r" +([.,;:])", r"\1", "".join(pieces))))


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
            why = CUT_OFF if cut else f"malformed box {short(match.group(2).strip())}"
            candidates.append(Candidate(label, None, why))
            return label
        numbers = NUMBER.findall(match.group(2))
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
            candidates.append(_maira2_box(match, label, text_end))
    pieces.append(text[last:])
    display = re.sub(r"[ \t]{2,}", " ", "".join(pieces))
    return Extraction(tuple(candidates), tidy(re.sub(r" +([.,;:])", r"\1", display)))


def _maira2_box(match: re.Match[str], label: str, text_end: int) -> Candidate:
    """The box of one ``<box>...</box>`` token: four bin numbers, or why there are not."""
    body = "".join((match.group(1) or "").split())
    box = _MAIRA_BOX.fullmatch(body)
    if match.group(2) is None and match.end() >= text_end:
        return Candidate(label, None, CUT_OFF)
    if box is None or match.group(2) is None:
        return Candidate(label, None, f"malformed box {short(body)}")
    a, b, c, d = (float(v) for v in box.groups())
    return Candidate(label, (a, b, c, d))
