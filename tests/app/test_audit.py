"""The audit log: one JSON line per model task, hashes and keys only, owner-only, append-only."""

from __future__ import annotations

import hashlib
import json
import logging
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import handlers_report as report
from app.audit import AUDITED, FIELDS, AuditLog, default_audit_path, user_of
from app.services import Services
from dicom_io.loader import load_study
from dicom_io.study import Study
from models.tasks.names import TaskName
from tests.app.conftest import ScriptedBackend, localizes_everything, scripted
from tests.app.test_ui_handlers import asking, drafting, drive, scripted_reply
from tests.synthetic import write_ct_series

QUESTION = "Is the nodule in the right upper lobe malignant?"
ANSWER = "The right upper lobe nodule looks benign, calcified and stable."


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audit") / "ct"
    write_ct_series(folder, slices=20, rows=64, columns=32, spacing=(2.0, 0.5, 1.0))
    return folder


@pytest.fixture(scope="module")
def ct(ct_folder: Path) -> Study:
    return load_study(ct_folder)


def test_default_location_follows_the_environment(tmp_path: Path):
    assert default_audit_path({"RADLENS_AUDIT_LOG": str(tmp_path / "a.jsonl")}) == (
        tmp_path / "a.jsonl"
    )
    assert default_audit_path({"XDG_STATE_HOME": "/srv/state"}) == Path(
        "/srv/state/radlens/audit.jsonl"
    )
    assert default_audit_path({}) == Path.home() / ".local/state/radlens/audit.jsonl"
    assert AuditLog().path == Path(default_audit_path())  # the session's RADLENS_AUDIT_LOG


def test_lines_are_appended_to_an_owner_only_file(tmp_path: Path):
    log = AuditLog(tmp_path / "state" / "radlens" / "audit.jsonl")
    first = log.record(
        "ask", user="alice", study="s1", series="r1", model="m", prompt_version="1", output="a"
    )
    before = log.path.read_bytes()
    log.record(
        "report", user="", study="s2", series="r2", model="m", prompt_version="2", output=b"b"
    )
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700
    assert log.path.read_bytes().startswith(before)  # appended, the first line untouched
    lines = _lines(log.path)
    assert lines[0] == first
    assert [tuple(line) for line in lines] == [FIELDS, FIELDS]  # these fields, in this order
    assert [line["user"] for line in lines] == ["alice", "local"]
    assert [line["output_sha256"] for line in lines] == [_sha256("a"), _sha256("b")]
    written = datetime.fromisoformat(lines[1]["time"])
    assert written.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - written) < timedelta(minutes=1)


def test_a_write_failure_is_logged_and_the_task_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    (tmp_path / "file").write_text("not a folder")
    log = AuditLog(tmp_path / "file" / "audit.jsonl")
    with caplog.at_level(logging.WARNING, logger="app.audit"):
        line = log.record(
            "ask", user="u", study="s", series="r", model="m", prompt_version="1", output="x"
        )
    assert line is None
    (record,) = caplog.records
    assert record.getMessage().startswith(f"audit log {log.path}: could not write (")
    assert record.getMessage().endswith("); the task went on.")


def test_the_user_is_the_login_or_local():
    class Request:
        username: str | None = None

    assert user_of(None) == "local"
    assert user_of(Request()) == "local"
    request = Request()
    request.username = "dr.jones"
    assert user_of(request) == "dr.jones"


def test_ask_report_and_export_are_audited_without_identity_or_text(
    ct: Study, ct_folder: Path, tmp_path: Path
):
    def reply(prompt: str) -> str:
        return ANSWER if QUESTION in prompt else scripted_reply(prompt)

    services, backend = scripted(reply, can=localizes_everything())
    services.audit = AuditLog(tmp_path / "audit.jsonl")
    drive(asking(services, QUESTION, ct, user="alice"))
    *_, drafted = drive(drafting(services, ct, "haemoptysis", user="alice"))
    text, drafted_report = drafted[0], drafted[3]
    shown, _ = report.export(services, drafted_report, ".json", text, ct, user="alice")

    ask_line, report_line, export_line = _lines(services.audit.path)
    series = ct.default_series
    for line, task in [(ask_line, "ask"), (report_line, "report"), (export_line, "export")]:
        assert tuple(line) == FIELDS
        assert (line["user"], line["task"]) == ("alice", task)
        assert (line["study"], line["series"]) == (ct.key, series.key)
        assert line["model"] == "scripted"  # the backend that wrote it
        assert line["prompt_version"] == drafted_report.prompt_version
    assert ask_line["output_sha256"] == _sha256(ANSWER)
    assert report_line["output_sha256"] == _sha256(drafted_report.raw)
    export_bytes = Path(shown["value"]).read_bytes()
    assert export_line["output_sha256"] == hashlib.sha256(export_bytes).hexdigest()
    assert len(backend.calls) == 3  # the answer, the report, one localization

    logged = services.audit.path.read_text()
    header = next(ct_folder.iterdir()).read_bytes()
    assert b"SYNTHETIC^PHANTOM" in header  # the patient's name is in the files...
    for secret in ("SYNTHETIC", "PHANTOM", QUESTION, "malignant", ANSWER, "benign", "haemopt"):
        assert secret.lower() not in logged.lower()  # ...never in the log
    assert "nodule" not in logged.lower()  # nor a word of the report


def test_a_stopped_answer_is_audited_too(ct: Study, tmp_path: Path):
    backend = ScriptedBackend(lambda prompt: ANSWER, delay=0.05, chunk=4)
    services = Services(
        model_id="medgemma-1.5-4b",
        open_backend=lambda spec, precision, device: backend,
        audit=AuditLog(tmp_path / "audit.jsonl"),
    )
    services.missing = lambda spec: ""  # type: ignore[method-assign]
    updates = asking(services, QUESTION, ct)
    for update in updates:
        if update[1][-1]["role"] == "assistant":
            update[3].cancel()
            break
    *_, last = updates
    (line,) = _lines(services.audit.path)
    assert line["user"] == "local"
    shown = last[1][-1]["content"].removesuffix("*(stopped)*").strip()
    assert shown
    assert len(shown) < len(ANSWER)
    # The hash is of what the model wrote before Stop (shown without its trailing space).
    written = [ANSWER[:n] for n in range(len(ANSWER)) if ANSWER[:n].strip() == shown]
    assert line["output_sha256"] in {_sha256(text) for text in written}


def test_command_line_tasks_are_audited_as_the_account_that_ran_them(
    ct: Study, ct_folder: Path, tmp_path: Path, tiny_gemma3: Path, monkeypatch, capsys
):
    from app.audit import cli_user
    from app.cli import main

    log = tmp_path / "cli-audit.jsonl"
    monkeypatch.setenv("RADLENS_AUDIT_LOG", str(log))
    monkeypatch.setenv("LOGNAME", "dr.okafor")
    assert cli_user() == "dr.okafor"
    model = ["--model", str(tiny_gemma3), "--precision", "fp32", "--device", "cpu"]
    model += ["--slices", "4"]
    assert main(["ask", str(ct_folder), QUESTION, "--json", "--max-new-tokens", "4", *model]) == 0
    answer = json.loads(capsys.readouterr().out)
    out = tmp_path / "report.json"
    report_args = ["--max-new-tokens", "4", "--no-localize", *model]
    assert main(["report", str(ct_folder), "--out", str(out), *report_args]) == 0
    raw = tmp_path / "raw.txt"
    raw.write_text(json.loads(out.read_text())["raw"])
    again = tmp_path / "again.md"
    assert main(["report", str(ct_folder), "--out", str(again), "--from-raw", str(raw)]) == 0

    lines = _lines(log)
    assert [line["task"] for line in lines] == ["ask", "report", "export", "export"]
    assert all(line["user"] == "dr.okafor" for line in lines)
    assert {(line["study"], line["series"]) for line in lines} == {(ct.key, ct.default_series.key)}
    assert lines[0]["output_sha256"] == _sha256(answer["raw"])
    assert lines[1]["output_sha256"] == _sha256(raw.read_text())
    assert lines[2]["output_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert lines[3]["output_sha256"] == hashlib.sha256(again.read_bytes()).hexdigest()
    assert QUESTION.lower() not in log.read_text().lower()


def test_an_account_without_a_name_is_local(monkeypatch):
    from app.audit import cli_user

    def nameless() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr("getpass.getuser", nameless)
    assert cli_user() == "local"


def test_tasks_are_recorded_by_their_plain_names(tmp_path: Path):
    log = AuditLog(tmp_path / "audit.jsonl")
    for task in AUDITED:
        log.record(task, user="u", study="s", series="r", model="m", prompt_version="1", output="")
    assert [line["task"] for line in _lines(log.path)] == [
        "ask",
        "report",
        "compare",
        "check",
        "export",
    ]
    assert '"task": "compare"' in log.path.read_text().splitlines()[2]
    with pytest.raises(
        ValueError, match="Task 'grounding' is not audited; use one of ask, report"
    ):
        log.record(
            TaskName.GROUNDING,
            user="u",
            study="s",
            series="r",
            model="m",
            prompt_version="1",
            output="",
        )
