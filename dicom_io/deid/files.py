"""De-identify DICOM files: the Basic Application Level Confidentiality Profile (PS3.15 Annex E).

What happens to each data set is :func:`~dicom_io.deid.dataset.deidentify_dataset`'s work (the
profile's table and what RadLens removes beyond it), with the options of
:class:`~dicom_io.deid.options.DeidOptions` (dates removed, kept or shifted; patient
characteristics kept or not) and UIDs replaced through a :class:`~dicom_io.deid.uid_map.UIDMap`
(the same new UID for the same old one in every file of a run, not reversible without its secret).
This module reads and writes the files.

Pixel data is never touched, byte for byte: text burned into the pixels stays. Instances that
declare burned-in annotation, and ultrasound or secondary capture that do not say, get a warning.

:func:`deidentify` only reads its input and writes new files, named by counters
(``study-001/series-002/IM-00003.dcm``), never after the input's names, which may hold a
patient's name.
"""

from __future__ import annotations

import secrets
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, MediaStorageDirectoryStorage

from dicom_io.deid.dataset import DeidWalk, deidentify_dataset
from dicom_io.deid.options import DEFAULT_OPTIONS, DeidOptions
from dicom_io.deid.uid_map import UIDMap
from dicom_io.errors import (
    CorruptFileError,
    EmptyInputError,
    UnsafeOutputError,
    UnsupportedFileError,
)
from dicom_io.limits import DEFAULT_LIMITS, Limits
from dicom_io.sniff import FileKind
from dicom_io.sources import SourceFile, iter_sources
from dicom_io.study import SkippedFile

__all__ = ["DeidReport", "deidentify"]


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


def _deidentify_file(source: SourceFile, ds: Dataset, walk: DeidWalk) -> list[str]:
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
    walk = DeidWalk(uid_map=uid_map if uid_map is not None else UIDMap(), options=options)
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
