"""Viewer pane: series, slice, plane and window; boxes and the user's region drawn on top.

What is drawn over the slices is one user's :class:`Marks` (a ``gr.State``): the boxes of the
last answer or report, the one selected, and the region the user marked by clicking two
opposite corners on an acquired slice. Boxes are drawn with :mod:`dicom_io.display.overlays`,
exactly where their source pixels are shown, in every plane. Every click on the viewer also reports
the
value of the voxel under it, in modality units (HU for CT), in any plane. Each series of a study
gets a thumbnail (its middle slice) to pick it by; a thumbnail decodes that one slice, not the
series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from app.errors import user_error
from dicom_io.display.overlays import REGION_COLOUR, draw_boxes, point_to_source, slice_through
from dicom_io.display.planes import Plane, plane_axes, plane_size, slice_position
from dicom_io.display.render import render_slice, value_at
from dicom_io.errors import RadLensError
from dicom_io.study import Series, Study
from dicom_io.summary import studies_summary, studies_text
from dicom_io.windowing import PRESETS
from models.grounding.box import Box

__all__ = [
    "PLANES",
    "WINDOW_CHOICES",
    "Marks",
    "chosen_study",
    "clear_region",
    "jump_slice",
    "on_reset",
    "on_series_or_plane",
    "on_viewer_click",
    "pick_series",
    "point_value",
    "render_view",
    "series_thumbnail",
    "show_study",
    "study_chooser",
    "thumbnails",
]

WINDOW_CHOICES = ["default", *PRESETS]
PLANES = [p.value for p in Plane]
Image = npt.NDArray[np.uint8]
THUMBNAIL_SIZE = 160  # pixels, the longer side


@dataclass(frozen=True)
class Marks:
    """What is drawn over one user's viewer.

    ``boxes`` (source pixels of series ``series_index``) come from the last answer or report;
    ``highlight`` indexes the selected one. ``region`` is the box the user marked; ``corner``
    the first click of a region being marked: (slice, x, y) in source pixels.
    """

    series_index: int | None = None
    boxes: tuple[Box, ...] = ()
    highlight: int | None = None
    region: Box | None = None
    corner: tuple[int, float, float] | None = None

    def for_series(self, index: int) -> Marks:
        """These marks if they belong to series ``index``, else none."""
        return self if self.series_index == index else Marks(series_index=index)


def pick_series(study: Study | None, index: int | None) -> Series | None:
    """Series ``index`` of ``study`` (its default series when ``index`` is out of range)."""
    if study is None:
        return None
    if index is None or not 0 <= int(index) < len(study.series):
        return study.default_series
    return study.series[int(index)]


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


def _window_spec(preset: str, center: float | None, width: float | None) -> str:
    if preset == "manual" and center is not None and width is not None and width > 0:
        return f"{center},{width}"
    return preset if preset in WINDOW_CHOICES else "default"


def _overlay(image: Image, series: Series, plane: str, k: int, marks: Marks | None) -> Image:
    if marks is None or marks.series_index != series.index:
        return image
    if not marks.boxes and marks.region is None:
        return image
    axes = plane_axes(series.volume, plane)
    shape = series.volume.shape
    out = draw_boxes(image, marks.boxes, shape, axes, k, highlight=marks.highlight)
    if marks.region is not None:
        out = draw_boxes(out, [marks.region], shape, axes, k, colour=REGION_COLOUR)
    return out


def render_view(
    study: Study | None,
    index: int | None,
    plane: str,
    slice_index: int,
    preset: str,
    center: float | None,
    width: float | None,
    invert: bool,
    marks: Marks | None = None,
) -> tuple[Image | None, str]:
    """The slice as the viewer shows it, with ``marks`` drawn on it, and where it lies."""
    series = pick_series(study, index)
    if series is None:
        return None, ""
    try:
        count = plane_size(series.volume, plane)
        k = int(min(max(slice_index, 0), count - 1))
        image = render_slice(series, k, plane, _window_spec(preset, center, width), invert)
        image = _overlay(image, series, plane, k, marks)
        located = series.spacing_known and series.orientation.value != "unknown"
        where = f" · {slice_position(series.volume, plane, k)}" if located else ""
    except RadLensError as err:
        raise user_error(err) from None
    return image, f"Slice {k + 1} / {count}{where}"


def _slider(count: int, value: int) -> Any:
    """Slider settings for ``count`` slices (Gradio needs maximum > minimum, even for one)."""
    return gr.update(minimum=0, maximum=max(count - 1, 1), value=value, interactive=count > 1)


def study_chooser(studies: tuple[Study, ...]) -> Any:
    """The "choose one" list of an upload holding several studies (or patients), with a
    notice; each choice names its date, modalities, series and (patient n) when several."""
    listed = studies_summary(studies)
    gr.Info(studies_text(listed).split("\n", 1)[0] + ": choose one to open.")
    choices = [
        (f"{s['index']}) {s['date'] or 'no date'}: {s['description']}", s["index"])
        for s in listed["studies"]
    ]
    return gr.update(choices=choices, value=None, visible=True)


def chosen_study(studies: tuple[Study, ...] | None, number: Any) -> Study | None:
    """The study picked in :func:`study_chooser`'s list (1-based), or None."""
    if not studies or number is None:
        return None
    return studies[int(number) - 1]


def show_study(study: Study | None) -> tuple[Any, ...]:
    """A study just opened: (study, series, info, slider, image, position, marks)."""
    chosen = pick_series(study, None)
    if study is None or chosen is None:
        return study, gr.update(choices=[], value=None), "", gr.update(), None, "", Marks()
    count = plane_size(chosen.volume, "acquired")
    image, where = render_view(
        study, chosen.index, "acquired", count // 2, "default", None, None, False
    )
    return (
        study,
        gr.update(choices=_series_choices(study), value=chosen.index),
        _series_info(chosen),
        _slider(count, count // 2),
        image,
        where,
        Marks(series_index=chosen.index),
    )


def on_series_or_plane(
    study: Study | None, index: int | None, plane_value: str, *rest: Any
) -> tuple[Any, ...]:
    """Series or plane changed: (info, slider, image, position), at the middle slice.

    ``rest`` is (slice, window, centre, width, invert, marks).
    """
    chosen = pick_series(study, index)
    if chosen is None:
        return gr.update(), gr.update(), None, ""
    try:
        count = plane_size(chosen.volume, plane_value)
    except RadLensError as err:
        raise user_error(err) from None
    middle = count // 2
    image, where = render_view(study, index, plane_value, middle, *rest[1:])
    return _series_info(chosen), _slider(count, middle), image, where


def on_reset(study: Study | None, index: int | None, marks: Marks | None) -> tuple[Any, ...]:
    """(plane, window, centre, width, invert, slider, image, position) back to defaults."""
    chosen = pick_series(study, index)
    count = plane_size(chosen.volume, "acquired") if chosen else 1
    image, where = render_view(
        study, index, "acquired", count // 2, "default", None, None, False, marks
    )
    return ("acquired", "default", None, None, False, _slider(count, count // 2), image, where)


def jump_slice(series: Series, plane: str, box: Box) -> int:
    """The slice of ``plane`` to show so that ``box`` is in view (through its centre)."""
    return slice_through(box, series.volume.shape, plane_axes(series.volume, plane))


def _corner_text(x: float, y: float) -> str:
    return f"({x:.0f}, {y:.0f})"


def on_viewer_click(
    study: Study | None,
    index: int | None,
    plane: str,
    slice_index: int,
    marks: Marks | None,
    region_mode: bool,
    point: tuple[float, float, int, int],
) -> tuple[Marks | None, str]:
    """A click on the viewer while marking a region: (marks, region text).

    ``point`` is (x, y, width, height): the click in the shown image's pixels and that image's
    size. The first click sets a corner, the second the opposite one; the region is a box in
    source pixels of the slice shown.
    """
    series = pick_series(study, index)
    if not region_mode or series is None:
        return marks, gr.skip()
    current = (marks or Marks()).for_series(series.index)
    x, y, width, height = point
    axes = plane_axes(series.volume, plane)
    source = point_to_source(x, y, series.volume.shape, axes, (int(height), int(width)))
    if source is None:
        return current, "Regions are marked on acquired slices: choose the acquired plane."
    sx, sy = source
    k = int(slice_index)
    if current.corner is None or current.corner[0] != k:
        marked = replace(current, corner=(k, sx, sy), region=None)
        return marked, f"First corner {_corner_text(sx, sy)}: click the opposite corner."
    _, cx, cy = current.corner
    x0, x1, y0, y1 = min(cx, sx), max(cx, sx), min(cy, sy), max(cy, sy)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return replace(current, corner=None), "The region is smaller than a pixel: try again."
    region = Box("region", k, round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1))
    return replace(current, corner=None, region=region), region_text(region)


def region_text(region: Box | None) -> str:
    if region is None:
        return ""
    return (
        f"Region on slice {region.slice}: x {region.x0:.0f}-{region.x1:.0f}, "
        f"y {region.y0:.0f}-{region.y1:.0f} px. The next question is about it."
    )


def clear_region(marks: Marks | None) -> tuple[Marks | None, str]:
    """Forget the marked region (and a first corner)."""
    if marks is None:
        return marks, ""
    return replace(marks, region=None, corner=None), ""


def series_thumbnail(series: Series) -> Image:
    """The series' middle acquired slice at its default window, at most THUMBNAIL_SIZE wide
    or tall.

    Only that slice is decoded (:meth:`Series.preview`); a window derived from the data (no
    window in the header) is then derived from that slice.
    """
    image = render_slice(series.preview(series.shape[0] // 2), 0, "acquired", "default")
    picture = PILImage.fromarray(image)
    picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), PILImage.Resampling.BILINEAR)
    return np.asarray(picture)


def _caption(series: Series) -> str:
    count = series.shape[0]
    return f"#{series.index + 1} {series.modality}, {count} slice{'s' if count != 1 else ''}"


def thumbnails(
    study: Study | None, progress: Callable[[int, int], None] | None = None
) -> list[tuple[Image, str]]:
    """One (thumbnail, caption) per series of ``study``, in the series list's order.

    Each thumbnail decodes one slice of its series, whose volume stays undecoded until it is
    shown; ``progress(done, total)`` is called before each one.
    """
    if study is None:
        return []
    shown = []
    for k, series in enumerate(study.series):
        if progress is not None:
            progress(k, len(study.series))
        try:
            picture = series_thumbnail(series)
        except RadLensError:  # undecodable pixels: a black square, the viewer will say why
            picture = np.zeros((THUMBNAIL_SIZE // 2, THUMBNAIL_SIZE // 2), dtype=np.uint8)
        shown.append((picture, _caption(series)))
    return shown


def _units(series: Series) -> str:
    return " HU" if series.modality == "CT" else ""


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"


def point_value(
    study: Study | None,
    index: int | None,
    plane: str,
    slice_index: int,
    point: tuple[float, float, int, int],
) -> str:
    """What the voxel under a click holds, in modality units.

    ``point`` is (x, y, width, height): the click in the shown image's pixels and that image's
    size. The voxel is given as boxes and regions are: 0-based (slice, row, column) indices of
    the acquired volume, whatever the plane shown.
    """
    series = pick_series(study, index)
    if series is None:
        return ""
    x, y, _width, _height = point
    try:
        count = plane_size(series.volume, plane)
        found = value_at(series, plane, int(min(max(slice_index, 0), count - 1)), x, y)
    except RadLensError:
        return ""
    z, row, column = found.voxel
    where = f"voxel (slice {z}, row {row}, column {column})"
    if isinstance(found.value, tuple):
        return f"Pixel at {where}: **RGB {', '.join(_number(v) for v in found.value)}**"
    return f"Value at {where}: **{_number(found.value)}{_units(series)}**"
