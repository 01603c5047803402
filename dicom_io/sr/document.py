"""Write a draft report as a DICOM Comprehensive SR document that points at its source images.

The API speaks plain data (:class:`SRContent`, :class:`SRFinding`, :class:`SRRegion`), not
models: :mod:`models.report.exports` turns a report into these. The document follows the shape of
TID 2000 (Basic Diagnostic Imaging Report), built with highdicom; :mod:`dicom_io.sr.tree` shows the
tree and how regions become SCOORD coordinates.

The document is PRELIMINARY, PARTIAL and UNVERIFIED, and its Series Description says it is an
AI-generated draft.

Identity. By default the document is de-identified: the patient and study modules are copied
from source headers that went through :func:`dicom_io.deid.files.deidentify_dataset` (Basic
Profile), so the Patient ID is a pseudonym, the birth date, sex, accession number, study ID and
study date
are empty; the Patient's Name is ``ANONYMIZED``; the source's acquisition equipment is listed
without institution or station. Every UID that refers to the source (study, series, SOP
instances) is replaced through a :class:`~dicom_io.deid.files.UIDMap`. The references then resolve
only against a ``radlens deid`` copy made with the *same* map (pass ``uid_map``); with a fresh
map they are still a valid, self-consistent structure, just not resolvable.
``keep_identity=True`` copies the patient and study modules unchanged and references the
original UIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicom_io.atomic import write_atomically
from dicom_io.errors import InvalidArgumentError
from dicom_io.sr.content import SRContent
from dicom_io.sr.tree import SourceUIDs, content_tree

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicom_io.deid.uid_map import UIDMap
    from dicom_io.dicom.slice_reference import SliceReference
    from dicom_io.study import Series

__all__ = ["build_sr", "sr_bytes", "write_sr"]

ANONYMIZED = "ANONYMIZED"
SERIES_DESCRIPTION = "AI-generated draft, not for diagnostic use"  # fits LO (64 characters)
_TYPE2_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def _references(series: Series) -> tuple[SliceReference, ...]:
    refs = series.slice_references()
    if series.source_format != "dicom" or not refs:
        raise InvalidArgumentError(
            f"DICOM SR needs a DICOM study; series #{series.index + 1} was read from "
            f"{series.source_format} data. Export Markdown, JSON, PDF or FHIR instead."
        )
    return refs


def _check_regions(content: SRContent, count: int) -> None:
    for item in content.findings + content.impression:
        for region in item.regions:
            if region.slice_index >= count:
                raise InvalidArgumentError(
                    f"Region on slice {region.slice_index} is outside the series "
                    f"(slices 0..{count - 1})."
                )


def _evidence_slices(content: SRContent, count: int) -> list[int]:
    wanted = {r.slice_index for f in content.findings + content.impression for r in f.regions}
    wanted.update(k for k in content.slices if 0 <= k < count)
    return sorted(wanted) if wanted else list(range(count))


def _evidence(
    refs: Sequence[SliceReference], slices: list[int], uid_map: UIDMap | None
) -> list[Dataset]:
    """Source headers of the referenced instances, de-identified unless ``uid_map`` is None."""
    from dicom_io.deid.dataset import deidentify_dataset
    from dicom_io.deid.options import DEFAULT_OPTIONS

    seen: dict[str, Dataset] = {}
    for k in slices:
        ref = refs[k]
        if ref.sop_instance_uid in seen:
            continue  # frames of one multi-frame instance
        ds = ref.read_dataset()
        if uid_map is not None:
            deidentify_dataset(ds, uid_map, DEFAULT_OPTIONS)
        for keyword in _TYPE2_KEYWORDS:
            if keyword not in ds:
                setattr(ds, keyword, None)
        seen[ref.sop_instance_uid] = ds
    return list(seen.values())


def _content_datetime(created: str) -> dict[str, Any]:
    if not created:
        return {}
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidArgumentError(
            f"Argument 'created' must be an ISO 8601 time, not {created!r}."
        ) from err
    return {"content_date": when.date(), "content_time": when.time().replace(tzinfo=None)}


def build_sr(
    series: Series,
    content: SRContent,
    *,
    keep_identity: bool = False,
    uid_map: UIDMap | None = None,
) -> Dataset:
    """The SR document for ``content`` about ``series`` (see the module notes), not yet written.

    Args:
        series: a DICOM series from :func:`dicom_io.load_study`; region slices index it.
        content: what the document says.
        keep_identity: copy the patient and study modules and the source UIDs unchanged.
        uid_map: the map used to replace source UIDs (and make the Patient ID pseudonym) when
            de-identifying; a fresh random one when None. Pass the map of a ``radlens deid``
            run to make references resolve against that copy. Ignored with ``keep_identity``.

    Raises:
        InvalidArgumentError: a series not read from DICOM, or a region outside the series.
        CorruptFileError: a source file can no longer be read.
    """
    from highdicom import UID
    from highdicom.sr import ComprehensiveSR

    from dicom_io.deid.uid_map import UIDMap

    refs = _references(series)
    _check_regions(content, len(refs))
    mapping = None if keep_identity else (uid_map if uid_map is not None else UIDMap())
    evidence = _evidence(refs, _evidence_slices(content, len(refs)), mapping)
    root = content_tree(content, refs, SourceUIDs(mapping))
    sr = ComprehensiveSR(
        evidence=evidence,
        content=root,
        series_instance_uid=UID(),
        series_number=9000 + series.index,
        sop_instance_uid=UID(),
        instance_number=1,
        manufacturer="RadLens",
        series_description=SERIES_DESCRIPTION,
        **_content_datetime(content.created),
    )
    if mapping is not None:
        sr.PatientName = ANONYMIZED  # set here: highdicom warns about one-component names
        for item in sr.get("ContributingEquipmentSequence", []):
            for keyword in ("InstitutionName", "InstitutionAddress", "StationName"):
                if keyword in item:
                    delattr(item, keyword)
    return sr


def sr_bytes(
    series: Series,
    content: SRContent,
    *,
    keep_identity: bool = False,
    uid_map: UIDMap | None = None,
) -> bytes:
    """:func:`build_sr`, encoded as a DICOM file (Part 10, with preamble and file meta)."""
    sr = build_sr(series, content, keep_identity=keep_identity, uid_map=uid_map)
    buffer = BytesIO()
    sr.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_sr(
    series: Series,
    content: SRContent,
    path: str | Path,
    *,
    keep_identity: bool = False,
    uid_map: UIDMap | None = None,
) -> Path:
    """Write :func:`build_sr`'s document to ``path``, whole or not at all; return the path.

    The file is written beside ``path`` under a temporary name, then renamed over it.
    """
    path = Path(path)
    data = sr_bytes(series, content, keep_identity=keep_identity, uid_map=uid_map)
    return write_atomically(path, data)
