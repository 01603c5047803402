"""Read NIfTI-1 and NIfTI-2 files (``.nii`` and ``.nii.gz``) into :class:`Series`.

The header is parsed and every declared size checked against the file and the
:class:`~dicom_io.limits.Limits` before a byte of voxels is read (:mod:`dicom_io.nifti.header`);
the voxels of each series are decoded on first access, one volume at a time
(:mod:`dicom_io.nifti.voxels`; a ``.nii.gz`` is decompressed as a stream, never held whole). A 4D
(or higher) file becomes one series per 3D volume, at most :data:`MAX_VOLUMES`.

Geometry (:mod:`dicom_io.nifti.geometry`): the voxel axes are permuted and flipped into
``[slice, row, column]`` as a radiologist displays the plane, with an affine that maps to LPS and
gives every voxel exactly the world position nibabel gives it; the data are never resampled.
"""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Any

import numpy as np

from dicom_io.identity import hash_uid
from dicom_io.limits import DEFAULT_LIMITS, Limits
from dicom_io.nifti.geometry import Frame, frame_of
from dicom_io.nifti.header import (
    MM_PER_UNIT,
    Layout,
    check_layout,
    header_window,
    modality_of,
    parse_header,
    read_head,
)
from dicom_io.nifti.voxels import data_window, read_volume
from dicom_io.sources import SourceFile
from dicom_io.study import Series, Window
from dicom_io.volume import Volume

__all__ = ["MAX_VOLUMES", "load_nifti"]

MAX_VOLUMES = 64
"""Most series made from one 4D file; later volumes are left out with a note."""


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
    head, compressed = read_head(source)
    header = parse_header(source.name, head)
    layout = check_layout(source, header, compressed, limits)
    frame = frame_of(source.name, header, layout.spatial)
    modality = modality_of(header)
    digest = hashlib.sha256(head).hexdigest()
    count = min(layout.volumes, MAX_VOLUMES)
    notes = _notes(layout, frame)
    if layout.volumes > MAX_VOLUMES:
        notes.append(f"only the first {MAX_VOLUMES} of {layout.volumes} volumes are listed")
    window = header_window(header)
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
            loader=partial(read_volume, source, layout, frame, t),
            window_from_data=_percentile_window,
        )
        series_list.append(series)
    return series_list


def _percentile_window(volume: Volume) -> Window | None:
    """A window from the 0.5 and 99.5 percentiles of a grey volume (none for RGB)."""
    return None if volume.is_rgb else data_window(volume.array)


def _forms_apart(header: Any, shape: tuple[int, ...]) -> float | None:
    """How far apart (mm) the sform and the qform put the volume's corners, when both are set
    and they differ by more than 0.1 mm; else None."""
    if int(header["sform_code"]) <= 0 or int(header["qform_code"]) <= 0:
        return None
    try:
        sform, qform = header.get_sform(), header.get_qform()
    except (ValueError, np.linalg.LinAlgError):
        return None
    extent = [max(n - 1, 0) for n in (*shape[:3], 1, 1, 1)[:3]]
    corners = np.array(
        [[i, j, k, 1.0] for i in (0, extent[0]) for j in (0, extent[1]) for k in (0, extent[2])]
    )
    with np.errstate(over="ignore", invalid="ignore"):
        distance = float(np.max(np.linalg.norm((corners @ (sform - qform).T)[:, :3], axis=1)))
    return distance if np.isfinite(distance) and distance > 0.1 else None


def _notes(layout: Layout, frame: Frame) -> list[str]:
    notes = []
    header = layout.header
    if int(header["sform_code"]) == 0 and int(header["qform_code"]) == 0:
        notes.append("no sform or qform: orientation unknown, axes taken as RAS")
    elif (apart := _forms_apart(header, layout.spatial)) is not None:
        notes.append(
            f"sform and qform disagree (the volume's corners up to {apart:.1f} mm apart): the "
            "sform is used, as nibabel does (NIfTI-1, nifti1.h: the sform maps to aligned or "
            "standard space when set, the qform to the scanner)"
        )
    if not frame.spacing_known:
        notes.append("no usable voxel sizes in the header: 1 mm assumed")
    if layout.dtype.kind == "c":
        notes.append("complex values shown as their magnitude")
    if layout.slope != 1 or layout.inter != 0:
        notes.append(f"values scaled by scl_slope={layout.slope:g}, scl_inter={layout.inter:g}")
    unit = MM_PER_UNIT.get(int(header["xyzt_units"]) % 8)
    if unit is not None and unit[1] != 1:
        notes.append(f"coordinates converted from {unit[0]} to mm")
    return notes
