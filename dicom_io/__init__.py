"""Studies in and out: DICOM, NIfTI and PNG/JPEG become Study / Series / Volume.

Knows nothing of models, prompts or the UI. The entry point is :func:`load_study`.
"""

from dicom_io.errors import RadLensError
from dicom_io.loader import load_study
from dicom_io.study import Orientation, Series, SeriesFlags, SkippedFile, Study, Window
from dicom_io.volume import Volume

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
