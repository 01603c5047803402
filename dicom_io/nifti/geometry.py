"""NIfTI geometry: which voxel axes become (slice, row, column), and the LPS affine.

nibabel's affine maps voxel indices ``(i, j, k)`` to RAS+ millimetres (sform, else qform, else
pixdim). RadLens wants ``[slice, row, column]`` arrays whose affine maps to LPS, so the voxel axes
are permuted and flipped, and the affine rebuilt to give every voxel exactly the world position
nibabel gives it, with x and y negated (LPS = diag(-1, -1, 1) @ RAS).

The slice axis is the voxel axis that best stands for the acquisition's through-plane
direction, chosen by the first rule that applies:

1. the only spatial axis of length 1 (a single 2D image);
2. the slice dimension the header declares (``dim_info``, as written by dcm2niix and FSL);
3. the clearly coarsest axis (spacing at least 1.25 times that of both others): thick-slice
   acquisitions are coarse through-plane;
4. otherwise the axis most aligned with superior-inferior, so a standard RAS brain or an
   isotropic CT gives axial slices.

The two other axes become rows and columns as a radiologist displays the plane: axial slices
with anterior at the top and the patient's right on the left of the screen (rows run
anterior->posterior, columns right->left), coronal with superior at the top and right on the
left, sagittal with superior at the top and anterior on the left. Slices run inferior->superior
(axial), anterior->posterior (coronal) or right->left (sagittal). Axes are flipped as needed;
the data are never resampled, so an oblique volume stays oblique (its affine says how).
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
import numpy.typing as npt
from nibabel.spatialimages import HeaderDataError

from dicom_io.errors import CorruptFileError, library_reason
from dicom_io.nifti.header import MM_PER_UNIT
from dicom_io.orientation import orientation_of
from dicom_io.study import Orientation

__all__ = ["Frame", "frame_of"]

_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Target LPS directions of (slice, row, column) for the plane named by the slice axis.
_DISPLAY = {
    2: ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),  # axial
    1: ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)),  # coronal
    0: ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),  # sagittal
}


@dataclass(frozen=True)
class Frame:
    """How voxel axes (i, j, k) become (slice, row, column), and the resulting LPS affine."""

    axes: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    affine: npt.NDArray[np.float64]
    spacing: tuple[float, float, float]
    spacing_known: bool
    orientation: Orientation


def frame_of(name: str, header: nib.Nifti1Header, spatial: tuple[int, int, int]) -> Frame:
    try:
        ras = np.array(header.get_best_affine(), dtype=np.float64)  # type: ignore[no-untyped-call]
    except (HeaderDataError, ValueError) as err:
        reason = library_reason(err)
        raise CorruptFileError(f"{name}: NIfTI qform/sform cannot be read ({reason}).") from err
    ras[:3] *= MM_PER_UNIT.get(int(header["xyzt_units"]) % 8, ("mm", 1.0))[1]
    with np.errstate(over="ignore", invalid="ignore"):
        # Finite entries can still overflow a voxel size (1e169 squared) or the determinant.
        det = np.linalg.det(ras[:3, :3]) if np.all(np.isfinite(ras)) else np.nan
        sizes = np.linalg.norm(ras[:3, :3], axis=0)
    known = bool(np.isfinite(det) and abs(det) > 1e-12 and np.all(np.isfinite(sizes)))
    if not known:
        ras = np.diag([-1.0, 1.0, 1.0, 1.0])  # an "unknown" grid shown as LAS at 1 mm
    lps = _LPS_FROM_RAS @ ras
    steps = lps[:3, :3]
    directions = steps / np.linalg.norm(steps, axis=0)
    spacings = np.linalg.norm(steps, axis=0)
    slice_axis = _slice_axis(header, spatial, spacings, directions)
    axes, flips = _display_axes(slice_axis, directions)
    index_map = np.zeros((4, 4))
    index_map[3, 3] = 1.0
    for out, (axis, flip) in enumerate(zip(axes, flips, strict=True)):
        index_map[axis, out] = -1.0 if flip else 1.0
        index_map[axis, 3] = spatial[axis] - 1 if flip else 0
    affine = lps @ index_map
    has_xform = int(header["sform_code"]) > 0 or int(header["qform_code"]) > 0
    return Frame(
        axes=axes,
        flips=flips,
        affine=affine,
        spacing=(float(spacings[axes[0]]), float(spacings[axes[1]]), float(spacings[axes[2]])),
        spacing_known=known,
        orientation=orientation_of(affine) if has_xform and known else Orientation.UNKNOWN,
    )


def _slice_axis(
    header: nib.Nifti1Header,
    spatial: tuple[int, int, int],
    spacings: npt.NDArray[np.float64],
    directions: npt.NDArray[np.float64],
) -> int:
    """The voxel axis shown as slices (rules in the module docstring)."""
    flat = [axis for axis in range(3) if spatial[axis] == 1]
    if len(flat) == 1:
        return flat[0]
    declared = header.get_dim_info()[2]  # type: ignore[no-untyped-call]
    if declared is not None and 0 <= declared < 3:
        return int(declared)
    order = np.argsort(spacings)
    if spacings[order[2]] >= 1.25 * spacings[order[1]]:
        return int(order[2])
    superior = np.abs(directions[2])
    return int(np.flatnonzero(superior >= superior.max() - 1e-9)[-1])


def _display_axes(
    slice_axis: int, directions: npt.NDArray[np.float64]
) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    """Voxel axes for (slice, row, column) and whether each runs against its display target."""
    plane = int(np.argmax(np.abs(directions[:, slice_axis])))
    targets = [np.asarray(t) for t in _DISPLAY[plane]]
    a, b = (axis for axis in range(3) if axis != slice_axis)

    def fit(row: int, col: int) -> float:
        return float(abs(targets[1] @ directions[:, row]) + abs(targets[2] @ directions[:, col]))

    row, col = (a, b) if fit(a, b) >= fit(b, a) else (b, a)
    axes = (slice_axis, row, col)
    flips = tuple(bool(targets[n] @ directions[:, axis] < 0) for n, axis in enumerate(axes))
    return axes, (flips[0], flips[1], flips[2])
