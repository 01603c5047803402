"""Which slices of a volume a model sees, and how their values become colour channels.

MedGemma's CT/MR recipe, read from its makers' code (Google-Health/medgemma):

- Order: the slices in order along the volume. The CT notebook
  (notebooks/high_dimensional_ct_hugging_face.ipynb, cell iaaAbE6ARS8Q) sorts the instances by
  InstanceNumber; RadLens keeps the geometric order of :mod:`dicom_io.dicom.stacking`
  (ImagePositionPatient projected on the slice normal, InstanceNumber only where positions are
  missing), because InstanceNumber can disagree with the positions (numbering restarted,
  reversed or shuffled by an export) and a volume whose slices are out of place is no volume.
  For an ordinary series both orders hold the same slices in the same sequence, or reversed.
- Sampling: at most N slices (85 for MedGemma), ``round(i / N * (n - 1))`` for ``i = 1..N``
  over the ``n`` slices of the range, exactly as that notebook cell picks them, so RadLens sends
  the slices the makers' own recipe sends; a range holding N slices or fewer is sent whole.
  (This skips the range's first slice and always keeps the last: a difference of at most one
  sampling step from a linspace over both ends, kept for parity with the makers' code.)
- CT: one HU window per RGB channel, ``clip``, ``(x - low) / (high - low) * 255``, rounded
  half to even (``np.round``) to uint8 (cell iTu1nQneLEvM): :data:`CT_WINDOWS`.
- MR: min-max over the images sent (python/data_accessors/local_file_handlers/
  generic_dicom_handler.py, ``_process_buffered_mri_volume``: the minimum and maximum over all
  images of one acquisition in the request, then ``(x - min) / (max - min) * 255`` rounded):
  :func:`acquisition_range`.

Pure functions on sizes and arrays; no MONAI here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.errors import InvalidArgumentError

__all__ = ["CT_WINDOWS", "acquisition_range", "check_range", "sample_slices", "slab_slices"]

# (low, high) HU of the red, green and blue channels: the CT notebook's windows
# (Google-Health/medgemma notebooks/high_dimensional_ct_hugging_face.ipynb, commit d89262cd,
# cell iTu1nQneLEvM), which the maintainers tell fine-tuners to keep (Google-Health/medgemma#65).
# Not the technical report's W/L 2250/-100 for red quoted in Google-Health/medgemma#27
# (-1225..1025 HU): the notebook and the serving code, the two runnable recipes, both use
# -1024..1024; the report's 350/40 and 80/40 are the notebook's green and blue exactly. The
# serving code's green, TraditionalWindow(175, 80) = 135..215 HU (generic_dicom_handler.py,
# _MEDGEMMA_1_CT_DEFAULT_WINDOW, commit 04b60aca), is not followed: its own docstring calls
# the low end "fat", which lies near -100 HU, and both the notebook and the report say -135.
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
    """Up to ``max_slices`` indices of the range, in order, picked as MedGemma's CT notebook does.

    With ``n`` slices in the range and ``N = max_slices``: all of them when ``n <= N``, else
    ``start + round(i / N * (n - 1))`` for ``i = 1..N`` (Python's ``round``, half to even, as
    the notebook's ``int(round(...))``); the picks are distinct since the step is at least 1.
    """
    start, stop = check_range(count, slice_range)
    n = stop - start
    if n <= max_slices:
        return tuple(range(start, stop))
    return tuple(start + round(i / max_slices * (n - 1)) for i in range(1, max_slices + 1))


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


def acquisition_range(slices: npt.NDArray[Any]) -> tuple[float, float]:
    """The minimum and maximum over all the slices sent (MedGemma's MR scaling).

    MedGemma's serving code scales an MR acquisition by the minimum and maximum over every
    image of it in the request (generic_dicom_handler.py ``_process_buffered_mri_volume``). A
    flat acquisition (max == min) is all white there, and here: the range then ends at that
    value, one unit wide. Non-finite voxels (NaN in a float NIfTI) are ignored.
    """
    values = slices[np.isfinite(slices)] if slices.dtype.kind == "f" else slices
    if values.size == 0:
        return (0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (high - max(1.0, abs(high) * 1e-6), high)
