"""A sentinel study through a real ``radlens serve``: no identifier reaches a log, the audit log,
a temporary file, an export or a prompt sent to the model.

The server runs as its own process, as a user starts it, on the sentinel study (opened at
start-up, so the viewer shows it), with its temporary folder, home and state folders inside the
test's folder so everything it writes can be scanned. Its model is the ``remote`` entry pointed
at a recording proxy in front of the session's real ``transformers serve``: the proxy keeps every
request and response body, that is exactly what left the server for the model. Chromium then
uploads the study again, asks in the Chat pane, drafts a report and exports it in every format
at default settings; a ``gradio_client`` calls ``/ask`` and ``/draft_report`` with the study's
files. After SIGTERM the server must have removed its private temporary folder, and the server's
output, the audit log, every file left under its temporary, home and state folders, the exports
(PDF text extracted) and the proxied traffic are scanned for the sentinels. The scan is checked
to find them in the study itself, and the study's checksums must be unchanged.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from playwright.sync_api import expect
from pydicom.uid import JPEG2000Lossless

from app.audit import FIELDS
from models.report.exports import EXPORTERS
from tests.app.test_browser import exported_file
from tests.files import sha256_tree
from tests.models.serving import REPO_ROOT, Server
from tests.network import free_port, serving
from tests.robustness.sentinel import NEEDLES, leaks, readable_texts, write_sentinel_study

READY_SECONDS = 60
MODEL_TIMEOUT_MS = 90_000
EXIT_SECONDS = 30


# --------------------------------------------------------------------------- the recording proxy


@dataclass
class Exchange:
    path: str
    request: bytes
    response: bytes


class _Forward(BaseHTTPRequestHandler):
    server: RecordingProxy

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
        pass

    def _forward(self, method: str) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length) if length else b""
        headers = {
            key: value
            for key, value in self.headers.items()
            if key.lower() in ("content-type", "authorization", "accept")
        }
        with httpx.Client(trust_env=False, timeout=120) as client:
            upstream = client.request(
                method, self.server.upstream + self.path, content=body, headers=headers
            )
        self.server.record(Exchange(self.path, body, upstream.content))
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", upstream.headers.get("content-type", "text/plain"))
        self.send_header("Content-Length", str(len(upstream.content)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(upstream.content)

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")


class RecordingProxy(ThreadingHTTPServer):
    """Forwards every request to ``upstream`` and keeps both bodies (streams are buffered)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)


@pytest.fixture
def proxy(transformers_server: Server) -> Iterator[RecordingProxy]:
    with serving(RecordingProxy(transformers_server.url)) as server:
        yield server


# --------------------------------------------------------------------------- the server process


@dataclass
class ServerRun:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    folders: dict[str, Path] = field(default_factory=dict)

    @property
    def audit(self) -> Path:
        return self.folders["state"] / "radlens" / "audit.jsonl"

    def audit_lines(self) -> list[dict[str, str]]:
        if not self.audit.exists():
            return []
        return [json.loads(line) for line in self.audit.read_text().splitlines()]

    def wait_for_audit(self, task: str, count: int, timeout: float = 90) -> None:
        """Until the audit log holds ``count`` lines of ``task`` (each is written when its task
        has finished)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(line["task"] == task for line in self.audit_lines()) >= count:
                return
            assert self.process.poll() is None, self.log.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        raise AssertionError(f"no {count} {task!r} lines in the audit log: {self.audit_lines()}")


def _start(tmp: Path, study: Path, proxy: RecordingProxy, model_folder: Path) -> ServerRun:
    folders = {name: tmp / name for name in ("tmp", "home", "state", "cache")}
    for folder in folders.values():
        folder.mkdir(mode=0o700, parents=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("RADLENS_AUDIT_LOG", "GRADIO_TEMP_DIR")
    }
    env.update(
        TMPDIR=str(folders["tmp"]),
        HOME=str(folders["home"]),
        XDG_STATE_HOME=str(folders["state"]),
        XDG_CACHE_HOME=str(folders["cache"]),
        RADLENS_REMOTE_URL=proxy.url,
        RADLENS_REMOTE_MODEL=str(model_folder),
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    command += ["--study", str(study), "--model", "remote"]
    log = tmp / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    run = ServerRun(f"http://127.0.0.1:{port}", process, log, folders)
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"radlens serve exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(run.url, timeout=1, trust_env=False).status_code == 200:
                return run
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop(process)
    pytest.fail(f"radlens serve did not answer within {READY_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired as err:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(
            f"radlens serve did not exit within {EXIT_SECONDS} s of SIGTERM"
        ) from err


# --------------------------------------------------------------------------- the browser steps


LAST_ANSWER = """() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    return bots.length ? bots[bots.length - 1].innerText.trim() : '';
}"""


def _use_the_browser(page: Any, run: ServerRun, study_files: list[Path], exports: Path) -> None:
    page.goto(run.url)
    page.wait_for_function(
        "() => { const i = document.querySelector('#viewer img');"
        " return i !== null && i.complete && i.naturalWidth > 0; }"
    )
    page.get_by_role("tab", name="Settings").click()
    number = page.locator("#max-new-tokens input[type=number]")
    number.fill("16")
    number.press("Enter")

    shown = page.locator("#viewer img").get_attribute("src")
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in study_files])
    page.wait_for_function(
        "old => { const i = document.querySelector('#viewer img');"
        " return i !== null && i.src !== old && i.complete; }",
        arg=shown,
    )

    page.get_by_role("tab", name="Chat").click()
    page.locator("#chat-input textarea").fill("Any nodule?")
    page.locator("#chat-input textarea").press("Enter")
    page.wait_for_function(f"() => ({LAST_ANSWER})().length > 0", timeout=MODEL_TIMEOUT_MS)
    run.wait_for_audit("ask", 1)

    page.get_by_role("tab", name="Report").click()
    page.locator("#indication textarea").fill("cough")
    page.locator("#draft-report").click()
    run.wait_for_audit("report", 1)
    expect(page.locator("#report textarea")).to_have_value(
        re.compile(r"^Draft report: CT"), timeout=MODEL_TIMEOUT_MS
    )

    for count, exporter in enumerate(EXPORTERS.values(), start=1):
        response = exported_file(page, "export", exporter.choice_label, exporter.suffix)
        run.wait_for_audit("export", count)
        (exports / f"ui-report{exporter.suffix}").write_bytes(response.body())


def _use_the_api(run: ServerRun, study_files: list[Path], exports: Path) -> None:
    client = Client(run.url, verbose=False, download_files=False)
    files = [handle_file(str(p)) for p in study_files]
    answer = client.predict(files, "Any nodule?", 8, api_name="/ask")
    report = client.predict(files, "cough", 8, api_name="/draft_report")
    (exports / "api-answer.json").write_text(json.dumps(answer))
    (exports / "api-report.json").write_text(json.dumps(report))


# --------------------------------------------------------------------------- the test


def test_a_server_run_leaves_no_identifier_anywhere(
    tmp_path: Path,
    proxy: RecordingProxy,
    transformers_server: Server,
    browser_page: Any,
):
    # One sentinel study opens at start-up, a second one (other size, JPEG 2000: decoded in the
    # server's guarded worker processes) is uploaded and sent.
    opened = write_sentinel_study(tmp_path / "opened")
    study = write_sentinel_study(
        tmp_path / "uploaded", slices=8, size=48, transfer_syntax=JPEG2000Lossless
    )
    before = [sha256_tree(opened), sha256_tree(study)]
    study_files = sorted(study.iterdir())
    # The scan finds every sentinel in the study itself: an empty result below means something.
    found = leaks(readable_texts(study))
    assert {needle for needle in NEEDLES if any(repr(needle) in f for f in found)} == set(NEEDLES)

    exports = tmp_path / "exports"
    exports.mkdir()
    run = _start(tmp_path / "server", opened, proxy, transformers_server.folders["gemma3"])
    try:
        _use_the_browser(browser_page, run, study_files, exports)
        _use_the_api(run, study_files, exports)
    finally:
        status = _stop(run.process)
    assert status == 128 + signal.SIGTERM, run.log.read_text(errors="replace")[-2000:]

    # The private folder of uploads and exports is gone with the server.
    assert [p.name for p in run.folders["tmp"].iterdir() if p.name.startswith("radlens-")] == []

    lines = run.audit_lines()
    assert sorted(line["task"] for line in lines) == sorted(
        ["ask", "ask", "report", "report", *["export"] * len(EXPORTERS)]
    )
    assert all(tuple(line) == FIELDS and line["user"] == "local" for line in lines)
    assert oct(run.audit.stat().st_mode & 0o777) == "0o600"

    prompts = [e for e in proxy.exchanges if e.path.endswith("/chat/completions")]
    assert len(prompts) >= 4  # two answers and two reports at least
    assert all(b'"image_url"' in e.request for e in prompts)  # the images did go

    scanned: list[tuple[str, str]] = [("server output", run.log.read_text(errors="replace"))]
    scanned.append(("audit log", run.audit.read_text()))
    for name in ("tmp", "home", "state", "cache"):
        scanned.extend(
            (f"{name}/{where}", text) for where, text in readable_texts(run.folders[name])
        )
    written = readable_texts(exports)
    assert len(written) == len(EXPORTERS) + 2 + 1  # the PDF's text too
    scanned.extend(written)
    for number, exchange in enumerate(proxy.exchanges):
        scanned.append(
            (f"request {number} to {exchange.path}", exchange.request.decode("latin-1"))
        )
        scanned.append((f"response {number}", exchange.response.decode("latin-1")))
    assert leaks(scanned) == []
    assert [sha256_tree(opened), sha256_tree(study)] == before
