"""A slice as the viewer shows it: windowed, MONOCHROME1 inverted, with square pixels; and the
source voxel under a point of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from dicom_io.display.planes import Plane, plane_axes, slice_of
from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Series, Window
from dicom_io.windowing import apply_window, parse_window

__all__ = ["VoxelValue", "render_slice", "value_at"]


def _to_rgb8(arr: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    top = float(arr.max()) or 1.0
    scaled: npt.NDArray[np.uint8] = np.clip(arr.astype(np.float32) * (255.0 / top), 0, 255).astype(
        np.uint8
    )
    return scaled


# Square-pixel resampling stretches one side by the spacing ratio, but never beyond these (nor
# below the side's own length): an absurd ratio in a header (1e-9 against 1e9 mm) must not turn
# a slice into a gigapixel image. The stretch stays linear, so overlays still map exactly.
_MAX_STRETCHED_SIDE = 16_384
_MAX_STRETCHED_PIXELS = 1 << 26


def _stretched(length: int, other: int, ratio: float) -> int:
    cap = max(length, min(_MAX_STRETCHED_SIDE, _MAX_STRETCHED_PIXELS // max(other, 1)))
    return min(cap, max(1, round(length * ratio)))


def _square_pixels(
    image: npt.NDArray[np.uint8], spacing: tuple[float, float]
) -> npt.NDArray[np.uint8]:
    """Resample so one pixel covers the same distance down and across (aspect from spacing)."""
    rows, cols = image.shape[:2]
    height, width = _square_shape(rows, cols, spacing)
    if (height, width) == (rows, cols):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


def _square_shape(rows: int, cols: int, spacing: tuple[float, float]) -> tuple[int, int]:
    """The (height, width) of a ``rows`` x ``cols`` slice shown with square pixels."""
    down, right = spacing
    if abs(down - right) <= 1e-3 * max(down, right):
        return rows, cols
    if down > right:
        return _stretched(rows, cols, down / right), cols
    return rows, _stretched(cols, rows, right / down)


def render_slice(
    series: Series,
    index: int = 0,
    plane: Plane | str = Plane.ACQUIRED,
    window: Window | str | None = None,
    invert: bool = False,
) -> npt.NDArray[np.uint8]:
    """The slice exactly as the viewer shows it: windowed, MONOCHROME1 inverted, square pixels.

    Returns an ``(rows, columns)`` uint8 array, or ``(rows, columns, 3)`` for colour images.
    """
    volume = series.volume
    arr, spacing = slice_of(volume, plane, index)
    if volume.is_rgb:
        image = _to_rgb8(arr)
        if invert:
            image = 255 - image
    else:
        monochrome1 = series.photometric == "MONOCHROME1"
        image = apply_window(arr, parse_window(window, series), invert=monochrome1 != invert)
    return _square_pixels(image, spacing) if series.spacing_known else image


@dataclass(frozen=True)
class VoxelValue:
    """The source voxel under a point of a displayed slice, and its value.

    ``voxel`` is (slice, row, column) in the volume's array; ``value`` is in modality units
    (HU for CT), or the three channels of a colour image.
    """

    voxel: tuple[int, int, int]
    value: float | tuple[float, float, float]


def value_at(series: Series, plane: Plane | str, index: int, x: float, y: float) -> VoxelValue:
    """The voxel shown at display pixel ``(x, y)`` of slice ``index`` of ``plane``.

    ``(x, y)`` is a point of :func:`render_slice`'s output for that slice (pixel ``c`` spans
    ``[c, c + 1)``; square-pixel resampling and the plane's flips are undone).

    Raises:
        InvalidArgumentError: the slice or the point is outside the plane's slices.
    """
    volume = series.volume
    axes = plane_axes(volume, plane)
    shape = volume.array.shape
    if not 0 <= index < shape[axes.normal]:
        raise InvalidArgumentError(
            f"Slice {index} is outside 0..{shape[axes.normal] - 1} in the "
            f"{Plane(plane).value} plane."
        )
    n_down, n_right = int(shape[axes.down]), int(shape[axes.right])
    spacing = (volume.spacing[axes.down], volume.spacing[axes.right])
    height, width = (
        _square_shape(n_down, n_right, spacing)
        if series.spacing_known
        else (
            n_down,
            n_right,
        )
    )
    if not (0 <= x <= width and 0 <= y <= height):
        raise InvalidArgumentError(
            f"Point ({x:g}, {y:g}) is outside the {width} x {height} pixel slice."
        )
    down = min(int(y * n_down / height), n_down - 1)
    right = min(int(x * n_right / width), n_right - 1)
    if axes.flip_down:
        down = n_down - 1 - down
    if axes.flip_right:
        right = n_right - 1 - right
    voxel = [0, 0, 0]
    voxel[axes.normal], voxel[axes.down], voxel[axes.right] = int(index), down, right
    where = (voxel[0], voxel[1], voxel[2])
    found = volume.array[where]
    if volume.is_rgb:
        red, green, blue = (float(v) for v in found)
        return VoxelValue(where, (red, green, blue))
    return VoxelValue(where, float(found))
