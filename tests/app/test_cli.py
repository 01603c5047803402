"""`radlens info` and `radlens render` on real files; errors exit 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from PIL import Image

from app.cli import main
from tests.files import REPO, data_file, sha256_tree
from tests.synthetic import write_ct_series, write_multi_series_folder


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_info_json_on_a_chest_radiograph(capsys):
    assert main(["info", str(data_file("RG1_UNCR.dcm")), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["schema"] == "radlens.info/1"
    (series,) = summary["series"]
    assert series["modality"] == "CR"
    assert series["view_position"] == "PA"
    assert series["body_part"] == "CHEST"
    assert series["shape"] == [1, 1955, 1841]
    assert series["photometric"] == "MONOCHROME1"
    assert series["default_window"] == {"center": 15000.0, "width": 30000.0, "source": "dicom"}
    assert series["value_range"] == [874.0, 26479.0]
    assert series["spacing_known"] is False
    assert summary["skipped_count"] == 0


def test_info_json_on_a_synthetic_ct_folder(tmp_path, capsys):
    write_multi_series_folder(tmp_path, slices=12, rows=32, columns=32)
    (tmp_path / "notes.txt").write_text("exported by PACS")
    assert main(["info", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    default = summary["series"][summary["default_series"] - 1]
    assert default["modality"] == "CT"
    assert default["shape"] == [12, 32, 32]
    assert default["spacing_mm"] == [1.25, 0.7, 0.7]
    assert default["orientation"] == "axial"
    assert default["units"] == "HU"
    assert default["value_range"][0] >= -1024
    assert default["default_window"]["center"] == 40.0
    assert [s["flags"] for s in summary["series"] if "localizer" in s["flags"]] == [
        ["localizer"],
        ["localizer"],
    ]
    assert summary["skipped"] == [
        {
            "name": "notes.txt",
            "reason": "not a DICOM, NIfTI, PNG or JPEG file (unrecognised content).",
        }
    ]
    for key in ("PatientName", "SYNTHETIC^PHANTOM", "StudyInstanceUID"):
        assert key not in json.dumps(summary)


def test_info_text_lists_series(capsys):
    assert main(["info", str(data_file("MR_small.dcm"))]) == 0
    out = capsys.readouterr().out
    assert "MR_small.dcm: 1 series" in out
    assert "64x64" in out
    assert "window 600/1600 (dicom)" in out


def test_render_writes_the_viewer_image(tmp_path):
    info = write_ct_series(
        tmp_path / "ct", slices=10, rows=32, columns=48, spacing=(2.0, 0.5, 0.5)
    )
    before = sha256_tree(tmp_path / "ct")
    out = tmp_path / "coronal.png"
    code = main(
        [
            "render",
            str(tmp_path / "ct"),
            "--plane",
            "coronal",
            "--slice",
            "16",
            "--window",
            "40,400",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    image = np.asarray(Image.open(out))
    assert image.shape == (40, 48)  # 10 slices x 2 mm over 48 columns x 0.5 mm: square pixels
    assert sha256_tree(tmp_path / "ct") == before
    axial = tmp_path / "axial.png"
    assert (
        main(
            [
                "render",
                str(tmp_path / "ct"),
                "--slice",
                "3",
                "--window",
                "40,400",
                "--out",
                str(axial),
            ]
        )
        == 0
    )
    pixels = np.asarray(Image.open(axial))
    expected = np.clip(np.rint((info.hu[3] - 39.5) / 399.0 * 255 + 127.5), 0, 255)
    np.testing.assert_array_equal(pixels, expected.astype(np.uint8))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "{missing}"], "radlens: error: {missing}: no such file or folder."),
        (
            ["info", "{rtplan}"],
            "radlens: error: rtplan.dcm: no pixel data (RT Plan Storage); not an image.",
        ),
        (["info", "{truncated}"], "radlens: error: MR_truncated.dcm: truncated"),
        (
            ["render", "{ct}", "--window", "abdomen", "--out", "{out}"],
            "radlens: error: Unknown window 'abdomen'",
        ),
        (
            ["render", "{ct}", "--plane", "coronal", "--out", "{out}"],
            "radlens: error: The series has a single image",
        ),
        (
            ["render", "{ct}", "--out", "{tmp}/x.jpg"],
            "radlens: error: --out x.jpg: the output must be a .png file.",
        ),
        (["frobnicate"], "radlens: error: argument command: invalid choice"),
        (
            ["render", "{ct}", "--out", "{tmp}/no/such/folder/x.png"],
            "radlens: error: --out {tmp}/no/such/folder/x.png: cannot write there: no folder "
            "{tmp}/no/such/folder.",
        ),
        (
            ["report", "{cxr}", "--from-raw", "{raw}", "--out", "{tmp}/no/such/report.md"],
            "radlens: error: report.md: the folder to write it in does not exist; create it "
            "first.",
        ),
    ],
    ids=[
        "missing",
        "rtplan",
        "truncated",
        "bad-window",
        "plane-of-2d",
        "not-png",
        "bad-command",
        "render-to-missing-folder",
        "report-to-missing-folder",
    ],
)
def test_errors_exit_2_with_one_line_and_no_traceback(tmp_path, args, message):
    values = {
        "missing": str(tmp_path / "missing.dcm"),
        "rtplan": str(data_file("rtplan.dcm")),
        "truncated": str(data_file("MR_truncated.dcm")),
        "ct": str(data_file("CT_small.dcm")),
        "out": str(tmp_path / "out.png"),
        "tmp": str(tmp_path),
        "cxr": str(REPO / "assets" / "demo" / "chest_pa_cr.dcm"),
        "raw": str(tmp_path / "raw.txt"),
    }
    (tmp_path / "raw.txt").write_text("Findings:\nLungs: Clear.\n\nImpression:\n1. Normal.")
    result = run_cli(*(a.format(**values) for a in args))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message.format(**values))
    assert "Traceback" not in result.stderr


def test_deid_writes_a_deidentified_copy_and_leaves_the_input_alone(tmp_path):
    info = write_ct_series(tmp_path / "in", slices=3, rows=16, columns=16)
    before = sha256_tree(tmp_path / "in")
    result = run_cli("deid", str(tmp_path / "in"), str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert sha256_tree(tmp_path / "in") == before
    written = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(written) == 3
    ds = pydicom.dcmread(written[0])
    assert ds.PatientIdentityRemoved == "YES"
    assert "SYNTHETIC" not in str(ds.PatientName)
    assert ds.StudyInstanceUID != info.study_uid
    for path in written:
        assert b"SYNTHETIC^PHANTOM" not in path.read_bytes()


def test_deid_refuses_to_write_into_its_input(tmp_path):
    write_ct_series(tmp_path / "in", slices=2, rows=16, columns=16)
    result = run_cli("deid", str(tmp_path / "in"), str(tmp_path / "in" / "copy"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "in" / "copy").exists()


def test_an_internal_error_is_named_by_its_type_only(monkeypatch, capsys, tmp_path):
    import app.commands_report as commands_report
    import dicom_io.loader

    def broken(*args, **kwargs):
        raise RuntimeError("while reading DOE^JANE")

    monkeypatch.setattr(dicom_io.loader, "load_studies", broken)
    assert main(["info", str(data_file("CT_small.dcm"))]) == 1
    err = capsys.readouterr().err
    assert err == (
        "radlens: internal error: RuntimeError (run with --debug for the traceback, which may "
        "show patient data)\n"
    )
    with pytest.raises(RuntimeError, match="DOE"):
        main(["--debug", "info", str(data_file("CT_small.dcm"))])

    # In a batch, the study's line in the summary file names the type only.
    monkeypatch.setattr(commands_report, "_one", broken)
    studies = tmp_path / "studies"
    write_ct_series(studies / "one", slices=2, rows=16, columns=16)
    out = tmp_path / "out"
    args = ["report", str(studies), "--out", str(out), "--format", ".md"]
    assert main([*args, "--from-raw", str(tmp_path / "unused.txt")]) == 2
    summary = (out / "batch_summary.json").read_text()
    assert "internal error: RuntimeError (rerun this study with --debug)" in summary
    assert "DOE" not in summary + capsys.readouterr().out
