"""A report as a FHIR R4 DiagnosticReport (JSON), built and checked with ``fhir.resources``.

FHIR version. ``fhir.resources`` 8 models FHIR R5 at its top level and R4B (4.3.0) under
``fhir.resources.R4B``; it has no R4 (4.0.1) package. R4B changed nothing in DiagnosticReport,
Observation, Device, Narrative or Attachment that this export uses, so the resources are built
with ``fhir.resources.R4B`` and are valid R4 as written. (Using the top-level R5 models would
allow elements R4 servers reject.)

What is written:

- ``status`` ``preliminary`` (an AI draft is never final); ``category`` RAD (HL7 v2-0074);
  ``code`` LOINC 18748-4 "Diagnostic imaging study".
- ``text`` (narrative, ``generated``): the disclaimer in bold, then the report.
- ``contained``: a Device ("RadLens <model>") and one Observation per finding and impression
  line (``status`` preliminary, category imaging, code LOINC 59776-5 findings or 19005-8
  impression, ``valueString`` the text, ``note`` the section, status, flags, change and boxes,
  ``device`` the Device); ``result`` references each Observation.
- ``performer``: ``display`` "RadLens <model>" only. R4 allows a performer to reference a
  Practitioner, PractitionerRole, Organization or CareTeam, not a Device, so the machine is
  named there and referenced properly from each Observation's ``device``.
- ``issued``: the report's creation time; ``conclusion``: the disclaimer, then the numbered
  impression; ``presentedForm``: the Markdown export, base64, ``text/markdown``.
- No ``subject``: the export carries no patient identity.

Validation: the resource is built through the R4B pydantic models (types, cardinalities,
required elements and FHIR's regular expressions), serialized, and the JSON text is parsed back
with ``DiagnosticReport.model_validate_json``; any error raises before a file is written. That
is the extent of it: terminology bindings and invariants beyond the models' own are not checked.

:data:`EXPORTER` is its entry in :data:`models.report.exports.EXPORTERS` (``.fhir.json``).
"""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from typing import Any

from dicom_io.errors import InvalidArgumentError
from models.registry.capabilities import not_offered_notes
from models.report.draft import Finding, Report
from models.report.exports.base import ExportContext, Exporter
from models.report.exports.markdown import (
    box_text,
    change_suffix,
    grouped,
    provenance_lines,
    status_prefix,
    to_markdown,
)

__all__ = ["EXPORTER", "FHIR_VERSION", "to_fhir", "to_fhir_json"]

FHIR_VERSION = "4.3.0 (R4B, read as R4)"
LOINC = "http://loinc.org"
_REPORT_CODE = {"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}
_FINDING_CODE = {"system": LOINC, "code": "59776-5", "display": "Procedure findings Narrative"}
_IMPRESSION_CODE = {
    "system": LOINC,
    "code": "19005-8",
    "display": "Radiology Imaging study [Impression] (narrative)",
}
_RADIOLOGY = {
    "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
    "code": "RAD",
    "display": "Radiology",
}
_IMAGING = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "imaging",
    "display": "Imaging",
}
_XHTML = "http://www.w3.org/1999/xhtml"


def _instant(created: str) -> str:
    """``created`` as a FHIR instant (UTC assumed when it has no offset)."""
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidArgumentError(
            f"Report 'created' must be an ISO 8601 time, not {created!r}."
        ) from err
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat(timespec="seconds")


def _notes(finding: Finding) -> list[dict[str, str]]:
    lines = [f"section: {finding.section}"] if finding.section else []
    lines.append(f"status: {finding.status.value}")
    lines += [f"flag: {flag}" for flag in finding.flags]
    if finding.change:
        lines.append(f"change: {finding.change}")
    lines += [box_text(box) for box in finding.boxes]
    return [{"text": line} for line in lines]


def _observation(finding: Finding, ident: str, impression: bool) -> dict[str, Any]:
    code = _IMPRESSION_CODE if impression else _FINDING_CODE
    label = "Impression" if impression else f"Finding: {finding.section}".rstrip(": ")
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": "preliminary",
        "category": [{"coding": [dict(_IMAGING)]}],
        "code": {"coding": [dict(code)], "text": label},
        "valueString": finding.text.strip() or "(empty)",
        "note": _notes(finding),
        "device": {"reference": "#device", "display": ""},
    }


def _item_html(finding: Finding) -> str:
    text = html.escape(f"{status_prefix(finding)}{finding.text.strip()}{change_suffix(finding)}")
    details = [f"flag: {flag}" for flag in finding.flags] + [box_text(b) for b in finding.boxes]
    if details:
        inner = "".join(f"<li>{html.escape(line)}</li>" for line in details)
        text += f"<ul>{inner}</ul>"
    return f"<li>{text}</li>"


def _narrative(report: Report) -> str:
    esc = html.escape
    parts = [
        f"<p><b>{esc(report.disclaimer)}</b></p>",
        f"<h3>{esc(report.title.strip() or 'Draft report')}</h3>",
        f"<p><b>Technique:</b> {esc(report.technique.strip() or 'not recorded')}</p>",
    ]
    parts += [f"<p><b>Boxes:</b> {esc(note)}</p>" for note in not_offered_notes(report.notes)]
    if report.indication.strip():
        parts.append(f"<p><b>Indication:</b> {esc(report.indication.strip())}</p>")
    if report.comparison.strip():
        parts.append(f"<p><b>Comparison:</b> {esc(report.comparison.strip())}</p>")
    parts.append("<p><b>Findings</b></p>")
    for section, findings in grouped(report.findings):
        items = "".join(_item_html(f) for f in findings)
        parts.append(f"<p>{esc(section)}</p><ul>{items}</ul>")
    if report.impression:
        items = "".join(_item_html(f) for f in report.impression)
        parts.append(f"<p><b>Impression</b></p><ol>{items}</ol>")
    if report.recommendations:
        items = "".join(_item_html(f) for f in report.recommendations)
        parts.append(f"<p><b>Recommendations</b></p><ul>{items}</ul>")
    footer = "".join(f"<li>{esc(line)}</li>" for line in provenance_lines(report))
    parts.append(f"<ul>{footer}</ul>")
    return f'<div xmlns="{_XHTML}">{"".join(parts)}</div>'


def _conclusion(report: Report) -> str:
    lines = [report.disclaimer]
    if report.impression:
        lines.append("Impression:")
        lines += [
            f"{n}. {status_prefix(f, symbols=False)}{' '.join(f.text.split())}"
            for n, f in enumerate(report.impression, start=1)
        ]
    return "\n".join(lines)


def _resource(report: Report) -> dict[str, Any]:
    device_name = f"RadLens {report.model_id}"
    observations = [
        _observation(f, f"finding-{n}", impression=False)
        for n, f in enumerate(report.findings, start=1)
    ] + [
        _observation(f, f"impression-{n}", impression=True)
        for n, f in enumerate(report.impression, start=1)
    ]
    for item in observations:
        item["device"]["display"] = device_name
    device = {
        "resourceType": "Device",
        "id": "device",
        "deviceName": [
            {"name": device_name, "type": "user-friendly-name"},
            {"name": report.model_id or "unknown", "type": "model-name"},
        ],
        "manufacturer": "RadLens",
        "note": [{"text": f"{report.disclaimer} Prompt: {report.prompt}"}],
    }
    markdown = to_markdown(report).encode("utf-8")
    issued = _instant(report.created)
    return {
        "resourceType": "DiagnosticReport",
        "text": {"status": "generated", "div": _narrative(report)},
        "contained": [device, *observations],
        "status": "preliminary",
        "category": [{"coding": [dict(_RADIOLOGY)]}],
        "code": {"coding": [dict(_REPORT_CODE)], "text": report.title or "Draft report"},
        "issued": issued,
        "performer": [{"display": device_name}],
        "result": [{"reference": f"#{item['id']}"} for item in observations],
        "conclusion": _conclusion(report),
        "presentedForm": [
            {
                "contentType": "text/markdown",
                "data": base64.b64encode(markdown).decode("ascii"),
                "title": f"{report.title or 'Draft report'} (AI-generated draft)",
                "creation": issued,
            }
        ],
    }


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def to_fhir(report: Report) -> Any:
    """The report as an R4B ``DiagnosticReport`` model (validated on construction)."""
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    return DiagnosticReport.model_validate(_drop_none(_resource(report)))


def to_fhir_json(report: Report) -> str:
    """The DiagnosticReport as JSON text, checked by parsing it back (see the module notes)."""
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    text: str = to_fhir(report).model_dump_json(indent=2)
    DiagnosticReport.model_validate_json(text)
    return text + "\n"


def _render(report: Report, context: ExportContext) -> bytes:
    return to_fhir_json(report).encode("utf-8")


EXPORTER = Exporter(".fhir.json", "FHIR DiagnosticReport", _render)
