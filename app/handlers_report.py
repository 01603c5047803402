"""Report pane: draft a report of the series shown, check it, list its findings, export it.

:func:`draft` is a generator handler wired to ``models.tasks.report.draft_report`` through
:func:`~app.handlers_model.run_task`: the model's text streams into the report box, then the
finished report replaces it (as ``Heading: text`` lines, the layout the model is asked for), its
findings fill the findings list and their boxes go on the viewer. Choosing a finding jumps to its
box's slice and highlights it. :func:`check_report` probes each abnormal finding
(``models.tasks.check.check``, through ``run_task`` too, its status line counting the model
calls). The report box is editable: Check and Export read the clinician's text back with
``models.report.revision.revise`` first, so unchanged findings keep their boxes and status, and
edited ones are marked as the clinician's. Every task and export is recorded in the audit log
(hashes only).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from app.audit import LOCAL_USER
from app.errors import user_error
from app.handlers_model import Call, Phase, Running, current_slice, run_task
from app.handlers_settings import UserSettings
from app.handlers_viewer import Marks, jump_slice, pick_series
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Series, Study
from models.backends.base import CancelToken
from models.registry.capabilities import not_offered_notes
from models.report.draft import Finding, FindingStatus, Report
from models.report.exports import DEFAULT_SUFFIX
from models.report.revision import report_to_text, revise
from models.report.text import EDITED
from models.tasks.check import check
from models.tasks.names import TaskName
from models.tasks.report import draft_report

__all__ = [
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

_MARK = {
    FindingStatus.REPORTED: "",
    FindingStatus.VERIFIED: "[verified] ",
    FindingStatus.UNVERIFIED: "[unverified] ",
    FindingStatus.UNABLE: "[unable to assess] ",
}
# draft() yields: (report text, findings, reliability, report, cancel token, marks, status,
# raw model text)
DraftUpdate = tuple[Any, Any, Any, Any, CancelToken | None, Any, str, Any]
# check_report() yields: (report text, findings, reliability, report, cancel, marks, status)
CheckUpdate = tuple[Any, Any, Any, Any, CancelToken | None, Any, str]


def _finding_line(finding: Finding) -> str:
    mark = _MARK[finding.status]
    if finding.text.lower().startswith(mark.strip("[] ")):  # "Unable to assess: ..."
        return finding.text
    return f"{mark}{finding.text}"


def report_text(report: Report) -> str:
    """The report as editable text (``models.report.revision.report_to_text``): the sections and
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
    skip = gr.skip()

    def task(call: Call) -> Report:
        return draft_report(
            series,
            call.backend,
            spec,
            indication=(indication or "").strip(),
            language=settings.language,
            options=options,
            settings=generation,
            study_key=study.key,
            on_delta=call.on_delta,
            cancel=call.cancel,
        )

    def show(now: Running) -> DraftUpdate:
        if now.phase is Phase.FAILED:  # a gr.Error follows
            return skip, skip, skip, skip, None, skip, now.status, skip
        if now.phase is Phase.STATUS:
            return "", findings_update(None), "", None, now.cancel, skip, now.status, ""
        return now.text, skip, skip, skip, now.cancel, skip, now.status, skip

    run = yield from run_task(services, spec, settings.precision, task, show)
    report = run.value
    record_task(services, TaskName.REPORT, user, report, report.raw, study)
    yield (*_finished(report, series, run.status), report.raw)


def _finished(report: Report, series: Series, status: str) -> CheckUpdate:
    """A drafted or checked report shown: its text, findings, reliability flags, itself, Stop
    done, its boxes on the viewer, the status line."""
    marks = Marks(series_index=series.index, boxes=report.boxes)
    findings = findings_update(report)
    return report_text(report), findings, reliability_markdown(report), report, None, marks, status


def record_task(
    services: Services,
    task: TaskName,
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
    spec, options, _generation = settings.for_task(services, series, None)  # probes: their own
    progress = ""

    def task(call: Call) -> Report:
        def on_progress(done: int, total: int) -> None:
            nonlocal progress
            progress = f"Checking the report: model call {done + 1} of {total} (Stop ends it)."
            call.on_delta("\n")  # wakes run_task, whose next update shows ``progress``

        return check(
            edited,
            series,
            call.backend,
            spec,
            options=options,
            cancel=call.cancel,
            on_progress=on_progress,
        )

    def show(now: Running) -> CheckUpdate:
        line = progress if now.phase is Phase.TEXT else now.status
        skip = gr.skip()
        return skip, skip, skip, skip, now.cancel, skip, line

    run = yield from run_task(services, spec, settings.precision, task, show)
    checked = run.value
    record_task(services, TaskName.CHECK, user, checked, _check_lines(checked), study)
    yield _finished(checked, series, run.status)


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
        withheld = not_offered_notes(report.notes)  # say why, rather than "no box"
        return marks, gr.skip(), withheld[0] if withheld else "This finding has no box."
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
        path = services.export(edited, suffix or DEFAULT_SUFFIX, _report_series(report, study))
    except (RadLensError, OSError) as err:
        raise user_error(err) from None
    record_task(services, TaskName.EXPORT, user, edited, path, study)
    note = ""
    if edited is not report:
        changed = sum(EDITED in f.flags for f in edited.all_findings)
        note = (
            f"Exported with your edits ({changed} finding(s) changed or added: marked as "
            "edited by the clinician, without boxes; unchanged findings keep theirs)."
        )
    return gr.update(value=str(path), visible=True), note
