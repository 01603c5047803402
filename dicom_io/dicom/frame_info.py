"""Per-frame geometry and value transform: :class:`FrameInfo`, read from a DICOM header.

Enhanced (multi-frame) objects carry position, orientation, pixel spacing and rescale in their
functional groups, per frame first, then shared; classic objects at the top level.

A classic multi-frame object with a Grid Frame Offset Vector (3004,000C) of one offset per frame
(RT Dose, PS3.3 C.8.8.3.2; its Frame Increment Pointer names that vector) places frame k along
the plane normal (the cross product
of the row and column direction cosines) at the k-th offset: relative to Image Position
(Patient) when the first offset is 0, else as absolute positions whose first is the image
position's own, so both read as ``position + (offset_k - offset_0) * normal``. Its stored
values times Dose Grid Scaling (3004,000E) are the dose in Dose Units (GY, or RELATIVE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from dicom_io.dicom.values import Header, first_item, first_number, float_values

__all__ = ["FrameInfo", "read_frame_infos"]


@dataclass(frozen=True)
class FrameInfo:
    """Geometry and value transform of one frame."""

    frame: int
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slope: float
    intercept: float


def _from_groups(
    groups: list[Dataset], seq_kw: str, attr: str, n: int
) -> tuple[float, ...] | None:
    """The first value of ``attr`` in ``seq_kw`` among functional ``groups`` (per-frame first)."""
    for group in groups:
        item = first_item(group, seq_kw)
        if item is None:
            continue
        if n:
            values = float_values(item.get(attr), n)
            if values is not None:
                return values
        else:
            number = first_number(item.get(attr))
            if number is not None:
                return (number,)
    return None


def read_frame_infos(ds: Header, frames: int) -> tuple[FrameInfo, ...]:
    """Per-frame geometry and rescale; enhanced objects use their functional groups."""
    shared = first_item(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    top_slope = first_number(ds.get("RescaleSlope"))
    top_intercept = first_number(ds.get("RescaleIntercept"))
    top_position = float_values(ds.get("ImagePositionPatient"), 3)
    top_orientation = float_values(ds.get("ImageOrientationPatient"), 6)
    top_spacing = float_values(ds.get("PixelSpacing"), 2) or float_values(
        ds.get("ImagerPixelSpacing"), 2
    )
    offsets = _grid_offsets(ds, frames, top_position, top_orientation)
    if top_slope is None and (dose := first_number(ds.get("DoseGridScaling"))) is not None:
        top_slope = dose  # RT Dose: stored value x Dose Grid Scaling
    infos = []
    for k in range(frames):
        groups = [per_frame[k]] if k < len(per_frame) else []
        if shared is not None:
            groups.append(shared)
        position = _from_groups(groups, "PlanePositionSequence", "ImagePositionPatient", 3)
        orientation = _from_groups(
            groups, "PlaneOrientationSequence", "ImageOrientationPatient", 6
        )
        spacing = _from_groups(groups, "PixelMeasuresSequence", "PixelSpacing", 2)
        slope = _from_groups(groups, "PixelValueTransformationSequence", "RescaleSlope", 0)
        intercept = _from_groups(groups, "PixelValueTransformationSequence", "RescaleIntercept", 0)
        infos.append(
            FrameInfo(
                frame=k,
                position=position or (offsets[k] if offsets else top_position),  # type: ignore[arg-type]
                orientation=orientation or top_orientation,
                pixel_spacing=spacing or top_spacing,  # type: ignore[arg-type]
                slope=slope[0] if slope else (top_slope if top_slope is not None else 1.0),
                intercept=intercept[0] if intercept else (top_intercept or 0.0),
            )
        )
    return tuple(infos)


def _grid_offsets(
    ds: Header,
    frames: int,
    position: tuple[float, ...] | None,
    orientation: tuple[float, ...] | None,
) -> list[tuple[float, float, float]] | None:
    """Each frame's position from Grid Frame Offset Vector (see the module docstring), or None
    when the object has none, or one that does not fit its frames."""
    if frames < 2 or position is None or orientation is None:
        return None
    offsets = float_values(ds.get("GridFrameOffsetVector"), frames)
    if offsets is None:
        return None
    row, column = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, column)
    length = float(np.linalg.norm(normal))
    if not np.isfinite(length) or length < 1e-6:
        return None
    normal /= length
    start = np.asarray(position, dtype=np.float64)
    return [
        tuple(float(v) for v in start + (offset - offsets[0]) * normal)  # type: ignore[misc]
        for offset in offsets
    ]
