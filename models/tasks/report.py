"""The report task: :func:`draft_report` drafts a structured report of a series, then asks for
the boxes of each abnormal finding (task ``grounding``, one call each).

:func:`from_text` reads a model's raw text into a :class:`~models.report.draft.Report` (also
behind ``radlens report --from-raw``, and for :mod:`models.tasks.compare`). Technique always
comes from the metadata; what the model cannot support is marked, never invented. The raw model
text is kept in every report.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from dicom_io.study import Series
from models.backends.base import Backend, CancelToken, GenerationSettings, Result
from models.grounding.box import Box
from models.grounding.placement import parse_boxes
from models.inputs.model_inputs import InputOptions
from models.registry.spec import ModelSpec
from models.report.draft import Finding, FindingStatus, Report, StudyRef
from models.report.text import (
    ParsedReport,
    change_from_wording,
    parse_change,
    parse_report_text,
)
from models.tasks.ask import localization_note, run
from models.tasks.decoding import ANSWER_BUDGETS, default_settings
from models.tasks.examples import Example, select_examples
from models.tasks.model_text import attach_boxes, read_model_text
from models.tasks.names import TaskName
from models.tasks.prepare import Prepared, inputs_for, prepare

__all__ = [
    "INCOMPLETE",
    "MAX_GROUNDED_FINDINGS",
    "UNABLE_TEXT",
    "draft_report",
    "from_text",
    "grounding_target",
    "incomplete",
    "run_report",
]

MAX_GROUNDED_FINDINGS = 8
UNABLE_TEXT = "Unable to assess: the model's output could not be read as a report."
WORDED_CHANGE = "change read from the wording: the model wrote no [tag]"


def _study_ref(series: Series, prepared: Prepared, study_key: str = "") -> StudyRef:
    return StudyRef(
        study_key=study_key,
        series_key=series.key,
        series_index=series.index,
        modality=series.modality,
        body_part=series.body_part,
        # Free text is never carried into a report (see models.tasks.technique): "".
        description="",
        slices=prepared.inputs.slice_indices,
    )


def _findings(
    parsed: ParsedReport, compare: bool
) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    def make(section: str, text: str) -> Finding:
        change: str | None = None
        flags: tuple[str, ...] = ()
        if compare:
            text, change = parse_change(text)
            if change is None and (change := change_from_wording(text)) is not None:
                flags = (WORDED_CHANGE,)
        return Finding(section=section, text=text, change=change, flags=flags)

    findings = tuple(make(h, t) for h, t in parsed.findings)
    impression = tuple(make("Impression", t) for t in parsed.impression)
    if not findings and not impression and not parsed.recommendations:
        findings = (Finding("Report", UNABLE_TEXT, status=FindingStatus.UNABLE),)
    return findings, impression


def from_text(
    series: Series,
    prepared: Prepared,
    raw: str,
    *,
    indication: str = "",
    language: str = "English",
    settings: GenerationSettings | None = None,
    seconds: float | None = None,
    model_id: str | None = None,
    study_key: str = "",
) -> Report:
    """A report from a model's raw text for ``prepared`` (also behind ``--from-raw``); its kind
    is the task ``prepared`` was made for (``report`` or ``compare``)."""
    kind, template = prepared.task, prepared.template
    comparing = kind is TaskName.COMPARE
    # The trace out and box markup (a fenced JSON list, MedRegA/MAIRA-2 tags) read as boxes
    # before the sections are found, so no "Impression: ```json" line is left (h2-boxes).
    read = read_model_text(prepared, raw)
    parsed = parse_report_text(read.text, template.findings_sections, compare=comparing)
    findings, impression = _findings(parsed, compare=comparing)
    box_notes: tuple[str, ...] = ()
    if read.boxes and (withheld := localization_note(prepared.spec, series)):
        box_notes = tuple(f"box {b.label or 'unlabelled'!r}: {withheld}" for b in read.boxes)
    elif read.boxes:
        placed, box_notes = attach_boxes((*findings, *impression), read.boxes, read.reasoning.text)
        findings, impression = placed[: len(findings)], placed[len(findings) :]
    box_notes = (*read.notes, *read.dropped, *box_notes)
    return Report(
        kind=kind,
        title=f"Draft {'comparison ' if comparing else ''}report: {template.exam_name}",
        technique=prepared.technique,
        indication=indication,
        findings=findings,
        impression=impression,
        study=_study_ref(series, prepared, study_key),
        model_id=model_id or prepared.spec.id,
        prompt=prepared.prompt.provenance,
        prompt_version=prepared.prompt.version,
        language=language,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        raw=raw,
        settings=settings,
        seconds=seconds,
        # The prior's technique line, then what the model said of the prior (both kept).
        comparison=" ".join(t for t in (prepared.prior_technique, parsed.comparison) if t),
        notes=(*parsed.notes, *box_notes),
        recommendations=tuple(Finding("Recommendations", t) for t in parsed.recommendations),
    )


def run_report(
    series: Series,
    prepared: Prepared,
    backend: Backend,
    settings: GenerationSettings,
    indication: str,
    language: str,
    study_key: str = "",
    on_delta: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> tuple[Report, Result]:
    """Send ``prepared`` (a ``report`` or ``compare`` request) and read the model's text into a
    report, timed; the model's result comes too (its finish reason says if it was cancelled)."""
    start = time.perf_counter()
    result = run(backend, prepared, settings, on_delta, cancel)
    report = from_text(
        series,
        prepared,
        result.text,
        indication=indication,
        language=language,
        settings=settings,
        seconds=time.perf_counter() - start,
        model_id=result.model_id,
        study_key=study_key,
    )
    return incomplete(report, result.finish_reason), result


# A draft the model did not finish must not look complete (a stopped report is a truncated,
# plausible, exportable one): its title says so and its first note says why, in the UI and in
# every export.
INCOMPLETE = {
    "cancelled": "stopped before the model finished: this draft is incomplete",
    "length": (
        "the model used its whole answer budget (max_new_tokens): the end of this draft may "
        "be missing"
    ),
}


def incomplete(report: Report, finish_reason: str | None) -> Report:
    """``report`` marked as unfinished when the model stopped early (``finish_reason``)."""
    why = INCOMPLETE.get(finish_reason or "")
    if why is None:
        return report
    return replace(report, title=f"{report.title} (incomplete)", notes=(why, *report.notes))


def _ground(
    report: Report,
    series: Series,
    backend: Backend,
    spec: ModelSpec,
    options: InputOptions | None,
    settings: GenerationSettings,
    cancel: CancelToken | None,
) -> Report:
    """Ask for boxes of each abnormal finding (one call each, at most MAX_GROUNDED_FINDINGS),
    decoded as the report was, within the localization task's answer budget."""
    budget = replace(settings, max_new_tokens=ANSWER_BUDGETS[TaskName.GROUNDING])
    inputs = inputs_for(series, spec, options)
    todo = [f for f in report.findings if not f.is_normal and f.status is not FindingStatus.UNABLE]
    grounded: dict[int, tuple[Box, ...]] = {}
    notes = list(report.notes)
    for finding in todo[:MAX_GROUNDED_FINDINGS]:
        if cancel is not None and cancel.cancelled:
            break
        prepared = prepare(
            series,
            spec,
            TaskName.GROUNDING,
            fields={"target": grounding_target(finding.text)},
            inputs=inputs,
            language=report.language,
            answer_tokens=budget.max_new_tokens,
        )
        result = run(backend, prepared, budget, cancel=cancel)
        boxes = parse_boxes(result.text, spec.grounding, prepared.mappings, prepared.spacing)
        grounded[id(finding)] = tuple(
            replace(b, label=b.label or finding.section) for b in boxes.boxes
        )
        notes.extend(f"{finding.section}: {line}" for line in boxes.dropped)
    if len(todo) > MAX_GROUNDED_FINDINGS:
        notes.append(f"only the first {MAX_GROUNDED_FINDINGS} abnormal findings were localized")
    findings = tuple(replace(f, boxes=grounded.get(id(f), f.boxes)) for f in report.findings)
    calls = min(len(todo), MAX_GROUNDED_FINDINGS)
    checks = (
        *report.checks,
        f"localization: {calls} extra model call(s), one per abnormal finding",
    )
    return replace(report, findings=findings, notes=tuple(notes), checks=checks)


def grounding_target(finding: str) -> str:
    """A finding as the object of the grounding question ("Where is the {target}?", MedGemma
    1.5's localization notebook): without its closing full stop, and with a lower-case first
    letter unless it starts an abbreviation ("CT", "ETT"), and without a leading article:
    "A 12 mm nodule in the right upper lobe." -> "12 mm nodule in the right upper lobe"."""
    text = " ".join(finding.split()).rstrip(" .;:")
    # The templates write "the" before the target ("Where is the {target}?"), so a leading
    # article or "There is" goes.
    text = re.sub(r"^(?:there (?:is|are)\s+)?(?:an?|the)\s+", "", text, flags=re.IGNORECASE)
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def draft_report(
    series: Series,
    backend: Backend,
    spec: ModelSpec,
    *,
    indication: str = "",
    language: str = "English",
    options: InputOptions | None = None,
    settings: GenerationSettings | None = None,
    ground: bool = True,
    study_key: str = "",
    examples: Sequence[Example] = (),
    on_delta: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Report:
    """Draft a structured report of ``series``; abnormal findings are then localized (boxes).

    ``examples`` (see :mod:`models.tasks.examples`): the most similar cases, as many as fit a
    quarter of the context (at most 2), are shown first with their reports as demonstrations.
    """
    settings = settings or default_settings(TaskName.REPORT)
    budget = min((spec.context_length or 32_768) // 4, 8_192)
    chosen = select_examples(examples, series, spec.family, budget) if examples else []
    prepared = prepare(
        series,
        spec,
        TaskName.REPORT,
        indication=indication,
        language=language,
        options=options,
        demonstrations=[(inputs, example.report) for example, inputs in chosen],
        answer_tokens=settings.max_new_tokens,
    )
    report, result = run_report(
        series, prepared, backend, settings, indication, language, study_key, on_delta, cancel
    )
    if examples:
        names = ", ".join(example.name for example, _ in chosen) or "none similar enough"
        report = replace(report, notes=(*report.notes, f"few-shot examples shown: {names}"))
    if series.is_volume and (volumes := spec.can.volume_note(spec.name)):
        report = replace(report, notes=(*report.notes, volumes))
    # Boxes only where the card says the model localizes (issue 16 item 6): otherwise no
    # grounding calls, no boxes, and the report says why.
    withheld = localization_note(spec, series)
    if ground and withheld:
        report = replace(report, notes=(*report.notes, withheld))
    elif ground and result.finish_reason != "cancelled":
        report = _ground(report, series, backend, spec, options, settings, cancel)
    return report
