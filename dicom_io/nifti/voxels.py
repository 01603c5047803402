"""NIfTI voxels: one 3D volume read from the file, in display order, and a window from its data.

A ``.nii.gz`` is decompressed as a stream, never held whole, and only after checking that the
stream really holds the volume (:func:`_check_stream_holds`).
"""

from __future__ import annotations

import gzip
import zlib
from contextlib import ExitStack
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from nibabel.arrayproxy import ArrayProxy

from dicom_io.errors import CorruptFileError
from dicom_io.nifti.geometry import Frame
from dicom_io.nifti.header import Layout
from dicom_io.sources import SourceFile
from dicom_io.study import Window
from dicom_io.volume import Volume

__all__ = ["data_window", "read_volume"]


def read_volume(source: SourceFile, layout: Layout, frame: Frame, t: int) -> Volume:
    offset = layout.offset + t * layout.volume_bytes
    spec = (layout.spatial, layout.dtype, offset, layout.slope, layout.inter)
    try:
        with ExitStack() as stack:
            fh: BinaryIO | gzip.GzipFile = stack.enter_context(source.open())
            if layout.compressed:
                _check_stream_holds(source, offset + layout.volume_bytes)
                fh = stack.enter_context(gzip.GzipFile(fileobj=fh))
            proxy = ArrayProxy(fh, spec, mmap=False)  # type: ignore[no-untyped-call]
            data = np.asarray(proxy)
    except (OSError, EOFError, zlib.error, ValueError) as err:
        raise CorruptFileError(
            f"{source.name}: NIfTI voxel data of volume {t} cannot be read; the file is "
            "truncated or damaged."
        ) from err
    data = _to_display_values(data, layout.samples)
    data = np.transpose(data, (*frame.axes, *range(3, data.ndim)))
    flip_axes = tuple(n for n, flip in enumerate(frame.flips) if flip)
    data = np.ascontiguousarray(np.flip(data, axis=flip_axes) if flip_axes else data)
    return Volume(
        array=data,
        spacing=frame.spacing,
        affine=frame.affine,
        spacing_known=frame.spacing_known,
    )


def _check_stream_holds(source: SourceFile, size: int) -> None:
    """Raise EOFError unless the gzip stream decompresses to at least ``size`` bytes.

    nibabel allocates and zero-fills a buffer of the declared volume size before reading, and a
    .nii.gz may declare up to ``GZIP_MAX_RATIO`` times its own size: a lying header would cost
    that much memory. Seeking decompresses in small chunks and keeps nothing.
    """
    with source.open() as raw, gzip.GzipFile(fileobj=raw) as stream:
        stream.seek(size - 1)
        if len(stream.read(1)) != 1:
            raise EOFError(f"the stream ends before byte {size}")


def _to_display_values(data: npt.NDArray[Any], samples: int) -> npt.NDArray[Any]:
    """Native byte order, magnitude of complex values, RGB(A) records as a last axis of 3."""
    if samples > 1:
        return np.stack([data[c].astype(np.uint8) for c in ("R", "G", "B")], axis=-1)
    if data.dtype.kind == "c":
        data = np.abs(data)
    if data.dtype.kind == "f" and data.dtype.itemsize > 8:
        data = data.astype(np.float64)
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    return data


def data_window(array: npt.NDArray[Any]) -> Window | None:
    """A window from the 0.5 and 99.5 percentiles of the finite values (subsampled)."""
    flat = array.reshape(-1)
    step = max(1, flat.size // 2_000_000)
    sample = flat[::step]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return None
    low, high = (float(v) for v in np.percentile(sample, [0.5, 99.5]))
    if high <= low:
        low, high = float(sample.min()), float(sample.max())
    if high <= low:
        return Window(center=low, width=1.0, source="data")
    return Window(center=(low + high) / 2, width=high - low, source="data")
