"""What a model wrote, read once for every task: the trace out, the boxes in source pixels.

:func:`read_model_text` is the one place a model's raw text is read, by
:func:`models.tasks.ask.answer_from_text` and :func:`models.tasks.report.from_text`, which both
the live path and ``--from-raw`` go through: the family's reasoning trace
(:attr:`~models.families.base.FamilyAdapter.reasoning_markers`) is taken out (the raw text keeps
it), then the boxes are read from what is left, so a draft box in the reasoning never becomes a
box. Boxes in a trace the model never closed are listed as dropped, with the reason; boxes in a
closed trace are counted in a note (the localization notebook throws the trace away).

:func:`attach_boxes` puts boxes read from a report's own text (a fenced JSON list after a
finding, MedRegA or MAIRA-2 markup) on the finding they belong to: the one their label names,
else the one written just before them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from models.families.lookup import adapter
from models.grounding.box import Box
from models.grounding.markup import Reasoning, strip_reasoning
from models.grounding.placement import GroundingResult, parse_boxes
from models.report.draft import Finding
from models.tasks.prepare import Prepared

__all__ = ["ModelText", "attach_boxes", "read_model_text"]


@dataclass(frozen=True)
class ModelText:
    """A model's raw text, read: ``text`` has no trace and no box markup."""

    reasoning: Reasoning
    grounding: GroundingResult
    dropped: tuple[str, ...]  # the grounding's, and boxes of an unfinished trace
    notes: tuple[str, ...]  # the grounding's, and what was taken out of the trace

    @property
    def text(self) -> str:
        return self.grounding.text_without_boxes

    @property
    def boxes(self) -> tuple[Box, ...]:
        return self.grounding.boxes


def read_model_text(prepared: Prepared, raw: str) -> ModelText:
    """``raw`` for ``prepared``: its family's trace out, its boxes on the source slices."""
    markers = adapter(prepared.spec.family).reasoning_markers
    reasoning = strip_reasoning(raw, markers)
    convention, mappings = prepared.spec.grounding, prepared.mappings
    grounding = parse_boxes(reasoning.text, convention, mappings, prepared.spacing)
    dropped, notes = list(grounding.dropped), list(grounding.notes)
    if reasoning.trace:
        notes.append(reasoning.note)
        drafts = parse_boxes(reasoning.trace, convention, mappings, prepared.spacing)
        count = len(drafts.boxes) + len(drafts.dropped)
        if count and reasoning.finished:
            notes.append(f"{count} box(es) in the reasoning trace ignored (drafts)")
        elif count:
            dropped.extend(
                f"box {k} in the reasoning trace: the trace was cut off before an answer, "
                "so the box is not used"
                for k in range(1, count + 1)
            )
    return ModelText(reasoning, grounding, tuple(dropped), tuple(notes))


_WORD = re.compile(r"[a-z]{3,}")
_FILLER = frozenset({"the", "and", "with", "left", "right", "of", "seen", "there", "slice"})
_MARKUP = re.compile(r"box_2d|bbox_2d|\"bbox|<box>|<obj>|\[\s*\[|<\|box_start\|>")


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _FILLER}


def _where(text: str, needle: str) -> int:
    """Position of ``needle``'s first 30 characters in ``text`` (case-blind), or -1."""
    return text.lower().find(needle[:30].lower()) if needle else -1


def attach_boxes(
    findings: Sequence[Finding], boxes: Sequence[Box], text: str
) -> tuple[tuple[Finding, ...], tuple[str, ...]]:
    """``findings`` with each box on the finding it belongs to, and a note per box placed by
    position. ``text`` is the model's text (trace out, box markup in), in which the findings
    and the boxes' labels are looked up.

    A box goes to the finding sharing most words with its label (anatomy or finding name);
    failing that, to the last finding written before it; failing that, the first finding.
    """
    if not findings or not boxes:
        return tuple(findings), ()
    attached: list[list[Box]] = [[] for _ in findings]
    notes: list[str] = []
    positions = [_where(text, f.text) for f in findings]
    first_markup = m.start() if (m := _MARKUP.search(text)) else len(text)
    for box in boxes:
        label = _words(box.label)
        scores = [len(label & (_words(f.text) | _words(f.section))) for f in findings]
        best = max(scores)
        if best:
            attached[scores.index(best)].append(box)
            continue
        at = _where(text, box.label) if box.label else -1
        at = first_markup if at < 0 else at
        before = [i for i, p in enumerate(positions) if 0 <= p <= at]
        index = max(before, key=lambda i: positions[i]) if before else 0
        attached[index].append(box)
        name = box.label or "unlabelled"
        notes.append(f"box {name!r} placed on the finding written before it")
    out = tuple(
        replace(f, boxes=(*f.boxes, *extra)) if extra else f
        for f, extra in zip(findings, attached, strict=True)
    )
    return out, tuple(notes)
