"""Name the plane of a stack of slices (axial, coronal, sagittal or oblique) from its affine.

The affine maps ``(slice, row, column)`` indices to patient LPS millimetres (see
:mod:`dicom_io.volume`). The plane is judged by its normal, the cross product of the row and
column directions (columns 1 and 2 of the affine). For an orthogonal grid this is the direction of
the first column, the slice step; for a sheared grid (a CT gantry tilt) the step leans while the
images themselves stay in their plane, and it is the plane a reader names.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dicom_io.study import Orientation

__all__ = ["DEFAULT_MAX_ANGLE_DEG", "orientation_of", "slice_normal"]

DEFAULT_MAX_ANGLE_DEG = 30.0
"""Largest angle between the normal and a patient axis for the plane to take that axis's name.

30 degrees keeps a gantry-tilted CT or a brain MR angled along the AC-PC line "axial", while a
cardiac short-axis or a double-oblique spine stack (45 degrees or more off) is "oblique".
"""

# LPS axis index -> the plane whose normal runs along it.
_PLANES = (Orientation.SAGITTAL, Orientation.CORONAL, Orientation.AXIAL)


def slice_normal(affine: npt.ArrayLike) -> npt.NDArray[np.float64] | None:
    """Unit normal of the image plane in LPS, or None for a degenerate or non-finite affine."""
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape not in ((4, 4), (3, 4), (3, 3)) or not np.all(np.isfinite(matrix[:3, :3])):
        return None
    row, column = matrix[:3, 1], matrix[:3, 2]
    normal = np.cross(row, column)
    norm = float(np.linalg.norm(normal))
    scale = float(np.linalg.norm(row)) * float(np.linalg.norm(column))
    if scale == 0.0 or norm <= 1e-9 * scale:
        return None
    return normal / norm


def orientation_of(
    affine: npt.ArrayLike, max_angle_deg: float = DEFAULT_MAX_ANGLE_DEG
) -> Orientation:
    """The plane of the slices an index-to-LPS ``affine`` describes.

    Args:
        affine: 4x4 (or 3x4, 3x3) matrix whose columns 0, 1, 2 are the slice, row and column
            steps in LPS mm.
        max_angle_deg: the plane is axial, coronal or sagittal when its normal lies within this
            many degrees of the superior-inferior, anterior-posterior or left-right axis; else it
            is oblique.

    Returns:
        :class:`Orientation`; ``UNKNOWN`` when the row and column directions are degenerate.
    """
    if not 0.0 < max_angle_deg < 90.0:
        raise ValueError(f"Argument 'max_angle_deg' must be in (0, 90), not {max_angle_deg}.")
    normal = slice_normal(affine)
    if normal is None:
        return Orientation.UNKNOWN
    axis = int(np.argmax(np.abs(normal)))
    cosine = min(float(abs(normal[axis])), 1.0)
    if np.degrees(np.arccos(cosine)) <= max_angle_deg:
        return _PLANES[axis]
    return Orientation.OBLIQUE
