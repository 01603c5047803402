"""Where one slice of a series came from: :class:`SliceReference`, for DICOM SR references."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicom_io.errors import CorruptFileError
from dicom_io.sources import SourceFile

__all__ = ["SliceReference"]


@dataclass(frozen=True)
class SliceReference:
    """Where one slice of a series came from: the instance (and frame) a DICOM SR refers to.

    Raw UIDs, never shown: :mod:`dicom_io.sr.document` reads them through
    :meth:`~dicom_io.study.Series.slice_references`. ``frame_number`` is 1-based, ``None`` for
    single-frame instances. :meth:`read_dataset` reads the source header (patient and study
    modules) on demand, without pixel data; nothing with identity is kept on this object.
    """

    sop_class_uid: str
    sop_instance_uid: str
    frame_number: int | None
    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    source: SourceFile = field(repr=False)

    def read_dataset(self) -> Dataset:
        """The source instance's header, without pixel data (read again from the input)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with self.source.open() as fp:
                    return pydicom.dcmread(fp, stop_before_pixels=True, force=True)
            except (InvalidDicomError, EOFError, OSError, ValueError, KeyError) as err:
                raise CorruptFileError(
                    f"{self.source.name}: unreadable DICOM header ({type(err).__name__})."
                ) from err
