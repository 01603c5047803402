"""Write a draft report as a DICOM Comprehensive SR document that points at its source images.

The API speaks plain data (:class:`SRContent`, :class:`SRFinding`, :class:`SRRegion`), not
models: :mod:`models.exports` turns a report into these. The document follows the shape of TID
2000 (Basic Diagnostic Imaging Report), built with highdicom:

.. code-block:: text

    CONTAINER (18748-4, LN, "Diagnostic Imaging Report")
      HAS OBS CONTEXT  observer: a device, "RadLens <model>" (TID 1002 / TID 1004)
      CONTAINS TEXT    (121106, DCM, "Comment"): the disclaimer
      CONTAINS TEXT    (121106, DCM, "Comment"): the report title
      CONTAINS CONTAINER Indications for Procedure / Current Procedure Descriptions /
                         Prior Procedure Descriptions: one TEXT each (when given)
      CONTAINS CONTAINER (121070, DCM, "Findings")
        CONTAINS TEXT (121071, DCM, "Finding"): "<section>: <text>"
          HAS PROPERTIES TEXT (121106, DCM, "Comment"): status, flags, region labels
          INFERRED FROM SCOORD (111030, DCM, "Image Region") POLYLINE
            SELECTED FROM IMAGE: the source instance (and frame) of the region's slice
      CONTAINS CONTAINER (121072, DCM, "Impressions")
        CONTAINS TEXT (121073, DCM, "Impression") ... as findings

The document is PRELIMINARY, PARTIAL and UNVERIFIED, and its Series Description says it is an
AI-generated draft.

Coordinates. A region is a rectangle in source pixel *edges* of the slice it was drawn on:
``x`` (column) right in ``[0, Columns]``, ``y`` (row) down in ``[0, Rows]``. DICOM SCOORD
Graphic Data are (column, row) pairs at sub-pixel resolution where the top left corner of the
top left pixel is ``0.0\\0.0``, the bottom right corner of that pixel ``1.0\\1.0`` and the bottom
right corner of the bottom right pixel ``Columns\\Rows`` (PS3.3 C.18.6.1.2), so the centre of the
first pixel is ``(0.5, 0.5)``; highdicom documents the same (``ImageToReferenceTransformer``:
"(0.0, 0.0) ... the top left corner of the top left hand corner pixel"). The two conventions
coincide: a box's numbers are written unchanged, as a closed POLYLINE of five points
``(x0,y0) (x1,y0) (x1,y1) (x0,y1) (x0,y0)``. A box covering exactly pixel ``(c, r)`` is
``(c, r, c + 1, r + 1)``.

Identity. By default the document is de-identified: the patient and study modules are copied
from source headers that went through :func:`dicom_io.deid.deidentify_dataset` (Basic Profile),
so the Patient ID is a pseudonym, the birth date, sex, accession number, study ID and study date
are empty; the Patient's Name is ``ANONYMIZED``; the source's acquisition equipment is listed
without institution or station. Every UID that refers to the source (study, series, SOP
instances) is replaced through a :class:`~dicom_io.deid.UIDMap`. The references then resolve
only against a ``radlens deid`` copy made with the *same* map (pass ``uid_map``); with a fresh
map they are still a valid, self-consistent structure, just not resolvable.
``keep_identity=True`` copies the patient and study modules unchanged and references the
original UIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.sequence import Sequence as DicomSequence

from dicom_io.atomic import write_atomically
from dicom_io.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from dicom_io.deid import UIDMap
    from dicom_io.slice_reference import SliceReference
    from dicom_io.study import Series

__all__ = ["SRContent", "SRFinding", "SRRegion", "build_sr", "sr_bytes", "write_sr"]

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


@dataclass(frozen=True)
class SRRegion:
    """A rectangle on source slice ``slice_index``, in pixel edges (see the module notes)."""

    slice_index: int
    x0: float
    y0: float
    x1: float
    y1: float
    label: str = ""

    def __post_init__(self) -> None:
        if self.slice_index < 0:
            raise InvalidArgumentError(f"Region slice must be >= 0, not {self.slice_index}.")
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            corners = (self.x0, self.y0, self.x1, self.y1)
            raise InvalidArgumentError(
                f"Region corners must satisfy x0 < x1 and y0 < y1, not {corners}."
            )

    @property
    def polyline(self) -> list[tuple[float, float]]:
        """The closed rectangle as five (column, row) points."""
        x0, y0, x1, y1 = (float(v) for v in (self.x0, self.y0, self.x1, self.y1))
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


@dataclass(frozen=True)
class SRFinding:
    """One finding or impression line: its section, text, status, notes and regions."""

    section: str
    text: str
    status: str = ""
    regions: tuple[SRRegion, ...] = ()
    notes: tuple[str, ...] = ()  # reliability flags, change markers: one line each


@dataclass(frozen=True)
class SRContent:
    """Everything the SR document says, as plain data.

    Attributes:
        title: the report's title (a Comment item; the document title is the LOINC code).
        model_id: the model that drafted it; the observer device is ``"RadLens <model_id>"``.
        disclaimer: the draft disclaimer, written as the first text item.
        findings, impression: the report's lines.
        technique, indication, comparison: free-text sections ("" leaves one out).
        slices: source slices the model saw: referenced as evidence with the regions' slices
            (all slices of the series when both are empty).
        created: ISO 8601 time the report was drafted (Content Date/Time); now when empty.
    """

    title: str
    model_id: str
    disclaimer: str
    findings: tuple[SRFinding, ...] = ()
    impression: tuple[SRFinding, ...] = ()
    technique: str = ""
    indication: str = ""
    comparison: str = ""
    slices: tuple[int, ...] = ()
    created: str = ""

    def __post_init__(self) -> None:
        if not self.disclaimer.strip():
            raise InvalidArgumentError("SR content needs a disclaimer: an AI draft says so.")


def _references(series: Series) -> tuple[SliceReference, ...]:
    refs = series._references() if series._references is not None else ()
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


class _Refs:
    """The source UIDs as the document writes them: original, or through a UID map."""

    def __init__(self, uid_map: UIDMap | None) -> None:
        self._map = uid_map

    def __call__(self, uid: str) -> str:
        return uid if self._map is None else self._map(uid)


def _evidence(
    refs: Sequence[SliceReference], slices: list[int], uid_map: UIDMap | None
) -> list[Dataset]:
    """Source headers of the referenced instances, de-identified unless ``uid_map`` is None."""
    from dicom_io.deid import DEFAULT_OPTIONS, deidentify_dataset

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


def _text(name: Any, value: str, relationship: Any) -> Any:
    from highdicom.sr import TextContentItem

    return TextContentItem(name=name, value=value, relationship_type=relationship)


def _region_item(region: SRRegion, ref: SliceReference, uids: _Refs) -> Any:
    import numpy as np
    from highdicom.sr import (
        CodedConcept,
        GraphicTypeValues,
        RelationshipTypeValues,
        ScoordContentItem,
        SourceImageForRegion,
    )

    source = SourceImageForRegion(
        referenced_sop_class_uid=ref.sop_class_uid,
        referenced_sop_instance_uid=uids(ref.sop_instance_uid),
        referenced_frame_numbers=None if ref.frame_number is None else [ref.frame_number],
    )
    item = ScoordContentItem(
        name=CodedConcept("111030", "DCM", "Image Region"),
        graphic_type=GraphicTypeValues.POLYLINE,
        graphic_data=np.array(region.polyline, dtype=np.float64),
        relationship_type=RelationshipTypeValues.INFERRED_FROM,
    )
    item.ContentSequence = DicomSequence([source])
    return item


def _finding_item(
    finding: SRFinding, concept: Any, refs: Sequence[SliceReference], uids: _Refs
) -> Any:
    from highdicom.sr import RelationshipTypeValues
    from pydicom.sr.codedict import codes

    text = f"{finding.section}: {finding.text}" if finding.section else finding.text
    item = _text(concept, text, RelationshipTypeValues.CONTAINS)
    lines = [f"status: {finding.status}"] if finding.status else []
    lines += list(finding.notes)
    lines += [
        f"region {n} (slice {r.slice_index}): {r.label}"
        for n, r in enumerate(finding.regions, start=1)
        if r.label
    ]
    children = [
        _text(codes.DCM.Comment, line, RelationshipTypeValues.HAS_PROPERTIES) for line in lines
    ]
    children += [_region_item(r, refs[r.slice_index], uids) for r in finding.regions]
    if children:
        item.ContentSequence = DicomSequence(children)
    return item


def _container(concept: Any, children: list[Any]) -> Any:
    from highdicom.sr import ContainerContentItem, RelationshipTypeValues

    item = ContainerContentItem(name=concept, relationship_type=RelationshipTypeValues.CONTAINS)
    item.ContentSequence = DicomSequence(children)
    return item


def _observer(model_id: str) -> list[Any]:
    from highdicom.sr import DeviceObserverIdentifyingAttributes, ObserverContext
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    device = DeviceObserverIdentifyingAttributes(
        uid=generate_uid(entropy_srcs=["radlens-device", model_id]),
        name=f"RadLens {model_id}"[:64],
        manufacturer_name="RadLens",
        model_name=model_id[:64] or "unknown",
    )
    return list(
        ObserverContext(observer_type=codes.DCM.Device, observer_identifying_attributes=device)
    )


def _sections(content: SRContent) -> list[Any]:
    from highdicom.sr import RelationshipTypeValues
    from pydicom.sr.codedict import codes

    contains = RelationshipTypeValues.CONTAINS
    sections = [
        (codes.DCM.IndicationsForProcedure, codes.DCM.Comment, content.indication),
        (
            codes.DCM.CurrentProcedureDescriptions,
            codes.DCM.ProcedureDescription,
            content.technique,
        ),
        (codes.DCM.PriorProcedureDescriptions, codes.DCM.Comment, content.comparison),
    ]
    return [
        _container(heading, [_text(concept, text.strip(), contains)])
        for heading, concept, text in sections
        if text.strip()
    ]


def _content_tree(content: SRContent, refs: Sequence[SliceReference], uids: _Refs) -> Any:
    from highdicom.sr import ContainerContentItem, RelationshipTypeValues
    from pydicom.sr.codedict import codes

    contains = RelationshipTypeValues.CONTAINS
    children = _observer(content.model_id)
    children.append(_text(codes.DCM.Comment, content.disclaimer, contains))
    if content.title.strip():
        children.append(_text(codes.DCM.Comment, content.title.strip(), contains))
    children += _sections(content)
    for heading, concept, items in (
        (codes.DCM.Findings, codes.DCM.Finding, content.findings),
        (codes.DCM.Impressions, codes.DCM.Impression, content.impression),
    ):
        if items:
            children.append(
                _container(heading, [_finding_item(f, concept, refs, uids) for f in items])
            )
    root = ContainerContentItem(name=codes.LN.DiagnosticImagingReport)
    root.ContentSequence = DicomSequence(children)
    return root


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

    from dicom_io.deid import UIDMap

    refs = _references(series)
    _check_regions(content, len(refs))
    mapping = None if keep_identity else (uid_map if uid_map is not None else UIDMap())
    evidence = _evidence(refs, _evidence_slices(content, len(refs)), mapping)
    root = _content_tree(content, refs, _Refs(mapping))
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
