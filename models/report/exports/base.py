"""What an export is: an :class:`Exporter` (file suffix, the label the UI shows, the function that
renders a report to bytes) and the :class:`ExportContext` every render function receives.

Each format module (:mod:`.markdown`, :mod:`.json_export`, :mod:`.pdf`, :mod:`.dicom_sr`,
:mod:`.fhir`) defines one ``EXPORTER``; :data:`models.report.exports.EXPORTERS` lists them, built
by :func:`registry`. Writing the file (atomically, never over the study) is the package's job,
not the exporter's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dicom_io.deid.uid_map import UIDMap
    from dicom_io.study import Series
    from models.report.draft import Report

__all__ = ["ExportContext", "Exporter", "Render", "registry"]


@dataclass(frozen=True)
class ExportContext:
    """What a format may need beside the report.

    Attributes:
        series: the series the report is about: key images in the PDF, references in the SR.
        keep_identity: SR only: keep the source's patient and study data and UIDs.
        uid_map: SR only: the UID map of a ``radlens deid`` copy the references should match.
    """

    series: Series | None = None
    keep_identity: bool = False
    uid_map: UIDMap | None = None


class Render(Protocol):
    """Turns a report into the bytes of one file format."""

    def __call__(self, report: Report, context: ExportContext, /) -> bytes: ...


@dataclass(frozen=True)
class Exporter:
    """One export format.

    Attributes:
        suffix: the file name ending that picks it, lower case with its dot (``.fhir.json``).
        label: the format's name as the UI shows it (``"Markdown"``).
        render: the function that writes it.
    """

    suffix: str
    label: str
    render: Render

    def __post_init__(self) -> None:
        if not self.suffix.startswith(".") or self.suffix != self.suffix.lower():
            raise ValueError(
                f"Argument 'suffix' must be lower case and start with a dot, not {self.suffix!r}."
            )
        if not self.label.strip():
            raise ValueError("Argument 'label' must not be empty.")

    @property
    def choice_label(self) -> str:
        """The label with its suffix, ``"Markdown (.md)"``: the UI's format list shows it."""
        return f"{self.label} ({self.suffix})"


def registry(*exporters: Exporter) -> Mapping[str, Exporter]:
    """``{suffix: exporter}`` in the order given (the UI lists them so), read-only.

    Raises:
        ValueError: two exporters with the same suffix.
    """
    table: dict[str, Exporter] = {}
    for exporter in exporters:
        if exporter.suffix in table:
            raise ValueError(f"Two exporters for {exporter.suffix!r}.")
        table[exporter.suffix] = exporter
    return MappingProxyType(table)
