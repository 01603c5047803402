"""Compare pane: the series shown against a prior study the user opens in the tab.

The prior is uploaded in the tab (files, a folder's files or a zip) and kept in the user's
``gr.State``; its default series is chosen (another can be picked) and previewed with its
technique line. :func:`compare` is a generator handler wired to ``models.tasks.compare.compare``
through :func:`~app.handlers_model.run_task`: the model's text streams into the comparison box
(Stop cancels it), then the finished report replaces it, each finding with its interval change in
brackets, and the changes are listed in a table. Both studies are shown to the model whole (sampled
as the settings say), or their middle slice in ``current`` mode: the viewer's slice and range do
not carry over to a prior whose geometry differs. The run is recorded in the audit log (hashes
only). The comparison exports like a report (the Report pane's ``export`` handler), with the
clinician's edits of its box.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from app.audit import LOCAL_USER
from app.errors import user_error
from app.handlers_model import Call, Phase, Running, run_task
from app.handlers_report import record_task, report_text
from app.handlers_settings import UserSettings
from app.handlers_viewer import Image, pick_series, series_thumbnail
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Study
from models.backends.base import CancelToken
from models.report.draft import Report
from models.tasks.compare import compare as compare_task
from models.tasks.names import TaskName
from models.tasks.technique import describe_technique

__all__ = ["changes_markdown", "compare", "open_prior", "show_prior"]

# compare() yields: (comparison text, changes table, report, cancel token, model status)
CompareUpdate = tuple[Any, Any, Any, CancelToken | None, str]
NO_CHANGE = "not stated"


def show_prior(prior: Study | None, index: int | None) -> tuple[Image | None, str]:
    """The prior series' preview (middle slice) and its technique line."""
    series = pick_series(prior, index)
    if series is None:
        return None, ""
    try:
        preview = series_thumbnail(series)
    except RadLensError as err:
        raise user_error(err) from None
    return preview, f"**Prior**: {describe_technique(series)}"


def open_prior(services: Services, files: list[str] | None) -> tuple[Any, ...]:
    """A prior study uploaded: (prior study, series list, preview, technique line)."""
    if not files:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    try:
        prior = services.open([Path(f) for f in files])
    except RadLensError as err:
        raise user_error(err) from None
    chosen = prior.default_series
    choices = [(series.label(), series.index) for series in prior.series]
    preview, info = show_prior(prior, chosen.index)
    return prior, gr.update(choices=choices, value=chosen.index), preview, info


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def changes_markdown(report: Report | None) -> str:
    """The findings and their interval change, as a table."""
    if report is None:
        return ""
    rows = [
        f"| {_cell(f.section)} | {_cell(f.text)} | **{f.change or NO_CHANGE}** |"
        for f in report.all_findings
    ]
    table = ["| Section | Finding | Interval change |", "|---|---|---|", *rows]
    notes = [f"- note: {line}" for line in report.notes]
    return "\n".join([*table, *(["", *notes] if notes else [])])


def compare(
    services: Services,
    indication: str,
    prior: Study | None,
    prior_index: int | None,
    study: Study | None,
    index: int | None,
    *settings_values: Any,
    user: str = LOCAL_USER,
) -> Generator[CompareUpdate, None, None]:
    """Compare the series shown with the prior's; see the module docstring."""
    series = pick_series(study, index)
    before = pick_series(prior, prior_index)
    if study is None or series is None:
        raise gr.Error("Open a study first.")
    if before is None:
        raise gr.Error("Open a prior study in this tab first.")
    settings = UserSettings.from_widgets(*settings_values)
    spec, options, generation = settings.for_task(
        services, series, None, whole=True, task="compare"
    )
    skip = gr.skip()

    def task(call: Call) -> Report:
        return compare_task(
            series,
            before,
            call.backend,
            spec,
            indication=(indication or "").strip(),
            language=settings.language,
            options=options,
            settings=generation,
            on_delta=call.on_delta,
            cancel=call.cancel,
        )

    def show(now: Running) -> CompareUpdate:
        if now.phase is Phase.FAILED:  # a gr.Error follows
            return skip, skip, skip, None, now.status
        if now.phase is Phase.STATUS:
            return "", "", None, now.cancel, now.status
        return now.text, skip, skip, now.cancel, now.status

    run = yield from run_task(services, spec, settings.precision, task, show)
    report = replace(run.value, study=replace(run.value.study, study_key=study.key))
    record_task(services, TaskName.COMPARE, user, report, report.raw)
    yield report_text(report), changes_markdown(report), report, None, run.status
