"""Boxes on the viewer: source-pixel boxes drawn on a slice as :func:`render_slice` shows it.

A box (``label``, ``slice``, ``x0 y0 x1 y1``) lives in the *acquired* plane: ``slice`` is the
stored slice, ``x`` runs along the stored columns and ``y`` down the stored rows, in pixel-edge
coordinates (pixel ``c`` spans ``[c, c + 1)``). Seen in 3D index space it is a block one slice
thick: ``[slice, slice + 1) x [y0, y1) x [x0, x1)`` along (slice, row, column).

:func:`render_slice` shows slice ``index`` of a plane by transposing the volume to (normal,
down, right), flipping down and/or right, and resampling to square pixels (a linear stretch of
the whole slice, so a pixel edge ``e`` of ``n`` lands at ``e * size / n``). The mapping here
replays exactly those steps, so a box is drawn exactly where its pixels are shown:

- in the acquired plane (and any plane whose normal is the slice axis) a box appears, as a
  rectangle, on its own slice only;
- in a reformatted plane (coronal, sagittal, ...) a box appears on every slice that cuts its
  block, as the rectangle where the slice meets it: one source slice tall, which is a line
  ``slice spacing`` mm thick. A slice cuts the block when the slice's voxels overlap it.

:func:`point_to_source` is the inverse for a click on a displayed slice; it is defined only
for planes whose normal is the slice axis (a region is drawn on an acquired slice).

No model types are imported: anything with ``label``, ``slice`` and ``x0 .. y1`` attributes is
a box (``models.grounding.box.Box`` is one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from dicom_io.display.planes import PlaneAxes
from dicom_io.errors import InvalidArgumentError

__all__ = [
    "BOX_COLOUR",
    "HIGHLIGHT_COLOUR",
    "REGION_COLOUR",
    "BoxLike",
    "Rect",
    "box_on_slice",
    "draw_boxes",
    "point_to_source",
    "slice_through",
]

Colour = tuple[int, int, int]
BOX_COLOUR: Colour = (255, 160, 0)  # model boxes: orange
HIGHLIGHT_COLOUR: Colour = (0, 230, 255)  # the selected finding's box: cyan, thicker
REGION_COLOUR: Colour = (255, 220, 0)  # the user's region: yellow, in the viewer and to the model
# Labels are drawn only on slices at least this big (shorter side, in pixels): on a small slice
# the browser scales the image up and a legible label would cover the anatomy.
LABEL_MIN_SIZE = 256


class BoxLike(Protocol):
    """A box in source pixels of an acquired slice (``models.grounding.box.Box`` fits)."""

    @property
    def label(self) -> str: ...
    @property
    def slice(self) -> int: ...
    @property
    def x0(self) -> float: ...
    @property
    def y0(self) -> float: ...
    @property
    def x1(self) -> float: ...
    @property
    def y1(self) -> float: ...


@dataclass(frozen=True)
class Rect:
    """A box where it falls on one displayed slice: display pixels, pixel-edge coordinates."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: str


def _check(shape: Sequence[int], display_size: tuple[int, int]) -> None:
    if len(shape) != 3 or min(shape) < 1:
        raise InvalidArgumentError(
            f"Argument 'shape' must be (slices, rows, columns), not {shape}."
        )
    if min(display_size) < 1:
        raise InvalidArgumentError(
            f"Argument 'display_size' must be (height, width) > 0, not {display_size}."
        )


def _block(box: BoxLike) -> tuple[tuple[float, float], ...]:
    """The box's extent along (slice, row, column) in index space (pixel edges)."""
    return ((box.slice, box.slice + 1.0), (box.y0, box.y1), (box.x0, box.x1))


def _on_screen(
    low: float, high: float, size: int, flip: bool, display: int
) -> tuple[float, float]:
    """An extent along an array axis, as display pixels along the screen axis it runs on."""
    if flip:
        low, high = size - high, size - low
    scale = display / size
    return low * scale, high * scale


def box_on_slice(
    box: BoxLike,
    shape: Sequence[int],
    axes: PlaneAxes,
    index: int,
    display_size: tuple[int, int],
) -> Rect | None:
    """Where ``box`` appears on slice ``index`` of the plane ``axes`` describes, or None.

    ``shape`` is the volume's (slices, rows, columns); ``display_size`` the rendered slice's
    (height, width), after square-pixel resampling.
    """
    _check(shape, display_size)
    block = _block(box)
    low, high = block[axes.normal]
    if not (index < high and index + 1 > low):
        return None
    height, width = display_size
    y0, y1 = _on_screen(*block[axes.down], shape[axes.down], axes.flip_down, height)
    x0, x1 = _on_screen(*block[axes.right], shape[axes.right], axes.flip_right, width)
    return Rect(x0, y0, x1, y1, box.label)


def slice_through(box: BoxLike, shape: Sequence[int], axes: PlaneAxes) -> int:
    """The slice of the plane ``axes`` describes that passes through the box's centre."""
    low, high = _block(box)[axes.normal]
    count = int(shape[axes.normal])
    return min(max(math.floor((low + high) / 2), 0), count - 1)


def point_to_source(
    x: float,
    y: float,
    shape: Sequence[int],
    axes: PlaneAxes,
    display_size: tuple[int, int],
) -> tuple[float, float] | None:
    """A point of a displayed slice (display pixels) as source ``(x, y)``: column, row.

    None when the plane is a reformat (its normal is not the slice axis): a box is defined on
    an acquired slice only. Points outside the slice are clipped to its edges.
    """
    _check(shape, display_size)
    if axes.normal != 0:
        return None
    height, width = display_size
    n_down, n_right = int(shape[axes.down]), int(shape[axes.right])
    down = min(max(y, 0.0), height) * n_down / height
    right = min(max(x, 0.0), width) * n_right / width
    if axes.flip_down:
        down = n_down - down
    if axes.flip_right:
        right = n_right - right
    along = {axes.down: down, axes.right: right}
    return along[2], along[1]


def _font_size(height: int, width: int) -> int:
    return max(12, round(min(height, width) / 45))


def _pixel_box(rect: Rect, height: int, width: int) -> tuple[int, int, int, int]:
    """Inclusive pixel corners (left, top, right, bottom) covering ``rect``, inside the image."""
    left = min(max(math.floor(rect.x0), 0), width - 1)
    top = min(max(math.floor(rect.y0), 0), height - 1)
    right = min(max(math.ceil(rect.x1) - 1, left), width - 1)
    bottom = min(max(math.ceil(rect.y1) - 1, top), height - 1)
    return left, top, right, bottom


def draw_boxes(
    image: npt.NDArray[np.uint8],
    boxes: Sequence[BoxLike],
    shape: Sequence[int],
    axes: PlaneAxes,
    index: int,
    *,
    colour: Colour = BOX_COLOUR,
    highlight: int | None = None,
    labels: bool = True,
) -> npt.NDArray[np.uint8]:
    """An RGB copy of a rendered slice with the outlines of the ``boxes`` that fall on it.

    ``image`` is :func:`render_slice`'s output for slice ``index`` of the plane ``axes``
    describes ((H, W) grey or (H, W, 3) RGB uint8). Each outline covers the display pixels its
    box covers (outermost row and column included) and is drawn inwards; ``highlight`` (an
    index into ``boxes``) is drawn thicker in :data:`HIGHLIGHT_COLOUR`. Labels go above the
    box (inside it when there is no room) on slices of at least :data:`LABEL_MIN_SIZE` pixels.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InvalidArgumentError(
            f"Argument 'image' must be a 2D or RGB uint8 array, not {image.dtype} {image.shape}."
        )
    height, width = image.shape[:2]
    rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
    canvas = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(min(height, width) / 300))
    font_size = _font_size(height, width)
    font = ImageFont.load_default(size=font_size)
    show_labels = labels and min(height, width) >= LABEL_MIN_SIZE
    for k, box in enumerate(boxes):
        rect = box_on_slice(box, shape, axes, index, (height, width))
        if rect is None:
            continue
        chosen = k == highlight
        left, top, right, bottom = _pixel_box(rect, height, width)
        draw.rectangle(
            (left, top, right, bottom),
            outline=HIGHLIGHT_COLOUR if chosen else colour,
            width=line * 2 if chosen else line,
        )
        if show_labels and box.label:
            above = top - font_size - 2 * line
            spot = (left, above) if above >= 0 else (left + 2 * line, top + 2 * line)
            draw.text(
                spot,
                box.label,
                fill=HIGHLIGHT_COLOUR if chosen else colour,
                font=font,
                stroke_width=max(1, font_size // 10),
                stroke_fill=(0, 0, 0),
            )
    return np.asarray(canvas, dtype=np.uint8)
