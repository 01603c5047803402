"""`radlens report`: one study to every export format; a resumable batch with a broken study."""

from __future__ import annotations

import json
import shutil

import pydicom
import pytest

from app.cli import main
from models.report.exports import EXPORTERS
from tests.files import REPO, data_file, sha256_tree
from tests.synthetic import write_ct_series

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"

RAW = """Findings:
Lines and tubes: None.
Lungs: Patchy opacity in the right lower zone.
Pleura: Unremarkable.
Heart and mediastinum: Unremarkable.
Bones and soft tissues: Unremarkable.

Impression:
1. Right lower zone opacity.
"""


@pytest.mark.parametrize("suffix", list(EXPORTERS))
def test_report_from_raw_to_every_format(tmp_path, capsys, suffix):
    raw = tmp_path / "raw.txt"
    raw.write_text(RAW)
    out = tmp_path / f"report{suffix}"
    args = ["report", str(DEMO_CXR), "--model", "medgemma-1.5-4b", "--from-raw", str(raw)]
    assert main([*args, "--out", str(out)]) == 0
    assert "Draft report: frontal chest radiograph" in capsys.readouterr().out
    data = out.read_bytes()
    if suffix == ".md":
        text = data.decode()
        assert "AI-generated draft, not for diagnostic use" in text
        assert "Patchy opacity in the right lower zone." in text
    elif suffix == ".json":
        report = json.loads(data)
        assert [f["section"] for f in report["findings"]][1] == "Lungs"
        assert report["impression"][0]["text"] == "Right lower zone opacity."
    elif suffix == ".pdf":
        assert data.startswith(b"%PDF")
    elif suffix == ".dcm":
        ds = pydicom.dcmread(out)
        assert ds.Modality == "SR"
        assert ds.PatientName == "ANONYMIZED"
    elif suffix == ".fhir.json":
        fhir = json.loads(data)
        assert fhir["resourceType"] == "DiagnosticReport"
        assert fhir["status"] == "preliminary"
    else:
        pytest.fail(f"{suffix}: a new export format; check what `radlens report` wrote here")


def test_batch_reports_skip_done_and_record_a_broken_study(tmp_path, capsys, tiny_gemma3):
    studies = tmp_path / "studies"
    write_ct_series(studies / "ct_a", slices=6, rows=32, columns=32)
    shutil.copy(DEMO_CXR, studies / "chest.dcm")
    (studies / "broken").mkdir()
    shutil.copy(data_file("MR_truncated.dcm"), studies / "broken" / "IM0001")
    before = sha256_tree(studies)
    out = tmp_path / "reports"
    args = [
        "report",
        str(studies),
        "--out",
        str(out),
        "--model",
        str(tiny_gemma3),
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--max-new-tokens",
        "8",
        "--no-localize",
    ]
    assert main(args) == 2  # one study failed: exit 2, the others are done
    captured = capsys.readouterr()
    assert "2 done, 0 skipped, 1 failed" in captured.out
    assert "1 of 3 studies failed" in captured.err
    assert sorted(p.name for p in out.glob("*.md")) == ["chest.dcm.md", "ct_a.md"]
    summary = {row["study"]: row for row in json.loads((out / "batch_summary.json").read_text())}
    assert summary["broken"]["status"] == "failed"
    assert "truncated" in summary["broken"]["detail"]
    assert sha256_tree(studies) == before
    # Run again: finished studies are skipped, the broken one is tried (and fails) again.
    assert main(args) == 2
    assert "0 done, 2 skipped, 1 failed" in capsys.readouterr().out


CHOICES = ", ".join(EXPORTERS) + "."  # .md, .json, .pdf, .dcm, .fhir.json.


@pytest.mark.parametrize(
    ("out", "extra", "message"),
    [
        (
            "report.txt",
            [],
            "--out report.txt: the extension picks the format: " + CHOICES,
        ),
        (
            "reports",
            ["--format", ".txt"],
            "--format must be one of " + CHOICES,
        ),
        (
            "reports",
            ["--format", ".MD"],
            "--format must be one of " + CHOICES,
        ),
    ],
    ids=["unknown-extension", "unknown-batch-format", "batch-format-is-exact"],
)
def test_report_refuses_an_unknown_format_before_loading_a_model(
    tmp_path, capsys, out, extra, message
):
    studies = tmp_path / "studies"
    studies.mkdir()
    shutil.copy(DEMO_CXR, studies / "chest.dcm")
    # No model is loaded: the default model need not be there, nor the output folder created.
    args = ["report", str(studies), "--out", str(tmp_path / out), *extra]
    assert main(args) == 2
    assert capsys.readouterr().err == f"radlens: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studies"]


def test_report_help_lists_the_registered_formats(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["report", "--help"])
    assert exited.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"report file ({', '.join(EXPORTERS)}) or folder" in help_text
    assert "batch: output format (default .md)" in help_text
