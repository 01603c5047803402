"""Read NIfTI-1 and NIfTI-2 files (``.nii`` and ``.nii.gz``) into :class:`Series`.

The header is parsed and every declared size checked against the file and the
:class:`~dicom_io.limits.Limits` before a byte of voxels is read; the voxels of each series are
decoded on first access, one volume at a time (a ``.nii.gz`` is decompressed as a stream, never
held whole). A 4D (or higher) file becomes one series per 3D volume, at most
:data:`MAX_VOLUMES`.

Geometry. nibabel's affine maps voxel indices ``(i, j, k)`` to RAS+ millimetres (sform, else
qform, else pixdim). RadLens wants ``[slice, row, column]`` arrays whose affine maps to LPS, so
the voxel axes are permuted and flipped, and the affine rebuilt to give every voxel exactly the
world position nibabel gives it, with x and y negated (LPS = diag(-1, -1, 1) @ RAS).

The slice axis is the voxel axis that best stands for the acquisition's through-plane
direction, chosen by the first rule that applies:

1. the only spatial axis of length 1 (a single 2D image);
2. the slice dimension the header declares (``dim_info``, as written by dcm2niix and FSL);
3. the clearly coarsest axis (spacing at least 1.25 times that of both others): thick-slice
   acquisitions are coarse through-plane;
4. otherwise the axis most aligned with superior-inferior, so a standard RAS brain or an
   isotropic CT gives axial slices.

The two other axes become rows and columns as a radiologist displays the plane: axial slices
with anterior at the top and the patient's right on the left of the screen (rows run
anterior->posterior, columns right->left), coronal with superior at the top and right on the
left, sagittal with superior at the top and anterior on the left. Slices run inferior->superior
(axial), anterior->posterior (coronal) or right->left (sagittal). Axes are flipped as needed;
the data are never resampled, so an oblique volume stays oblique (its affine says how).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
import struct
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from math import prod
from typing import Any, BinaryIO

import nibabel as nib
import numpy as np
import numpy.typing as npt
from nibabel.arrayproxy import ArrayProxy
from nibabel.spatialimages import HeaderDataError

from dicom_io.errors import (
    CorruptFileError,
    InputTooLargeError,
    UnsupportedFileError,
    library_reason,
)
from dicom_io.identity import hash_uid
from dicom_io.limits import DEFAULT_LIMITS, Limits
from dicom_io.orientation import orientation_of
from dicom_io.sources import SourceFile
from dicom_io.study import Orientation, Series, Window
from dicom_io.volume import Volume

__all__ = ["MAX_VOLUMES", "load_nifti"]

_LOG = logging.getLogger(__name__)

MAX_VOLUMES = 64
"""Most series made from one 4D file; later volumes are left out with a note."""

_GZIP_HEAD_BYTES = 64 * 1024  # compressed bytes read to find the header of a .nii.gz
_GZIP_MAX_RATIO = 1100  # deflate cannot expand beyond ~1032:1; more is a lying header
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_MM_PER_UNIT = {1: ("meter", 1000.0), 2: ("mm", 1.0), 3: ("micron", 0.001)}  # xyzt_units % 8
_RGB_CODES = {128: 3, 2304: 4}  # NIFTI_TYPE_RGB24, NIFTI_TYPE_RGBA32: samples per voxel
# Target LPS directions of (slice, row, column) for the plane named by the slice axis.
_DISPLAY = {
    2: ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)),  # axial
    1: ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0), (1.0, 0.0, 0.0)),  # coronal
    0: ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0)),  # sagittal
}
_MODALITY_WORDS = {"CT": "CT", "MR": "MR", "MRI": "MR", "PET": "PT"}


@dataclass(frozen=True)
class _Layout:
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


@dataclass(frozen=True)
class _Frame:
    """How voxel axes (i, j, k) become (slice, row, column), and the resulting LPS affine."""

    axes: tuple[int, int, int]
    flips: tuple[bool, bool, bool]
    affine: npt.NDArray[np.float64]
    spacing: tuple[float, float, float]
    spacing_known: bool
    orientation: Orientation


def load_nifti(source: SourceFile, limits: Limits = DEFAULT_LIMITS) -> list[Series]:
    """Read a NIfTI-1 or NIfTI-2 file (plain or gzipped) as one series per 3D volume.

    Only the header is read here; each series decodes its volume on first access and sets its
    ``default_window`` then (from the 0.5 and 99.5 percentiles) unless the header's
    ``cal_min``/``cal_max`` already gave one.

    Raises:
        UnsupportedFileError: not a single-file NIfTI, or a kind of NIfTI RadLens cannot show.
        CorruptFileError: the header is broken or declares more data than the file holds.
        InputTooLargeError: the declared voxels exceed ``limits.max_voxels``.
    """
    head, compressed = _read_head(source)
    header = _parse_header(source.name, head)
    layout = _check_layout(source, header, compressed, limits)
    frame = _frame_of(source.name, header, layout.spatial)
    modality = _modality(header)
    digest = hashlib.sha256(head).hexdigest()
    count = min(layout.volumes, MAX_VOLUMES)
    notes = _notes(layout, frame)
    if layout.volumes > MAX_VOLUMES:
        notes.append(f"only the first {MAX_VOLUMES} of {layout.volumes} volumes are listed")
    window = _header_window(header)
    shape = tuple(layout.spatial[a] for a in frame.axes)
    series_list = []
    for t in range(count):
        series = Series(
            index=t,
            key=hash_uid("nifti", source.name, str(source.size), digest, str(t)),
            modality=modality,
            shape=(shape[0], shape[1], shape[2]),
            spacing=frame.spacing,
            spacing_known=frame.spacing_known,
            orientation=frame.orientation,
            photometric="RGB" if layout.samples > 1 else "MONOCHROME2",
            series_description=f"volume t={t}" if layout.volumes > 1 else "",
            default_window=window,
            notes=tuple(notes),
            source_format="nifti",
        )
        series._loader = _make_loader(source, layout, frame, t, series)
        series_list.append(series)
    return series_list


def _make_loader(
    source: SourceFile, layout: _Layout, frame: _Frame, t: int, series: Series
) -> Callable[[], Volume]:
    def load() -> Volume:
        volume = _read_volume(source, layout, frame, t)
        if series.default_window is None and not volume.is_rgb:
            series.default_window = _data_window(volume.array)
        return volume

    return load


# -- header ------------------------------------------------------------------------------------


def _read_head(source: SourceFile) -> tuple[bytes, bool]:
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


def _parse_header(name: str, head: bytes) -> nib.Nifti1Header:
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


def _check_layout(
    source: SourceFile, header: nib.Nifti1Header, compressed: bool, limits: Limits
) -> _Layout:
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
    capacity = source.size * (_GZIP_MAX_RATIO if compressed else 1)
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
    return _Layout(
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


def _modality(header: nib.Nifti1Header) -> str:
    descrip = bytes(header["descrip"]).split(b"\0")[0].decode("latin-1")
    if re.search(r"\bTE=\d", descrip):  # dcm2niix writes the echo time of MR series
        return "MR"
    match = re.search(r"\b(CT|MRI?|PET)\b", descrip)
    return _MODALITY_WORDS[match.group(1)] if match else "OT"


def _header_window(header: nib.Nifti1Header) -> Window | None:
    low, high = float(header["cal_min"]), float(header["cal_max"])
    if np.isfinite(low) and np.isfinite(high) and high > low:
        return Window(center=(low + high) / 2, width=high - low, source="data")
    return None


def _notes(layout: _Layout, frame: _Frame) -> list[str]:
    notes = []
    header = layout.header
    if int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0:
        notes.append("no sform or qform: orientation unknown, axes taken as RAS")
    if not frame.spacing_known:
        notes.append("no usable voxel sizes in the header: 1 mm assumed")
    if layout.dtype.kind == "c":
        notes.append("complex values shown as their magnitude")
    if layout.slope != 1 or layout.inter != 0:
        notes.append(f"values scaled by scl_slope={layout.slope:g}, scl_inter={layout.inter:g}")
    unit = _MM_PER_UNIT.get(int(header["xyzt_units"]) % 8)
    if unit is not None and unit[1] != 1:
        notes.append(f"coordinates converted from {unit[0]} to mm")
    return notes


# -- geometry ----------------------------------------------------------------------------------


def _frame_of(name: str, header: nib.Nifti1Header, spatial: tuple[int, int, int]) -> _Frame:
    try:
        ras = np.array(header.get_best_affine(), dtype=np.float64)  # type: ignore[no-untyped-call]
    except (HeaderDataError, ValueError) as err:
        reason = library_reason(err)
        raise CorruptFileError(f"{name}: NIfTI qform/sform cannot be read ({reason}).") from err
    ras[:3] *= _MM_PER_UNIT.get(int(header["xyzt_units"]) % 8, ("mm", 1.0))[1]
    with np.errstate(over="ignore", invalid="ignore"):
        # Finite entries can still overflow a voxel size (1e169 squared) or the determinant.
        det = np.linalg.det(ras[:3, :3]) if np.all(np.isfinite(ras)) else np.nan
        sizes = np.linalg.norm(ras[:3, :3], axis=0)
    known = bool(np.isfinite(det) and abs(det) > 1e-12 and np.all(np.isfinite(sizes)))
    if not known:
        ras = np.diag([-1.0, 1.0, 1.0, 1.0])  # an "unknown" grid shown as LAS at 1 mm
    lps = _LPS_FROM_RAS @ ras
    steps = lps[:3, :3]
    directions = steps / np.linalg.norm(steps, axis=0)
    spacings = np.linalg.norm(steps, axis=0)
    slice_axis = _slice_axis(header, spatial, spacings, directions)
    axes, flips = _display_axes(slice_axis, directions)
    index_map = np.zeros((4, 4))
    index_map[3, 3] = 1.0
    for out, (axis, flip) in enumerate(zip(axes, flips, strict=True)):
        index_map[axis, out] = -1.0 if flip else 1.0
        index_map[axis, 3] = spatial[axis] - 1 if flip else 0
    affine = lps @ index_map
    has_xform = int(header["sform_code"]) > 0 or int(header["qform_code"]) > 0
    return _Frame(
        axes=axes,
        flips=flips,
        affine=affine,
        spacing=(float(spacings[axes[0]]), float(spacings[axes[1]]), float(spacings[axes[2]])),
        spacing_known=known,
        orientation=orientation_of(affine) if has_xform and known else Orientation.UNKNOWN,
    )


def _slice_axis(
    header: nib.Nifti1Header,
    spatial: tuple[int, int, int],
    spacings: npt.NDArray[np.float64],
    directions: npt.NDArray[np.float64],
) -> int:
    """The voxel axis shown as slices (rules in the module docstring)."""
    flat = [axis for axis in range(3) if spatial[axis] == 1]
    if len(flat) == 1:
        return flat[0]
    declared = header.get_dim_info()[2]  # type: ignore[no-untyped-call]
    if declared is not None and 0 <= declared < 3:
        return int(declared)
    order = np.argsort(spacings)
    if spacings[order[2]] >= 1.25 * spacings[order[1]]:
        return int(order[2])
    superior = np.abs(directions[2])
    return int(np.flatnonzero(superior >= superior.max() - 1e-9)[-1])


def _display_axes(
    slice_axis: int, directions: npt.NDArray[np.float64]
) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]]:
    """Voxel axes for (slice, row, column) and whether each runs against its display target."""
    plane = int(np.argmax(np.abs(directions[:, slice_axis])))
    targets = [np.asarray(t) for t in _DISPLAY[plane]]
    a, b = (axis for axis in range(3) if axis != slice_axis)

    def fit(row: int, col: int) -> float:
        return float(abs(targets[1] @ directions[:, row]) + abs(targets[2] @ directions[:, col]))

    row, col = (a, b) if fit(a, b) >= fit(b, a) else (b, a)
    axes = (slice_axis, row, col)
    flips = tuple(bool(targets[n] @ directions[:, axis] < 0) for n, axis in enumerate(axes))
    return axes, (flips[0], flips[1], flips[2])


# -- voxels ------------------------------------------------------------------------------------


def _read_volume(source: SourceFile, layout: _Layout, frame: _Frame, t: int) -> Volume:
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
    .nii.gz may declare up to ``_GZIP_MAX_RATIO`` times its own size: a lying header would cost
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


def _data_window(array: npt.NDArray[Any]) -> Window | None:
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
