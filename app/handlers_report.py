"""Report pane: draft a report of the series shown, list its findings, export it.

:func:`draft` is a generator handler wired to ``models.tasks.draft_report``: the model's text
streams into the report box, then the finished report replaces it (as ``Heading: text`` lines,
the layout the model is asked for), its findings fill the findings list and their boxes go on
the viewer. Choosing a finding jumps to its box's slice and highlights it. Exports go through
``models.exports.export_report``. Either module may be missing while the project grows: the
pane then says so and offers nothing it cannot do.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

import gradio as gr

from app.handlers_model import current_slice, run_model
from app.handlers_settings import UserSettings
from app.handlers_viewer import Marks, jump_slice, pick_series
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Study
from models.backends.base import Backend, CancelToken
from models.report import Finding, FindingStatus, Report

__all__ = [
    "EXPORTS_PENDING",
    "EXPORT_FORMATS",
    "REPORT_PENDING",
    "draft",
    "draft_function",
    "export",
    "exports_available",
    "findings_update",
    "on_finding",
    "reliability_markdown",
    "report_text",
]

REPORT_PENDING = "Report drafting arrives with models/tasks.py (not in this build yet)."
EXPORTS_PENDING = "Exports arrive with models/exports (not in this build yet)."
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


def _has(module: str, name: str) -> bool:
    if importlib.util.find_spec(module) is None:
        return False
    return hasattr(importlib.import_module(module), name)


def draft_function() -> Callable[..., Report] | None:
    """``models.tasks.draft_report`` when this build has it."""
    if not _has("models.tasks", "draft_report"):
        return None
    function: Callable[..., Report] = importlib.import_module("models.tasks").draft_report
    return function


def exports_available() -> bool:
    return _has("models.exports", "export_report")


def _finding_line(finding: Finding) -> str:
    mark = _MARK[finding.status]
    if finding.text.lower().startswith(mark.strip("[] ")):  # "Unable to assess: ..."
        return finding.text
    return f"{mark}{finding.text}"


def report_text(report: Report) -> str:
    """The report as editable text: the sections and ``Heading: text`` lines models write."""
    lines = [report.title, "", f"Technique: {report.technique}"]
    if report.indication:
        lines.append(f"Indication: {report.indication}")
    if report.comparison:
        lines.append(f"Comparison: {report.comparison}")
    lines += ["", "Findings:"]
    lines += [f"{f.section}: {_finding_line(f)}" for f in report.findings]
    if report.impression:
        lines += ["", "Impression:"]
        lines += [f"{k}. {_finding_line(f)}" for k, f in enumerate(report.impression, 1)]
    return "\n".join(lines)


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
) -> Generator[DraftUpdate, None, None]:
    """Draft a report of the series shown; see the module docstring for what is yielded."""
    function = draft_function()
    if function is None:
        raise gr.Error(REPORT_PENDING)
    series = pick_series(study, index)
    if series is None:
        raise gr.Error("Open a study first.")
    settings = UserSettings.from_widgets(*settings_values)
    try:
        spec = services.spec(settings.model_id)
        options = settings.options(series, current_slice(series, plane, slice_index))
        generation = settings.generation()
    except (RadLensError, ValueError) as err:
        raise gr.Error(str(err)) from err
    cancel = CancelToken()
    skip = gr.skip()

    def task(backend: Backend, on_delta: Callable[[str], None]) -> Report:
        return function(
            series,
            backend,
            spec,
            indication=(indication or "").strip(),
            language=settings.language,
            options=options,
            settings=generation,
            on_delta=on_delta,
            cancel=cancel,
        )

    events = run_model(services, spec, settings.precision, cancel, task)
    status, text = "", ""
    while True:
        try:
            kind, value = next(events)
        except StopIteration as done:
            report: Report = done.value
            break
        if kind == "failed":  # a gr.Error follows
            yield skip, skip, skip, skip, None, skip, value, skip
        elif kind == "status":
            status = value
            yield "", findings_update(None), "", None, cancel, skip, status, ""
        else:
            text += value
            yield text, skip, skip, skip, cancel, skip, status, skip

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
) -> tuple[Any, str]:
    """Write the report as ``suffix``: (the file box showing it, note).

    The file is given as a ``str``: Gradio 6's ``gr.File`` refuses a ``Path``.
    """
    if not exports_available():
        raise gr.Error(EXPORTS_PENDING)
    if report is None:
        raise gr.Error("Draft a report first.")
    index = report.study.series_index
    series = study.series[index] if study is not None and index < len(study.series) else None
    try:
        path = services.export(report, suffix or ".md", series)
    except (RadLensError, OSError) as err:
        raise gr.Error(str(err)) from err
    note = ""
    if (text or "").strip() != report_text(report).strip():
        note = (
            "The export holds the report as drafted: your edits to the text are not in it "
            "(copy the edited text instead)."
        )
    return gr.update(value=str(path), visible=True), note
