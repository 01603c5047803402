"""Report exports: Markdown lines, JSON round trip, PDF pages and pixels, SR, FHIR, identity."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dicom_io import load_study
from dicom_io.deid.uid_map import UIDMap
from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Series
from models.backends.base import GenerationSettings
from models.grounding.box import Box
from models.report.draft import DISCLAIMER, Finding, FindingStatus, Report, StudyRef
from models.report.exports import DEFAULT_SUFFIX, EXPORTERS, export_report, exporter_for
from models.report.exports.base import ExportContext, Exporter, registry
from models.report.exports.markdown import to_markdown
from models.report.exports.pdf import key_slices, to_pdf
from tests.synthetic import SyntheticSeries, write_ct_series

PDFTOTEXT = shutil.which("pdftotext")
PDFTOPPM = shutil.which("pdftoppm")
SECRET = b"radlens-test-secret-0123456789"

NODULE = Box("nodule", 3, 10.0, 12.0, 20.5, 30.0, (7.0, 8.4, 14.35, 21.0))
EFFUSION = Box("effusion", 7, 40.0, 30.0, 60.0, 50.0)


def _report(**changes: object) -> Report:
    fields: dict[str, object] = {
        "kind": "report",
        "title": "CT chest draft report",
        "technique": "CT CHEST, 10 slices",
        "indication": "cough",
        "findings": (
            Finding("Lungs", "8 mm nodule in the right upper lobe.", (NODULE,)),
            Finding(
                "Pleura",
                "Small left pleural effusion.",
                (EFFUSION,),
                FindingStatus.UNVERIFIED,
                ("negation probe also answered yes",),
                "new",
            ),
        ),
        "impression": (
            Finding("Impression", "Right upper lobe nodule; follow-up CT suggested."),
            Finding("Impression", "Possible small left effusion.", (), FindingStatus.VERIFIED),
        ),
        "study": StudyRef(
            "0123456789abcdef", "fedcba9876543210", 0, "CT", "CHEST", "", tuple(range(10))
        ),
        "model_id": "medgemma-1.5-4b-it",
        "prompt": "report/ct_chest 2026.11.1",
        "prompt_version": "2026.11.1",
        "language": "English",
        "created": "2026-01-02T03:04:05Z",
        "raw": "raw model text",
        "settings": GenerationSettings(max_new_tokens=400, seed=7),
        "seconds": 12.34,
    }
    fields.update(changes)
    return Report(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSeries, Series]:
    folder = tmp_path_factory.mktemp("ct")
    info = write_ct_series(folder, slices=10, rows=64, columns=64)
    return info, load_study(folder).series[0]


# --- Markdown ---------------------------------------------------------------------------------

EXPECTED_MARKDOWN = f"""# CT chest draft report

**{DISCLAIMER}**

**Technique:** CT CHEST, 10 slices

**Indication:** cough

## Findings

### Lungs

- 8 mm nodule in the right upper lobe.
  - box "nodule": slice 3, x 10-20.5, y 12-30 px (7-14.3 x 8.4-21 mm)

### Pleura

- ⚠ unverified: Small left pleural effusion. (change: new)
  - flag: negation probe also answered yes
  - box "effusion": slice 7, x 40-60, y 30-50 px

## Impression

1. Right upper lobe nodule; follow-up CT suggested.
2. ✓ verified: Possible small left effusion.

## Provenance

- Model: medgemma-1.5-4b-it
- Prompt: report/ct_chest 2026.11.1
- Prompt version: 2026.11.1
- Settings: max_new_tokens=400, temperature=0, top_p=1, seed=7
- Created: 2026-01-02T03:04:05Z
- Generation time: 12.3 s
- Series: #1 CT CHEST
- Slices seen: 0-9 (10)
- Language: English

**{DISCLAIMER}**
"""


def test_markdown_is_exactly_the_expected_text(tmp_path: Path) -> None:
    path = export_report(_report(), tmp_path / "report.md")
    assert path.read_text(encoding="utf-8") == EXPECTED_MARKDOWN


def test_markdown_comparison_and_missing_sections() -> None:
    text = to_markdown(
        _report(indication="", comparison="CT of 2025-06-01: nodule grew.", findings=())
    )
    lines = text.splitlines()
    assert "**Indication:**" not in text
    assert lines[6] == "**Comparison:** CT of 2025-06-01: nodule grew."
    assert lines[8:11] == ["## Findings", "", "No findings were reported."]


# --- JSON ----------------------------------------------------------------------------------


def test_json_round_trips(tmp_path: Path) -> None:
    report = _report()
    path = export_report(report, tmp_path / "report.json")
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "schema": "radlens.report/1",')
    data = json.loads(text)
    assert data == json.loads(json.dumps(report.to_json()))  # tuples become lists
    assert data["study"]["slices"] == list(range(10))
    assert data["findings"][1]["boxes"][0] == {
        "label": "effusion",
        "slice": 7,
        "x0": 40.0,
        "y0": 30.0,
        "x1": 60.0,
        "y1": 50.0,
        "mm": None,
    }
    assert data["disclaimer"] == DISCLAIMER


# --- PDF -----------------------------------------------------------------------------------


def _page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", data))


def _pdf_text(path: Path, page: int | None = None) -> str:
    assert PDFTOTEXT is not None
    pages = ["-f", str(page), "-l", str(page)] if page else []
    result = subprocess.run(
        [PDFTOTEXT, *pages, str(path), "-"], capture_output=True, check=True, text=True
    )
    return result.stdout


def test_pdf_pages_images_and_disclaimer(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    report = _report()
    path = export_report(report, tmp_path / "report.pdf", series=ct[1])
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert key_slices(report) == [3, 7]
    assert _page_count(data) == 2  # text and slice 3 on page 1, slice 7 and provenance on 2
    assert data.count(b"/Subtype /Image") == 2
    if PDFTOTEXT is None:
        pytest.fail("pdftotext is missing: `make test` installs poppler-utils")
    for page in (1, 2):
        text = _pdf_text(path, page)
        assert DISCLAIMER in text
        assert "medgemma-1.5-4b-it · prompt version 2026.11.1" in text
    first = _pdf_text(path, 1)
    assert "unverified: Small left pleural effusion. (change: new)" in first
    assert '[2] box "effusion": slice 7, x 40-60, y 30-50 px' in first
    assert "Slice 3 of 10 (default window): [1] nodule." in first


def test_pdf_first_page_renders_with_the_box(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    if PDFTOPPM is None:
        pytest.fail("pdftoppm is missing: `make test` installs poppler-utils")
    path = export_report(_report(), tmp_path / "report.pdf", series=ct[1])
    subprocess.run(
        [PDFTOPPM, "-r", "50", "-f", "1", "-l", "1", "-png", str(path), str(tmp_path / "page")],
        check=True,
    )
    (png,) = tmp_path.glob("page*.png")
    page = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert page.std() > 20  # not blank: text and a CT slice
    dark = (page.sum(axis=2) < 60).mean()
    assert 0.03 < dark < 0.5  # the slice's black background, not the whole page
    r, g, b = page[..., 0], page[..., 1], page[..., 2]
    box_red = (r > 200) & (g < 120) & (b < 120)  # the first box's colour, (255, 64, 64)
    assert box_red.sum() > 50


def test_pdf_without_series_is_text_only(tmp_path: Path) -> None:
    data = export_report(_report(), tmp_path / "report.pdf").read_bytes()
    assert _page_count(data) == 1
    assert b"/Subtype /Image" not in data


# --- DICOM SR through export_report ---------------------------------------------------------


def test_sr_export_references_slice_3_through_the_map(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    info, series = ct
    path = export_report(_report(), tmp_path / "report.dcm", series=series, uid_map=UIDMap(SECRET))
    ds = pydicom.dcmread(path)
    images = [
        item
        for finding in ds.ContentSequence[-2].ContentSequence
        for child in finding.get("ContentSequence", [])
        if child.ValueType == "SCOORD"
        for item in child.ContentSequence
    ]
    slice3 = pydicom.dcmread(info.slice_paths[3], stop_before_pixels=True)
    uid = images[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    assert uid == UIDMap(SECRET)(slice3.SOPInstanceUID)
    assert ds.PatientName == "ANONYMIZED"
    kept = pydicom.dcmread(
        export_report(_report(), tmp_path / "kept.dcm", series=series, keep_identity=True)
    )
    assert kept.PatientName == "SYNTHETIC^PHANTOM"


def test_sr_export_needs_a_series(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="needs the series"):
        export_report(_report(), tmp_path / "report.dcm")
    assert list(tmp_path.iterdir()) == []


# --- FHIR ----------------------------------------------------------------------------------


def test_fhir_parses_back_with_one_observation_per_finding(tmp_path: Path) -> None:
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport
    from fhir.resources.R4B.observation import Observation

    report = _report()
    path = export_report(report, tmp_path / "report.fhir.json")
    resource = DiagnosticReport.model_validate_json(path.read_text(encoding="utf-8"))
    assert resource.status == "preliminary"
    coding = resource.code.coding[0]
    assert (coding.system, coding.code) == ("http://loinc.org", "18748-4")
    observations = [c for c in resource.contained if isinstance(c, Observation)]
    assert [o.valueString for o in observations] == [
        f.text for f in report.findings + report.impression
    ]
    assert [r.reference for r in resource.result] == [f"#{o.id}" for o in observations]
    assert {o.status for o in observations} == {"preliminary"}
    notes = [n.text for n in observations[1].note]
    assert notes == [
        "section: Pleura",
        "status: unverified",
        "flag: negation probe also answered yes",
        "change: new",
        'box "effusion": slice 7, x 40-60, y 30-50 px',
    ]
    form = resource.presentedForm[0]
    assert form.contentType == "text/markdown"
    assert form.data.decode("utf-8") == to_markdown(report)  # the model decodes base64
    written = json.loads(path.read_text(encoding="utf-8"))["presentedForm"][0]["data"]
    assert base64.b64decode(written).decode("utf-8") == to_markdown(report)
    assert resource.conclusion.splitlines() == [
        DISCLAIMER,
        "Impression:",
        "1. Right upper lobe nodule; follow-up CT suggested.",
        "2. verified: Possible small left effusion.",
    ]
    assert f"<p><b>{DISCLAIMER}</b></p>" in resource.text.div
    assert resource.performer[0].display == "RadLens medgemma-1.5-4b-it"
    assert resource.issued.isoformat() == "2026-01-02T03:04:05+00:00"
    assert "subject" not in json.loads(path.read_text(encoding="utf-8"))


# --- every export: disclaimer, identity, safety -----------------------------------------------

EXTENSIONS = list(EXPORTERS)


def _export_text(path: Path, series: Series) -> bytes:
    """What a reader of the file could see: the bytes, plus the PDF's text and raw streams."""
    data = path.read_bytes()
    if path.suffix == ".pdf":
        data += to_pdf(_report(), series, compress=False)
        if PDFTOTEXT is not None:
            data += _pdf_text(path).encode("utf-8")
    return data


@pytest.mark.parametrize("extension", EXTENSIONS, ids=lambda e: e.lstrip("."))
def test_export_has_disclaimer_and_no_identity(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path, extension: str
) -> None:
    info, series = ct
    path = export_report(_report(), tmp_path / f"report{extension}", series=series)
    data = _export_text(path, series)
    if extension == ".fhir.json":
        assert DISCLAIMER.encode() in json.loads(data)["text"]["div"].encode()
    elif extension != ".pdf" or PDFTOTEXT is not None:
        assert DISCLAIMER.encode() in data
    identity = ["SYNTHETIC^PHANTOM", "PHANTOM", "SYNTH-0001", "SYNTH0001", "19000101"]
    identity += ["SYNTHETIC INSTITUTION", "SYNTHETIC^REFERRER", info.study_uid, info.series_uid]
    identity += [
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in info.paths
    ]
    for value in identity:
        assert value.encode() not in data, value


def test_unknown_extension_lists_the_choices(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"report\.txt: .*\.md, \.json, \.pdf, \.dcm"):
        export_report(_report(), tmp_path / "report.txt")
    with pytest.raises(InvalidArgumentError, match=r"\.md: unknown export format"):
        exporter_for(".md")  # a suffix alone is no file name
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("a.FHIR.JSON", ".fhir.json"),
        ("report.json", ".json"),
        ("notes.fhir.json.md", ".md"),
        ("case.tar.DCM", ".dcm"),
    ],
    ids=["fhir-upper-case", "json", "last-suffix-wins", "dcm-upper-case"],
)
def test_exporter_for_picks_the_longest_registered_suffix(name: str, suffix: str) -> None:
    assert exporter_for(name) is EXPORTERS[suffix]
    assert exporter_for(Path("/some/folder") / name).suffix == suffix


def test_registry_keys_are_the_exporters_suffixes() -> None:
    assert all(key == exporter.suffix for key, exporter in EXPORTERS.items())
    assert EXPORTERS[DEFAULT_SUFFIX].choice_label == "Markdown (.md)"
    assert EXPORTERS[".fhir.json"].choice_label == "FHIR DiagnosticReport (.fhir.json)"
    with pytest.raises(TypeError):
        EXPORTERS[".txt"] = EXPORTERS[".md"]  # type: ignore[index]


def _text(report: Report, context: ExportContext) -> bytes:
    return report.title.encode("utf-8")


def test_registry_refuses_two_exporters_for_one_suffix() -> None:
    text = Exporter(".txt", "Text", _text)
    assert list(registry(text, EXPORTERS[".md"])) == [".txt", ".md"]
    with pytest.raises(ValueError, match=r"Two exporters for '\.txt'"):
        registry(text, Exporter(".txt", "Plain text", _text))


@pytest.mark.parametrize(
    ("suffix", "label", "message"),
    [
        ("txt", "Text", "must be lower case and start with a dot, not 'txt'"),
        (".TXT", "Text", "must be lower case and start with a dot, not '.TXT'"),
        (".txt", " ", "'label' must not be empty"),
    ],
    ids=["no-dot", "upper-case", "empty-label"],
)
def test_exporter_checks_its_fields(suffix: str, label: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Exporter(suffix, label, _text)


def test_never_overwrites_the_study(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path / "ct", slices=3, rows=16, columns=16, shuffle_names=False)
    series = load_study(info.folder).series[0]
    target = info.slice_paths[0]  # .../CT00001.dcm
    before = hashlib.sha256(target.read_bytes()).hexdigest()
    with pytest.raises(InvalidArgumentError, match="is a file of the study itself"):
        export_report(_report(), target, series=series)
    other = tmp_path / "image.dcm"
    shutil.copy(info.slice_paths[1], other)
    with pytest.raises(InvalidArgumentError, match="already holds a dicom file"):
        export_report(_report(), other)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    assert other.read_bytes() == info.slice_paths[1].read_bytes()


def test_rewrites_an_earlier_export_atomically(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    path = tmp_path / "report.dcm"
    first = pydicom.dcmread(export_report(_report(), path, series=ct[1])).SOPInstanceUID
    second = pydicom.dcmread(export_report(_report(), path, series=ct[1])).SOPInstanceUID
    assert first != second
    assert [p.name for p in tmp_path.iterdir()] == ["report.dcm"]  # no temporary left behind


def test_failed_export_leaves_nothing(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "x.png")
    series = load_study(tmp_path / "x.png").series[0]
    with pytest.raises(InvalidArgumentError, match="DICOM SR needs a DICOM study"):
        export_report(_report(), tmp_path / "report.dcm", series=series)
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]
