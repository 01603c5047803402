"""The UI's events: which handler runs when, on which widgets (the layout is :mod:`app.ui`).

The viewer's events are UI plumbing, hidden from the API (``api_visibility="private"``), and
fast. Model work (ask, draft, check, compare) shares one concurrency group ``"gpu"`` of size
:meth:`Services.concurrency` (:func:`model_queue`): 1 for a local model, so one request runs at a
time and waiting users see their place in the queue on the chat or report box;
RADLENS_REMOTE_CONCURRENCY (default 8) when the configured model is the remote entry, whose
server batches requests. They are private too: Gradio 6 lists ``"undocumented"`` endpoints on the
login page when asked (``?all_endpoints=true``), before anyone logs in. Stop bypasses the queue,
so it acts while the model is busy, and cancels every model task the page has running
(:class:`~app.services.RunningTasks`), not only the last one started.

The one deliberate API, ``/ask`` and ``/draft_report`` (:mod:`app.handlers_api`), is added
only when :attr:`Services.api` is on (``radlens serve`` without ``--auth``).

Handlers that run a model task or export receive the user (``gr.Request.username``, or
``"local"``) for the audit log: :func:`_for_user` passes it on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from app import handlers_api as api
from app import handlers_chat as chat
from app import handlers_compare as compare
from app import handlers_report as report
from app import handlers_settings as settings
from app import handlers_viewer as viewer
from app.audit import user_of
from app.errors import user_error
from app.handlers_model import current_slice
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Study
from models.backends.base import CancelToken

__all__ = ["GPU", "HIDDEN", "model_queue", "wire"]

HIDDEN: dict[str, Any] = {"api_visibility": "private"}
PIXEL_HINT = "*Click the image to read a value.*"
GPU: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "gpu", "show_progress": "full"}


def model_queue(services: Services) -> dict[str, Any]:
    """The queue settings of the model events: :data:`GPU` with the configured model's
    :meth:`~app.services.Services.concurrency` as the group's limit."""
    return {**GPU, "concurrency_limit": services.concurrency()}


def _model_task(services: Services, handler: Callable[..., Any]) -> Callable[..., Any]:
    """A model event's generator handler, for the user, whose cancel tokens are tracked per
    page while it runs (so Stop reaches it even when another task of the page started later)."""

    def streaming(request: gr.Request, *inputs: Any) -> Generator[Any, None, None]:
        page = request.session_hash or ""
        seen: list[CancelToken] = []
        try:
            for update in handler(*inputs, user=user_of(request)):
                values = update if isinstance(update, tuple) else (update,)
                for token in values:
                    if isinstance(token, CancelToken) and all(t is not token for t in seen):
                        seen.append(token)
                        services.running.track(page, token)
                yield update
        finally:
            for token in seen:
                services.running.forget(page, token)

    return streaming


def _for_user(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler(*inputs, user=...)`` as an event function: Gradio hands it the request."""
    if inspect.isgeneratorfunction(handler):

        def streaming(request: gr.Request, *inputs: Any) -> Generator[Any, None, None]:
            yield from handler(*inputs, user=user_of(request))

        return streaming

    def plain(request: gr.Request, *inputs: Any) -> Any:
        return handler(*inputs, user=user_of(request))

    return plain


def wire(services: Services, ui: SimpleNamespace) -> None:
    """Every event of the app; ``ui`` holds the widgets :func:`app.ui.build_ui` laid out."""
    view_inputs = [*ui.where, ui.window, ui.center, ui.width, ui.invert, ui.marks]
    ui.view_inputs = view_inputs
    ui.redraw_out = [ui.view, ui.position]
    ui.redraw = {
        "fn": viewer.render_view,
        "inputs": view_inputs,
        "outputs": ui.redraw_out,
        "show_progress": "hidden",
        **HIDDEN,
    }
    ui.tail = [ui.status, ui.raw]
    _wire_study(services, ui)
    _wire_viewer(services, ui)
    _wire_drawing(ui)
    _wire_assistant(services, ui)
    _wire_compare(services, ui)
    _wire_settings(services, ui)
    if services.api:
        _wire_api(services, ui)

    def on_unload(request: gr.Request) -> None:
        # The page went: its studies' voxels go now (decoded again if it reconnects).
        services.pages.release(request.session_hash)

    ui.demo.unload(on_unload)


def _wire_study(services: Services, ui: SimpleNamespace) -> None:
    """Page load and upload (files or a folder): a study shown, the assistant panes reset."""
    study_outputs = [ui.study, ui.series, ui.info, ui.slider, ui.view, ui.position, ui.marks]
    study_outputs.append(ui.thumbnails)
    fresh = [ui.chatbot, ui.turns, ui.report_box, ui.findings, ui.flags, ui.report, ui.raw]
    fresh += [ui.region_info, ui.compare_box, ui.changes, ui.compared, ui.pixel]
    fresh += [ui.first, ui.last, ui.tokens]

    def shown_fresh(
        shown: tuple[Any, ...], user: settings.UserSettings, pictures: list[Any]
    ) -> tuple[Any, ...]:
        chosen = viewer.pick_series(shown[0], None)
        whole = replace(user, first_slice=None, last_slice=None)
        count = chosen.shape[0] if chosen else 1
        estimate = settings.token_estimate(services, chosen, whole, count // 2)
        empty = report.findings_update(None)
        cleared: tuple[Any, ...] = ([], (), "", empty, "", None, "", "", "", "", None, PIXEL_HINT)
        cleared += settings.range_updates(chosen)
        index = chosen.index if chosen else None
        gallery = gr.update(value=pictures, selected_index=index)
        return (*shown, gallery, *cleared, estimate)

    def on_load() -> tuple[Any, ...]:
        # No inputs: the widgets hold the services' defaults when a page loads.
        model_id, precision = services.spec().id, services.precision
        user = settings.UserSettings(model_id, precision)
        study = services.initial()
        return (
            *shown_fresh(viewer.show_study(study), user, viewer.thumbnails(study)),
            gr.update(choices=settings.model_choices(services), value=model_id),
            settings.model_info(services, model_id),
            settings.model_status(services, model_id, precision),
        )

    def on_upload(
        files: list[str] | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (how Gradio passes a progress bar)
        *values: Any,
    ) -> tuple[Any, ...]:
        if not files:
            return (gr.skip(),) * (len(study_outputs) + len(fresh) + 2)

        def reading(stage: str, done: int, total: int) -> None:
            progress((done, total), desc=f"{stage.capitalize()}", unit="files")

        def decoding(done: int, total: int) -> None:
            progress((done, total), desc="Drawing the series thumbnails", unit="series")

        try:
            studies = services.open_all([Path(f) for f in files], progress=reading)
            services.pages.hold_study(request.session_hash, *studies)
            if len(studies) > 1:  # nothing is opened until the clinician picks one
                chooser = viewer.study_chooser(studies)
                return (*(gr.skip(),) * (len(study_outputs) + len(fresh)), chooser, studies)
            pictures = viewer.thumbnails(studies[0], decoding)
        except RadLensError as err:
            raise user_error(err) from None
        user = settings.UserSettings.from_widgets(*values)
        shown = shown_fresh(viewer.show_study(studies[0]), user, pictures)
        return (*shown, gr.update(choices=[], value=None, visible=False), None)

    def on_choose_study(
        studies: tuple[Study, ...] | None, number: Any, *values: Any
    ) -> tuple[Any, ...]:
        study = viewer.chosen_study(studies, number)
        if study is None:
            return (gr.skip(),) * (len(study_outputs) + len(fresh))
        user = settings.UserSettings.from_widgets(*values)
        return shown_fresh(viewer.show_study(study), user, viewer.thumbnails(study))

    ui.demo.load(
        on_load,
        outputs=[*study_outputs, *fresh, ui.model, ui.model_info, ui.status],
        **HIDDEN,
    )
    for button in (ui.upload, ui.upload_folder):
        button.upload(
            on_upload,
            inputs=[button, *ui.widgets],
            outputs=[*study_outputs, *fresh, ui.studies, ui.upload_studies],
            show_progress_on=[ui.view],
            **HIDDEN,
        )
    ui.studies.input(
        on_choose_study,
        inputs=[ui.upload_studies, ui.studies, *ui.widgets],
        outputs=[*study_outputs, *fresh],
        show_progress_on=[ui.view],
        **HIDDEN,
    )


def _wire_viewer(services: Services, ui: SimpleNamespace) -> None:
    """Series (list or thumbnail) and plane."""

    def tokens(study: Study | None, index: Any, plane: str, k: int, *values: Any) -> str:
        chosen = viewer.pick_series(study, index)
        user = settings.UserSettings.from_widgets(*values)
        current = current_slice(chosen, plane, k) if chosen else None
        return settings.token_estimate(services, chosen, user, current)

    ui.refresh_tokens = {
        "fn": tokens,
        "inputs": [*ui.where, *ui.widgets],
        "outputs": ui.tokens,
        "show_progress": "hidden",
        **HIDDEN,
    }
    series_changed = {
        "fn": viewer.on_series_or_plane,
        "inputs": ui.view_inputs,
        "outputs": [ui.info, ui.slider, ui.view, ui.position],
        **HIDDEN,
    }
    ranges = {
        "fn": lambda study, index: settings.range_updates(viewer.pick_series(study, index)),
        "inputs": [ui.study, ui.series],
        "outputs": [ui.first, ui.last],
        **HIDDEN,
    }
    ui.plane.input(**series_changed).then(**ui.refresh_tokens)
    ui.series.input(**series_changed).then(**ranges).then(**ui.refresh_tokens)
    ui.series.input(
        lambda index: gr.update(selected_index=index),
        inputs=ui.series,
        outputs=ui.thumbnails,
        show_progress="hidden",
        **HIDDEN,
    )

    def on_thumbnail(study: Study | None, evt: gr.SelectData) -> Any:
        chosen = viewer.pick_series(study, evt.index)
        return gr.skip() if chosen is None else gr.update(value=chosen.index)

    ui.thumbnails.select(
        on_thumbnail, inputs=ui.study, outputs=ui.series, show_progress="hidden", **HIDDEN
    ).then(**series_changed).then(**ranges).then(**ui.refresh_tokens)


def _wire_drawing(ui: SimpleNamespace) -> None:
    """Slice, window and reset redraw the view; clicks read a value or mark a region."""
    for trigger in (
        ui.slider.release,
        ui.slider.input,
        ui.window.input,
        ui.center.submit,
        ui.width.submit,
        ui.invert.input,
    ):
        trigger(**ui.redraw)
    ui.reset.click(
        viewer.on_reset,
        inputs=[ui.study, ui.series, ui.marks],
        outputs=[ui.plane, ui.window, ui.center, ui.width, ui.invert, ui.slider, *ui.redraw_out],
        **HIDDEN,
    )

    def on_click(
        study: Study | None,
        index: Any,
        plane: str,
        k: int,
        preset: str,
        center: float | None,
        width: float | None,
        invert: bool,
        marks: Any,
        mode: bool,
        evt: gr.EventData,
    ) -> tuple[Any, ...]:
        point = (float(evt.x), float(evt.y), int(evt.width), int(evt.height))
        value = viewer.point_value(study, index, plane, k, point)
        if not mode:
            return gr.skip(), gr.skip(), value, gr.skip(), gr.skip()
        marks, region = viewer.on_viewer_click(study, index, plane, k, marks, mode, point)
        image, where = viewer.render_view(
            study, index, plane, k, preset, center, width, invert, marks
        )
        return marks, region, value, image, where

    ui.clicks.click(
        on_click,
        inputs=[*ui.view_inputs, ui.region_mode],
        outputs=[ui.marks, ui.region_info, ui.pixel, *ui.redraw_out],
        show_progress="hidden",
        **HIDDEN,
    )
    ui.clear_region.click(
        viewer.clear_region, inputs=ui.marks, outputs=[ui.marks, ui.region_info], **HIDDEN
    ).then(**ui.redraw)


def _wire_assistant(services: Services, ui: SimpleNamespace) -> None:
    """Chat, Stop, report, check, findings and export."""
    gr.on(
        [ui.question.submit],
        _model_task(services, partial(chat.ask, services)),
        inputs=[ui.question, ui.chatbot, ui.turns, ui.marks, *ui.where, *ui.widgets],
        outputs=[ui.question, ui.chatbot, ui.turns, ui.cancel, ui.marks, ui.status, ui.slider],
        show_progress_on=[ui.chatbot],
        **model_queue(services),
        **HIDDEN,
    ).then(**ui.redraw)

    def stop(cancel: CancelToken | None, request: gr.Request) -> None:
        chat.stop(cancel)
        services.running.cancel(request.session_hash or "")

    ui.stop.click(stop, inputs=ui.cancel, queue=False, **HIDDEN)
    ui.clear_chat.click(
        chat.clear_chat, inputs=ui.marks, outputs=[ui.chatbot, ui.turns, ui.marks], **HIDDEN
    ).then(**ui.redraw)

    ui.draft.click(
        _model_task(services, partial(report.draft, services)),
        inputs=[ui.indication, *ui.where, *ui.widgets],
        outputs=[ui.report_box, ui.findings, ui.flags, ui.report, ui.cancel, ui.marks, *ui.tail],
        show_progress_on=[ui.report_box],
        **model_queue(services),
        **HIDDEN,
    ).then(**ui.redraw)
    ui.check.click(
        _model_task(services, partial(report.check_report, services)),
        inputs=[ui.report, ui.report_box, ui.study, *ui.widgets],
        outputs=[ui.report_box, ui.findings, ui.flags, ui.report, ui.cancel, ui.marks, ui.status],
        show_progress_on=[ui.report_box],
        **model_queue(services),
        **HIDDEN,
    ).then(**ui.redraw)
    ui.findings.input(
        report.on_finding,
        inputs=[ui.report, ui.findings, ui.marks, *ui.where[:3]],
        outputs=[ui.marks, ui.slider, ui.finding_note],
        **HIDDEN,
    ).then(**ui.redraw)
    ui.export_button.click(
        _for_user(partial(report.export, services)),
        inputs=[ui.report, ui.export_format, ui.report_box, ui.study],
        outputs=[ui.export_file, ui.export_note],
        **HIDDEN,
    )


def _wire_compare(services: Services, ui: SimpleNamespace) -> None:
    """The prior study and the comparison."""

    def on_prior(files: list[str] | None, request: gr.Request) -> tuple[Any, ...]:
        opened = compare.open_prior(services, files)
        if isinstance(opened[0], Study):
            services.pages.hold_study(request.session_hash, opened[0])
        return opened

    ui.prior_upload.upload(
        on_prior,
        inputs=ui.prior_upload,
        outputs=[ui.prior, ui.prior_series, ui.prior_view, ui.prior_info],
        show_progress_on=[ui.prior_view],
        **HIDDEN,
    )
    ui.prior_series.input(
        compare.show_prior,
        inputs=[ui.prior, ui.prior_series],
        outputs=[ui.prior_view, ui.prior_info],
        **HIDDEN,
    )
    ui.compare_button.click(
        _model_task(services, partial(compare.compare, services)),
        inputs=[
            ui.compare_indication,
            ui.prior,
            ui.prior_series,
            ui.study,
            ui.series,
            *ui.widgets,
        ],
        outputs=[ui.compare_box, ui.changes, ui.compared, ui.cancel, ui.status],
        show_progress_on=[ui.compare_box],
        **model_queue(services),
        **HIDDEN,
    )
    ui.compare_export_button.click(
        _for_user(partial(report.export, services, missing="Run a comparison first.")),
        inputs=[ui.compared, ui.compare_export_format, ui.compare_box, ui.study],
        outputs=[ui.compare_export_file, ui.compare_export_note],
        **HIDDEN,
    )


def _wire_settings(services: Services, ui: SimpleNamespace) -> None:
    """Model choice, precision, and the live token estimate."""
    ui.model.input(
        partial(settings.on_model_change, services),
        inputs=[ui.model, ui.precision],
        outputs=[ui.max_slices, ui.model_info, ui.status],
        **HIDDEN,
    ).then(**ui.refresh_tokens)
    ui.precision.input(
        lambda model_id, value: settings.model_status(services, model_id, value),
        inputs=[ui.model, ui.precision],
        outputs=ui.status,
        **HIDDEN,
    )
    for widget in ui.widgets[1:]:
        trigger = widget.release if isinstance(widget, gr.Slider) else widget.input
        trigger(**ui.refresh_tokens)


def _wire_api(services: Services, ui: SimpleNamespace) -> None:
    """``/ask`` and ``/draft_report`` for Gradio clients (see :mod:`app.handlers_api`)."""

    def ask(
        files: list[str] | None, question: str, max_new_tokens: float | None, request: gr.Request
    ) -> dict[str, Any]:
        return api.ask(services, files, question, max_new_tokens, user=user_of(request))

    def draft_report(
        files: list[str] | None,
        indication: str,
        max_new_tokens: float | None,
        request: gr.Request,
    ) -> dict[str, Any]:
        return api.draft_report(services, files, indication, max_new_tokens, user=user_of(request))

    with gr.Column(visible=False):
        files = gr.File(label="files", file_count="multiple")
        question = gr.Textbox(label="question")
        indication = gr.Textbox(label="indication")
        tokens = gr.Number(label="max_new_tokens", value=None, precision=0)
        result = gr.JSON(label="result")
        ask_button = gr.Button("ask")
        draft_button = gr.Button("draft_report")
    public = {**model_queue(services), "api_visibility": "public", "show_progress": "hidden"}
    ask_button.click(
        ask, inputs=[files, question, tokens], outputs=result, api_name="ask", **public
    )
    draft_button.click(
        draft_report,
        inputs=[files, indication, tokens],
        outputs=result,
        api_name="draft_report",
        **public,
    )
