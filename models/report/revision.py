"""The report as editable text, and the clinician's edits read back into a report.

:func:`report_to_text` writes the sections and ``Heading: text`` lines a model writes (with each
finding's status mark, and in a comparison its interval change in brackets, ``[worse]``, as the
model is asked to write it); :func:`revise` reads an edited text back: unchanged findings keep
their status, flags and boxes; edited or added ones are marked as the clinician's, without boxes
(a box drawn for other words would no longer be grounded); removed ones are gone. A finding whose
words stay but whose interval change the clinician rewrote keeps its box and is marked edited.
"""

from __future__ import annotations

from dataclasses import replace

from models.report.draft import Finding, FindingStatus, Report
from models.report.text import EDITED, STATUS_MARKS, parse_change, parse_report_text, strip_mark

__all__ = ["report_to_text", "revise"]


def _line(finding: Finding) -> str:
    mark = STATUS_MARKS[finding.status.value]
    change = f" [{finding.change}]" if finding.change else ""
    if finding.text.lower().startswith(mark.strip("[] ")):  # "Unable to assess: ..."
        return f"{finding.text}{change}"
    return f"{mark}{finding.text}{change}"


def _is_comparison(report: Report) -> bool:
    return bool(report.comparison) or any(f.change for f in report.all_findings)


def report_to_text(report: Report) -> str:
    """The report as editable text."""
    lines = [report.title, "", f"Technique: {report.technique}"]
    if report.indication:
        lines.append(f"Indication: {report.indication}")
    if report.comparison:
        lines.append(f"Comparison: {report.comparison}")
    lines += ["", "Findings:"]
    lines += [f"{f.section}: {_line(f)}" for f in report.findings]
    if report.impression:
        lines += ["", "Impression:"]
        lines += [f"{k}. {_line(f)}" for k, f in enumerate(report.impression, 1)]
    return "\n".join(lines)


def _match(
    section: str, text: str, old: list[Finding], edited: list[str], compared: bool
) -> Finding:
    clean, change = parse_change(strip_mark(text)) if compared else (strip_mark(text), None)
    for k, finding in enumerate(old):
        if finding.section == section and strip_mark(finding.text) == clean:
            kept = old.pop(k)  # the same words: keep status, flags and boxes
            if kept.change == change:
                return kept
            edited.append(section)
            return replace(kept, change=change, flags=(*kept.flags, EDITED))
    edited.append(section)
    return Finding(section=section, text=clean, change=change, flags=(EDITED,))


def revise(report: Report, text: str) -> Report:
    """``report`` with the findings and impression of the clinician's edited ``text``."""
    headings = list(dict.fromkeys(f.section for f in report.findings))
    parsed = parse_report_text(text, headings)
    old_findings, old_impression = list(report.findings), list(report.impression)
    edited: list[str] = []
    compared = _is_comparison(report)
    findings = tuple(_match(h, t, old_findings, edited, compared) for h, t in parsed.findings)
    impression = tuple(
        _match("Impression", t, old_impression, edited, compared) for t in parsed.impression
    )
    # Old findings left unmatched were either rewritten (counted among the edited) or deleted.
    removed = max(0, len(old_findings) + len(old_impression) - len(edited))
    if not edited and not removed:
        return report
    note = f"{EDITED}: {len(edited)} finding(s) changed or added, {removed} removed"
    sections = text.replace("\r\n", "\n")
    indication = report.indication
    for line in sections.split("\n"):
        if line.lower().startswith("indication:"):
            indication = line.split(":", 1)[1].strip()
    return replace(
        report,
        findings=findings
        or (
            Finding(
                "Report",
                "No findings left in the edited report.",
                status=FindingStatus.UNABLE,
                flags=(EDITED,),
            ),
        ),
        impression=impression,
        indication=indication,
        notes=(*report.notes, note),
    )
