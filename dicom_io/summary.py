"""A plain, identity-free description of a study (what ``radlens info`` prints).

The JSON form is a stable contract (schema in the README): ``schema`` names its version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dicom_io.loader import describe_study, patient_keys
from dicom_io.study import Series, Study
from dicom_io.windowing import default_window

__all__ = [
    "SCHEMA",
    "STUDIES_SCHEMA",
    "series_summary",
    "studies_summary",
    "studies_text",
    "study_summary",
    "summary_text",
]

SCHEMA = "radlens.info/1"
STUDIES_SCHEMA = "radlens.studies/1"  # an input holding several studies


def _round(values: tuple[float, ...], digits: int = 4) -> list[float]:
    return [round(float(v), digits) for v in values]


def series_summary(series: Series) -> dict[str, Any]:
    """One series as a JSON-ready dict (decodes the voxels for the value range)."""
    volume = series.volume
    lo, hi = volume.value_range()
    window = default_window(series)
    return {
        "index": series.index + 1,
        "key": series.key,
        "modality": series.modality,
        "body_part": series.body_part,
        "study_description": series.study_description,
        "series_description": series.series_description,
        "view_position": series.view_position,
        "format": series.source_format,
        "shape": list(series.shape),
        "spacing_mm": _round(series.spacing),
        "spacing_known": series.spacing_known,
        "orientation": series.orientation.value,
        "photometric": series.photometric,
        "dtype": str(volume.array.dtype),
        "units": volume.units,
        "value_range": [lo, hi],
        "default_window": {
            "center": round(window.center, 3),
            "width": round(window.width, 3),
            "source": window.source,
        },
        "flags": series.flags.names(),
        "notes": list(series.notes),
    }


def study_summary(study: Study) -> dict[str, Any]:
    """The whole study as a JSON-ready dict."""
    return {
        "schema": SCHEMA,
        "source": study.source_name,
        "study_key": study.key,
        "default_series": study.default_series.index + 1,
        "series": [series_summary(s) for s in study.series],
        "skipped_count": len(study.skipped),
        "skipped": [{"name": s.name, "reason": s.reason} for s in study.skipped],
    }


def summary_text(summary: dict[str, Any]) -> str:
    """A human-readable table of :func:`study_summary`'s output."""
    lines = [f"{summary['source']}: {len(summary['series'])} series"]
    for s in summary["series"]:
        star = "*" if s["index"] == summary["default_series"] else " "
        desc = s["series_description"] or s["study_description"] or "-"
        shape = "x".join(str(n) for n in s["shape"])
        spacing = "x".join(f"{v:g}" for v in s["spacing_mm"])
        spacing += "" if s["spacing_known"] else " (unknown)"
        w = s["default_window"]
        lines.append(
            f"{star}{s['index']:>3} {s['modality']:<3} {desc[:32]:<32} {shape:>14} "
            f"{spacing} mm  {s['orientation']:<8} {s['photometric']:<11} "
            f"[{s['value_range'][0]:g}, {s['value_range'][1]:g}] {s['units']} "
            f"window {w['center']:g}/{w['width']:g} ({w['source']})"
        )
        lines.extend(f"       flag: {flag}" for flag in s["flags"])
        lines.extend(f"       note: {note}" for note in s["notes"])
    if summary["skipped_count"]:
        lines.append(f"skipped {summary['skipped_count']} file(s):")
        lines.extend(f"  {s['name']}: {s['reason']}" for s in summary["skipped"][:20])
        if summary["skipped_count"] > 20:
            lines.append(f"  ... and {summary['skipped_count'] - 20} more (see --json)")
    return "\n".join(lines)


def studies_summary(studies: Sequence[Study]) -> dict[str, Any]:
    """The studies of one input, listed so one can be chosen (``--study N``), JSON-ready.

    Identity-free: patients are numbered in the order first met (from a salted hash), never
    named; dates are the DICOM Study Date (shown to the user, never logged).
    """
    patients = patient_keys(studies)
    listed = []
    for number, study in enumerate(studies, start=1):
        date = study.study_date
        listed.append(
            {
                "index": number,
                "study_key": study.key,
                "date": f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) == 8 else "",
                "patient": patients.index(study.patient_key) + 1 if study.patient_key else None,
                "description": describe_study(study, patients),
                "series": len(study.series),
            }
        )
    return {
        "schema": STUDIES_SCHEMA,
        "source": studies[0].source_name,
        "patients": len(patients),
        "studies": listed,
    }


def studies_text(summary: dict[str, Any]) -> str:
    """A human-readable list of :func:`studies_summary`'s output."""
    many = f" of {summary['patients']} patients" if summary["patients"] > 1 else ""
    lines = [f"{summary['source']}: {len(summary['studies'])} studies{many}"]
    lines += [
        f"{s['index']:>4}  {s['date'] or 'no date':<10}  {s['description']}"
        for s in summary["studies"]
    ]
    lines.append("open one with --study N (radlens info PATH --study N lists its series)")
    return "\n".join(lines)
