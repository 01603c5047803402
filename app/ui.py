"""The Gradio UI: ``build_ui(services) -> gr.Blocks`` and thin handlers.

Handlers turn widget values into calls of the core (dicom_io, models) and results into widget
updates. Per-user data lives in ``gr.State``; nothing here opens files or touches torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import numpy.typing as npt

from app.services import Services
from dicom_io.display import Plane, plane_size, render_slice, slice_position
from dicom_io.errors import RadLensError
from dicom_io.study import Series, Study
from dicom_io.windowing import PRESETS

__all__ = ["build_ui", "launch_options"]

WINDOW_CHOICES = ["default", *PRESETS]
PLANES = [p.value for p in Plane]
_CSS = """
#viewer img { background: #000; object-fit: contain; }
#series-info { font-size: 0.85em; }
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


def _series_choices(study: Study | None) -> list[tuple[str, int]]:
    if study is None:
        return []
    return [(series.label(), series.index) for series in study.series]


def _series_info(series: Series) -> str:
    rows = [
        ("Modality", series.modality),
        ("Body part", series.body_part or "-"),
        ("Description", series.series_description or series.study_description or "-"),
        ("View", series.view_position or "-"),
        ("Size", " x ".join(str(n) for n in series.shape)),
        (
            "Spacing (mm)",
            " x ".join(f"{v:g}" for v in series.spacing)
            + ("" if series.spacing_known else " (unknown)"),
        ),
        ("Orientation", series.orientation.value),
        ("Photometric", series.photometric),
        ("Flags", ", ".join(series.flags.names()) or "-"),
    ]
    lines = [f"**{name}**: {value}" for name, value in rows]
    lines.extend(f"*note: {note}*" for note in series.notes)
    return "  \n".join(lines)


def _pick(study: Study | None, index: int | None) -> Series | None:
    if study is None:
        return None
    if index is None or not 0 <= int(index) < len(study.series):
        return study.default_series
    return study.series[int(index)]


def _window_spec(preset: str, center: float | None, width: float | None) -> str:
    if preset == "manual" and center is not None and width is not None and width > 0:
        return f"{center},{width}"
    return preset if preset in WINDOW_CHOICES else "default"


def _render(
    study: Study | None,
    index: int | None,
    plane: str,
    slice_index: int,
    preset: str,
    center: float | None,
    width: float | None,
    invert: bool,
) -> tuple[npt.NDArray[np.uint8] | None, str]:
    series = _pick(study, index)
    if series is None:
        return None, ""
    try:
        count = plane_size(series.volume, plane)
        k = int(min(max(slice_index, 0), count - 1))
        image = render_slice(series, k, plane, _window_spec(preset, center, width), invert)
        located = series.spacing_known and series.orientation.value != "unknown"
        where = f" · {slice_position(series.volume, plane, k)}" if located else ""
    except RadLensError as err:
        raise gr.Error(str(err)) from err
    return image, f"Slice {k + 1} / {count}{where}"


def _slider(count: int, value: int) -> Any:
    """Slider settings for ``count`` slices (Gradio needs maximum > minimum, even for one)."""
    return gr.update(minimum=0, maximum=max(count - 1, 1), value=value, interactive=count > 1)


def _show_study(study: Study | None) -> tuple[Any, ...]:
    chosen = _pick(study, None)
    if study is None or chosen is None:
        return study, gr.update(choices=[], value=None), "", gr.update(), None, ""
    count = plane_size(chosen.volume, "acquired")
    image, where = _render(
        study, chosen.index, "acquired", count // 2, "default", None, None, False
    )
    return (
        study,
        gr.update(choices=_series_choices(study), value=chosen.index),
        _series_info(chosen),
        _slider(count, count // 2),
        image,
        where,
    )


def _on_series_or_plane(
    study: Study | None, index: int | None, plane_value: str, *rest: Any
) -> tuple[Any, ...]:
    chosen = _pick(study, index)
    if chosen is None:
        return gr.update(), gr.update(), None, ""
    try:
        count = plane_size(chosen.volume, plane_value)
    except RadLensError as err:
        raise gr.Error(str(err)) from err
    middle = count // 2
    image, where = _render(study, index, plane_value, middle, *rest[1:])
    return (
        _series_info(chosen),
        _slider(count, middle),
        image,
        where,
    )


def _on_reset(study: Study | None, index: int | None) -> tuple[Any, ...]:
    chosen = _pick(study, index)
    count = plane_size(chosen.volume, "acquired") if chosen else 1
    image, where = _render(study, index, "acquired", count // 2, "default", None, None, False)
    return (
        "acquired",
        "default",
        None,
        None,
        False,
        _slider(count, count // 2),
        image,
        where,
    )


def build_ui(services: Services) -> gr.Blocks:
    """The whole app as a Blocks object (not launched)."""
    with gr.Blocks(title="RadLens") as demo:
        study_state = gr.State(None)
        gr.Markdown("## RadLens")
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                upload = gr.File(
                    label="Open a study (DICOM files, a .zip, NIfTI, PNG/JPEG)",
                    file_count="multiple",
                    elem_id="upload",
                )
                series = gr.Dropdown(label="Series", choices=[], elem_id="series")
                info = gr.Markdown(elem_id="series-info")
            with gr.Column(scale=3):
                viewer = gr.Image(
                    label="Viewer",
                    type="numpy",
                    interactive=False,
                    elem_id="viewer",
                    format="png",
                    height=640,
                )
                position = gr.Markdown(elem_id="slice-position")
                slider = gr.Slider(
                    0, 1, value=0, step=1, label="Slice", elem_id="slice", interactive=True
                )
                with gr.Row():
                    plane = gr.Radio(PLANES, value="acquired", label="Plane", elem_id="plane")
                    window = gr.Dropdown(
                        [*WINDOW_CHOICES, "manual"],
                        value="default",
                        label="Window",
                        elem_id="window",
                    )
                    center = gr.Number(label="Centre", value=None, elem_id="window-center")
                    width = gr.Number(label="Width", value=None, elem_id="window-width")
                    invert = gr.Checkbox(label="Invert", value=False, elem_id="invert")
                    reset = gr.Button("Reset", elem_id="reset")

        view_inputs = [study_state, series, plane, slider, window, center, width, invert]

        study_outputs = [study_state, series, info, slider, viewer, position]

        def on_load() -> tuple[Any, ...]:
            return _show_study(services.initial())

        def on_upload(files: list[str] | None) -> tuple[Any, ...]:
            if not files:
                return (gr.update(),) * len(study_outputs)
            try:
                study = services.open([Path(f) for f in files])
            except RadLensError as err:
                raise gr.Error(str(err)) from err
            return _show_study(study)

        # Viewer events are UI plumbing, not an API: unlisted everywhere (login page included).
        hidden = {"api_visibility": "private"}
        demo.load(on_load, outputs=study_outputs, **hidden)
        upload.upload(on_upload, inputs=upload, outputs=study_outputs, **hidden)
        for trigger in (series.input, plane.input):
            trigger(
                _on_series_or_plane,
                inputs=view_inputs,
                outputs=[info, slider, viewer, position],
                **hidden,
            )
        for trigger in (
            slider.release,
            slider.input,
            window.input,
            center.submit,
            width.submit,
            invert.input,
        ):
            trigger(
                _render,
                inputs=view_inputs,
                outputs=[viewer, position],
                show_progress="hidden",
                **hidden,
            )
        reset.click(
            _on_reset,
            inputs=[study_state, series],
            outputs=[plane, window, center, width, invert, slider, viewer, position],
            **hidden,
        )
    return demo
