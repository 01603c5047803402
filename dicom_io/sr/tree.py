"""The content tree of the SR document, built with highdicom (imported on first use).

The tree follows the shape of TID 2000 (Basic Diagnostic Imaging Report):

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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydicom.sequence import Sequence as DicomSequence

from dicom_io.sr.content import SRContent, SRFinding, SRRegion

if TYPE_CHECKING:
    from dicom_io.deid.uid_map import UIDMap
    from dicom_io.dicom.slice_reference import SliceReference

__all__ = ["SourceUIDs", "content_tree"]


class SourceUIDs:
    """The source UIDs as the document writes them: original, or through a UID map."""

    def __init__(self, uid_map: UIDMap | None) -> None:
        self._map = uid_map

    def __call__(self, uid: str) -> str:
        return uid if self._map is None else self._map(uid)


def _text(name: Any, value: str, relationship: Any) -> Any:
    from highdicom.sr import TextContentItem

    return TextContentItem(name=name, value=value, relationship_type=relationship)


def _region_item(region: SRRegion, ref: SliceReference, uids: SourceUIDs) -> Any:
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
    finding: SRFinding, concept: Any, refs: Sequence[SliceReference], uids: SourceUIDs
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


def content_tree(content: SRContent, refs: Sequence[SliceReference], uids: SourceUIDs) -> Any:
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
