"""Read uncompressed little- or big-endian monochrome pixel data straight from the file.

The header pass records where the pixel data starts; :func:`read_native` reads the frames there
with one ``numpy.fromfile`` call (no second parse of the file) and masks or sign-extends the bits
beyond Bits Stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.uid import ExplicitVRBigEndian

from dicom_io.dicom.header import DicomHeader
from dicom_io.errors import CorruptFileError

__all__ = ["is_fast_native", "read_native"]


def is_fast_native(header: DicomHeader) -> bool:
    return (
        header.pixel_offset is not None
        and header.is_native
        and header.samples == 1
        and header.bits_allocated in (8, 16, 32)
        and header.photometric.startswith("MONOCHROME")
        and not header.has_modality_lut_sequence
    )


def _raw_dtype(header: DicomHeader) -> np.dtype[Any]:
    kind = "i" if header.signed else "u"
    endian = ">" if header.transfer_syntax == ExplicitVRBigEndian else "<"
    return np.dtype(f"{endian}{kind}{header.bits_allocated // 8}")


def read_native(header: DicomHeader, frame: int | None = None) -> npt.NDArray[Any]:
    """All frames of an uncompressed file (or only ``frame``), read at the recorded offset."""
    assert header.source.path is not None
    assert header.pixel_offset is not None
    frames = header.frames if frame is None else 1
    per_frame = header.rows * header.columns * header.samples
    count = frames * per_frame
    dtype = _raw_dtype(header)
    offset = header.pixel_offset + (frame or 0) * per_frame * dtype.itemsize
    with header.source.path.open("rb") as fh:
        fh.seek(offset)
        raw = np.fromfile(fh, dtype=dtype, count=count)
    if raw.size != count:
        raise CorruptFileError(f"{header.source.name}: truncated pixel data.")
    bits, allocated = header.bits_stored, header.bits_allocated
    if bits < allocated:
        if header.signed:
            shift = allocated - bits
            raw = (raw << shift) >> shift
        else:
            raw = raw & ((1 << bits) - 1)
    return raw.reshape(frames, header.rows, header.columns)
