"""Which slices of a volume a model sees, and how their values become colour channels.

The MedGemma recipe for CT and MR (its high-dimensional CT notebook): slices in order along the
volume (array axis 0 already is), up to N sampled uniformly, CT as three HU windows, one per RGB
channel (R -1024..1024, G -135..215, B 0..80), MR scaled by its own dynamic range. Pure functions
on sizes and arrays; no MONAI here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.errors import InvalidArgumentError
from dicom_io.windowing import data_window

__all__ = ["CT_WINDOWS", "check_range", "data_range", "sample_slices", "slab_slices"]

# (low, high) HU of the red, green and blue channels.
CT_WINDOWS: tuple[tuple[float, float], ...] = ((-1024.0, 1024.0), (-135.0, 215.0), (0.0, 80.0))


def check_range(count: int, slice_range: tuple[int, int] | None) -> tuple[int, int]:
    """The half-open ``(start, stop)`` slice range, the whole volume when ``None``.

    Raises:
        InvalidArgumentError: the range is empty or outside ``0..count``.
    """
    if slice_range is None:
        return (0, count)
    start, stop = (int(v) for v in slice_range)
    if not 0 <= start < stop <= count:
        raise InvalidArgumentError(
            f"Slice range {start}:{stop} must be a non-empty part of 0:{count} "
            "(start included, stop excluded)."
        )
    return (start, stop)


def sample_slices(
    count: int, max_slices: int, slice_range: tuple[int, int] | None = None
) -> tuple[int, ...]:
    """Up to ``max_slices`` indices spread uniformly over the range, both ends included.

    ``np.linspace(start, stop - 1, n)`` rounded to the nearest index; duplicates (when the range
    holds fewer slices than asked) are dropped, so every slice is then taken once.
    """
    start, stop = check_range(count, slice_range)
    n = min(max_slices, stop - start)
    picks = np.unique(np.rint(np.linspace(start, stop - 1, n)).astype(np.int64))
    return tuple(int(i) for i in picks)


def slab_slices(
    count: int,
    current: int,
    half_width: int,
    max_slices: int,
    slice_range: tuple[int, int] | None = None,
) -> tuple[int, ...]:
    """``current - half_width .. current + half_width`` within the range (sampled if too many).

    Raises:
        InvalidArgumentError: ``current`` lies outside the slice range.
    """
    start, stop = check_range(count, slice_range)
    if not start <= current < stop:
        raise InvalidArgumentError(
            f"Current slice {current} is outside the slice range {start}:{stop}."
        )
    low, high = max(start, current - half_width), min(stop, current + half_width + 1)
    return sample_slices(count, max_slices, (low, high))


def data_range(slices: npt.NDArray[Any]) -> tuple[float, float]:
    """The 0.5th and 99.5th percentiles of the selected slices (sampled when large).

    Robust to a few extreme voxels (MR flow artefacts, vessels, bright fat) that the plain
    minimum and maximum would let squash the tissue into a few grey levels.
    """
    window = data_window(slices)
    return (window.center - window.width / 2.0, window.center + window.width / 2.0)
