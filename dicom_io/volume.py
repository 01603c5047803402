"""The :class:`Volume`: voxels in modality units plus their geometry in patient space.

Conventions (shared with highdicom): the array is indexed ``[slice, row, column]`` (RGB images add
a last axis of 3); ``spacing`` is ``(slice, row, column)`` in millimetres; ``affine`` is a 4x4
matrix mapping ``(slice, row, column, 1)`` indices to patient LPS millimetres. Values are in
modality units (HU for CT after the modality LUT). MONOCHROME1 is *not* inverted here; inversion is
a display matter (see :mod:`dicom_io.windowing`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Volume", "affine_from_geometry"]


def affine_from_geometry(
    origin: npt.ArrayLike,
    row_cosine: npt.ArrayLike,
    column_cosine: npt.ArrayLike,
    slice_vector: npt.ArrayLike,
    pixel_spacing: tuple[float, float],
) -> npt.NDArray[np.float64]:
    """Build the index-to-LPS affine from DICOM-style geometry.

    ``row_cosine`` is the direction in which the column index grows along a row (the first triplet
    of ImageOrientationPatient), ``column_cosine`` the direction in which the row index grows.
    ``slice_vector`` is the full step between consecutive slices in mm (direction and length).
    ``pixel_spacing`` is (row spacing, column spacing), as DICOM PixelSpacing.
    """
    affine = np.eye(4, dtype=np.float64)
    affine[:3, 0] = np.asarray(slice_vector, dtype=np.float64)
    affine[:3, 1] = np.asarray(column_cosine, dtype=np.float64) * float(pixel_spacing[0])
    affine[:3, 2] = np.asarray(row_cosine, dtype=np.float64) * float(pixel_spacing[1])
    affine[:3, 3] = np.asarray(origin, dtype=np.float64)
    return affine


@dataclass(frozen=True, eq=False)
class Volume:
    """Voxels and geometry of one stack of images.

    Attributes:
        array: ``[slice, row, column]`` (or ``[slice, row, column, 3]`` for RGB), read-only.
        spacing: ``(slice, row, column)`` spacing in mm.
        affine: 4x4 index-to-LPS matrix.
        spacing_known: False when the source gave no physical spacing (plain images, some
            secondary captures); spacing is then 1 mm by convention and must not be measured with.
        units: the value units, e.g. ``"HU"`` for CT, ``""`` when unknown.
    """

    array: npt.NDArray[Any]
    spacing: tuple[float, float, float]
    affine: npt.NDArray[np.float64] = field(repr=False)
    spacing_known: bool = True
    units: str = ""

    def __post_init__(self) -> None:
        array = self.array
        if not isinstance(array, np.ndarray):
            raise TypeError(f"Argument 'array' must be a numpy array, not {type(array).__name__}.")
        rgb = array.ndim == 4 and array.shape[-1] == 3
        if array.ndim != 3 and not rgb:
            raise ValueError(
                "Argument 'array' must have shape (slices, rows, columns) or "
                f"(slices, rows, columns, 3), not {array.shape}."
            )
        if min(array.shape[:3]) < 1:
            raise ValueError(f"Argument 'array' must not be empty, got shape {array.shape}.")
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(
                f"Argument 'spacing' must be three finite values > 0 mm, not {self.spacing}."
            )
        affine = np.array(self.affine, dtype=np.float64)
        if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
            raise ValueError(f"Argument 'affine' must be a finite 4x4 matrix, got {affine.shape}.")
        if not np.allclose(affine[3], [0.0, 0.0, 0.0, 1.0]):
            raise ValueError("Argument 'affine' must have (0, 0, 0, 1) as its last row.")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError(
                "Argument 'affine' is singular: its direction vectors are degenerate."
            )
        if array.flags.writeable:
            array = array.view()
            array.flags.writeable = False
        affine.flags.writeable = False
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "affine", affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(slices, rows, columns)``."""
        s = self.array.shape
        return (int(s[0]), int(s[1]), int(s[2]))

    @property
    def is_rgb(self) -> bool:
        return self.array.ndim == 4

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    def value_range(self) -> tuple[float, float]:
        """Minimum and maximum value (over all channels)."""
        return float(self.array.min()), float(self.array.max())

    def index_to_lps(self, index: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map ``(slice, row, column)`` indices (one or many, last axis 3) to LPS mm."""
        idx = np.asarray(index, dtype=np.float64)
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def with_array(self, array: npt.NDArray[Any]) -> Volume:
        """A new volume with the same geometry and another array of the same spatial shape."""
        if tuple(array.shape[:3]) != self.shape:
            raise ValueError(
                f"Argument 'array' must keep the spatial shape {self.shape}, not {array.shape}."
            )
        return replace(self, array=array)

    def slab(self, start: int, stop: int) -> Volume:
        """Slices ``start:stop`` as a new volume, its affine moved to the first kept slice."""
        n = self.shape[0]
        if not 0 <= start < stop <= n:
            raise ValueError(f"Slice range {start}:{stop} is outside 0:{n}.")
        affine = self.affine.copy()
        affine[:3, 3] = self.index_to_lps([start, 0, 0])
        return replace(self, array=self.array[start:stop], affine=affine)
