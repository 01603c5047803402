"""A sentinel study through every CLI path: no identifier reaches an output, a log or a prompt.

The study carries unique patient name, ID, birth date, accession number and institution strings.
It goes through info, render, prepare (the exact prompt), ask and report with a tiny real model,
and every export at default settings; afterwards stdout, stderr, the log records, the prepared
messages and every written file (PDF text extracted too) are scanned for the sentinels, and the
input files' checksums must be unchanged.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pydicom
import pytest

from app.cli import main
from tests.files import sha256_tree
from tests.synthetic import write_ct_series

SENTINELS = {
    "PatientName": "ZQXSENTINEL^NAME",
    "PatientID": "ZQX-ID-4242",
    "PatientBirthDate": "19370412",
    "AccessionNumber": "ZQXACC99",
    "InstitutionName": "ZQX SENTINEL INSTITUTE",
}
NEEDLES = ["ZQXSENTINEL", "ZQX-ID-4242", "19370412", "ZQXACC99", "ZQX SENTINEL"]


@pytest.fixture(scope="module")
def sentinel_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sentinel") / "study"
    info = write_ct_series(folder, slices=6, rows=64, columns=64)
    for path in info.paths:
        ds = pydicom.dcmread(path)
        for keyword, value in SENTINELS.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return folder


def _texts(folder: Path) -> list[tuple[str, str]]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found.append((path.name, data.decode("latin-1")))
        if path.suffix == ".pdf":
            text = subprocess.run(
                ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
            ).stdout
            found.append((f"{path.name} (text)", text))
    return found


def test_no_identifier_leaves_through_any_path(
    sentinel_study: Path, tmp_path: Path, tiny_gemma3: Path, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    before = sha256_tree(sentinel_study)
    out = tmp_path / "out"
    out.mkdir()
    study = str(sentinel_study)
    model = ["--model", str(tiny_gemma3), "--precision", "fp32", "--device", "cpu"]
    runs = [
        ["info", study, "--json"],
        ["render", study, "--out", str(out / "slice.png")],
        [
            "prepare",
            study,
            "--task",
            "ask",
            "--question",
            "Any nodule?",
            "--model",
            "medgemma-1.5-4b",
            "--out",
            str(out / "prepared"),
        ],
        ["ask", study, "Any nodule?", "--json", "--max-new-tokens", "6", *model],
    ]
    report = ["--max-new-tokens", "6", "--no-localize", *model]
    runs.extend(
        ["report", study, "--out", str(out / f"report{suffix}"), *report]
        for suffix in (".md", ".json", ".pdf", ".dcm", ".fhir.json")
    )
    outputs = []
    for args in runs:
        assert main(args) == 0, args
        captured = capsys.readouterr()
        outputs.append((f"radlens {args[0]} stdout", captured.out))
        outputs.append((f"radlens {args[0]} stderr", captured.err))
    outputs.append(("log records", "\n".join(r.getMessage() for r in caplog.records)))
    outputs.extend(_texts(out))
    assert len(_texts(out)) >= 10  # png, prepared images + json, five reports, pdf text
    for where, text in outputs:
        for needle in NEEDLES:
            assert needle not in text, f"{needle!r} leaked into {where}"
    assert sha256_tree(sentinel_study) == before
    # The DICOM SR is de-identified, not blank: it still names a (pseudonymous) patient.
    sr = pydicom.dcmread(out / "report.dcm")
    assert sr.PatientName == "ANONYMIZED"
