"""Simple values out of a DICOM header: text, numbers, the first item of a sequence, the window.

Each reader accepts a pydicom :class:`Dataset` or the header pass's :class:`RawView` and returns
``""`` or ``None`` for a missing, empty or unusable value (never raises on odd content).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from dicom_io.dicom.raw_values import RawView

__all__ = ["Header", "first_item", "first_number", "float_values", "text_value", "voi_window"]

Header = Dataset | RawView


def text_value(ds: Header, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, (list, pydicom.multival.MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def float_values(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        items = [float(v) for v in (value if isinstance(value, (list, tuple)) else list(value))]
    except (TypeError, ValueError):
        return None
    if len(items) != n or not all(np.isfinite(items)):
        return None
    return tuple(items)


def first_number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
            value = value[0]
        number = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    return number if np.isfinite(number) else None


def voi_window(ds: Header) -> tuple[float, float] | None:
    """The first DICOM VOI window: top level, else the enhanced objects' frame VOI LUT."""
    candidates = [
        ds,
        first_item(first_item(ds, "SharedFunctionalGroupsSequence"), "FrameVOILUTSequence"),
    ]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame:
        candidates.append(first_item(per_frame[0], "FrameVOILUTSequence"))
    for owner in candidates:
        if owner is None:
            continue
        center = first_number(owner.get("WindowCenter"))
        width = first_number(owner.get("WindowWidth"))
        if center is not None and width is not None and width > 0:
            return center, width
    return None


def first_item(seq_owner: Header | None, keyword: str) -> Dataset | None:
    if seq_owner is None:
        return None
    seq = seq_owner.get(keyword)
    if not seq:
        return None
    item = seq[0]
    return item if isinstance(item, Dataset) else None
