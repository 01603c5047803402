"""``load_study``: one entry point for every kind of input RadLens accepts.

A DICOM file, a folder of any nesting and file names, a zip (read in memory), a NIfTI volume or a
PNG/JPEG image becomes a :class:`Study` of :class:`Series`. Headers are read eagerly (fast);
voxels are decoded on first access of ``Series.volume`` (or one slice alone, through
``Series.slice_volume``). Input files are only ever read.

A folder may hold several patients or studies (a clinician's export, a CD). DICOM files are
grouped by patient (a salted hash of Patient ID, Name and Birth Date) and Study Instance UID
before any series is built (:func:`load_studies`), so no series and no study ever mixes two
patients. :func:`load_study` returns the one study of its input, the one ``study`` names
(1-based, in :func:`load_studies`' order), or raises :class:`MultipleStudiesError` listing
them. Files without patient data (NIfTI, PNG, JPEG) form one study of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dicom_io.dicom.dicomdir import referenced_files
from dicom_io.dicom.header import DicomHeader, read_header
from dicom_io.dicom.slice_reference import SliceReference
from dicom_io.dicom.stacking import Stack, group_stacks, order_stack
from dicom_io.errors import (
    EmptyInputError,
    InputTooLargeError,
    InvalidArgumentError,
    MissingPixelDataError,
    MultipleStudiesError,
    RadLensError,
    UnsupportedFileError,
)
from dicom_io.identity import hash_uid
from dicom_io.image import load_image
from dicom_io.limits import Limits
from dicom_io.nifti.reader import load_nifti
from dicom_io.pixels.plugins import check_decodable
from dicom_io.pixels.rescale import output_photometric
from dicom_io.pixels.stack import decode_slice, decode_stack
from dicom_io.sniff import FileKind
from dicom_io.sources import SourceFile, iter_sources
from dicom_io.study import Series, SeriesFlags, SkippedFile, Study, Window

__all__ = [
    "Progress",
    "describe_study",
    "load_studies",
    "load_study",
    "patient_keys",
    "study_number",
]

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``, called while reading headers."""

_BURNED_IN_SUSPECT = ("US", "SC", "XC", "ES")


def _describe_unknown(source: SourceFile) -> str:
    return f"{source.name}: not a DICOM, NIfTI, PNG or JPEG file (unrecognised content)."


def _flags(header: DicomHeader) -> SeriesFlags:
    image_type = header.image_type
    derived = bool(image_type and image_type[0] == "DERIVED") or header.is_secondary_capture
    derived = derived or (len(image_type) > 1 and image_type[1] == "SECONDARY")
    localizer = "LOCALIZER" in image_type or "SCOUT" in image_type
    burned = header.burned_in == "YES" or (
        header.burned_in == ""
        and (header.modality in _BURNED_IN_SUSPECT or header.is_secondary_capture)
    )
    return SeriesFlags(derived=derived, localizer=localizer, burned_in_annotation=burned)


def _slice_references(stack: Stack) -> tuple[SliceReference, ...]:
    """Per slice, in stack order: the source instance and frame (for DICOM SR references)."""
    return tuple(
        SliceReference(
            sop_class_uid=item.header.sop_class,
            sop_instance_uid=item.header.sop_instance_uid,
            frame_number=item.frame.frame + 1 if item.header.frames > 1 else None,
            study_uid=item.header.study_uid,
            series_uid=item.header.series_uid,
            frame_of_reference_uid=item.header.frame_of_reference_uid,
            source=item.header.source,
        )
        for item in stack.items
    )


def _series_from_stack(stack: Stack, number: int) -> Series:
    header = stack.first
    notes = list(stack.notes)
    if header.burned_in == "" and _flags(header).burned_in_annotation:
        notes.append("burned-in annotation not declared; text may be present in the pixels")
    window = Window(*header.window, source="dicom") if header.window else None
    return Series(
        index=0,
        key=hash_uid(header.study_uid, header.series_uid, str(number)),
        modality=header.modality,
        shape=(len(stack.items), header.rows, header.columns),
        spacing=stack.spacing,
        spacing_known=stack.spacing_known,
        orientation=stack.orientation,
        photometric=output_photometric(header),
        body_part=header.body_part,
        study_description=header.study_description,
        series_description=header.series_description,
        view_position=header.view_position,
        flags=_flags(header),
        default_window=window,
        notes=tuple(notes),
        source_format="dicom",
        patient_key=header.patient_key,
        loader=lambda: decode_stack(stack),
        slice_loader=lambda k: decode_slice(stack, k),
        reference_loader=lambda: _slice_references(stack),
    )


def _dicom_series(headers: Sequence[DicomHeader]) -> list[Series]:
    stacks = [order_stack(items) for items in group_stacks(headers)]
    stacks.sort(
        key=lambda st: (
            st.first.series_number if st.first.series_number is not None else 1 << 30,
            st.first.series_description,
            st.first.source.name,
        )
    )
    return [_series_from_stack(stack, n) for n, stack in enumerate(stacks)]


def _read_one(
    source: SourceFile, limits: Limits, headers: list[DicomHeader], series: list[Series]
) -> None:
    """Read one file into ``headers`` (DICOM) or ``series`` (NIfTI, image); raise on failure."""
    kind = source.kind()
    if kind is FileKind.DICOM:
        header = read_header(source, limits)
        check_decodable(header)
        headers.append(header)
    elif kind is FileKind.NIFTI:
        series.extend(load_nifti(source, limits))
    elif kind in (FileKind.PNG, FileKind.JPEG):
        series.append(load_image(source, limits))
    elif kind is FileKind.ZIP:
        raise UnsupportedFileError(f"{source.name}: nested archives are not read.")
    else:
        raise UnsupportedFileError(_describe_unknown(source))


def _sources(
    path: str | Path | Sequence[str | Path], limits: Limits
) -> tuple[str, list[SourceFile], bool]:
    """The input's name, its files, and whether it is one file given on its own."""
    if isinstance(path, (str, Path)):
        path = Path(path)
        name = path.name
        listed = referenced_files(path)
        if listed is not None:  # a DICOMDIR: the files it lists, read as its folder would be
            if not listed.files:
                raise EmptyInputError(
                    f"{path.name}: a DICOMDIR listing no image file here "
                    f"({listed.missing} missing); open its folder instead."
                )
            if len(listed.files) > limits.max_files:
                raise InputTooLargeError(
                    f"{path.name}: more than {limits.max_files} files (RADLENS_MAX_FILES)."
                )
            files = [
                SourceFile(str(f.relative_to(path.parent)), f.stat().st_size, path=f)
                for f in listed.files
            ]
            return path.parent.name or path.name, files, False
        sources = iter_sources(path, limits)
    else:
        paths = [Path(p) for p in path]
        if not paths:
            raise EmptyInputError("No files were given.")
        name = paths[0].name if len(paths) == 1 else f"{len(paths)} files"
        sources = [source for p in paths for source in iter_sources(p, limits)]
        if len(sources) > limits.max_files:
            raise InputTooLargeError(
                f"{name}: more than {limits.max_files} files (RADLENS_MAX_FILES)."
            )
    # A file given on its own raises its own error; inside a folder or zip it is skipped.
    single = len(sources) == 1 and sources[0].member is None and not sources[0].name.count("/")
    single = single and ((isinstance(path, Path) and path.is_file()) or not isinstance(path, Path))
    return name, sources, single


def _read_all(
    sources: list[SourceFile], single: bool, limits: Limits, progress: Progress | None
) -> tuple[list[DicomHeader], list[Series], list[SkippedFile], list[RadLensError]]:
    """Read every file: the DICOM headers, the other series, the files skipped and why, and
    the errors among the skips (files that are not merely of another kind)."""
    headers: list[DicomHeader] = []
    other: list[Series] = []
    skipped: list[SkippedFile] = []
    failures: list[RadLensError] = []
    for done, source in enumerate(sources, start=1):
        if single:
            _read_one(source, limits, headers, other)
        else:
            try:
                _read_one(source, limits, headers, other)
            except RadLensError as err:
                reason = str(err).removeprefix(f"{source.name}: ")
                skipped.append(SkippedFile(source.name, reason))
                if not isinstance(err, (UnsupportedFileError, MissingPixelDataError)):
                    failures.append(err)
        if progress is not None:
            progress("reading headers", done, len(sources))
    return headers, other, skipped, failures


def _by_study(headers: Sequence[DicomHeader]) -> list[list[DicomHeader]]:
    """Headers grouped by patient, then study: patients in the order first met, each one's
    studies oldest first (Study Date, then UID)."""
    groups: dict[tuple[str, str], list[DicomHeader]] = {}
    for header in headers:
        groups.setdefault((header.patient_key, header.study_uid), []).append(header)
    patients = list(dict.fromkeys(key for key, _ in groups))
    order = sorted(
        groups, key=lambda k: (patients.index(k[0]), groups[k][0].study_date or "~", k[1])
    )
    return [groups[k] for k in order]


def _study(name: str, series: list[Series], skipped: list[SkippedFile], **fields: str) -> Study:
    for index, item in enumerate(series):
        item.index = index
    return Study(source_name=name, series=tuple(series), skipped=tuple(skipped), **fields)


def load_studies(
    path: str | Path | Sequence[str | Path],
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> tuple[Study, ...]:
    """Every study in ``path`` (see :func:`load_study` for the inputs), one per patient and
    Study Instance UID, then one for the files without patient data, if any.

    Raises:
        RadLensError: a subclass naming the file and the problem (see :mod:`dicom_io.errors`).
    """
    limits = limits or Limits.from_env()
    name, sources, single = _sources(path, limits)
    headers, other, skipped, failures = _read_all(sources, single, limits, progress)
    if not headers and not other:
        if len(failures) == 1:
            raise failures[0]
        first = f" (first: {skipped[0].name}: {skipped[0].reason})" if skipped else ""
        raise EmptyInputError(f"{name}: no readable image among {len(sources)} file(s){first}.")
    studies: list[Study] = []
    for group in _by_study(headers):
        uid, patient = group[0].study_uid, group[0].patient_key
        studies.append(
            _study(
                name,
                _dicom_series(group),
                skipped,
                key=hash_uid(uid) if uid else hash_uid(name, str(len(studies))),
                patient_key=patient,
                study_date=group[0].study_date,
            )
        )
    if other:
        studies.append(_study(name, other, skipped, key=hash_uid(name)))
    return tuple(studies)


def patient_keys(studies: Sequence[Study]) -> list[str]:
    """The patients of ``studies`` (their salted keys), in the order first met: patient n of a
    list is ``patient_keys(...)[n - 1]``."""
    return list(dict.fromkeys(s.patient_key for s in studies if s.patient_key))


def describe_study(study: Study, patients: Sequence[str] = ()) -> str:
    """One identity-free line for a study in a list: modalities, body parts, series and images,
    and which patient of ``patients`` (their keys, in order) it is, as "patient 2"."""
    modalities = "/".join(dict.fromkeys(s.modality for s in study.series))
    parts = "/".join(dict.fromkeys(s.body_part for s in study.series if s.body_part))
    images = sum(s.shape[0] for s in study.series)
    what = f"{modalities} {parts}".strip()
    line = f"{what}, {len(study.series)} series, {images} image(s)"
    if len(patients) > 1:
        who = patients.index(study.patient_key) + 1 if study.patient_key in patients else 0
        line += f", patient {who}" if who else ", no patient data"
    return line


def load_study(
    path: str | Path | Sequence[str | Path],
    limits: Limits | None = None,
    progress: Progress | None = None,
    study: int | None = None,
) -> Study:
    """Read a study from ``path`` (DICOM file, folder, .zip, NIfTI, PNG or JPEG), or from a list
    of such paths read together (for example the files of one upload).

    In a folder or zip, files that cannot be used (other formats, non-image DICOM objects such as
    SR or RT plans, broken files) are skipped and listed in ``Study.skipped``; a single file that
    cannot be used raises its error. When the input holds several studies (or patients),
    ``study`` (1-based, in :func:`load_studies`' order) picks one; without it the error lists
    them.

    Raises:
        MultipleStudiesError: several studies and no ``study``.
        InvalidArgumentError: ``study`` outside the studies found.
        RadLensError: a subclass naming the file and the problem (see :mod:`dicom_io.errors`).
    """
    return study_number(load_studies(path, limits, progress), study)


def study_number(found: Sequence[Study], study: int | None) -> Study:
    """The study ``study`` names (1-based) among ``found``; without it, the only one, else
    :class:`MultipleStudiesError` listing them."""
    if study is not None:
        if not 1 <= study <= len(found):
            raise InvalidArgumentError(
                f"--study {study}: {found[0].source_name} holds {len(found)} "
                f"stud{'y' if len(found) == 1 else 'ies'} (1..{len(found)})."
            )
        return found[study - 1]
    if len(found) == 1:
        return found[0]
    patients = patient_keys(found)
    listed = "; ".join(f"{n}) {describe_study(s, patients)}" for n, s in enumerate(found, 1))
    many = f" of {len(patients)} patients" if len(patients) > 1 else ""
    raise MultipleStudiesError(
        f"{found[0].source_name}: holds {len(found)} studies{many}; open one (--study N): "
        f"{listed}."
    )
