"""Requests in flight at once (issue 16 item 11): up to N with a remote model, one locally.

A fake OpenAI-compatible server (:class:`CountingServer`) counts the chat completions it holds
at once. It holds each request until ``gather`` of them are in flight together (then answers
all of them), so the most in flight is exactly what the client side allows, whatever the
machine's speed: no timing is asserted. If the client never sends ``gather`` at once, each
request is answered after a safety wait and the count shows the shortfall.

vLLM and SGLang batch concurrent requests continuously (their docs: vLLM "continuous batching
of incoming requests"; SGLang's RadixAttention scheduler), which is why the remote model may have
RADLENS_REMOTE_CONCURRENCY (default 8) requests in flight, in the UI's model queue and in
``radlens report`` batches.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app.cli import _build_parser, main
from app.services import RunningTasks, Services
from app.ui_events import _model_task, model_queue
from models.backends.base import CancelToken
from tests.app.clients import GenerationCounter, StudyFiles, run_clients, write_studies
from tests.app.conftest import RadLensServer, ScriptedBackend, scripted

SAFETY_WAIT = 30.0  # seconds a request waits for the others before it is answered anyway
REPLY = "Findings:\nLungs: Clear.\n\nImpression:\n1. No acute finding."
FAIL_MARK = "axial, 8 slices at"  # the technique of study 2 (6 + 2 slices): its request fails


class _Handler(BaseHTTPRequestHandler):
    server: CountingServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        text = json.dumps(body.get("messages", []))
        self.server.hold()
        try:
            if FAIL_MARK in text:
                self._fail()
            else:
                self._answer()
        finally:
            self.server.leave()

    def _fail(self) -> None:
        data = json.dumps({"error": {"message": "model overloaded (scripted)"}}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for content, finish in ((REPLY, None), ("", "stop")):
            choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
            event = {"object": "chat.completion.chunk", "choices": [choice]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        usage = {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


class CountingServer(ThreadingHTTPServer):
    """Chat completions held until ``gather`` are in flight; :attr:`peak` is the most at once."""

    daemon_threads = True

    def __init__(self, gather: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.gather = gather
        self.peak = self.requests = self._in_flight = 0
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def hold(self) -> None:
        with self._changed:
            self._in_flight += 1
            self.requests += 1
            self.peak = max(self.peak, self._in_flight)
            self._changed.notify_all()
            # Once ``gather`` were in flight together, later requests need not wait: the peak
            # is reached, and a batch ending one study at a time keeps fewer in flight.
            self._changed.wait_for(lambda: self.peak >= self.gather, SAFETY_WAIT)

    def leave(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()


@pytest.fixture
def counting() -> Iterator[Callable[[int], CountingServer]]:
    started: list[CountingServer] = []

    def start(gather: int) -> CountingServer:
        server = CountingServer(gather)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> list[StudyFiles]:
    return write_studies(tmp_path_factory.mktemp("concurrency") / "studies", 8, size=24)


def _remote(monkeypatch: pytest.MonkeyPatch, server: CountingServer, **more: str) -> None:
    settings = {"URL": server.url, "MODEL": "served-qwen", "FAMILY": "qwen2_5_vl", **more}
    for key, value in settings.items():
        monkeypatch.setenv(f"RADLENS_REMOTE_{key}", value)


def _batch_folder(studies: list[StudyFiles]) -> Path:
    return studies[0].paths[0].parents[1]  # studies/study-00/<files>


# --------------------------------------------------------------------------- radlens report


@pytest.mark.parametrize(
    ("flag", "setting", "expected"),
    [([], "4", 4), (["--concurrency", "2"], "8", 2)],
    ids=["from-the-setting", "from-the-flag"],
)
def test_a_remote_batch_sends_n_studies_at_once_in_order_with_errors_per_study(
    monkeypatch: pytest.MonkeyPatch,
    counting: Callable[[int], CountingServer],
    studies: list[StudyFiles],
    tmp_path: Path,
    flag: list[str],
    setting: str,
    expected: int,
) -> None:
    server = counting(expected)
    _remote(monkeypatch, server, CONCURRENCY=setting)
    out = tmp_path / "reports"
    args = ["report", str(_batch_folder(studies)), "--model", "remote", "--out", str(out)]
    code = main([*args, "--format", ".json", "--no-localize", *flag])

    assert code == 2  # study 2's request failed
    assert (server.requests, server.peak) == (8, expected)
    rows = json.loads((out / "batch_summary.json").read_text())
    assert [r["study"] for r in rows] == [s.name for s in studies]  # the folder's order
    assert [r["status"] for r in rows] == ["done"] * 2 + ["failed"] + ["done"] * 5
    assert "answered HTTP 503: model overloaded (scripted)" in rows[2]["detail"]
    written = sorted(p.name for p in out.glob("study-*.json"))
    assert written == [f"{s.name}.json" for s in studies if s.name != "study-02"]
    report = json.loads((out / "study-05.json").read_text())
    assert report["study"]["study_key"] == studies[5].key  # each report is its own study's


class _Counted(ScriptedBackend):
    def __init__(self, counter: GenerationCounter) -> None:
        super().__init__(lambda prompt: REPLY)
        self._counter = counter

    def stream(self, request: Any, cancel: Any = None) -> Any:
        with self._counter.running():
            return (yield from super().stream(request, cancel))


def test_a_local_batch_runs_one_study_at_a_time_and_refuses_more(
    monkeypatch: pytest.MonkeyPatch, studies: list[StudyFiles], tmp_path: Path, capsys: Any
) -> None:
    counter = GenerationCounter()
    monkeypatch.setattr(
        "models.backends.engine.open_backend", lambda spec, precision, device: _Counted(counter)
    )
    monkeypatch.setenv("RADLENS_REMOTE_CONCURRENCY", "8")  # a remote setting: not for local
    out = tmp_path / "reports"
    args = ["report", str(_batch_folder(studies)), "--model", "medgemma-1.5-4b", "--out", str(out)]
    assert main([*args, "--concurrency", "4"]) == 2
    assert "--concurrency 4 needs the remote model (--model remote)" in capsys.readouterr().err
    assert counter.started == 0  # refused before any model work

    assert main([*args, "--format", ".json", "--no-localize"]) == 0
    assert (counter.started, counter.peak) == (8, 1)


def test_stop_ends_a_study_in_flight_without_writing_it(tmp_path: Path) -> None:
    from app.commands_report import _report_one, _Stoppable

    stop = CancelToken()
    backend = _Stoppable(ScriptedBackend(lambda prompt: REPLY, hold=lambda prompt: True), stop)
    stop.cancel()  # Ctrl-C came while the batch ran
    study = _batch_folder_of_one(tmp_path)
    target = tmp_path / "out.json"
    command = ["report", str(study), "--out", str(target), "--no-localize"]
    args = _build_parser().parse_args(command)
    from models.registry.lookup import get_spec

    row = _report_one(args, study, target, backend, get_spec("medgemma-1.5-4b"))
    assert (row.status, row.detail) == ("stopped", "stopped before it was written")
    assert not target.exists()


def _batch_folder_of_one(tmp_path: Path) -> Path:
    from tests.synthetic import write_ct_series

    folder = tmp_path / "one"
    write_ct_series(folder, slices=4, rows=24, columns=24)
    return folder


# --------------------------------------------------------------------------- the app


def test_the_model_queue_is_n_wide_for_a_remote_model_and_one_for_a_local_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RADLENS_REMOTE_CONCURRENCY", "5")
    local, _ = scripted(lambda prompt: REPLY)
    assert (local.concurrency(), model_queue(local)["concurrency_limit"]) == (1, 1)
    remote = Services(model_id="remote")
    assert (remote.concurrency(), model_queue(remote)["concurrency_limit"]) == (5, 5)
    assert model_queue(remote)["concurrency_id"] == "gpu"
    assert remote.concurrency(local.spec()) == 1  # a local model picked on a remote server


def test_the_app_sends_n_requests_at_once_to_a_remote_server(
    monkeypatch: pytest.MonkeyPatch,
    counting: Callable[[int], CountingServer],
    start_server: Callable[..., RadLensServer],
    studies: list[StudyFiles],
) -> None:
    from app.server import DEMO_STUDY

    server = counting(4)
    _remote(monkeypatch, server, CONCURRENCY="4")
    services = Services(initial_study=DEMO_STUDY, model_id="remote", api=True)
    app = start_server(services)
    answered = [s for s in studies if s.name != "study-02"][:4] * 2  # 8 calls, none failing
    calls = run_clients(app.url, answered, requests_per_client=1, max_new_tokens=16)
    assert [c.error for c in calls] == [None] * 8
    assert all(c.result and c.result["answer"].startswith("Findings:") for c in calls)
    assert (server.requests, server.peak) == (8, 4)


def test_the_app_sends_a_local_model_one_request_at_a_time(
    start_server: Callable[..., RadLensServer], studies: list[StudyFiles]
) -> None:
    counter = GenerationCounter()
    services, _ = scripted(lambda prompt: REPLY, delay=0.01)
    services.api = True
    services.open_backend = counter.wrap(lambda spec, precision, device: ScriptedBackend(
        lambda prompt: REPLY, delay=0.01
    ))  # fmt: skip
    app = start_server(services)
    calls = run_clients(app.url, studies[:4], requests_per_client=1, max_new_tokens=16)
    assert [c.error for c in calls] == [None] * 4
    assert (counter.started, counter.peak) == (4, 1)


# --------------------------------------------------------------------------- Stop


def test_stop_cancels_every_task_a_page_runs() -> None:
    running = RunningTasks()
    first, second, other = CancelToken(), CancelToken(), CancelToken()
    running.track("page-a", first)
    running.track("page-a", second)
    running.track("page-a", second)  # the same token again counts once
    running.track("page-b", other)
    assert running.cancel("page-a") == 2
    assert (first.cancelled, second.cancelled, other.cancelled) == (True, True, False)
    running.forget("page-a", first)
    running.forget("page-a", second)
    assert (running.running("page-a"), running.running("page-b")) == (0, 1)


def test_a_model_event_tracks_its_token_while_it_runs() -> None:
    services, _ = scripted(lambda prompt: REPLY)
    token = CancelToken()

    def handler(question: str, user: str) -> Iterator[tuple[Any, ...]]:
        yield question, token, user
        yield "done", token, user

    event = _model_task(services, handler)
    request = SimpleNamespace(session_hash="page-a", username=None)
    updates = event(request, "Any nodule?")
    assert next(updates) == ("Any nodule?", token, "local")
    assert services.running.running("page-a") == 1
    assert services.running.cancel("page-a") == 1
    assert token.cancelled
    assert list(updates) == [("done", token, "local")]
    assert services.running.running("page-a") == 0  # forgotten when the event ended
