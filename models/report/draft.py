"""The draft report as plain data: what the exports and the UI render.

A :class:`Report` holds the sections the model wrote (Technique taken from the metadata, never
from the model), one :class:`Finding` per anatomy line or impression item with the boxes that
ground it, reliability flags from ``check``, and everything needed to say where it came from:
model, prompt version, generation settings, time. Identity-free: the study is referred to by
its hashed key only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from dicom_io.errors import InvalidArgumentError
from models.backends.base import GenerationSettings
from models.grounding.box import Box
from models.tasks.names import TaskName, task_name

__all__ = ["DISCLAIMER", "REPORT_SCHEMA", "Finding", "FindingStatus", "Report", "StudyRef"]

REPORT_SCHEMA = "radlens.report/1"
# What every answer, report and export says of itself, wherever it is shown.
DISCLAIMER = (
    "AI-generated draft, not for diagnostic use; requires review by a qualified clinician."
)


class FindingStatus(StrEnum):
    REPORTED = "reported"  # as the model wrote it; not checked
    VERIFIED = "verified"  # check: the model confirmed it and rejected its negation
    UNVERIFIED = "unverified"  # check: contradicted, or not grounded when it should be
    UNABLE = "unable_to_assess"  # empty or unreadable model output; nothing is invented


@dataclass(frozen=True)
class Finding:
    """One line of the report: its section (anatomy heading or "Impression"), text and boxes."""

    section: str
    text: str
    boxes: tuple[Box, ...] = ()
    status: FindingStatus = FindingStatus.REPORTED
    flags: tuple[str, ...] = ()  # reliability notes, one line each
    change: str | None = None  # compare: new | worse | improved | unchanged | resolved
    # normal | abnormal | uncertain, from negation and hedge detection on the text
    # (models.report.assertion.classify) when not given.
    assertion: str = ""

    def __post_init__(self) -> None:
        if not self.assertion:
            from models.report.assertion import classify

            object.__setattr__(self, "assertion", classify(self.text))
        elif self.assertion not in ("normal", "abnormal", "uncertain"):
            raise InvalidArgumentError(
                f"A finding's assertion is normal, abnormal or uncertain, not {self.assertion!r}."
            )

    @property
    def is_normal(self) -> bool:
        """Every finding named in the text is negated, or the text says it is normal."""
        return self.assertion == "normal"


@dataclass(frozen=True)
class StudyRef:
    """Which series the report is about, without identity."""

    study_key: str
    series_key: str
    series_index: int  # 0-based index in the study
    modality: str
    body_part: str
    description: str  # kept for the JSON schema; always "": free text is never carried
    slices: tuple[int, ...]  # source slices the model saw


@dataclass(frozen=True)
class Report:
    """A drafted (or compared, or checked) report. ``kind`` is the task that wrote it
    (``report`` or ``compare``), accepted as a :class:`TaskName` or its string."""

    kind: TaskName
    title: str
    technique: str
    indication: str
    findings: tuple[Finding, ...]
    impression: tuple[Finding, ...]
    study: StudyRef
    model_id: str
    prompt: str
    prompt_version: str
    language: str
    created: str  # ISO 8601, UTC
    raw: str
    settings: GenerationSettings | None = None
    seconds: float | None = None
    comparison: str = ""  # compare: the prior's technique and what changed overall
    checks: tuple[str, ...] = ()  # check: what was run and what it cost
    notes: tuple[str, ...] = ()  # parsing notes: dropped boxes, missing sections
    recommendations: tuple[Finding, ...] = ()  # the model's recommendations, as written
    disclaimer: str = DISCLAIMER
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kind = task_name(self.kind)
        if kind not in (TaskName.REPORT, TaskName.COMPARE):
            raise InvalidArgumentError(
                f"A report's kind is 'report' or 'compare', not {kind.value!r}."
            )
        object.__setattr__(self, "kind", kind)

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        return self.findings + self.impression

    @property
    def boxes(self) -> tuple[Box, ...]:
        return tuple(box for finding in self.all_findings for box in finding.boxes)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data, schema ``radlens.report/1`` (see the README)."""

        def finding(f: Finding) -> dict[str, Any]:
            return {
                "section": f.section,
                "text": f.text,
                "status": f.status.value,
                "flags": list(f.flags),
                "change": f.change,
                "assertion": f.assertion,
                "boxes": [b.to_json() for b in f.boxes],
            }

        return {
            "schema": REPORT_SCHEMA,
            "kind": self.kind.value,
            "title": self.title,
            "technique": self.technique,
            "indication": self.indication,
            "comparison": self.comparison,
            "findings": [finding(f) for f in self.findings],
            "impression": [finding(f) for f in self.impression],
            "recommendations": [finding(f) for f in self.recommendations],
            "study": asdict(self.study),
            "model": self.model_id,
            "prompt": self.prompt,
            "prompt_version": self.prompt_version,
            "language": self.language,
            "created": self.created,
            "settings": None if self.settings is None else asdict(self.settings),
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "checks": list(self.checks),
            "notes": list(self.notes),
            "raw": self.raw,
            "disclaimer": self.disclaimer,
        }
