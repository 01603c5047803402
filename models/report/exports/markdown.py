"""A report as Markdown: the text a clinician reads, edits and pastes.

Layout (every line is plain CommonMark):

.. code-block:: markdown

    # <title>

    **AI-generated draft, not for diagnostic use; requires review by a qualified clinician.**

    **Technique:** ...
    **Boxes:** localization not offered by ... (when the model gives no boxes for the series)
    **Indication:** ...          (when given)
    **Comparison:** ...          (when given)

    ## Findings
    ### <section>
    - ⚠ unverified: <text> (change: new)
      - flag: <flag>
      - box "<label>": slice 7, x 40-60, y 30-50 px (28-42 x 21-35 mm)

    ## Impression
    1. <text>

    ## Provenance
    - Model: ...  Prompt: ...  Prompt version: ...  Settings: ...  Created: ...

    **<disclaimer>**

:data:`EXPORTER` is its entry in :data:`models.report.exports.EXPORTERS` (``.md``).
The helpers (:func:`status_prefix`, :func:`box_text`, :func:`provenance_lines`) are shared with
the PDF export so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable

from models.grounding.box import Box
from models.registry.capabilities import not_offered_notes
from models.report.draft import Finding, FindingStatus, Report
from models.report.exports.base import ExportContext, Exporter

__all__ = [
    "EXPORTER",
    "box_text",
    "change_suffix",
    "finding_details",
    "grouped",
    "provenance_lines",
    "status_prefix",
    "to_markdown",
]

_STATUS_PREFIX = {
    FindingStatus.REPORTED: "",
    FindingStatus.VERIFIED: "✓ verified: ",
    FindingStatus.UNVERIFIED: "⚠ unverified: ",
    FindingStatus.UNABLE: "⚠ unable to assess: ",
}


def status_prefix(finding: Finding, *, symbols: bool = True) -> str:
    """``"⚠ unverified: "`` and the like ("" for a plain reported finding)."""
    prefix = _STATUS_PREFIX[finding.status]
    return prefix if symbols else prefix.lstrip("✓⚠ ")


def change_suffix(finding: Finding) -> str:
    """``" (change: worse)"`` for compared reports, else ""."""
    return f" (change: {finding.change})" if finding.change else ""


def _number(value: float) -> str:
    """At most one decimal, without a trailing ``.0``: 10 -> "10", 20.55 -> "20.6"."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def box_text(box: Box) -> str:
    """``box "nodule": slice 3, x 10-20, y 30-40 px (7-14 x 21-28 mm)``."""
    label = f' "{box.label}"' if box.label else ""
    text = (
        f"box{label}: slice {box.slice}, x {_number(box.x0)}-{_number(box.x1)}, "
        f"y {_number(box.y0)}-{_number(box.y1)} px"
    )
    if box.mm is not None:
        x0, y0, x1, y1 = box.mm
        text += f" ({_number(x0)}-{_number(x1)} x {_number(y0)}-{_number(y1)} mm)"
    return text


def finding_details(finding: Finding) -> list[str]:
    """The lines under a finding: its flags, then its boxes."""
    return [f"flag: {flag}" for flag in finding.flags] + [box_text(b) for b in finding.boxes]


def grouped(findings: Iterable[Finding]) -> list[tuple[str, list[Finding]]]:
    """Findings by section, sections in order of first appearance."""
    sections: dict[str, list[Finding]] = {}
    for finding in findings:
        sections.setdefault(finding.section.strip() or "Other", []).append(finding)
    return list(sections.items())


def _settings_text(report: Report) -> str:
    settings = report.settings
    if settings is None:
        return "not recorded"
    parts = [
        f"max_new_tokens={settings.max_new_tokens}",
        f"temperature={settings.temperature:g}",
        f"top_p={settings.top_p:g}",
    ]
    if settings.seed is not None:
        parts.append(f"seed={settings.seed}")
    if settings.min_new_tokens:
        parts.append(f"min_new_tokens={settings.min_new_tokens}")
    return ", ".join(parts)


def provenance_lines(report: Report) -> list[str]:
    """Where the report came from, one ``Name: value`` line each (no identity)."""
    study = report.study
    what = " ".join(p for p in (study.modality, study.body_part, study.description) if p)
    lines = [
        f"Model: {report.model_id}",
        f"Prompt: {report.prompt}",
        f"Prompt version: {report.prompt_version}",
        f"Settings: {_settings_text(report)}",
        f"Created: {report.created}",
    ]
    if report.seconds is not None:
        lines.append(f"Generation time: {report.seconds:.1f} s")
    lines.append(f"Series: #{study.series_index + 1} {what}".rstrip())
    if study.slices:
        lines.append(f"Slices seen: {_slices(study.slices)}")
    if report.language:
        lines.append(f"Language: {report.language}")
    lines += [f"Check: {check}" for check in report.checks]
    lines += [f"Note: {note}" for note in report.notes]
    return lines


def _slices(slices: tuple[int, ...]) -> str:
    if len(slices) > 2 and list(slices) == list(range(slices[0], slices[-1] + 1)):
        return f"{slices[0]}-{slices[-1]} ({len(slices)})"
    shown = ", ".join(str(k) for k in slices[:12])
    return shown + (f", ... ({len(slices)})" if len(slices) > 12 else "")


def _finding_lines(finding: Finding, bullet: str) -> list[str]:
    indent = " " * len(bullet)
    text = " ".join(finding.text.split())  # one list item, one line
    first = f"{bullet}{status_prefix(finding)}{text}{change_suffix(finding)}"
    return [first] + [f"{indent}- {line}" for line in finding_details(finding)]


def to_markdown(report: Report) -> str:
    """The report as Markdown (see the module documentation for the layout)."""
    warning = f"**{report.disclaimer}**"
    lines = [f"# {report.title.strip() or 'Draft report'}", "", warning, ""]
    lines += [f"**Technique:** {report.technique.strip() or 'not recorded'}", ""]
    # Said up front, where the missing boxes would be looked for (issue 16 item 6).
    for note in not_offered_notes(report.notes):
        lines += [f"**Boxes:** {note}", ""]
    if report.indication.strip():
        lines += [f"**Indication:** {report.indication.strip()}", ""]
    if report.comparison.strip():
        lines += [f"**Comparison:** {report.comparison.strip()}", ""]
    lines += ["## Findings", ""]
    if not report.findings:
        lines += ["No findings were reported.", ""]
    for section, findings in grouped(report.findings):
        lines += [f"### {section}", ""]
        for finding in findings:
            lines += _finding_lines(finding, "- ")
        lines.append("")
    lines += ["## Impression", ""]
    if not report.impression:
        lines += ["No impression was given.", ""]
    for number, finding in enumerate(report.impression, start=1):
        lines += _finding_lines(finding, f"{number}. ")
    if report.impression:
        lines.append("")
    if report.recommendations:
        lines += ["## Recommendations", ""]
        for finding in report.recommendations:
            lines += _finding_lines(finding, "- ")
        lines.append("")
    lines += ["## Provenance", ""]
    lines += [f"- {line}" for line in provenance_lines(report)]
    lines += ["", warning, ""]
    return "\n".join(lines)


def _render(report: Report, context: ExportContext) -> bytes:
    return to_markdown(report).encode("utf-8")


EXPORTER = Exporter(".md", "Markdown", _render)
