"""The Gradio UI: ``build_ui(services) -> gr.Blocks``; the layout is here, the events in
:mod:`app.ui_events` and the handlers in ``handlers_*``.

Layout: the study (upload of files or a folder, series thumbnails) and the viewer's tools on
the left, the viewer in the middle (a click reports the voxel's value), the assistant on the
right (model status and Stop above the Chat, Report, Compare and Settings tabs). Per-user data
lives in ``gr.State``: the study, the prior study, the marks drawn on the viewer, the
conversation, the reports and the running generation's cancel token. Nothing here opens files
or touches torch.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import gradio as gr

from app import handlers_settings as settings
from app import handlers_viewer as viewer
from app import ui_events
from app.services import Services
from models.report.draft import DISCLAIMER
from models.report.exports import DEFAULT_SUFFIX, EXPORTERS

__all__ = ["build_ui", "launch_options"]

_CSS = """
#viewer img { background: #000; object-fit: contain; }
#viewer { cursor: crosshair; }
#series-info, #region-info, #finding-note, #export-note, #tokens { font-size: 0.85em; }
#slice-position, #pixel-value, #prior-info, #compare-changes { font-size: 0.85em; }
#thumbnails .thumbnail-item { background: #000; }
#thumbnails .grid-wrap { min-height: 0; max-height: 260px; overflow-y: auto; }
#thumbnails .grid-container { grid-template-columns: repeat(2, minmax(60px, 1fr)); }
#thumbnails .caption-label { font-size: 0.7em; max-width: 95%; }
#prior-view img { width: 100%; height: 100%; object-fit: contain; background: #000; }
#compare-changes td, #compare-changes th { word-break: normal; overflow-wrap: normal; }
#compare-changes td:last-child, #compare-changes th:last-child { white-space: nowrap; }
#model-status { font-size: 0.9em; }
.disclaimer { font-size: 0.8em; color: #a15c00; }
"""
# Gradio's own click position on an <img> is wrong when the browser scales a small slice up
# (it caps the scale at 1), so viewer clicks are read here, with object-fit: contain. Every
# click reports the voxel's value; in region mode it also sets a corner.
_CLICK_JS = """
document.addEventListener('click', (event) => {
  const img = event.target.closest ? event.target.closest('#viewer img') : null;
  if (!img || !img.naturalWidth) return;
  const r = img.getBoundingClientRect();
  const s = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
  const left = r.left + (r.width - img.naturalWidth * s) / 2;
  const top = r.top + (r.height - img.naturalHeight * s) / 2;
  trigger('click', {x: (event.clientX - left) / s, y: (event.clientY - top) / s,
                    width: img.naturalWidth, height: img.naturalHeight});
}, true);
"""


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
        height=160,
    )
    ui.upload_folder = gr.UploadButton(
        "Open a folder", file_count="directory", elem_id="upload-folder", size="sm"
    )
    # An upload holding several studies or patients: none is opened until one is chosen here
    # (dicom_io.loader groups files by patient and study; nothing mixes two patients).
    ui.studies = gr.Dropdown(
        label="This upload holds several studies: choose one",
        choices=[],
        value=None,
        visible=False,
        elem_id="studies",
    )
    ui.series = gr.Dropdown(label="Series", choices=[], elem_id="series")
    ui.thumbnails = gr.Gallery(
        show_label=False,
        elem_id="thumbnails",
        columns=2,
        height="auto",
        allow_preview=False,
        object_fit="contain",
        buttons=[],
        interactive=False,
        format="png",
    )
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
    with gr.Row(equal_height=False):
        ui.position = gr.Markdown(elem_id="slice-position")
        ui.pixel = gr.Markdown(ui_events.PIXEL_HINT, elem_id="pixel-value")
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


def _report_tab(ui: SimpleNamespace) -> None:
    ui.indication = gr.Textbox(
        label="Indication (optional)",
        placeholder="e.g. cough and fever for 3 days",
        elem_id="indication",
    )
    with gr.Row():
        ui.draft = gr.Button("Draft report", variant="primary", elem_id="draft-report", scale=2)
        ui.check = gr.Button("Check findings", elem_id="check-report", scale=1)
    ui.report_box = gr.Textbox(
        label="Report (editable: Check and Export use your text)",
        lines=12,
        max_lines=30,
        interactive=True,
        elem_id="report",
    )
    gr.Markdown(DISCLAIMER, elem_classes="disclaimer", elem_id="report-disclaimer")
    ui.findings = gr.Radio([], label="Findings (choose one to see it)", elem_id="findings")
    ui.finding_note = gr.Markdown(elem_id="finding-note")
    ui.flags = gr.Markdown(elem_id="report-flags")
    with gr.Accordion("The model's raw text", open=False):
        ui.raw = gr.Textbox(show_label=False, lines=6, interactive=False, elem_id="report-raw")
    ui.export_format, ui.export_button, ui.export_file, ui.export_note = _export_row(
        "export", "Export as", "Exported report"
    )


def _export_row(elem_id: str, label: str, file_label: str) -> tuple[Any, Any, Any, Any]:
    """The format list, the Export button, the exported file (hidden until written) and the
    note under it; their ids are ``elem_id``, ``elem_id-button``, ``-file`` and ``-note``."""
    with gr.Row():
        choices = [(e.choice_label, e.suffix) for e in EXPORTERS.values()]
        formats = gr.Dropdown(choices, value=DEFAULT_SUFFIX, label=label, elem_id=elem_id, scale=2)
        button = gr.Button("Export", elem_id=f"{elem_id}-button", scale=1)
    file = gr.File(label=file_label, elem_id=f"{elem_id}-file", interactive=False, visible=False)
    return formats, button, file, gr.Markdown(elem_id=f"{elem_id}-note")


def _compare_tab(ui: SimpleNamespace) -> None:
    gr.Markdown("Compare the series shown with a prior study of the same patient and region.")
    ui.prior_upload = gr.File(
        label="Prior study (DICOM files, a folder's files, a .zip, NIfTI, PNG/JPEG)",
        file_count="multiple",
        elem_id="prior-upload",
        height=120,
    )
    with gr.Row(equal_height=False):
        ui.prior_view = gr.Image(
            label="Prior",
            type="numpy",
            interactive=False,
            elem_id="prior-view",
            format="png",
            height=160,
            buttons=[],
            scale=1,
            min_width=120,
        )
        with gr.Column(scale=2):
            ui.prior_series = gr.Dropdown(label="Prior series", choices=[], elem_id="prior-series")
            ui.prior_info = gr.Markdown(elem_id="prior-info")
    ui.compare_indication = gr.Textbox(
        label="Indication (optional)", elem_id="compare-indication", max_lines=2
    )
    ui.compare_button = gr.Button("Compare", variant="primary", elem_id="run-compare")
    ui.compare_box = gr.Textbox(
        label="Comparison report (editable)",
        lines=10,
        max_lines=30,
        interactive=True,
        elem_id="compare-report",
    )
    gr.Markdown(DISCLAIMER, elem_classes="disclaimer", elem_id="compare-disclaimer")
    ui.changes = gr.Markdown(elem_id="compare-changes")
    exported = _export_row("compare-export", "Export the comparison as", "Exported comparison")
    ui.compare_export_format, ui.compare_export_button = exported[:2]
    ui.compare_export_file, ui.compare_export_note = exported[2:]


def _layout(services: Services) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.study = gr.State(None)
    ui.upload_studies = gr.State(None)  # the studies of a several-study upload, to choose from
    ui.marks = gr.State(None)
    ui.turns = gr.State(())
    ui.cancel = gr.State(None)
    ui.report = gr.State(None)
    ui.prior = gr.State(None)
    ui.compared = gr.State(None)
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
                    _report_tab(ui)
                with gr.Tab("Compare", id="compare-tab", elem_id="compare"):
                    _compare_tab(ui)
                with gr.Tab("Settings", id="settings-tab"):
                    ui.widgets, ui.model_info, ui.tokens = settings.build_widgets(services)
    ui.model, ui.precision = ui.widgets[0], ui.widgets[1]
    ui.first, ui.last, ui.max_slices = ui.widgets[4], ui.widgets[5], ui.widgets[3]
    ui.where = [ui.study, ui.series, ui.plane, ui.slider]
    return ui


def build_ui(services: Services) -> gr.Blocks:
    """The whole app as a Blocks object (not launched)."""
    demo = gr.Blocks(title="RadLens")
    with demo:
        ui = _layout(services)
        ui.demo = demo
        ui_events.wire(services, ui)
    return demo
