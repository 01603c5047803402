"""Studies in and out: DICOM, NIfTI and PNG/JPEG become Study / Series / Volume.

Knows nothing of models, prompts or the UI. The entry point is :func:`load_study`. Names are
imported on first use, so importing one module of the package (as decoding workers do) stays
cheap.

Every error dicom_io raises lives in :mod:`dicom_io.errors`, with :class:`RadLensError`, the
root of every RadLens error (``models.errors`` and ``prompts.errors`` derive from it).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Orientation",
    "RadLensError",
    "Series",
    "SeriesFlags",
    "SkippedFile",
    "Study",
    "Volume",
    "Window",
    "load_study",
]

_HOMES = {
    "Orientation": "dicom_io.study",
    "RadLensError": "dicom_io.errors",
    "Series": "dicom_io.study",
    "SeriesFlags": "dicom_io.study",
    "SkippedFile": "dicom_io.study",
    "Study": "dicom_io.study",
    "Volume": "dicom_io.volume",
    "Window": "dicom_io.study",
    "load_study": "dicom_io.loader",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dicom_io' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
