"""Study and Series: what a clinician dropped in, grouped the way a PACS shows it.

These objects are public and carry no patient identifiers: no names, IDs, birth dates, accession
numbers or raw UIDs. Where a stable key is needed, it is a salted hash of the UID
(:func:`dicom_io.identity.hash_uid`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING

from dicom_io.errors import InvalidArgumentError
from dicom_io.volume import Volume

if TYPE_CHECKING:
    from dicom_io.dicom.slice_reference import SliceReference

__all__ = [
    "Orientation",
    "Series",
    "SeriesFlags",
    "SkippedFile",
    "Study",
    "Window",
]


class Orientation(StrEnum):
    """Plane of the acquired slices, from the slice normal."""

    AXIAL = "axial"
    CORONAL = "coronal"
    SAGITTAL = "sagittal"
    OBLIQUE = "oblique"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Window:
    """A VOI window: centre and width in modality units, and where it came from."""

    center: float
    width: float
    source: str = "dicom"  # "dicom", "data" (derived from the values) or "preset"

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"Argument 'width' must be > 0, not {self.width}.")


@dataclass(frozen=True)
class SeriesFlags:
    derived: bool = False
    localizer: bool = False
    burned_in_annotation: bool = False

    def names(self) -> list[str]:
        return [
            name
            for name in ("derived", "localizer", "burned_in_annotation")
            if getattr(self, name)
        ]


@dataclass(frozen=True)
class SkippedFile:
    """A file of the input left out, and why (one line): by :func:`~dicom_io.loader.load_study`
    (in :attr:`Study.skipped`) or by :func:`~dicom_io.deid.files.deidentify` (in its report).
    ``name`` is relative to the input."""

    name: str
    reason: str


@dataclass(eq=False)
class Series:
    """One stack of images with its metadata; the voxels are decoded on first access.

    :meth:`slice_volume` and :meth:`preview` give one acquired slice without decoding the whole
    stack where the source allows it (DICOM), for thumbnails of series nobody has opened yet.

    Attributes:
        index: position in :attr:`Study.series` (0-based).
        key: a stable, identity-free key (hash of the SeriesInstanceUID plus the stack number).
        modality: DICOM modality code (CT, MR, CR, DX, US, ...) or ``"OT"``.
        shape: ``(slices, rows, columns)``.
        spacing: ``(slice, row, column)`` mm; see ``spacing_known``.
        photometric: PhotometricInterpretation of the source (MONOCHROME1/2, RGB, ...).
        default_window: the DICOM window (first of several), else one derived from the data.
        notes: geometry and decoding remarks (gaps, duplicates, uneven spacing, ...).
        loader, slice_loader, reference_loader, window_from_data: where the pixels, one slice,
            the per-slice source references (:meth:`slice_references`) and a data-derived
            window come from; given by the reader that builds the series (``dicom_io.loader``,
            ``dicom_io.nifti.reader``, ``dicom_io.image``), left out of ``repr``.
    """

    index: int
    key: str
    modality: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    spacing_known: bool
    orientation: Orientation
    photometric: str
    body_part: str = ""
    study_description: str = ""
    series_description: str = ""
    view_position: str = ""
    flags: SeriesFlags = field(default_factory=SeriesFlags)
    default_window: Window | None = None
    notes: tuple[str, ...] = ()
    source_format: str = "dicom"  # "dicom", "nifti" or "image"
    # A salted hash of the patient's identifying attributes (DICOM; "" when unknown): a
    # comparison refuses a prior of another patient (models.tasks.prepare).
    patient_key: str = field(default="", repr=False)
    # Where the pixels come from (given by the reader that makes the series; never shown):
    loader: Callable[[], Volume] | None = field(default=None, repr=False)
    # DICOM only: decodes acquired slice k alone, as a one-slice Volume (see slice_volume).
    slice_loader: Callable[[int], Volume] | None = field(default=None, repr=False)
    # DICOM only: per slice, the source instance and frame (see slice_references).
    reference_loader: Callable[[], tuple[SliceReference, ...]] | None = field(
        default=None, repr=False
    )
    # The window to show when the header gives none, derived from the decoded voxels (NIfTI
    # and plain images; None leaves default_window unset, as for RGB).
    window_from_data: Callable[[Volume], Window | None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, init=False)

    @cached_property
    def volume(self) -> Volume:
        """The decoded voxels (decoded once, on first access, thread-safe). Where the series has
        no ``default_window`` and a ``window_from_data``, the window is derived then."""
        with self._lock:
            cached = self.__dict__.get("_volume")
            if cached is None:
                if self.loader is None:
                    raise RuntimeError("Series has no pixel loader.")
                cached = self.loader()
                if self.default_window is None and self.window_from_data is not None:
                    self.default_window = self.window_from_data(cached)
                self.__dict__["_volume"] = cached
            return cached

    def slice_references(self) -> tuple[SliceReference, ...]:
        """Per acquired slice, in order, the source instance and frame it came from; empty for
        a series not read from DICOM files.

        These hold raw UIDs and the source files: they are for DICOM SR references
        (:mod:`dicom_io.sr.document`) and for refusing to write over the study's own files, never
        to be shown or logged.
        """
        return self.reference_loader() if self.reference_loader is not None else ()

    @property
    def is_decoded(self) -> bool:
        """Whether the voxels are decoded and held in memory (:attr:`volume` was read)."""
        return "_volume" in self.__dict__

    def release_voxels(self) -> None:
        """Forget the decoded voxels (to free their memory); they are decoded again if used."""
        with self._lock:
            self.__dict__.pop("volume", None)
            self.__dict__.pop("_volume", None)

    def slice_volume(self, k: int) -> Volume:
        """Acquired slice ``k`` alone, as a one-slice :class:`Volume`.

        Values and geometry are those of ``volume.slab(k, k + 1)``. A DICOM series whose volume
        is not decoded yet decodes only the file that holds the slice (only that frame of a
        multi-frame file) and keeps nothing; otherwise the slice is cut from :attr:`volume`
        (NIfTI and plain images are read whole, and a decoded volume is never decoded again).

        Raises:
            InvalidArgumentError: ``k`` is not an acquired slice of the series.
            RadLensError: the pixels cannot be decoded (a subclass naming the file).
        """
        count = self.shape[0]
        if not 0 <= k < count:
            raise InvalidArgumentError(f"Slice {k} is outside 0..{count - 1} of the series.")
        if not self.is_decoded and self.slice_loader is not None:
            return self.slice_loader(k)
        return self.volume.slab(k, k + 1)

    def preview(self, k: int) -> Series:
        """A one-slice copy of this series holding acquired slice ``k`` (see
        :meth:`slice_volume`), to render a thumbnail without decoding the whole series.

        The copy keeps the metadata, including ``default_window``. Where the series has no
        window of its own (none in the header), one derived from the data is derived from the
        copy's one slice, not from the whole volume, so such a thumbnail may be windowed a little
        differently from the same slice in the viewer.
        """
        volume = self.slice_volume(k)  # first: reading a NIfTI or image may set default_window

        def loader() -> Volume:
            return volume

        return replace(
            self, shape=volume.shape, loader=loader, slice_loader=None, reference_loader=None
        )

    @property
    def is_volume(self) -> bool:
        """True for a 3D stack (more than one slice of a cross-sectional modality)."""
        return self.shape[0] > 1

    @property
    def slice_count(self) -> int:
        return self.shape[0]

    def label(self) -> str:
        """A short human label: ``"#1 CT Chest 1.0mm (120 slices)"``."""
        desc = self.series_description or self.study_description or ""
        parts = [f"#{self.index + 1}", self.modality]
        if desc:
            parts.append(desc)
        if self.view_position:
            parts.append(self.view_position)
        n = self.shape[0]
        parts.append(f"({n} slice{'s' if n != 1 else ''})")
        return " ".join(parts)


@dataclass(frozen=True)
class Study:
    """Everything read from one input (file, folder, zip, NIfTI or image)."""

    source_name: str
    series: tuple[Series, ...]
    skipped: tuple[SkippedFile, ...] = ()
    key: str = ""
    patient_key: str = field(default="", repr=False)  # see Series.patient_key
    study_date: str = ""  # YYYYMMDD, DICOM Study Date; "" when unknown

    def __post_init__(self) -> None:
        if not self.series:
            raise ValueError("A Study needs at least one series.")

    @property
    def default_series(self) -> Series:
        """The main primary acquisition: no localizer, not derived, most slices, then largest."""

        def rank(s: Series) -> tuple[int, int, int, int]:
            return (
                0 if s.flags.localizer else 1,
                0 if s.flags.derived else 1,
                s.shape[0],
                s.shape[1] * s.shape[2],
            )

        return max(self.series, key=rank)
