"""A report as JSON: :meth:`models.report.draft.Report.to_json` (schema ``radlens.report/1``)."""

from __future__ import annotations

import json

from models.report.draft import Report

__all__ = ["to_json_text"]


def to_json_text(report: Report) -> str:
    """The report's JSON, indented, UTF-8 text kept as is, ending with a newline."""
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
