"""Decoded frames into the output array, in modality units, in the narrowest dtype that holds them.

The output dtype follows from Bits Stored and each frame's rescale slope and intercept; CT with 16
bits stored is tried as int16 first and widened only if a frame really overflows. Colour and
Modality LUT Sequence output is stored as decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.dicom.header import DicomHeader
from dicom_io.dicom.stacking import Stack

__all__ = ["fill_widening", "output_photometric", "put_frame"]

_RGB_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")


def output_photometric(header: DicomHeader) -> str:
    """Photometric interpretation of the decoded voxels (colour spaces become RGB)."""
    return "RGB" if header.photometric in _RGB_PHOTOMETRICS else header.photometric


def _integer_range(stack: Stack) -> tuple[float, float] | None:
    """Value range after rescale when it stays integral, else None (float output needed)."""
    header = stack.first
    if header.bits_allocated > 32 or header.has_modality_lut_sequence:
        return None
    bits = header.bits_stored
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if header.signed else (0, 2**bits - 1)
    out_lo, out_hi = np.inf, -np.inf
    for item in stack.items:
        slope, intercept = item.frame.slope, item.frame.intercept
        if slope != int(slope) or intercept != int(intercept):
            return None
        if max(abs(slope), abs(intercept)) > 2**31:  # _store's int64 arithmetic would overflow
            return None
        ends = (lo * slope + intercept, hi * slope + intercept)
        out_lo, out_hi = min(out_lo, *ends), max(out_hi, *ends)
    return out_lo, out_hi


class _Overflow(Exception):
    """A rescaled frame did not fit the optimistic output dtype."""


def _output_dtype(stack: Stack, optimistic: bool = True) -> np.dtype[Any]:
    header = stack.first
    if output_photometric(header) == "RGB" or header.samples == 3:
        # Colour keeps its stored width (PS3.3 C.7.6.3.1: Bits Allocated 8, 16 or 32 per sample).
        if header.bits_allocated <= 8:
            return np.dtype(np.uint8)
        return np.dtype(np.uint16 if header.bits_allocated <= 16 else np.uint32)
    if header.has_modality_lut_sequence:
        return np.dtype(np.float32)
    span = _integer_range(stack)
    if span is None:
        return np.dtype(np.float32)
    for candidate in (np.uint8, np.int16, np.uint16):
        info = np.iinfo(candidate)
        if info.min <= span[0] and span[1] <= info.max:
            return np.dtype(candidate)
    # The declared range is wider, but real CT data (16 bits stored, intercept -1024) almost
    # always fits int16: try that, and widen only if a frame really overflows.
    if optimistic:
        return np.dtype(np.int16)
    if np.iinfo(np.int32).min <= span[0] and span[1] <= np.iinfo(np.int32).max:
        return np.dtype(np.int32)
    return np.dtype(np.float64)


def fill_widening(
    stack: Stack, fill: Callable[[np.dtype[Any]], npt.NDArray[Any]]
) -> npt.NDArray[Any]:
    """``fill(dtype)`` with the stack's output dtype, retried wider while a frame overflows."""
    try:
        return fill(_output_dtype(stack, optimistic=True))
    except _Overflow:
        try:
            return fill(_output_dtype(stack, optimistic=False))
        except _Overflow:
            # Values beyond the range Bits Stored declares: decoders (JPEG 2000 at the
            # codestream's precision) do not mask them, so widen rather than fail.
            return fill(np.dtype(np.float32))


def _store(
    out: npt.NDArray[Any], k: int, data: npt.NDArray[Any], slope: float, intercept: float
) -> None:
    """Write one frame, rescaled, into ``out[k]``; raise _Overflow if it does not fit."""
    if out.dtype.kind in "iu":
        if slope == 1 and intercept == 0 and np.can_cast(data.dtype, out.dtype):
            out[k] = data
            return
        info = np.iinfo(out.dtype)
        if slope == 1 and data.dtype.kind in "iu" and data.size:
            # The common CT case: check the range on the stored values, add in place.
            lo, hi = int(data.min()) + int(intercept), int(data.max()) + int(intercept)
            if lo < info.min or hi > info.max:
                raise _Overflow
            np.add(data, np.int32(intercept), out=out[k], casting="unsafe")
            return
        values = data.astype(np.int64)
        if slope != 1:
            values *= int(slope)
        if intercept != 0:
            values += int(intercept)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise _Overflow
        out[k] = values
    elif slope == 1 and intercept == 0:
        out[k] = data
    else:
        out[k] = data.astype(np.float64) * slope + intercept


def put_frame(
    out: npt.NDArray[Any],
    k: int,
    data: npt.NDArray[Any],
    header: DicomHeader,
    slope: float,
    intercept: float,
    rgb: bool,
) -> None:
    """Write one decoded frame of ``header``'s file into ``out[k]``, in modality units."""
    if rgb or header.has_modality_lut_sequence:
        out[k] = data  # colour as decoded; a Modality LUT Sequence was applied by pydicom
    else:
        _store(out, k, data, slope, intercept)
