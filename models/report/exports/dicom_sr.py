"""A report as a DICOM Comprehensive SR (``.dcm``): the report turned into the plain
:class:`~dicom_io.sr.content.SRContent` that :mod:`dicom_io.sr.document` writes.

The SR is the one format that copies patient and study data from the source series, so it needs
the DICOM series and is de-identified unless ``keep_identity`` (see
:class:`~models.report.exports.base.ExportContext`). :data:`EXPORTER` is its entry in
:data:`models.report.exports.EXPORTERS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dicom_io.errors import InvalidArgumentError
from models.registry.capabilities import not_offered_notes
from models.report.draft import Finding, Report
from models.report.exports.base import ExportContext, Exporter

if TYPE_CHECKING:
    from dicom_io.sr.content import SRContent, SRFinding

__all__ = ["EXPORTER", "sr_content"]


def _sr_finding(finding: Finding, withheld: tuple[str, ...] = ()) -> SRFinding:
    from dicom_io.sr.content import SRFinding, SRRegion

    notes = tuple(f"flag: {flag}" for flag in finding.flags)
    if not finding.boxes and not finding.is_normal:  # why this finding has no region
        notes += withheld
    if finding.change:
        notes += (f"change: {finding.change}",)
    regions = tuple(SRRegion(b.slice, b.x0, b.y0, b.x1, b.y1, b.label) for b in finding.boxes)
    return SRFinding(finding.section, finding.text, finding.status.value, regions, notes)


def sr_content(report: Report) -> SRContent:
    """The report as the plain data :mod:`dicom_io.sr.document` writes."""
    from dicom_io.sr.content import SRContent

    withheld = not_offered_notes(report.notes)
    return SRContent(
        title=report.title,
        model_id=report.model_id,
        disclaimer=report.disclaimer,
        # recommendations ride with the findings, under their own section name
        findings=tuple(_sr_finding(f, withheld) for f in report.findings + report.recommendations),
        impression=tuple(_sr_finding(f, withheld) for f in report.impression),
        technique=report.technique,
        indication=report.indication,
        comparison=report.comparison,
        slices=report.study.slices,
        created=report.created,
    )


def _render(report: Report, context: ExportContext) -> bytes:
    if context.series is None:
        raise InvalidArgumentError(
            "A DICOM SR export needs the series the report is about (argument 'series')."
        )
    from dicom_io.sr.document import sr_bytes

    return sr_bytes(
        context.series,
        sr_content(report),
        keep_identity=context.keep_identity,
        uid_map=context.uid_map,
    )


EXPORTER = Exporter(".dcm", "DICOM SR", _render)
