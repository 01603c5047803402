"""Decode an ordered stack into a :class:`Volume` in modality units.

Uncompressed little-endian pixel data is read straight from the file at the offset the header pass
recorded (one read per file, no second parse); compressed data goes through pydicom's decoders
(pylibjpeg plugins), several files at a time. The output array is allocated once; each frame is
rescaled into it, so peak memory stays close to the volume's own size.

:func:`decode_slice` decodes one slice alone (for a thumbnail): only the file that holds it, and
in a multi-frame file only its frame.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.encaps import generate_frames
from pydicom.errors import BytesLengthException
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut
from pydicom.uid import UID, ExplicitVRBigEndian

from dicom_io.codestream import JPEG_FAMILY, jpeg_frame_size
from dicom_io.dicom_header import DicomHeader
from dicom_io.errors import CorruptFileError, DecoderMissingError, library_reason
from dicom_io.stacking import Stack
from dicom_io.volume import Volume

__all__ = [
    "PROCESS_POOL_MIN_FILES",
    "check_decodable",
    "decode_job",
    "decode_slice",
    "decode_stack",
    "output_photometric",
]

logger = logging.getLogger(__name__)

# Compressed series with at least this many files decode in worker processes.
PROCESS_POOL_MIN_FILES = 24

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

_RGB_PHOTOMETRICS = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR")


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
        return np.dtype(np.uint8 if header.bits_allocated <= 8 else np.uint16)
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


def _raw_dtype(header: DicomHeader) -> np.dtype[Any]:
    kind = "i" if header.signed else "u"
    endian = ">" if header.transfer_syntax == ExplicitVRBigEndian else "<"
    return np.dtype(f"{endian}{kind}{header.bits_allocated // 8}")


def _read_native(header: DicomHeader, frame: int | None = None) -> npt.NDArray[Any]:
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


@dataclass(frozen=True)
class _Job:
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


def _job(header: DicomHeader, in_memory: bool = False, frame: int | None = None) -> _Job:
    source = header.source
    keep_path = source.path is not None and not in_memory
    return _Job(
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


def _is_fast_native(header: DicomHeader) -> bool:
    return (
        header.pixel_offset is not None
        and header.is_native
        and header.samples == 1
        and header.bits_allocated in (8, 16, 32)
        and header.photometric.startswith("MONOCHROME")
        and not header.has_modality_lut_sequence
    )


def _decode_file(header: DicomHeader, frame: int | None = None) -> npt.NDArray[Any]:
    """All frames of one file as (frames, rows, columns[, 3]), colour converted to RGB; with
    ``frame``, only that frame, as (1, rows, columns[, 3])."""
    if _is_fast_native(header):
        return _read_native(header, frame)
    return decode_job(_job(header, frame=frame))


def decode_job(job: _Job) -> npt.NDArray[Any]:
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


def _check_jpeg_frames(job: _Job, pixel_data: bytes) -> None:
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


def _workers(n_files: int, native: bool) -> int:
    cpus = os.cpu_count() or 1
    return max(1, min(n_files, cpus if not native else min(cpus, 4)))


def _widening(stack: Stack, fill: Callable[[np.dtype[Any]], npt.NDArray[Any]]) -> npt.NDArray[Any]:
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


def _volume(stack: Stack, array: npt.NDArray[Any], first_slice: int = 0) -> Volume:
    """``array`` with the stack's geometry, its first slice being the stack's ``first_slice``."""
    affine = stack.affine
    if first_slice:
        affine = affine.copy()
        affine[:3, 3] = stack.affine[:3, 3] + first_slice * stack.affine[:3, 0]
    return Volume(
        array=array,
        spacing=stack.spacing,
        affine=affine,
        spacing_known=stack.spacing_known,
        units="HU" if stack.first.modality == "CT" else "",
    )


def decode_stack(stack: Stack, progress: Callable[[int, int], None] | None = None) -> Volume:
    """Decode ``stack`` into one array in modality units (HU for CT) with the stack's geometry."""
    return _volume(stack, _widening(stack, lambda dtype: _decode_into(stack, dtype, progress)))


def decode_slice(stack: Stack, k: int) -> Volume:
    """Slice ``k`` of ``stack`` alone, as a one-slice volume.

    Values, dtype rules and geometry are those of ``decode_stack(stack).slab(k, k + 1)``, for the
    cost of one file: the file that holds the slice, and in a multi-frame file only its frame.
    Only that file is checked; a damaged file elsewhere in the stack is found by
    :func:`decode_stack`.

    Raises:
        IndexError: ``k`` is not a slice of the stack.
        CorruptFileError: the file cannot be decoded, or decodes to another shape.
    """
    if not 0 <= k < len(stack.items):
        raise IndexError(f"Slice {k} is outside 0..{len(stack.items) - 1}.")
    item = stack.items[k]
    header = item.header
    rgb = output_photometric(stack.first) == "RGB" or stack.first.samples == 3
    frame = item.frame.frame if header.frames > 1 else None
    frames = _decode_file(header, frame)
    _check_decoded(header, frames, rgb, None if frame is None else 1)
    data = frames[0 if frame is not None else item.frame.frame]

    def fill(dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        out = np.empty((1, *data.shape), dtype=dtype)
        _put(out, 0, data, header, item.frame.slope, item.frame.intercept, rgb)
        return out

    return _volume(stack, _widening(stack, fill), first_slice=k)


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


def _put(
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


def _check_decoded(
    header: DicomHeader, frames: npt.NDArray[Any], rgb: bool, count: int | None = None
) -> None:
    """Refuse a file whose decoded pixels do not have the shape its header declared (a
    photometric interpretation that contradicts the samples, a re-read that sees other sizes).
    ``count`` is the number of frames decoded (all the file's frames by default)."""
    frames_expected = header.frames if count is None else count
    expected = (frames_expected, header.rows, header.columns, *((3,) if rgb else ()))
    if frames.shape != expected:
        raise CorruptFileError(
            f"{header.source.name}: decoded pixel data has shape {frames.shape}, but the header "
            f"declares {expected} (frames, rows, columns[, samples])."
        )


def _group_by_file(
    stack: Stack,
) -> tuple[dict[str, list[tuple[int, int, float, float]]], dict[str, DicomHeader]]:
    """Frames grouped by file (so each file is read and decoded once), and each file's header."""
    by_file: dict[str, list[tuple[int, int, float, float]]] = {}
    headers: dict[str, DicomHeader] = {}
    for k, item in enumerate(stack.items):
        name = item.header.source.name
        headers[name] = item.header
        by_file.setdefault(name, []).append(
            (k, item.frame.frame, item.frame.slope, item.frame.intercept)
        )
    return by_file, headers


def _decode_into(
    stack: Stack, dtype: np.dtype[Any], progress: Callable[[int, int], None] | None
) -> npt.NDArray[Any]:
    first = stack.first
    rgb = output_photometric(first) == "RGB" or first.samples == 3
    shape: tuple[int, ...] = (len(stack.items), first.rows, first.columns)
    out = np.empty((*shape, 3) if rgb else shape, dtype=dtype)

    by_file, headers = _group_by_file(stack)

    def place(name: str, frames: npt.NDArray[Any]) -> None:
        _check_decoded(headers[name], frames, rgb)
        for k, frame, slope, intercept in by_file[name]:
            _put(out, k, frames[frame], headers[name], slope, intercept, rgb)

    names = list(by_file)
    slow = [name for name in names if not _is_fast_native(headers[name])]
    placed: set[str] = set()

    def report(name: str, frames: npt.NDArray[Any]) -> None:
        place(name, frames)
        placed.add(name)
        if progress is not None:
            progress(len(placed), len(names))

    if len(slow) >= PROCESS_POOL_MIN_FILES and (os.cpu_count() or 1) > 1:
        # pydicom's JPEG 2000 / JPEG-LS decoders hold the GIL: use processes for them.
        try:
            for name, frames in _decode_in_processes(slow, headers):
                report(name, frames)
        except (BrokenProcessPool, OSError) as err:
            logger.warning("Decoding in worker processes failed (%s); using threads.", err)
    todo = [name for name in names if name not in placed]

    def work(name: str) -> str:
        # Each worker writes its own slices of ``out``: no decoded frame waits in a queue.
        place(name, _decode_file(headers[name]))
        return name

    with ThreadPoolExecutor(max_workers=_workers(len(todo), not slow)) as pool:
        for name in pool.map(work, todo):
            placed.add(name)
            if progress is not None:
                progress(len(placed), len(names))
    return out


def _decode_in_processes(
    names: list[str], headers: dict[str, DicomHeader]
) -> Iterator[tuple[str, npt.NDArray[Any]]]:
    """Decode compressed files on every core, in order (spawned workers: safe beside threads)."""
    workers = min(os.cpu_count() or 1, max(1, len(names) // 4))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        jobs = (_job(headers[name]) for name in names)
        yield from zip(names, pool.map(decode_job, jobs, chunksize=4), strict=True)
