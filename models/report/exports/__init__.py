"""Report exports: Markdown, JSON, PDF, DICOM SR and FHIR, picked by the file extension.

:func:`export_report` is the one entry point (the CLI's ``radlens report --out`` and the UI's
export button use it). Every export carries the disclaimer. None carries a patient identifier:
a :class:`~models.report.draft.Report` holds none, and the DICOM SR, the one format that copies
patient and study data from the source, is de-identified unless ``keep_identity=True``.

Writing is atomic: the file is written beside its destination under a temporary name and then
renamed over it, so a failure leaves nothing half-written. A destination that is one of the
study's own files, or an existing DICOM, NIfTI, image or zip file other than a DICOM SR, is
refused: an export never overwrites its input.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dicom_io.atomic import write_atomically
from dicom_io.errors import InvalidArgumentError
from models.report.draft import Finding, Report

if TYPE_CHECKING:
    from dicom_io.deid.files import UIDMap
    from dicom_io.sr.document import SRContent, SRFinding
    from dicom_io.study import Series

__all__ = ["FORMATS", "export_format", "export_report", "sr_content"]

# Extension -> format name; ".fhir.json" is tested before ".json".
FORMATS = {
    ".fhir.json": "fhir",
    ".md": "markdown",
    ".json": "json",
    ".pdf": "pdf",
    ".dcm": "sr",
}


def export_format(path: str | Path) -> str:
    """The format ``path``'s extension asks for.

    Raises:
        InvalidArgumentError: an extension none of the exports has.
    """
    name = Path(path).name.lower()
    for suffix, kind in FORMATS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return kind
    choices = ", ".join(FORMATS)
    raise InvalidArgumentError(
        f"{Path(path).name}: unknown export format; use a file name ending in one of: {choices}."
    )


def _sr_finding(finding: Finding) -> SRFinding:
    from dicom_io.sr.document import SRFinding, SRRegion

    notes = tuple(f"flag: {flag}" for flag in finding.flags)
    if finding.change:
        notes += (f"change: {finding.change}",)
    regions = tuple(SRRegion(b.slice, b.x0, b.y0, b.x1, b.y1, b.label) for b in finding.boxes)
    return SRFinding(finding.section, finding.text, finding.status.value, regions, notes)


def sr_content(report: Report) -> SRContent:
    """The report as the plain data :mod:`dicom_io.sr.document` writes."""
    from dicom_io.sr.document import SRContent

    return SRContent(
        title=report.title,
        model_id=report.model_id,
        disclaimer=report.disclaimer,
        findings=tuple(_sr_finding(f) for f in report.findings),
        impression=tuple(_sr_finding(f) for f in report.impression),
        technique=report.technique,
        indication=report.indication,
        comparison=report.comparison,
        slices=report.study.slices,
        created=report.created,
    )


def _render(
    report: Report,
    kind: str,
    series: Series | None,
    keep_identity: bool,
    uid_map: UIDMap | None,
) -> bytes:
    if kind == "markdown":
        from models.report.exports.markdown import to_markdown

        return to_markdown(report).encode("utf-8")
    if kind == "json":
        from models.report.exports.json_export import to_json_text

        return to_json_text(report).encode("utf-8")
    if kind == "pdf":
        from models.report.exports.pdf import to_pdf

        return to_pdf(report, series)
    if kind == "fhir":
        from models.report.exports.fhir import to_fhir_json

        return to_fhir_json(report).encode("utf-8")
    if series is None:
        raise InvalidArgumentError(
            "A DICOM SR export needs the series the report is about (argument 'series')."
        )
    from dicom_io.sr.document import sr_bytes

    content = sr_content(report)
    return sr_bytes(series, content, keep_identity=keep_identity, uid_map=uid_map)


def _source_paths(series: Series | None) -> set[Path]:
    if series is None or series._references is None:
        return set()
    paths = (ref.source.path for ref in series._references())
    return {p.resolve() for p in paths if p is not None}


def _check_destination(path: Path, series: Series | None) -> None:
    """Refuse to write over the study's files or over an existing image or archive."""
    from dicom_io.sniff import FileKind, sniff

    if path.is_dir():
        raise InvalidArgumentError(f"{path.name}: is a folder; give a file name to export to.")
    if not path.exists():
        return
    if path.resolve() in _source_paths(series):
        raise InvalidArgumentError(
            f"{path.name}: is a file of the study itself; choose a new file name."
        )
    with path.open("rb") as fh:
        kind = sniff(fh.read(4096))
    if kind in (FileKind.NIFTI, FileKind.PNG, FileKind.JPEG, FileKind.ZIP) or (
        kind is FileKind.DICOM and not _is_sr(path)
    ):
        raise InvalidArgumentError(
            f"{path.name}: already holds a {kind.value} file that is not an export; "
            "choose a new file name."
        )


def _is_sr(path: Path) -> bool:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, stop_before_pixels=True, specific_tags=["Modality"], force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return False
    return str(ds.get("Modality", "")).upper() == "SR"


def export_report(
    report: Report,
    path: str | Path,
    *,
    series: Series | None = None,
    keep_identity: bool = False,
    uid_map: UIDMap | None = None,
) -> Path:
    """Write ``report`` to ``path`` in the format its extension names; return the path.

    ``.md`` Markdown, ``.json`` the report's JSON (schema ``radlens.report/1``), ``.pdf`` PDF
    (key images need ``series``), ``.dcm`` DICOM Comprehensive SR (needs the DICOM ``series``;
    see :mod:`dicom_io.sr.document`), ``.fhir.json`` a FHIR R4 DiagnosticReport.

    Args:
        report: the draft to export.
        path: the file to write (its folder must exist).
        series: the series the report is about: key images in the PDF, references in the SR.
        keep_identity: SR only: keep the source's patient and study data and UIDs.
        uid_map: SR only: the UID map of a ``radlens deid`` copy the references should match.

    Raises:
        InvalidArgumentError: an unknown extension, a destination that is a study file or an
            existing image, a DICOM SR without a DICOM series.
    """
    path = Path(path)
    kind = export_format(path)
    if not path.parent.is_dir():
        raise InvalidArgumentError(
            f"{path.name}: the folder to write it in does not exist; create it first."
        )
    _check_destination(path, series)
    data = _render(report, kind, series, keep_identity, uid_map)
    write_atomically(path, data)
    return path
