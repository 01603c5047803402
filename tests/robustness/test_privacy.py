"""A sentinel study through every CLI path: no identifier reaches an output, a log or a prompt.

The study carries unique patient name, ID, birth date, accession number and institution strings.
It goes through info, render, prepare (the exact prompt), ask and report with a tiny real model,
and every export at default settings; afterwards stdout, stderr, the log records, the audit log,
the prepared messages and every written file (PDF text extracted too) are scanned for the
sentinels, and the input files' checksums must be unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pydicom
import pytest

from app.cli import main
from models.report.exports import EXPORTERS
from tests.files import sha256_tree
from tests.robustness.sentinel import leaks, readable_texts, write_sentinel_study


@pytest.fixture(scope="module")
def sentinel_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sentinel_study(tmp_path_factory.mktemp("sentinel") / "study")


def test_no_identifier_leaves_through_any_path(
    sentinel_study: Path, tmp_path: Path, tiny_gemma3: Path, capsys, caplog, audit_log: Path
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
        ["report", study, "--out", str(out / f"report{suffix}"), *report] for suffix in EXPORTERS
    )
    outputs = []
    for args in runs:
        assert main(args) == 0, args
        captured = capsys.readouterr()
        outputs.append((f"radlens {args[0]} stdout", captured.out))
        outputs.append((f"radlens {args[0]} stderr", captured.err))
    outputs.append(("log records", "\n".join(r.getMessage() for r in caplog.records)))
    audited = audit_log.read_text()
    assert audited.count('"task": "export"') >= 5  # the command line audits its tasks
    outputs.append(("audit log", audited))
    written = readable_texts(out)
    assert len(written) >= 10  # png, prepared images + json, five reports, pdf text
    assert leaks(outputs + written) == []
    assert sha256_tree(sentinel_study) == before
    # The DICOM SR is de-identified, not blank: it still names a (pseudonymous) patient.
    sr = pydicom.dcmread(out / "report.dcm")
    assert sr.PatientName == "ANONYMIZED"
