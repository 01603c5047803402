"""Report pane: draft a report of the series shown, check it, list its findings, export it.

:func:`draft` is a generator handler wired to ``models.tasks.clinical.draft_report``: the model's
text
streams into the report box, then the finished report replaces it (as ``Heading: text`` lines,
the layout the model is asked for), its findings fill the findings list and their boxes go on
the viewer. Choosing a finding jumps to its box's slice and highlights it. :func:`check_report`
probes each abnormal finding (``models.tasks.clinical.check``). The report box is editable: Check
and
Export read the clinician's text back with ``models.tasks.clinical.revise`` first, so unchanged
findings
keep their boxes and status, and edited ones are marked as the clinician's. Every task and
export is recorded in the audit log (hashes only).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from app.audit import LOCAL_USER, Task
from app.errors import user_error
from app.handlers_model import current_slice, follow, run_model
from app.handlers_settings import UserSettings
from app.handlers_viewer import Marks, jump_slice, pick_series
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Series, Study
from models.backends.base import Backend, CancelToken
from models.report.draft import Finding, FindingStatus, Report
from models.report.text import EDITED
from models.tasks.clinical import check, draft_report, report_to_text, revise

__all__ = [
    "EXPORT_FORMATS",
    "check_report",
    "draft",
    "edited_report",
    "export",
    "findings_update",
    "on_finding",
    "record_task",
    "reliability_markdown",
    "report_text",
]

EXPORT_FORMATS = [
    ("Markdown (.md)", ".md"),
    ("JSON (.json)", ".json"),
    ("PDF (.pdf)", ".pdf"),
    ("DICOM SR (.dcm)", ".dcm"),
    ("FHIR DiagnosticReport (.fhir.json)", ".fhir.json"),
]
_MARK = {
    FindingStatus.REPORTED: "",
    FindingStatus.VERIFIED: "[verified] ",
    FindingStatus.UNVERIFIED: "[unverified] ",
    FindingStatus.UNABLE: "[unable to assess] ",
}
# draft() yields: (report text, findings, reliability, report, cancel token, marks, status,
# raw model text)
DraftUpdate = tuple[Any, Any, Any, Any, CancelToken | None, Any, str, Any]


def _finding_line(finding: Finding) -> str:
    mark = _MARK[finding.status]
    if finding.text.lower().startswith(mark.strip("[] ")):  # "Unable to assess: ..."
        return finding.text
    return f"{mark}{finding.text}"


def report_text(report: Report) -> str:
    """The report as editable text (``models.tasks.clinical.report_to_text``): the sections and
    ``Heading: text`` lines models write, each finding with its status mark."""
    return report_to_text(report)


def edited_report(report: Report, text: str | None) -> Report:
    """``report`` as the clinician left it in the report box (itself when the text is as
    drafted or empty)."""
    text = (text or "").strip()
    if not text or text == report_text(report).strip():
        return report
    return revise(report, text)


def _report_series(report: Report, study: Study | None) -> Series | None:
    index = report.study.series_index
    return study.series[index] if study is not None and index < len(study.series) else None


def _choice(k: int, finding: Finding) -> tuple[str, int]:
    text = finding.text if len(finding.text) <= 90 else finding.text[:87] + "..."
    where = ""
    if finding.boxes:
        slices = sorted({b.slice for b in finding.boxes})
        where = f"  [box on slice {', '.join(str(s) for s in slices)}]"
    return f"{finding.section}: {_finding_line(replace(finding, text=text))}{where}", k


def findings_update(report: Report | None) -> Any:
    """The findings list: one choice per finding and impression item."""
    if report is None:
        return gr.update(choices=[], value=None)
    return gr.update(
        choices=[_choice(k, f) for k, f in enumerate(report.all_findings)], value=None
    )


def reliability_markdown(report: Report | None) -> str:
    """Reliability flags: finding statuses, each finding's flags, checks and parsing notes."""
    if report is None:
        return ""
    counts: dict[str, int] = {}
    for finding in report.all_findings:
        counts[finding.status.value] = counts.get(finding.status.value, 0) + 1
    lines = ["**Reliability**: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    for finding in report.all_findings:
        lines.extend(f"- ⚠ {finding.section}: {flag}" for flag in finding.flags)
    lines.extend(f"- check: {line}" for line in report.checks)
    lines.extend(f"- note: {line}" for line in report.notes)
    return "\n".join(lines)


def draft(
    services: Services,
    indication: str,
    study: Study | None,
    index: int | None,
    plane: str,
    slice_index: int,
    *settings_values: Any,
    user: str = LOCAL_USER,
) -> Generator[DraftUpdate, None, None]:
    """Draft a report of the series shown; see the module docstring for what is yielded."""
    series = pick_series(study, index)
    if study is None or series is None:
        raise gr.Error("Open a study first.")
    settings = UserSettings.from_widgets(*settings_values)
    current = current_slice(series, plane, slice_index)
    spec, options, generation = settings.for_task(services, series, current)
    cancel = CancelToken()
    skip = gr.skip()

    def task(backend: Backend, on_delta: Callable[[str], None]) -> Report:
        return draft_report(
            series,
            backend,
            spec,
            indication=(indication or "").strip(),
            language=settings.language,
            options=options,
            settings=generation,
            study_key=study.key,
            on_delta=on_delta,
            cancel=cancel,
        )

    events = run_model(services, spec, settings.precision, cancel, task)
    status = ""

    def on_status(message: str) -> DraftUpdate:
        nonlocal status
        status = message
        return "", findings_update(None), "", None, cancel, skip, message, ""

    report: Report = yield from follow(
        events,
        lambda message: (skip, skip, skip, skip, None, skip, message, skip),
        on_status,
        lambda text, now: (text, skip, skip, skip, cancel, skip, now, skip),
    )

    record_task(services, Task.REPORT, user, report, report.raw, study)
    marks = Marks(series_index=series.index, boxes=report.boxes)
    yield (
        report_text(report),
        findings_update(report),
        reliability_markdown(report),
        report,
        None,
        marks,
        status,
        report.raw,
    )


def record_task(
    services: Services,
    task: Task,
    user: str,
    report: Report,
    output: str | Path,
    study: Study | None = None,
) -> None:
    """Record ``task`` on ``report`` in the audit log (``output`` is hashed, never kept)."""
    study_key = report.study.study_key or (study.key if study is not None else "")
    services.audit.record(
        task,
        user=user,
        study=study_key,
        series=report.study.series_key,
        model=report.model_id,
        prompt_version=report.prompt_version,
        output=output,
    )


def _check_lines(report: Report) -> str:
    """What ``check`` produced, as one text (for the audit hash)."""
    statuses = [f"{f.section}: {f.status.value}" for f in report.all_findings]
    return "\n".join([*statuses, *report.checks])


# check_report() yields: (report text, findings, reliability, report, cancel, marks, status)
CheckUpdate = tuple[Any, Any, Any, Any, CancelToken | None, Any, str]


def check_report(
    services: Services,
    report: Report | None,
    text: str,
    study: Study | None,
    *settings_values: Any,
    user: str = LOCAL_USER,
) -> Generator[CheckUpdate, None, None]:
    """Check the report as the clinician left it: each abnormal finding and its negation are
    asked about (two short model calls each, plus one blank-image control)."""
    if report is None:
        raise gr.Error("Draft a report first.")
    series = _report_series(report, study)
    if series is None:
        raise gr.Error("Open the study the report is about first.")
    settings = UserSettings.from_widgets(*settings_values)
    edited = edited_report(report, text)
    spec, options, _generation = settings.for_task(services, series, None)  # probes: 96 tokens
    cancel = CancelToken()
    skip = gr.skip()

    progress = ""

    def task(backend: Backend, on_delta: Callable[[str], None]) -> Report:
        def on_progress(done: int, total: int) -> None:
            nonlocal progress
            progress = f"Checking the report: model call {done + 1} of {total} (Stop ends it)."
            on_delta("\n")  # wakes the loop below, which shows ``progress``

        return check(
            edited, series, backend, spec, options=options, cancel=cancel, on_progress=on_progress
        )

    events = run_model(services, spec, settings.precision, cancel, task)
    status = ""
    while True:
        try:
            kind, value = next(events)
        except StopIteration as done:
            checked: Report = done.value
            break
        if kind in ("failed", "status"):
            status = value
        yield skip, skip, skip, skip, cancel, skip, progress if kind == "text" else status
    record_task(services, Task.CHECK, user, checked, _check_lines(checked), study)
    marks = Marks(series_index=series.index, boxes=checked.boxes)
    yield (
        report_text(checked),
        findings_update(checked),
        reliability_markdown(checked),
        checked,
        None,
        marks,
        status,
    )


def on_finding(
    report: Report | None,
    choice: int | None,
    marks: Marks | None,
    study: Study | None,
    index: int | None,
    plane: str,
) -> tuple[Any, Any, str]:
    """A finding chosen: (marks with its box highlighted, slider at its slice, note)."""
    series = pick_series(study, index)
    if report is None or choice is None or series is None:
        return marks, gr.skip(), ""
    if series.index != report.study.series_index:
        return (
            marks,
            gr.skip(),
            (
                f"The report is about series #{report.study.series_index + 1}: choose it to see "
                "its boxes."
            ),
        )
    findings = report.all_findings
    k = int(choice)
    finding = findings[k]
    before = sum(len(f.boxes) for f in findings[:k])
    highlight = before if finding.boxes else None
    base = marks or Marks()
    marks = replace(base, series_index=series.index, boxes=report.boxes, highlight=highlight)
    if not finding.boxes:
        return marks, gr.skip(), "This finding has no box."
    return marks, gr.update(value=jump_slice(series, plane, finding.boxes[0])), ""


def export(
    services: Services,
    report: Report | None,
    suffix: str,
    text: str,
    study: Study | None,
    *,
    user: str = LOCAL_USER,
    missing: str = "Draft a report first.",
) -> tuple[Any, str]:
    """Write the report (or comparison), with the clinician's edits of its box, as ``suffix``:
    (the file box showing it, note). ``missing`` is the error when there is nothing to export.

    The file is given as a ``str``: Gradio 6's ``gr.File`` refuses a ``Path``.
    """
    if report is None:
        raise gr.Error(missing)
    edited = edited_report(report, text)
    try:
        path = services.export(edited, suffix or ".md", _report_series(report, study))
    except (RadLensError, OSError) as err:
        raise user_error(err) from None
    record_task(services, Task.EXPORT, user, edited, path, study)
    note = ""
    if edited is not report:
        changed = sum(EDITED in f.flags for f in edited.all_findings)
        note = (
            f"Exported with your edits ({changed} finding(s) changed or added: marked as "
            "edited by the clinician, without boxes; unchanged findings keep theirs)."
        )
    return gr.update(value=str(path), visible=True), note
