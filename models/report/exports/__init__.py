"""Report exports: one module per format, one :data:`EXPORTERS` registry, one entry point.

- :mod:`.base`: what an export is (:class:`~.base.Exporter`: suffix, UI label, render function).
- :mod:`.markdown` (``.md``), :mod:`.json_export` (``.json``), :mod:`.pdf` (``.pdf``),
  :mod:`.dicom_sr` (``.dcm``), :mod:`.fhir` (``.fhir.json``): each defines its ``EXPORTER``.
- here: :data:`EXPORTERS` ``{suffix: exporter}``, the one list of formats (the CLI, the UI's
  format list and the tests read it); :func:`exporter_for` picks one from a file name; and
  :func:`export_report`, the one entry point (``radlens report --out`` and the UI's export
  button). Adding a format is one module and one line in :data:`EXPORTERS`.

Every export carries the disclaimer. None carries a patient identifier: a
:class:`~models.report.draft.Report` holds none, and the DICOM SR, the one format that copies
patient and study data from the source, is de-identified unless ``keep_identity=True``.

Writing is atomic: the file is written beside its destination under a temporary name and then
renamed over it, so a failure leaves nothing half-written. A destination that is one of the
study's own files, or an existing DICOM, NIfTI, image or zip file other than a DICOM SR, is
refused: an export never overwrites its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from dicom_io.atomic import write_atomically
from dicom_io.errors import InvalidArgumentError
from models.report.draft import Report
from models.report.exports import dicom_sr, fhir, json_export, markdown, pdf
from models.report.exports.base import ExportContext, Exporter, registry

if TYPE_CHECKING:
    from dicom_io.deid.uid_map import UIDMap
    from dicom_io.study import Series

__all__ = [
    "DEFAULT_SUFFIX",
    "EXPORTERS",
    "ExportContext",
    "Exporter",
    "export_report",
    "exporter_for",
]

# The export formats, in the order the UI lists them: one line per format.
EXPORTERS: Mapping[str, Exporter] = registry(
    markdown.EXPORTER,
    json_export.EXPORTER,
    pdf.EXPORTER,
    dicom_sr.EXPORTER,
    fhir.EXPORTER,
)
DEFAULT_SUFFIX = markdown.EXPORTER.suffix


def exporter_for(path: str | Path) -> Exporter:
    """The exporter ``path``'s name asks for: the longest registered suffix it ends with
    (case-insensitive), so ``a.fhir.json`` is FHIR, not JSON. The name needs a stem.

    Raises:
        InvalidArgumentError: a name that ends in none of the exporters' suffixes.
    """
    name = Path(path).name.lower()
    found = [e for s, e in EXPORTERS.items() if name.endswith(s) and len(name) > len(s)]
    if found:
        return max(found, key=lambda e: len(e.suffix))
    choices = ", ".join(EXPORTERS)
    raise InvalidArgumentError(
        f"{Path(path).name}: unknown export format; use a file name ending in one of: {choices}."
    )


def _source_paths(series: Series | None) -> set[Path]:
    if series is None:
        return set()
    paths = (ref.source.path for ref in series.slice_references())
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
    """Write ``report`` to ``path`` in the format its name ends with (:func:`exporter_for`);
    return the path.

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
    exporter = exporter_for(path)
    if not path.parent.is_dir():
        raise InvalidArgumentError(
            f"{path.name}: the folder to write it in does not exist; create it first."
        )
    _check_destination(path, series)
    context = ExportContext(series=series, keep_identity=keep_identity, uid_map=uid_map)
    write_atomically(path, exporter.render(report, context))
    return path
