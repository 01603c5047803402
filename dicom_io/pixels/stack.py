"""Decode an ordered stack into a :class:`Volume` in modality units.

Uncompressed little-endian pixel data is read straight from the file at the offset the header pass
recorded (one read per file, no second parse: :mod:`dicom_io.pixels.native`); compressed data goes
through pydicom's decoders (pylibjpeg plugins, :mod:`dicom_io.pixels.plugins`), several files at a
time (in worker processes under a deadline when a :mod:`dicom_io.pixels.decode_guard` is on). The
output array is allocated once; each frame is rescaled into it
(:mod:`dicom_io.pixels.rescale`), so peak memory stays close to the volume's own size.

:func:`decode_slice` decodes one slice alone (for a thumbnail): only the file that holds it, and
in a multi-frame file only its frame.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.dicom.header import DicomHeader
from dicom_io.dicom.stacking import Stack
from dicom_io.errors import CorruptFileError
from dicom_io.pixels.decode_guard import active_guard
from dicom_io.pixels.native import is_fast_native, read_native
from dicom_io.pixels.plugins import decode_job, make_job
from dicom_io.pixels.rescale import fill_widening, output_photometric, put_frame
from dicom_io.volume import Volume

__all__ = ["PROCESS_POOL_MIN_FILES", "decode_slice", "decode_stack"]

logger = logging.getLogger(__name__)

# Compressed series with at least this many files decode in worker processes.
PROCESS_POOL_MIN_FILES = 24


def _decode_file(header: DicomHeader, frame: int | None = None) -> npt.NDArray[Any]:
    """All frames of one file as (frames, rows, columns[, 3]), colour converted to RGB; with
    ``frame``, only that frame, as (1, rows, columns[, 3])."""
    if is_fast_native(header):
        return read_native(header, frame)
    job = make_job(header, frame=frame)
    guard = active_guard()
    return guard.decode(job) if guard is not None else decode_job(job)


def _workers(n_files: int, native: bool) -> int:
    cpus = os.cpu_count() or 1
    return max(1, min(n_files, cpus if not native else min(cpus, 4)))


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
        units="HU" if stack.first.modality == "CT" else stack.first.value_units,
    )


def decode_stack(stack: Stack, progress: Callable[[int, int], None] | None = None) -> Volume:
    """Decode ``stack`` into one array in modality units (HU for CT) with the stack's geometry."""
    return _volume(stack, fill_widening(stack, lambda dtype: _decode_into(stack, dtype, progress)))


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
        put_frame(out, 0, data, header, item.frame.slope, item.frame.intercept, rgb)
        return out

    return _volume(stack, fill_widening(stack, fill), first_slice=k)


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
            put_frame(out, k, frames[frame], headers[name], slope, intercept, rgb)

    names = list(by_file)
    slow = [name for name in names if not is_fast_native(headers[name])]
    placed: set[str] = set()

    def report(name: str, frames: npt.NDArray[Any]) -> None:
        place(name, frames)
        placed.add(name)
        if progress is not None:
            progress(len(placed), len(names))

    guarded = active_guard() is not None  # then every file already decodes in a worker
    if len(slow) >= PROCESS_POOL_MIN_FILES and (os.cpu_count() or 1) > 1 and not guarded:
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
        jobs = (make_job(headers[name]) for name in names)
        yield from zip(names, pool.map(decode_job, jobs, chunksize=4), strict=True)
