"""What a DICOM SR document says, as plain data: :class:`SRContent`, :class:`SRFinding`,
:class:`SRRegion`.

:mod:`models.report.exports` turns a report into these; :mod:`dicom_io.sr.document` writes them. A
region is a rectangle in source pixel *edges* of the slice it was drawn on: ``x`` (column) right in
``[0, Columns]``, ``y`` (row) down in ``[0, Rows]`` (see :mod:`dicom_io.sr.tree` for how that
becomes SCOORD Graphic Data).
"""

from __future__ import annotations

from dataclasses import dataclass

from dicom_io.errors import InvalidArgumentError

__all__ = ["SRContent", "SRFinding", "SRRegion"]


@dataclass(frozen=True)
class SRRegion:
    """A rectangle on source slice ``slice_index``, in pixel edges (see the module notes)."""

    slice_index: int
    x0: float
    y0: float
    x1: float
    y1: float
    label: str = ""

    def __post_init__(self) -> None:
        if self.slice_index < 0:
            raise InvalidArgumentError(f"Region slice must be >= 0, not {self.slice_index}.")
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            corners = (self.x0, self.y0, self.x1, self.y1)
            raise InvalidArgumentError(
                f"Region corners must satisfy x0 < x1 and y0 < y1, not {corners}."
            )

    @property
    def polyline(self) -> list[tuple[float, float]]:
        """The closed rectangle as five (column, row) points."""
        x0, y0, x1, y1 = (float(v) for v in (self.x0, self.y0, self.x1, self.y1))
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


@dataclass(frozen=True)
class SRFinding:
    """One finding or impression line: its section, text, status, notes and regions."""

    section: str
    text: str
    status: str = ""
    regions: tuple[SRRegion, ...] = ()
    notes: tuple[str, ...] = ()  # reliability flags, change markers: one line each


@dataclass(frozen=True)
class SRContent:
    """Everything the SR document says, as plain data.

    Attributes:
        title: the report's title (a Comment item; the document title is the LOINC code).
        model_id: the model that drafted it; the observer device is ``"RadLens <model_id>"``.
        disclaimer: the draft disclaimer, written as the first text item.
        findings, impression: the report's lines.
        technique, indication, comparison: free-text sections ("" leaves one out).
        slices: source slices the model saw: referenced as evidence with the regions' slices
            (all slices of the series when both are empty).
        created: ISO 8601 time the report was drafted (Content Date/Time); now when empty.
    """

    title: str
    model_id: str
    disclaimer: str
    findings: tuple[SRFinding, ...] = ()
    impression: tuple[SRFinding, ...] = ()
    technique: str = ""
    indication: str = ""
    comparison: str = ""
    slices: tuple[int, ...] = ()
    created: str = ""

    def __post_init__(self) -> None:
        if not self.disclaimer.strip():
            raise InvalidArgumentError("SR content needs a disclaimer: an AI draft says so.")
