"""De-identify DICOM files: the Basic Application Level Confidentiality Profile (PS3.15 Annex E).

Every attribute of the profile's table (:mod:`dicom_io.deid_profile`, PS3.15 Table E.1-1) is
removed, emptied, given a dummy value or has its UIDs replaced, at every depth of every sequence.
Where the table leaves the choice to the IOD (``X/Z/D``...), the choice valid in any IOD is
taken (see :func:`dicom_io.deid_profile.choose_action`). Beyond the table: private attributes,
curve groups (50xx), whole overlay groups (60xx: an overlay plane cannot stand without its
removed data), group lengths and command elements are removed; person names it does not list
are emptied; dates it does not list are treated like listed ones; instance UIDs it does not list
are replaced (class, transfer syntax and coding UIDs are kept). File Meta Information and the
preamble are written anew.

UIDs are replaced through a :class:`UIDMap`: a keyed hash with a random per-run secret, so the
same UID becomes the same new ``2.25.`` UID in every file of a run (references still resolve)
and the new UIDs cannot be traced back without the secret, which is never stored. The Patient ID
becomes a pseudonym made the same way.

Dates, by option: removed, emptied or dummied as the table says (default), kept (``keep_dates``:
Retain Longitudinal Temporal Information with Full Dates), or moved by a whole number of days
(``date_shift_days``: with Modified Dates; times are unchanged and the shift is not recorded).
The patient's birth date is emptied in every case.

Pixel data is never touched, byte for byte: text burned into the pixels stays. Instances that
declare burned-in annotation, and ultrasound or secondary capture that do not say, get a warning.

:func:`deidentify` only reads its input and writes new files, named by counters
(``study-001/series-002/IM-00003.dcm``), never after the input's names, which may hold a
patient's name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
import struct
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from pydicom import dcmread, dcmwrite
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

from dicom_io.deid_profile import BASIC_PROFILE, Action, action_for, dummy_value
from dicom_io.errors import (
    CorruptFileError,
    EmptyInputError,
    RadLensError,
    UnsupportedFileError,
)
from dicom_io.limits import DEFAULT_LIMITS, Limits
from dicom_io.sniff import FileKind
from dicom_io.sources import SourceFile, iter_sources

__all__ = [
    "DEFAULT_OPTIONS",
    "DeidOptions",
    "DeidReport",
    "SkippedFile",
    "UIDMap",
    "UnsafeOutputError",
    "deidentify",
    "deidentify_dataset",
]

_UUID_ROOT = "2.25."
_DICOM_UID_ROOT = "1.2.840.10008."
_PATIENT_ID = 0x00100020
_MAX_SHIFT_DAYS = 200 * 366
_BURNED_IN_WARNING = "may have patient text burned into the pixels; not removed"
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame kinds, .7.1 to .7.4
_ULTRASOUND_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.6.2", "1.2.840.10008.5.1.4.1.1.3.1"}
)
_CODE_BASIC = ("113100", "Basic Application Confidentiality Profile")
_CODE_FULL_DATES = ("113106", "Retain Longitudinal Temporal Information Full Dates Option")
_CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
_CODE_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")


@dataclass(frozen=True)
class DeidOptions:
    """Options of the Basic Profile that RadLens implements.

    Attributes:
        keep_dates: keep dates and times (Retain Longitudinal Temporal Information with Full
            Dates Option). The patient's birth date is emptied whatever the option.
        date_shift_days: add this many days to every date (Retain Longitudinal Temporal
            Information with Modified Dates Option); times are kept. Use the same value for
            every study of one patient to keep intervals between them. Never recorded.
        keep_patient_characteristics: keep age, sex, size, weight and the like (Retain Patient
            Characteristics Option); free-text ones (allergies, patient state) are still removed.
    """

    keep_dates: bool = False
    date_shift_days: int | None = None
    keep_patient_characteristics: bool = False

    def __post_init__(self) -> None:
        shift = self.date_shift_days
        if shift is not None:
            if isinstance(shift, bool) or not isinstance(shift, int):
                raise TypeError(
                    f"Argument 'date_shift_days' must be an int or None, not {shift!r}."
                )
            if abs(shift) > _MAX_SHIFT_DAYS:
                raise ValueError(
                    f"Argument 'date_shift_days' must be within ±{_MAX_SHIFT_DAYS}, not {shift}."
                )
            if self.keep_dates:
                raise ValueError(
                    "Arguments 'keep_dates' and 'date_shift_days' exclude each other: "
                    "keep the dates or shift them."
                )

    @property
    def method_codes(self) -> list[tuple[str, str]]:
        """The De-identification Method codes (CID 7050) of the profile and options used."""
        codes = [_CODE_BASIC]
        if self.keep_dates:
            codes.append(_CODE_FULL_DATES)
        if self.date_shift_days is not None:
            codes.append(_CODE_MODIFIED_DATES)
        if self.keep_patient_characteristics:
            codes.append(_CODE_PATIENT_CHARACTERISTICS)
        return codes

    @property
    def method_text(self) -> list[str]:
        """De-identification Method (0012,0063): the profile and options, in words."""
        text = ["RadLens", "PS3.15 Basic Application Level Confidentiality Profile"]
        if self.keep_dates:
            text.append("Dates retained")
        elif self.date_shift_days is not None:
            text.append("Dates shifted")
        else:
            text.append("Dates removed")
        if self.keep_patient_characteristics:
            text.append("Patient characteristics retained")
        return text


DEFAULT_OPTIONS = DeidOptions()


class UIDMap:
    """Consistent, non-reversible replacement of UIDs (and patient IDs) for one run.

    The same input always gives the same output for the life of the map, so one map shared by
    all files of a study keeps every reference between them intact. Outputs are keyed hashes
    (HMAC-SHA256 with ``secret``, random unless given) shaped as UUID-derived ``2.25.`` UIDs.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError(f"Argument 'secret' must hold at least 16 bytes, not {len(secret)}.")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._uids: dict[str, str] = {}

    def _digest(self, kind: bytes, value: str) -> bytes:
        return hmac.new(self._secret, kind + value.encode("utf-8"), hashlib.sha256).digest()

    def __call__(self, uid: str) -> str:
        """The replacement of ``uid`` (an empty UID stays empty)."""
        uid = uid.strip("\0 ")
        if not uid:
            return ""
        new = self._uids.get(uid)
        if new is None:
            as_uuid = uuid.UUID(bytes=self._digest(b"uid:", uid)[:16], version=4)
            new = self._uids[uid] = f"{_UUID_ROOT}{as_uuid.int}"
        return new

    def __len__(self) -> int:
        return len(self._uids)

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and uid.strip("\0 ") in self._uids

    def pseudonym(self, value: str) -> str:
        """A stand-in patient ID: ``ANON-`` and 12 hex digits, stable within the run."""
        return "ANON-" + self._digest(b"id:", value.strip()).hex()[:12].upper()


@dataclass
class _Walk:
    uid_map: UIDMap
    options: DeidOptions
    warnings: list[str] = field(default_factory=list)

    def action(self, elem: DataElement) -> Action:
        return action_for(
            elem.tag,
            elem.VR,
            keep_dates=self.options.keep_dates,
            shift_dates=self.options.date_shift_days is not None,
            keep_patient_characteristics=self.options.keep_patient_characteristics,
        )


def _values(value: object) -> list[str]:
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _set_values(elem: DataElement, values: list[str]) -> None:
    elem.value = values if len(values) > 1 else values[0]


def _shift_date(value: str, vr: str, days: int) -> str | None:
    """``value`` (DA, or DT from the day on) moved by ``days``; ``None`` if not a full date."""
    text = value.strip()
    head, tail = text[:8], text[8:]
    if len(head) < 8 or not head.isdigit() or (vr == "DA" and tail):
        return None
    try:
        day = date(int(head[:4]), int(head[4:6]), int(head[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}{tail}"


def _clean(elem: DataElement, walk: _Walk) -> None:
    """Action C: shift dates (the only cleaning RadLens does); times and the rest are kept."""
    days = walk.options.date_shift_days
    if elem.VR not in ("DA", "DT") or days is None or elem.value in (None, ""):
        return
    shifted = [_shift_date(v, elem.VR, days) if v else "" for v in _values(elem.value)]
    if any(s is None for s in shifted):
        elem.value = None
        walk.warnings.append(
            f"A date in {elem.tag} could not be read as a date, so it was emptied, not shifted."
        )
        return
    _set_values(elem, [s for s in shifted if s is not None])


def _replace_uids(elem: DataElement, walk: _Walk, *, keep_registered: bool) -> None:
    if elem.value in (None, ""):
        return
    new = [
        v if keep_registered and v.startswith(_DICOM_UID_ROOT) else walk.uid_map(v)
        for v in _values(elem.value)
    ]
    _set_values(elem, new)


def _dummy(elem: DataElement, walk: _Walk) -> None:
    """Action D. An empty value stays empty: where it was allowed, empty (Z) is allowed too."""
    if elem.is_empty:
        return
    if elem.tag == _PATIENT_ID:
        elem.value = walk.uid_map.pseudonym(str(elem.value))
    elif elem.VR == "UI":
        _replace_uids(elem, walk, keep_registered=False)
    else:
        elem.value = dummy_value(elem.VR)


def _apply(ds: Dataset, elem: DataElement, action: Action, walk: _Walk) -> None:
    if action is Action.REMOVE:
        del ds[elem.tag]
    elif action is Action.EMPTY:
        elem.value = Sequence() if elem.VR == "SQ" else None
    elif action is Action.DUMMY:
        _dummy(elem, walk)
    elif elem.VR == "SQ":
        for item in elem.value or ():
            _walk_dataset(item, walk)
    elif action is Action.UID:
        _replace_uids(elem, walk, keep_registered=int(elem.tag) not in BASIC_PROFILE)
    elif action is Action.CLEAN:
        _clean(elem, walk)


def _walk_dataset(ds: Dataset, walk: _Walk) -> None:
    for tag in list(ds.keys()):
        elem = ds[tag]
        _apply(ds, elem, walk.action(elem), walk)


def _burned_in_warning(ds: Dataset) -> str | None:
    burned_in = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    sop_class = str(ds.get("SOPClassUID", ""))
    if burned_in == "YES":
        return f"The image declares burned-in annotation: it {_BURNED_IN_WARNING}."
    if burned_in:
        return None
    if str(ds.get("Modality", "")).upper() == "US" or sop_class in _ULTRASOUND_CLASSES:
        return f"Ultrasound without a Burned In Annotation statement: it {_BURNED_IN_WARNING}."
    if sop_class == _SECONDARY_CAPTURE or sop_class.startswith(_SECONDARY_CAPTURE + "."):
        return (
            f"Secondary capture without a Burned In Annotation statement: it {_BURNED_IN_WARNING}."
        )
    return None


def _mark_deidentified(ds: Dataset, options: DeidOptions) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = options.method_text
    items = []
    for value, meaning in options.method_codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    if options.keep_dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif options.date_shift_days is not None:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(str(meta.TransferSyntaxUID))
    implicit, little = ds.original_encoding
    if little is False:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def _replace_file_meta(ds: Dataset) -> None:
    """New File Meta Information and an empty preamble (both may carry identity, E.1.1 step 7)."""
    meta = FileMetaDataset()
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = _transfer_syntax(ds)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\0" * 128


def deidentify_dataset(ds: Dataset, uid_map: UIDMap, options: DeidOptions) -> list[str]:
    """De-identify ``ds`` in place (pass a copy) with the Basic Profile; return the warnings.

    Warnings name no patient, file or UID: the caller adds where they came from.
    """
    walk = _Walk(uid_map=uid_map, options=options)
    burned_in = _burned_in_warning(ds)
    if burned_in is not None:
        walk.warnings.append(burned_in)
    if str(ds.get("RecognizableVisualFeatures", "")).strip().upper() == "YES":
        walk.warnings.append(
            "The image declares recognizable visual features (a face?): not removed."
        )
    _walk_dataset(ds, walk)
    _mark_deidentified(ds, options)
    if getattr(ds, "file_meta", None) is not None or getattr(ds, "preamble", None) is not None:
        _replace_file_meta(ds)
    return walk.warnings


# --- files ----------------------------------------------------------------------------------


class UnsafeOutputError(RadLensError, ValueError):
    """The output path is the input, lies inside it, or already holds files."""


class SkippedFile(NamedTuple):
    """An input file that was not written, and why (``name`` is relative to the input)."""

    name: str
    reason: str


@dataclass(frozen=True)
class DeidReport:
    """What :func:`deidentify` did.

    Attributes:
        output: the file or folder written.
        written: the files written, in input order.
        skipped: input files left out (not DICOM, DICOMDIR indexes, data sets without a class).
        warnings: one line each, naming the output file (never the patient) it concerns.
    """

    output: Path
    written: tuple[Path, ...]
    skipped: tuple[SkippedFile, ...]
    warnings: tuple[str, ...]

    def summary(self) -> str:
        """One line for a person: where, how many written, skipped and warned about."""

        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        return (
            f"{self.output}: {count(len(self.written), 'file')} de-identified, "
            f"{len(self.skipped)} skipped, {count(len(self.warnings), 'warning')}."
        )


class _Namer:
    """``study-NNN/series-NNN/IM-NNNNN.dcm``, numbered by order of first appearance."""

    def __init__(self) -> None:
        self._studies: dict[str, dict[str, int]] = {}

    def __call__(self, ds: Dataset) -> PurePosixPath:
        study, series = str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))
        series_counts = self._studies.setdefault(study, {})
        series_counts[series] = series_counts.get(series, 0) + 1
        study_no = list(self._studies).index(study) + 1
        series_no = list(series_counts).index(series) + 1
        return PurePosixPath(
            f"study-{study_no:03d}",
            f"series-{series_no:03d}",
            f"IM-{series_counts[series]:05d}.dcm",
        )


def _check_paths(src: Path, dst: Path, *, single_file: bool) -> None:
    source, target = src.resolve(), dst.resolve()
    if target == source:
        raise UnsafeOutputError(f"{dst}: the output is the input; choose another output path.")
    if source.is_dir() and source in target.parents:
        raise UnsafeOutputError(
            f"{dst}: the output lies inside the input folder; choose a path outside it."
        )
    if single_file and target.exists():
        raise UnsafeOutputError(f"{dst}: already exists; choose a new output file name.")
    if not single_file and target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UnsafeOutputError(
            f"{dst}: already exists and is not an empty folder; choose a new output folder."
        )


# What pydicom raises on a damaged file, while parsing or while converting values.
_PARSE_ERRORS = (
    InvalidDicomError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    NotImplementedError,
    OverflowError,
    struct.error,
)


def _check_complete(ds: Dataset, source: SourceFile) -> None:
    """Refuse a data set that pydicom read only in part (it stops quietly at a cut)."""
    if len(ds) == 0:
        raise CorruptFileError(f"{source.name}: a DICOM header without any data element.")
    syntax = getattr(ds, "file_meta", {}).get("TransferSyntaxUID")
    if syntax is not None and UID(str(syntax)).is_deflated:
        return  # offsets are in the inflated stream
    last = ds.get_item(list(ds.keys())[-1])
    if not isinstance(last, RawDataElement) or last.length == 0xFFFFFFFF:
        return
    left = source.size - (last.value_tell + last.length)
    if left < 0 or 0 < left < 8:
        raise CorruptFileError(
            f"{source.name}: the file ends inside a data element (truncated?); "
            "copy it again from its source."
        )


def _read(source: SourceFile) -> Dataset | str:
    """The data set of ``source``, or why it is skipped."""
    kind = source.kind()
    if kind is not FileKind.DICOM:
        return f"not a DICOM file ({kind.value})"
    try:
        with source.open() as fh:
            ds = dcmread(fh, force=True)
    except (*_PARSE_ERRORS, OSError) as err:
        raise CorruptFileError(
            f"{source.name}: cannot be read as DICOM ({type(err).__name__}); "
            "the file may be truncated or damaged."
        ) from err
    _check_complete(ds, source)
    meta = getattr(ds, "file_meta", None)
    media_class = None if meta is None else meta.get("MediaStorageSOPClassUID")
    if "DirectoryRecordSequence" in ds or media_class == MediaStorageDirectoryStorage:
        return "a DICOMDIR index (not copied: it names the original files)"
    if "SOPClassUID" not in ds:
        return "a DICOM data set without a SOP Class UID (not a stored instance)"
    return ds


def _deidentify_file(source: SourceFile, ds: Dataset, walk: _Walk) -> list[str]:
    """:func:`deidentify_dataset` on a read file, ready to write; damage named by file."""
    try:
        if getattr(ds, "file_meta", None) is None:
            ds.file_meta = FileMetaDataset()
        warnings = deidentify_dataset(ds, walk.uid_map, walk.options)
        if "SOPInstanceUID" not in ds:
            ds.SOPInstanceUID = walk.uid_map(f"no-instance-uid:{secrets.token_hex(8)}")
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    except _PARSE_ERRORS as err:
        raise CorruptFileError(
            f"{source.name}: cannot be de-identified ({type(err).__name__}); "
            "the file may be damaged."
        ) from err
    return warnings


def _remove_tree(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def deidentify(
    src: Path,
    dst: Path,
    options: DeidOptions = DEFAULT_OPTIONS,
    *,
    limits: Limits = DEFAULT_LIMITS,
    uid_map: UIDMap | None = None,
) -> DeidReport:
    """Write de-identified copies of the DICOM files of ``src`` (a file, folder or zip).

    A single file goes to the file ``dst``; a folder or zip to the folder ``dst`` (new, or empty)
    as ``study-NNN/series-NNN/IM-NNNNN.dcm``, numbered in input order. Other files are skipped
    and listed. Nothing is written under ``src``; the output appears whole or not at all (it is
    written beside ``dst`` under a temporary name first). Pass one ``uid_map`` to several calls
    to keep UIDs consistent across them (a prior study, say).

    Raises:
        InputNotFoundError, EmptyInputError, UnsafeArchiveError, InputTooLargeError: see
            :func:`dicom_io.sources.iter_sources`; EmptyInputError also when no file is DICOM.
        UnsafeOutputError: ``dst`` is ``src``, lies inside it, or already holds files.
        UnsupportedFileError: ``src`` is a single file that is not a DICOM instance.
        CorruptFileError: a DICOM file cannot be read; the message names it.
    """
    src, dst = Path(src), Path(dst)
    sources = iter_sources(src, limits)
    single_file = len(sources) == 1 and sources[0].path == src
    _check_paths(src, dst, single_file=single_file)
    walk = _Walk(uid_map=uid_map if uid_map is not None else UIDMap(), options=options)
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = dst.parent / f".radlens-deid-{secrets.token_hex(6)}.partial"
    namer = _Namer()
    written: list[Path] = []
    skipped: list[SkippedFile] = []
    try:
        for source in sources:
            ds = _read(source)
            if isinstance(ds, str):
                skipped.append(SkippedFile(source.name, ds))
                continue
            warnings = _deidentify_file(source, ds, walk)
            rel = PurePosixPath(dst.name) if single_file else namer(ds)
            out = staging if single_file else staging.joinpath(*rel.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            dcmwrite(out, ds, enforce_file_format=True, overwrite=False)
            walk.warnings.extend(f"{rel}: {warning}" for warning in warnings)
            written.append(dst if single_file else dst.joinpath(*rel.parts))
        if single_file and skipped:
            raise UnsupportedFileError(f"{src.name}: {skipped[0].reason}; nothing to de-identify.")
        if not written:
            raise EmptyInputError(
                f"{src.name}: holds no DICOM file to de-identify ({len(skipped)} skipped)."
            )
        if dst.is_dir():
            dst.rmdir()  # checked empty above
        staging.rename(dst)
    except BaseException:
        _remove_tree(staging)
        raise
    return DeidReport(dst, tuple(written), tuple(skipped), tuple(walk.warnings))
