"""Planes of a volume: which array axes a plane shows, the slice through it, and where it lies.

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

from dicom_io.errors import InvalidArgumentError
from dicom_io.volume import Volume

__all__ = ["Plane", "PlaneAxes", "plane_axes", "plane_size", "slice_of", "slice_position"]


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
