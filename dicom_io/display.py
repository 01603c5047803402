"""What the viewer shows: a slice of a volume in a chosen plane, windowed, with square pixels.

Display conventions are the radiological ones: axial images are seen from the feet (patient right
on screen left, anterior at the top); coronal from the front and sagittal from the patient's left,
both with superior at the top. ``Plane.ACQUIRED`` shows the stored rows and columns untouched, as
a PACS does for the native plane (and for projection images, which have no patient axes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Series, Window
from dicom_io.volume import Volume
from dicom_io.windowing import apply_window, parse_window

__all__ = [
    "Plane",
    "PlaneAxes",
    "VoxelValue",
    "plane_axes",
    "plane_size",
    "render_slice",
    "slice_of",
    "slice_position",
    "value_at",
]


class Plane(StrEnum):
    ACQUIRED = "acquired"
    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"


# LPS directions of the screen's (down, right) for each plane, and the plane normal.
_SCREEN = {
    Plane.AXIAL: ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), 2),  # down = posterior, right = left
    Plane.CORONAL: ((0.0, 0.0, -1.0), (1.0, 0.0, 0.0), 1),  # down = inferior, right = left
    Plane.SAGITTAL: ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0), 0),  # down = inferior, right = posterior
}


@dataclass(frozen=True)
class PlaneAxes:
    """Which array axis runs through slices, down the screen and across it, and flips."""

    normal: int
    down: int
    right: int
    flip_down: bool
    flip_right: bool
    normal_reversed: bool

    @property
    def is_native(self) -> bool:
        return self.normal == 0 and not (self.flip_down or self.flip_right)


def plane_axes(volume: Volume, plane: Plane | str) -> PlaneAxes:
    """Map a display plane onto the volume's array axes (nearest axis for oblique stacks).

    Raises:
        InvalidArgumentError: a reformatted plane asked of a single image.
    """
    plane = Plane(plane)
    if plane is Plane.ACQUIRED:
        return PlaneAxes(0, 1, 2, False, False, False)
    if volume.shape[0] == 1:
        raise InvalidArgumentError(
            f"The series has a single image; the {plane.value} plane needs a volume "
            "(use the acquired plane)."
        )
    directions = volume.affine[:3, :3] / np.linalg.norm(volume.affine[:3, :3], axis=0)
    down_dir, right_dir, normal_lps = _SCREEN[plane]
    free = [0, 1, 2]

    def pick(target: npt.NDArray[np.float64]) -> tuple[int, bool]:
        scores = [abs(float(directions[:, a] @ target)) for a in free]
        axis = free[int(np.argmax(scores))]
        free.remove(axis)
        return axis, float(directions[:, axis] @ target) < 0

    normal_target = np.zeros(3)
    normal_target[normal_lps] = 1.0
    normal, normal_rev = pick(normal_target)
    down, flip_down = pick(np.asarray(down_dir))
    right, flip_right = pick(np.asarray(right_dir))
    return PlaneAxes(normal, down, right, flip_down, flip_right, normal_rev)


def plane_size(volume: Volume, plane: Plane | str) -> int:
    """Number of slices available in ``plane``."""
    return int(volume.array.shape[plane_axes(volume, plane).normal])


def slice_of(
    volume: Volume, plane: Plane | str, index: int
) -> tuple[npt.NDArray[Any], tuple[float, float]]:
    """The 2D (or 2D RGB) slice ``index`` in ``plane`` and its (down, right) pixel spacing."""
    axes = plane_axes(volume, plane)
    count = volume.array.shape[axes.normal]
    if not 0 <= index < count:
        raise InvalidArgumentError(
            f"Slice {index} is outside 0..{count - 1} in the {Plane(plane).value} plane."
        )
    order = [axes.normal, axes.down, axes.right] + ([3] if volume.is_rgb else [])
    arr = np.transpose(volume.array, order)[index]
    if axes.flip_down:
        arr = arr[::-1]
    if axes.flip_right:
        arr = arr[:, ::-1]
    spacing = volume.spacing
    return arr, (spacing[axes.down], spacing[axes.right])


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


_PATIENT_AXIS_NAMES = {0: ("R", "L"), 1: ("A", "P"), 2: ("I", "S")}


def slice_position(volume: Volume, plane: Plane | str, index: int) -> str:
    """Where slice ``index`` lies, for the viewer's label: ``"S 12.5 mm"`` (LPS axis nearest the
    slice normal) or ``"12.5 mm"`` along the normal for the acquired plane."""
    axes = plane_axes(volume, plane)
    point = np.zeros(3)
    point[axes.normal] = index
    lps = volume.index_to_lps(point)
    direction = volume.affine[:3, axes.normal]
    lps_axis = int(np.argmax(np.abs(direction)))
    value = float(lps[lps_axis])
    negative, positive = _PATIENT_AXIS_NAMES[lps_axis]
    # LPS: +x is patient left, +y posterior, +z superior.
    label = positive if value >= 0 else negative
    return f"{label} {abs(value):.1f} mm"


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
