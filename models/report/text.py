"""Read a model's report text into sections, leniently, inventing nothing.

Models are asked for ``Technique:`` / ``Findings:`` (one ``Heading: text`` line per anatomy
heading) / ``Impression:`` (a numbered list). They add Markdown bold, bullets, blank lines, change
the case of headings or run a heading's text onto the next line; all of that is accepted. What
cannot be placed is kept under "Other" rather than dropped, and an empty or unreadable answer
becomes an explicit "unable to assess" with the raw text kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CHANGE_WORDS", "ParsedReport", "parse_change", "parse_report_text", "parse_yes_no"]

CHANGE_WORDS = ("new", "worse", "improved", "unchanged", "resolved")
_SECTION = re.compile(
    r"^\s*(?:#+\s*)?\**\s*(technique|comparison|findings|impression|indication)\s*\**\s*:?\s*\**\s*(.*)$",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"^\s*(?:[-*+•]\s+|\d+[.)]\s+)?")
_HEADING_LINE = re.compile(r"^\s*\**\s*([A-Za-z][A-Za-z ,/&()'-]{1,60}?)\s*\**\s*:\s*\**\s*(.*)$")
_CHANGE = re.compile(r"\[\s*(new|worse|improved|unchanged|resolved)\s*\]", re.IGNORECASE)
_FINAL = re.compile(r"final\s+answer\s*:?\s*\**\s*(yes|no)\b", re.IGNORECASE)
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedReport:
    """Sections found in a model's report text."""

    technique: str
    comparison: str
    findings: tuple[tuple[str, str], ...]  # (heading, text) in the order written
    impression: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.findings and not self.impression


def _clean(line: str) -> str:
    return _MARKUP.sub("", line).replace("**", "").strip()


def _split_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = "preamble"
    for line in text.replace("\r\n", "\n").split("\n"):
        match = _SECTION.match(
            _MARKUP.sub("", line) if not line.lstrip().startswith("#") else line
        )
        if match:
            current = match.group(1).lower()
            sections.setdefault(current, [])
            rest = match.group(2).strip()
            if rest:
                sections[current].append(rest)
            continue
        if line.strip():
            sections.setdefault(current, []).append(line)
    return sections


def _match_heading(name: str, headings: Sequence[str]) -> str | None:
    key = name.strip().lower()
    for heading in headings:
        if heading.lower() == key:
            return heading
    for heading in headings:
        if key and (key in heading.lower() or heading.lower() in key):
            return heading
    return None


def _findings(
    lines: list[str], headings: Sequence[str]
) -> tuple[list[tuple[str, str]], list[str]]:
    found: list[tuple[str, str]] = []
    notes: list[str] = []
    for raw in lines:
        line = _clean(raw)
        if not line:
            continue
        match = _HEADING_LINE.match(line)
        heading = _match_heading(match.group(1), headings) if match else None
        if match and heading:
            found.append((heading, match.group(2).strip()))
        elif found and not match:
            prev_heading, prev_text = found[-1]  # a heading's text run onto the next line
            found[-1] = (prev_heading, f"{prev_text} {line}".strip())
        else:
            found.append(("Other", line))
            notes.append(
                f"finding line outside the expected headings kept under Other: {line[:60]}"
            )
    empty = [(h, t) for h, t in found if not t]
    if empty:
        notes.append(f"{len(empty)} heading(s) without text: " + ", ".join(h for h, _ in empty))
    return [(h, t) for h, t in found if t], notes


def parse_report_text(text: str, headings: Sequence[str]) -> ParsedReport:
    """Split ``text`` into Technique, Comparison, Findings (by ``headings``) and Impression."""
    sections = _split_sections(text)
    findings, notes = _findings(sections.get("findings", []), headings)
    impression = [_clean(line) for line in sections.get("impression", []) if _clean(line)]
    if "findings" not in sections:
        notes.append("no Findings section in the model's text")
    if "impression" not in sections:
        notes.append("no Impression section in the model's text")
    return ParsedReport(
        technique=" ".join(_clean(line) for line in sections.get("technique", [])),
        comparison=" ".join(_clean(line) for line in sections.get("comparison", [])),
        findings=tuple(findings),
        impression=tuple(impression),
        notes=tuple(notes),
    )


def parse_change(text: str) -> tuple[str, str | None]:
    """``"effusion [improved]"`` -> ``("effusion", "improved")``; the last bracket wins."""
    matches = list(_CHANGE.finditer(text))
    if not matches:
        return text.strip(), None
    cleaned = _CHANGE.sub("", text).strip().rstrip(",;").strip()
    return cleaned, matches[-1].group(1).lower()


def parse_yes_no(text: str) -> bool | None:
    """The answer of a yes/no probe: the "Final Answer:" line, else a lone yes/no, else None."""
    final: list[str] = _FINAL.findall(text)
    if final:
        return bool(final[-1].lower() == "yes")
    words = {str(w).lower() for w in _YES_NO.findall(text)}
    if len(words) == 1:
        return words.pop() == "yes"
    return None


# --- the editable text of a report, and reading the clinician's edits back -------------------

STATUS_MARKS = {
    "reported": "",
    "verified": "[verified] ",
    "unverified": "[unverified] ",
    "unable_to_assess": "[unable to assess] ",
}
_LEADING_MARK = re.compile(r"^\s*\[(verified|unverified|unable to assess)\]\s*", re.IGNORECASE)
EDITED = "edited by the clinician"


def strip_mark(text: str) -> str:
    """A finding's text without the status mark the editable text puts before it."""
    return _LEADING_MARK.sub("", text).strip()
