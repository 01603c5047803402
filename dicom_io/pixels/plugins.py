"""Decode one file's pixel data with pydicom's decoders (pylibjpeg plugins).

:func:`decode_job` takes a picklable :class:`Job`, so it runs in worker processes as well as in
the caller's. Whatever pydicom or a plugin raises on damaged data becomes a
:class:`CorruptFileError` naming the file; :func:`check_decodable` refuses, at header time, a
transfer syntax no installed plugin decodes.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.encaps import generate_frames
from pydicom.errors import BytesLengthException
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.uid import UID

from dicom_io.dicom.header import DicomHeader
from dicom_io.errors import CorruptFileError, DecoderMissingError, library_reason
from dicom_io.pixels.codestream import JPEG_FAMILY, jpeg_frame_size

__all__ = ["Job", "check_decodable", "decode_job", "make_job"]

# What pydicom and its plugins raise, besides the errors above, on damaged data sets or
# encapsulated pixel data (a re-read element that no longer parses, a short offset table, a
# frame generator that runs dry).
_DAMAGED_DATA_ERRORS = (
    TypeError,
    StopIteration,
    EOFError,
    OSError,
    struct.error,
    zlib.error,
    BytesLengthException,
)


def check_decodable(header: DicomHeader) -> None:
    """Raise :class:`DecoderMissingError` when no installed plugin decodes the file's syntax."""
    if header.is_native:
        return
    uid = UID(header.transfer_syntax)
    if not uid.is_valid:  # damaged: quoting it could quote any bytes of the file
        raise CorruptFileError(
            f"{header.source.name}: the Transfer Syntax UID is not a valid UID; the file is "
            "damaged."
        )
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as err:
        raise DecoderMissingError(
            f"{header.source.name}: no decoder for transfer syntax {uid.name} ({uid})."
        ) from err
    if not decoder.is_available:
        missing = "; ".join(str(dep) for dep in decoder.missing_dependencies)
        raise DecoderMissingError(
            f"{header.source.name}: {uid.name} pixel data needs a decoder plugin that is not "
            f"installed ({missing or 'install pylibjpeg with its libjpeg/openjpeg/rle plugins'})."
        )


@dataclass(frozen=True)
class Job:
    """What decoding one file needs, picklable (sent to worker processes)."""

    name: str
    path: str | None
    data: bytes | None
    transfer_syntax: str
    frames: int
    photometric: str
    bits_allocated: int
    modality_lut: bool
    rows: int = 0
    columns: int = 0
    frame: int | None = None  # decode only this frame (0-based) of a multi-frame file


def make_job(header: DicomHeader, in_memory: bool = False, frame: int | None = None) -> Job:
    source = header.source
    keep_path = source.path is not None and not in_memory
    return Job(
        name=source.name,
        path=str(source.path) if keep_path else None,
        data=None if keep_path else source.read(),
        transfer_syntax=header.transfer_syntax,
        frames=header.frames,
        photometric=header.photometric,
        bits_allocated=header.bits_allocated,
        modality_lut=header.has_modality_lut_sequence,
        rows=header.rows,
        columns=header.columns,
        frame=frame,
    )


def decode_job(job: Job) -> npt.NDArray[Any]:
    """Decode one file with pydicom's plugins (runs in worker processes too)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            source: Any = job.path if job.path is not None else io.BytesIO(job.data or b"")
            ds = pydicom.dcmread(source, force=True)
            if "TransferSyntaxUID" not in ds.file_meta:
                ds.file_meta.TransferSyntaxUID = UID(job.transfer_syntax)
            # The declared frames only: by default pydicom also returns any extra frames that
            # excess pixel data has room for, and the volume has no slot for them. With an
            # index, pydicom decodes that one frame.
            ds.pixel_array_options(index=job.frame, allow_excess_frames=False)
            if job.transfer_syntax in JPEG_FAMILY:
                _check_jpeg_frames(job, ds.PixelData)
            arr = ds.pixel_array
            if job.photometric == "PALETTE COLOR":
                arr = _palette_to_rgb(apply_color_lut(arr, ds), job.bits_allocated)
            if job.modality_lut:
                arr = apply_modality_lut(arr, ds)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, KeyError) as err:
        reason = library_reason(err, limit=240)
        raise CorruptFileError(
            f"{job.name}: cannot decode {UID(job.transfer_syntax).name} pixel data ({reason})."
        ) from err
    except _DAMAGED_DATA_ERRORS as err:
        # The class only: pydicom's text for these can quote an element's bytes.
        kind = type(err).__name__
        kind = f"{type(err).__module__}.{kind}" if kind == "error" else kind  # struct, zlib
        raise CorruptFileError(
            f"{job.name}: cannot decode {UID(job.transfer_syntax).name} pixel data "
            f"({kind} on damaged data)."
        ) from err
    except BaseException as err:
        if type(err).__name__ != "PanicException":
            raise
        # A Rust decoder (pylibjpeg-rle) panicked on a damaged stream: pyo3 raises
        # PanicException, a BaseException that cannot be imported by name.
        raise CorruptFileError(
            f"{job.name}: cannot decode {UID(job.transfer_syntax).name} pixel data (the decoder "
            "failed on damaged data)."
        ) from err
    if job.frames == 1 or job.frame is not None:
        arr = arr[np.newaxis]
    return np.asarray(arr)


def _check_jpeg_frames(job: Job, pixel_data: bytes) -> None:
    """Refuse JPEG frames declaring another size than the header's before a decoder runs (one
    declaring zero lines never returns from pylibjpeg-libjpeg)."""
    for number, frame in enumerate(generate_frames(pixel_data, number_of_frames=job.frames), 1):
        size = jpeg_frame_size(frame)
        if size is not None and size != (job.rows, job.columns):
            # decode_job reports it as a CorruptFileError naming the file.
            raise ValueError(
                f"JPEG frame {number} declares {size[0]} x {size[1]} pixels, the header "
                f"{job.rows} x {job.columns}"
            )


def _palette_to_rgb(rgb: npt.NDArray[Any], bits_allocated: int) -> npt.NDArray[Any]:
    """Palette LUT output (16-bit entries) scaled to the 8-bit RGB the volume holds."""
    if bits_allocated <= 8 and rgb.dtype.itemsize > 1:
        top = int(rgb.max()) if rgb.size else 0
        return (rgb >> 8).astype(np.uint8) if top > 255 else rgb.astype(np.uint8)
    return rgb
