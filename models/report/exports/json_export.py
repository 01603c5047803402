"""A report as JSON: :meth:`models.report.draft.Report.to_json` (schema ``radlens.report/1``).

:data:`EXPORTER` is its entry in :data:`models.report.exports.EXPORTERS` (``.json``).
"""

from __future__ import annotations

import json

from models.report.draft import Report
from models.report.exports.base import ExportContext, Exporter

__all__ = ["EXPORTER", "to_json_text"]


def to_json_text(report: Report) -> str:
    """The report's JSON, indented, UTF-8 text kept as is, ending with a newline."""
    return json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"


def _render(report: Report, context: ExportContext) -> bytes:
    return to_json_text(report).encode("utf-8")


EXPORTER = Exporter(".json", "JSON", _render)
