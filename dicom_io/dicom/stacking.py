"""Group DICOM frames into stacks and order them along the slice normal.

A stack is what the viewer scrolls through: frames of one series that share size and orientation.
Slices are ordered by ImagePositionPatient projected on the normal of ImageOrientationPatient,
never by file name; InstanceNumber is used only where positions are missing. Gaps, duplicates and
uneven spacing are reported as notes, not hidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dicom_io.dicom.frame_info import FrameInfo
from dicom_io.dicom.header import DicomHeader
from dicom_io.orientation import orientation_of
from dicom_io.study import Orientation
from dicom_io.volume import affine_from_geometry

__all__ = ["PROJECTION_MODALITIES", "Stack", "StackItem", "group_stacks", "order_stack"]

# Modalities whose images are projections or cine loops: each file is its own stack, never a
# slice of a volume (a PA and a lateral chest film in one series stay two images).
PROJECTION_MODALITIES = frozenset(
    {"CR", "DX", "MG", "IO", "PX", "XA", "RF", "US", "ES", "XC", "GM", "SM", "OP", "DOC"}
)
_DEFAULT_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class StackItem:
    header: DicomHeader
    frame: FrameInfo


@dataclass(frozen=True)
class Stack:
    """An ordered stack with its geometry."""

    items: tuple[StackItem, ...]
    affine: npt.NDArray[np.float64]
    spacing: tuple[float, float, float]
    spacing_known: bool
    orientation: Orientation
    notes: tuple[str, ...]

    @property
    def first(self) -> DicomHeader:
        return self.items[0].header


def _orientation_key(iop: tuple[float, ...] | None) -> tuple[float, ...] | None:
    return None if iop is None else tuple(round(v, 3) for v in iop)


def group_stacks(headers: Iterable[DicomHeader]) -> list[list[StackItem]]:
    """Split frames into stacks: by series, then image size, samples and orientation."""
    groups: dict[tuple[object, ...], list[StackItem]] = {}
    for header in headers:
        per_file = header.modality in PROJECTION_MODALITIES or header.is_secondary_capture
        for frame in header.frame_infos:
            if frame.position is None and header.frames > 1:
                per_file = True  # a cine loop or multi-frame without geometry: one stack per file
            key = (
                header.study_uid,
                header.series_uid,
                header.rows,
                header.columns,
                header.samples,
                _orientation_key(frame.orientation),
                header.source.name if per_file else "",
            )
            groups.setdefault(key, []).append(StackItem(header, frame))
    return list(groups.values())


def _normal(iop: tuple[float, ...]) -> npt.NDArray[np.float64]:
    row = np.asarray(iop[:3], dtype=np.float64)
    col = np.asarray(iop[3:], dtype=np.float64)
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    return normal / norm if norm > 1e-6 else np.array([0.0, 0.0, 1.0])


def _sort_key_without_positions(item: StackItem) -> tuple[int, str, int]:
    number = item.header.instance_number
    return (number if number is not None else 0, item.header.source.name, item.frame.frame)


def _spacing_notes(diffs: npt.NDArray[np.float64], step: float) -> list[str]:
    notes = []
    gaps = np.flatnonzero(diffs > 1.5 * step)
    if gaps.size:
        where = ", ".join(f"after slice {int(k)} ({diffs[k]:.2f} mm)" for k in gaps[:5])
        more = f" and {gaps.size - 5} more" if gaps.size > 5 else ""
        notes.append(f"gap in slice positions {where}{more}; expected {step:.2f} mm")
    elif diffs.size and (diffs.max() - diffs.min()) > 0.1 * step:
        notes.append(
            f"uneven slice spacing: {diffs.min():.2f} to {diffs.max():.2f} mm "
            f"(median {step:.2f} mm)"
        )
    return notes


def _positioned(
    items: list[StackItem], iop: tuple[float, ...]
) -> tuple[list[StackItem], float, npt.NDArray[np.float64], list[str]]:
    """Order by position along the normal; drop duplicate positions."""
    normal = _normal(iop)
    dist = np.array([np.dot(item.frame.position, normal) for item in items])  # type: ignore[arg-type]
    order = sorted(
        range(len(items)), key=lambda k: (dist[k], *_sort_key_without_positions(items[k]))
    )
    kept = [order[0]]
    duplicates = 0
    for k in order[1:]:
        if abs(dist[k] - dist[kept[-1]]) < 1e-3:
            duplicates += 1
            continue
        kept.append(k)
    notes = []
    if duplicates:
        notes.append(f"{duplicates} slice(s) with a duplicate position ignored")
    ordered = [items[k] for k in kept]
    positions = np.array([item.frame.position for item in ordered], dtype=np.float64)
    if len(ordered) == 1:
        thickness = ordered[0].header.slice_thickness
        step = thickness if thickness and thickness > 0 else 1.0
        return ordered, step, normal * step, notes
    diffs = np.diff(dist[kept])
    step = float(np.median(diffs))
    notes.extend(_spacing_notes(diffs, step))
    # The affine's slice column is the mean difference of Image Position (Patient), the centre
    # of each slice's first voxel (PS3.3 C.7.6.2.1.1), not the normal: with a gantry tilt it
    # leans, and its length is the step along the normal divided by the cosine of the tilt.
    # Scaled so that its normal component is the median step (robust to a gap), its
    # in-plane (shear) component as the positions say.
    mean = (positions[-1] - positions[0]) / (len(ordered) - 1)
    along = float(np.dot(mean, normal))
    vector = mean * (step / along) if abs(along) > 1e-9 else normal * step
    cosine = abs(np.dot(vector, normal)) / float(np.linalg.norm(vector))
    tilt = np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0)))
    if tilt > 0.5:
        notes.append(
            f"slices are sheared by {tilt:.1f} degrees (gantry tilt); coronal and sagittal "
            "views are not resampled: they follow the tilted slices"
        )
    return ordered, step, vector, notes


def _usable(affine: npt.NDArray[np.float64], spacing: tuple[float, float, float]) -> bool:
    """Whether a :class:`Volume` accepts this geometry (finite, invertible, spacings > 0)."""
    if not (np.all(np.isfinite(affine)) and all(np.isfinite(s) and s > 0 for s in spacing)):
        return False
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        det = float(np.linalg.det(affine[:3, :3]))
    return bool(np.isfinite(det) and abs(det) >= 1e-12)  # Volume's own threshold


def order_stack(items: list[StackItem]) -> Stack:
    """Order one stack's frames and derive its affine, spacing and notes."""
    first = items[0]
    iop = first.frame.orientation
    notes: list[str] = []
    have_positions = all(item.frame.position is not None for item in items) and iop is not None
    if have_positions and iop is not None:
        ordered, step, vector, notes = _positioned(items, iop)
        origin = np.asarray(ordered[0].frame.position, dtype=np.float64)
        slice_known = len(ordered) > 1 or ordered[0].header.slice_thickness is not None
    else:
        ordered = sorted(items, key=_sort_key_without_positions)
        if len(ordered) > 1:
            if all(item.header.instance_number is not None for item in items):
                notes.append("slice positions missing; ordered by instance number")
            else:
                notes.append("slice positions missing; ordered by file name and frame")
        thickness = first.header.slice_thickness
        step = thickness if thickness and thickness > 0 else 1.0
        vector = _normal(iop or _DEFAULT_IOP) * step
        origin = np.asarray(first.frame.position or (0.0, 0.0, 0.0), dtype=np.float64)
        slice_known = False
    has_iop = iop is not None
    iop = iop or _DEFAULT_IOP
    pixel_spacing = first.frame.pixel_spacing
    in_plane_known = pixel_spacing is not None and min(pixel_spacing) > 0
    if not in_plane_known:
        pixel_spacing = (1.0, 1.0)
    assert pixel_spacing is not None
    affine = affine_from_geometry(origin, iop[:3], iop[3:], vector, pixel_spacing)
    spacing = (float(step), float(pixel_spacing[0]), float(pixel_spacing[1]))
    if not _usable(affine, spacing):
        # Zero or parallel orientation vectors, vanishing or overflowing spacings: no volume
        # can be built on them, so the pixels are shown on a 1 mm grid, as without geometry.
        notes.append("the header's slice geometry is degenerate; shown with 1 mm spacing")
        affine = affine_from_geometry(
            (0.0, 0.0, 0.0), _DEFAULT_IOP[:3], _DEFAULT_IOP[3:], (0.0, 0.0, 1.0), (1.0, 1.0)
        )
        spacing, in_plane_known, has_iop = (1.0, 1.0, 1.0), False, False
    is_volume = len(ordered) > 1
    return Stack(
        items=tuple(ordered),
        affine=affine,
        spacing=spacing,
        spacing_known=in_plane_known and (slice_known or not is_volume),
        orientation=orientation_of(affine) if has_iop else Orientation.UNKNOWN,
        notes=tuple(notes),
    )
