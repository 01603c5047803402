"""The NIfTI header: read it (through a gzip stream if need be), parse it and check it.

The header is parsed and every declared size checked against the file and the
:class:`~dicom_io.limits.Limits` before a byte of voxels is read (:func:`check_layout`).
"""

from __future__ import annotations

import logging
import re
import struct
import zlib
from dataclasses import dataclass
from math import prod
from typing import Any

import nibabel as nib
import numpy as np
from nibabel.spatialimages import HeaderDataError

from dicom_io.errors import (
    CorruptFileError,
    InputTooLargeError,
    UnsupportedFileError,
    library_reason,
)
from dicom_io.limits import Limits
from dicom_io.sources import SourceFile
from dicom_io.study import Window

__all__ = [
    "GZIP_MAX_RATIO",
    "MM_PER_UNIT",
    "Layout",
    "check_layout",
    "header_window",
    "modality_of",
    "parse_header",
    "read_head",
]

# check_fix reports what it repairs under the loader's name, as before the header had a module.
_LOG = logging.getLogger("dicom_io.nifti.reader")

_GZIP_HEAD_BYTES = 64 * 1024  # compressed bytes read to find the header of a .nii.gz
GZIP_MAX_RATIO = 1100  # deflate cannot expand beyond ~1032:1; more is a lying header
MM_PER_UNIT = {1: ("meter", 1000.0), 2: ("mm", 1.0), 3: ("micron", 0.001)}  # xyzt_units % 8
_RGB_CODES = {128: 3, 2304: 4}  # NIFTI_TYPE_RGB24, NIFTI_TYPE_RGBA32: samples per voxel
_MODALITY_WORDS = {"CT": "CT", "MR": "MR", "MRI": "MR", "PET": "PT"}


@dataclass(frozen=True)
class Layout:
    """What the header says about the voxels, checked against the file and the limits."""

    header: nib.Nifti1Header  # Nifti2Header is a subclass
    compressed: bool
    spatial: tuple[int, int, int]
    volumes: int
    dtype: np.dtype[Any]
    offset: int
    samples: int
    slope: float
    inter: float

    @property
    def volume_bytes(self) -> int:
        return prod(self.spatial) * self.dtype.itemsize


def read_head(source: SourceFile) -> tuple[bytes, bool]:
    """The first 544 bytes of the (decompressed) file, and whether it is gzipped."""
    raw = source.head(_GZIP_HEAD_BYTES)
    if not raw.startswith(b"\x1f\x8b"):
        return raw[:544], False
    try:
        return zlib.decompressobj(wbits=31).decompress(raw, 544), True
    except zlib.error as err:
        raise CorruptFileError(
            f"{source.name}: the gzip stream is damaged before the NIfTI header ends."
        ) from err


def parse_header(name: str, head: bytes) -> nib.Nifti1Header:
    if len(head) < 348:
        raise CorruptFileError(f"{name}: file ends inside the NIfTI header ({len(head)} bytes).")
    sizes = {struct.unpack(e + "i", head[:4])[0] for e in "<>"}
    if 348 in sizes:
        klass: type[nib.Nifti1Header] = nib.Nifti1Header
        magic, size = head[344:348], 348
    elif 540 in sizes and len(head) >= 540:
        klass, magic, size = nib.Nifti2Header, head[4:12], 540
    else:
        raise UnsupportedFileError(
            f"{name}: not a NIfTI file (header size field is neither 348 nor 540)."
        )
    if magic[:3] in (b"ni1", b"ni2"):
        raise UnsupportedFileError(
            f"{name}: a NIfTI header without its image (.hdr/.img pair); convert it to a "
            "single .nii file, e.g. with nibabel or fslchfiletype."
        )
    if magic[:4] not in (b"n+1\0", b"n+2\0"):
        raise UnsupportedFileError(
            f"{name}: not a NIfTI file (magic {magic[:4]!r}, expected 'n+1' or 'n+2'); "
            "Analyze 7.5 files are not supported."
        )
    try:
        return klass(binaryblock=head[:size], check=False)
    except (HeaderDataError, ValueError) as err:
        raise CorruptFileError(
            f"{name}: unreadable NIfTI header ({library_reason(err)})."
        ) from err


def check_layout(
    source: SourceFile, header: nib.Nifti1Header, compressed: bool, limits: Limits
) -> Layout:
    """Validate dimensions, data type, sizes and scaling; nothing is allocated before this."""
    name = source.name
    dim = [int(d) for d in header["dim"]]
    ndim = dim[0]
    if not 1 <= ndim <= 7 or min(dim[1 : ndim + 1]) < 1:
        raise CorruptFileError(f"{name}: invalid NIfTI dimensions {dim[: ndim + 1]}.")
    dtype, samples = _data_type(name, header)
    shape = dim[1 : ndim + 1] + [1] * (3 - min(ndim, 3))
    spatial, volumes = (shape[0], shape[1], shape[2]), prod(shape[3:])
    voxels = prod(shape) * min(samples, 3)
    if voxels > limits.max_voxels:
        raise InputTooLargeError(
            f"{name}: NIfTI header declares {'x'.join(map(str, shape))} = {voxels} voxels, more "
            f"than the limit of {limits.max_voxels} (RADLENS_MAX_VOXELS)."
        )
    try:
        offset = int(header.get_data_offset())  # type: ignore[no-untyped-call]
    except (ValueError, OverflowError) as err:  # vox_offset NaN or infinite
        raise CorruptFileError(
            f"{name}: invalid NIfTI voxel offset {float(header['vox_offset'])}."
        ) from err
    if offset < header.sizeof_hdr + 4:
        raise CorruptFileError(f"{name}: NIfTI voxel offset {offset} is inside the header.")
    need = offset + prod(shape) * dtype.itemsize
    capacity = source.size * (GZIP_MAX_RATIO if compressed else 1)
    if need > capacity:
        held = "can expand to at most" if compressed else "holds only"
        raise CorruptFileError(
            f"{name}: NIfTI header declares {need} bytes of data but the file {held} "
            f"{capacity}; the file is truncated or its header is wrong."
        )
    try:
        # What nibabel's loader fixes (negative pixdims, qfac 0, bitpix) is fixed the same way.
        header.check_fix(logger=_LOG, error_level=40)  # type: ignore[no-untyped-call]
        slope, inter = header.get_slope_inter()  # type: ignore[no-untyped-call]
    except HeaderDataError as err:
        raise CorruptFileError(f"{name}: invalid NIfTI header ({library_reason(err)}).") from err
    return Layout(
        header,
        compressed,
        spatial,
        volumes,
        dtype,
        offset,
        samples,
        slope=1.0 if slope is None else slope,
        inter=0.0 if inter is None else inter,
    )


def _data_type(name: str, header: nib.Nifti1Header) -> tuple[np.dtype[Any], int]:
    """The stored dtype and samples per voxel (3 or 4 for RGB/RGBA), or refuse the file."""
    code = int(header["datatype"])
    if 3000 <= int(header["intent_code"]) < 3100:
        raise UnsupportedFileError(
            f"{name}: a CIFTI file (surface/grayordinate data), not a volume."
        )
    try:
        dtype = np.dtype(header.get_data_dtype())  # type: ignore[no-untyped-call]
    except (HeaderDataError, KeyError, TypeError) as err:
        raise UnsupportedFileError(f"{name}: unsupported NIfTI datatype code {code}.") from err
    if dtype.kind == "V" and code not in _RGB_CODES:
        raise UnsupportedFileError(f"{name}: unsupported NIfTI datatype code {code}.")
    return dtype, _RGB_CODES.get(code, 1)


def modality_of(header: nib.Nifti1Header) -> str:
    descrip = bytes(header["descrip"]).split(b"\0")[0].decode("latin-1")
    if re.search(r"\bTE=\d", descrip):  # dcm2niix writes the echo time of MR series
        return "MR"
    match = re.search(r"\b(CT|MRI?|PET)\b", descrip)
    return _MODALITY_WORDS[match.group(1)] if match else "OT"


def header_window(header: nib.Nifti1Header) -> Window | None:
    low, high = float(header["cal_min"]), float(header["cal_max"])
    if np.isfinite(low) and np.isfinite(high) and high > low:
        return Window(center=(low + high) / 2, width=high - low, source="data")
    return None
