"""The Gradio UI: ``build_ui(services) -> gr.Blocks``; the handlers live in ``handlers_*``.

Layout: the study and the viewer's tools on the left, the viewer in the middle, the assistant
on the right (model status and Stop above the Chat, Report and Settings tabs). Per-user data
lives in ``gr.State``: the study, the marks drawn on the viewer, the conversation, the report
and the running generation's cancel token. Nothing here opens files or touches torch.

Events: the viewer's are UI plumbing, hidden from the API (``api_visibility="private"``), and
fast. Model work (ask, draft) shares one concurrency group ``"gpu"`` of size 1, so one request
runs at a time and waiting users see their place in the queue on the chat or report box.
They are private too: Gradio 6 lists ``"undocumented"`` endpoints on the login page when asked
(``?all_endpoints=true``), before anyone logs in; scripts use the CLI (``radlens ask``). Stop
bypasses the queue, so it acts while the model is busy.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from app import handlers_chat as chat
from app import handlers_report as report
from app import handlers_settings as settings
from app import handlers_viewer as viewer
from app.handlers_model import current_slice
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Study
from models.answers import DISCLAIMER

__all__ = ["build_ui", "launch_options"]

_CSS = """
#viewer img { background: #000; object-fit: contain; }
#viewer { cursor: crosshair; }
#series-info, #region-info, #finding-note, #export-note, #tokens { font-size: 0.85em; }
#model-status { font-size: 0.9em; }
.disclaimer { font-size: 0.8em; color: #a15c00; }
"""
# Gradio's own click position on an <img> is wrong when the browser scales a small slice up
# (it caps the scale at 1), so viewer clicks are read here, with object-fit: contain.
_CLICK_JS = """
document.addEventListener('click', (event) => {
  const img = event.target.closest ? event.target.closest('#viewer img') : null;
  const mode = document.querySelector('#region-mode input');
  if (!img || !mode || !mode.checked || !img.naturalWidth) return;
  const r = img.getBoundingClientRect();
  const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
  const left = r.left + (r.width - img.naturalWidth * s) / 2;
  const top = r.top + (r.height - img.naturalHeight * s) / 2;
  trigger('click', {x: (event.clientX - left) / s, y: (event.clientY - top) / s,
                    width: img.naturalWidth, height: img.naturalHeight});
}, true);
"""
HIDDEN: dict[str, Any] = {"api_visibility": "private"}
GPU: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "gpu", "show_progress": "full"}


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` shared by the server and the tests."""
    return {
        "share": False,
        "max_file_size": os.environ.get("RADLENS_MAX_UPLOAD", "2gb"),
        "show_error": True,
        "footer_links": [],
        "theme": gr.themes.Soft(),
        "css": _CSS,
        "ssr_mode": False,
        "quiet": True,
    }


def _study_column(ui: SimpleNamespace) -> None:
    ui.upload = gr.File(
        label="Open a study (DICOM files, a .zip, NIfTI, PNG/JPEG)",
        file_count="multiple",
        elem_id="upload",
        height=200,
    )
    ui.series = gr.Dropdown(label="Series", choices=[], elem_id="series")
    ui.plane = gr.Radio(viewer.PLANES, value="acquired", label="Plane", elem_id="plane")
    ui.window = gr.Dropdown(
        [*viewer.WINDOW_CHOICES, "manual"], value="default", label="Window", elem_id="window"
    )
    with gr.Row():
        ui.center = gr.Number(label="Centre", value=None, elem_id="window-center", min_width=80)
        ui.width = gr.Number(label="Width", value=None, elem_id="window-width", min_width=80)
    with gr.Row():
        ui.invert = gr.Checkbox(label="Invert", value=False, elem_id="invert")
        ui.reset = gr.Button("Reset", elem_id="reset", size="sm")
    ui.info = gr.Markdown(elem_id="series-info")


def _viewer_column(ui: SimpleNamespace) -> None:
    ui.view = gr.Image(
        label="Viewer",
        type="numpy",
        interactive=False,
        elem_id="viewer",
        format="png",
        height=640,
    )
    ui.clicks = gr.HTML("", js_on_load=_CLICK_JS, visible="hidden", elem_id="viewer-clicks")
    ui.position = gr.Markdown(elem_id="slice-position")
    ui.slider = gr.Slider(0, 1, value=0, step=1, label="Slice", elem_id="slice", interactive=True)


def _chat_tab(ui: SimpleNamespace) -> None:
    ui.chatbot = gr.Chatbot(
        label="Questions about the series shown", elem_id="chat", height=400, buttons=["copy"]
    )
    gr.Markdown(DISCLAIMER, elem_classes="disclaimer", elem_id="chat-disclaimer")
    ui.question = gr.Textbox(
        placeholder="Ask about the series shown, e.g. 'Show me the heart.'",
        show_label=False,
        elem_id="chat-input",
        submit_btn=True,
    )
    with gr.Row():
        ui.region_mode = gr.Checkbox(
            label="Mark a region: click two corners on the image", elem_id="region-mode"
        )
        ui.clear_region = gr.Button("Clear region", size="sm", scale=0, elem_id="clear-region")
        ui.clear_chat = gr.Button("New chat", size="sm", scale=0, elem_id="new-chat")
    ui.region_info = gr.Markdown(elem_id="region-info")


def _report_tab(ui: SimpleNamespace, ready: bool, exports: bool) -> None:
    ui.indication = gr.Textbox(
        label="Indication (optional)",
        placeholder="e.g. cough and fever for 3 days",
        elem_id="indication",
    )
    ui.draft = gr.Button(
        "Draft report", variant="primary", elem_id="draft-report", interactive=ready
    )
    ui.report_box = gr.Textbox(
        label="Report (editable)",
        lines=12,
        max_lines=30,
        interactive=True,
        elem_id="report",
        placeholder="" if ready else report.REPORT_PENDING,
    )
    gr.Markdown(DISCLAIMER, elem_classes="disclaimer", elem_id="report-disclaimer")
    ui.findings = gr.Radio([], label="Findings (choose one to see it)", elem_id="findings")
    ui.finding_note = gr.Markdown(elem_id="finding-note")
    ui.flags = gr.Markdown(elem_id="report-flags")
    with gr.Accordion("The model's raw text", open=False):
        ui.raw = gr.Textbox(show_label=False, lines=6, interactive=False, elem_id="report-raw")
    with gr.Row():
        ui.export_format = gr.Dropdown(
            report.EXPORT_FORMATS,
            value=".md",
            label="Export as",
            elem_id="export",
            interactive=exports,
            scale=2,
        )
        ui.export_button = gr.Button(
            "Export", elem_id="export-button", interactive=exports, scale=1
        )
    ui.export_file = gr.File(
        label="Exported report", elem_id="export-file", interactive=False, visible=False
    )
    ui.export_note = gr.Markdown("" if exports else report.EXPORTS_PENDING, elem_id="export-note")


def _layout(services: Services) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.study = gr.State(None)
    ui.marks = gr.State(None)
    ui.turns = gr.State(())
    ui.cancel = gr.State(None)
    ui.report = gr.State(None)
    gr.Markdown("## RadLens")
    with gr.Row():
        with gr.Column(scale=2, min_width=250):
            _study_column(ui)
        with gr.Column(scale=5):
            _viewer_column(ui)
        with gr.Column(scale=4, min_width=380):
            with gr.Row(equal_height=False):
                ui.status = gr.Markdown(elem_id="model-status")
                ui.stop = gr.Button(
                    "Stop", elem_id="stop", variant="stop", scale=0, min_width=90, size="sm"
                )
            with gr.Tabs():
                with gr.Tab("Chat", id="chat-tab"):
                    _chat_tab(ui)
                with gr.Tab("Report", id="report-tab"):
                    _report_tab(
                        ui, report.draft_function() is not None, report.exports_available()
                    )
                with gr.Tab("Settings", id="settings-tab"):
                    ui.widgets, ui.model_info, ui.tokens = settings.build_widgets(services)
    ui.model, ui.precision = ui.widgets[0], ui.widgets[1]
    ui.first, ui.last, ui.max_slices = ui.widgets[4], ui.widgets[5], ui.widgets[3]
    ui.where = [ui.study, ui.series, ui.plane, ui.slider]
    view_inputs = [*ui.where, ui.window, ui.center, ui.width, ui.invert, ui.marks]
    ui.redraw = {
        "fn": viewer.render_view,
        "inputs": view_inputs,
        "outputs": [ui.view, ui.position],
        "show_progress": "hidden",
        **HIDDEN,
    }
    ui.view_inputs = view_inputs
    ui.redraw_out = [ui.view, ui.position]
    ui.tail = [ui.status, ui.raw]
    return ui


def _wire_study(services: Services, ui: SimpleNamespace) -> None:
    """Page load and upload: a study shown, the assistant panes reset."""
    study_outputs = [ui.study, ui.series, ui.info, ui.slider, ui.view, ui.position, ui.marks]
    fresh = [ui.chatbot, ui.turns, ui.report_box, ui.findings, ui.flags, ui.report, ui.raw]
    fresh += [ui.region_info, ui.first, ui.last, ui.tokens]

    def shown_fresh(shown: tuple[Any, ...], user: settings.UserSettings) -> tuple[Any, ...]:
        chosen = viewer.pick_series(shown[0], None)
        whole = replace(user, first_slice=None, last_slice=None)
        count = chosen.shape[0] if chosen else 1
        estimate = settings.token_estimate(services, chosen, whole, count // 2)
        empty = report.findings_update(None)
        cleared: tuple[Any, ...] = ([], (), "", empty, "", None, "", "")
        cleared += settings.range_updates(chosen)
        return (*shown, *cleared, estimate)

    def on_load() -> tuple[Any, ...]:
        # No inputs: the widgets hold the services' defaults when a page loads.
        model_id, precision = services.spec().id, services.precision
        user = settings.UserSettings(model_id, precision)
        return (
            *shown_fresh(viewer.show_study(services.initial()), user),
            gr.update(choices=settings.model_choices(services), value=model_id),
            settings.model_info(services, model_id),
            settings.model_status(services, model_id, precision),
        )

    def on_upload(files: list[str] | None, *values: Any) -> tuple[Any, ...]:
        if not files:
            return (gr.skip(),) * (len(study_outputs) + len(fresh))
        try:
            study = services.open([Path(f) for f in files])
        except RadLensError as err:
            raise gr.Error(str(err)) from err
        user = settings.UserSettings.from_widgets(*values)
        return shown_fresh(viewer.show_study(study), user)

    ui.demo.load(
        on_load,
        outputs=[*study_outputs, *fresh, ui.model, ui.model_info, ui.status],
        **HIDDEN,
    )
    ui.upload.upload(
        on_upload, inputs=[ui.upload, *ui.widgets], outputs=[*study_outputs, *fresh], **HIDDEN
    )


def _wire_viewer(services: Services, ui: SimpleNamespace) -> None:
    """Series, plane, slice, window, reset, and region clicks."""

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
    for trigger in (ui.series.input, ui.plane.input):
        trigger(
            viewer.on_series_or_plane,
            inputs=ui.view_inputs,
            outputs=[ui.info, ui.slider, ui.view, ui.position],
            **HIDDEN,
        ).then(**ui.refresh_tokens)
    ui.series.input(
        lambda study, index: settings.range_updates(viewer.pick_series(study, index)),
        inputs=[ui.study, ui.series],
        outputs=[ui.first, ui.last],
        **HIDDEN,
    )
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
        marks: Any,
        mode: bool,
        evt: gr.EventData,
    ) -> tuple[Any, Any]:
        point = (float(evt.x), float(evt.y), int(evt.width), int(evt.height))
        return viewer.on_viewer_click(study, index, plane, k, marks, mode, point)

    ui.clicks.click(
        on_click,
        inputs=[*ui.where, ui.marks, ui.region_mode],
        outputs=[ui.marks, ui.region_info],
        show_progress="hidden",
        **HIDDEN,
    ).then(**ui.redraw)
    ui.clear_region.click(
        viewer.clear_region, inputs=ui.marks, outputs=[ui.marks, ui.region_info], **HIDDEN
    ).then(**ui.redraw)


def _wire_assistant(services: Services, ui: SimpleNamespace) -> None:
    """Chat, Stop, report, findings and export."""
    gr.on(
        [ui.question.submit],
        partial(chat.ask, services),
        inputs=[ui.question, ui.chatbot, ui.turns, ui.marks, *ui.where, *ui.widgets],
        outputs=[ui.question, ui.chatbot, ui.turns, ui.cancel, ui.marks, ui.status, ui.slider],
        show_progress_on=[ui.chatbot],
        **GPU,
        **HIDDEN,
    ).then(**ui.redraw)
    ui.stop.click(chat.stop, inputs=ui.cancel, queue=False, **HIDDEN)
    ui.clear_chat.click(
        chat.clear_chat, inputs=ui.marks, outputs=[ui.chatbot, ui.turns, ui.marks], **HIDDEN
    ).then(**ui.redraw)

    ui.draft.click(
        partial(report.draft, services),
        inputs=[ui.indication, *ui.where, *ui.widgets],
        outputs=[ui.report_box, ui.findings, ui.flags, ui.report, ui.cancel, ui.marks, *ui.tail],
        show_progress_on=[ui.report_box],
        **GPU,
        **HIDDEN,
    ).then(**ui.redraw)
    ui.findings.input(
        report.on_finding,
        inputs=[ui.report, ui.findings, ui.marks, *ui.where[:3]],
        outputs=[ui.marks, ui.slider, ui.finding_note],
        **HIDDEN,
    ).then(**ui.redraw)
    ui.export_button.click(
        partial(report.export, services),
        inputs=[ui.report, ui.export_format, ui.report_box, ui.study],
        outputs=[ui.export_file, ui.export_note],
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


def build_ui(services: Services) -> gr.Blocks:
    """The whole app as a Blocks object (not launched)."""
    demo = gr.Blocks(title="RadLens")
    with demo:
        ui = _layout(services)
        ui.demo = demo
        _wire_study(services, ui)
        _wire_viewer(services, ui)
        _wire_assistant(services, ui)
        _wire_settings(services, ui)
    return demo
