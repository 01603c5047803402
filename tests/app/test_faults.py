"""Faults during generation, seen from a running RadLens server: a clear error, then service.

Each test starts from a real in-process server (``start_server``) and drives a real entry point:
``/ask`` or ``/draft_report`` through ``gradio_client``, or the Chat or Report pane's handler as
the UI calls it, on the same :class:`~app.services.Services` the server runs. It injects one
fault, then checks that

- the user gets RadLens' one-line message (``AppError`` for the API; for the panes, the status
  line shows it, the pane is left ready for another try, and ``gr.Error`` carries it),
- it comes promptly (a generous bound: only a hang would miss it),
- the server still answers HTTP, and the next request on it succeeds.

The faults:

- in the local model (the tiny random-weight Gemma3, loaded by the server through the
  production path): a forward pre-hook raises inside ``model.generate``, at the first step or
  once text has streamed, so :class:`~models.backends.local.TransformersBackend` does its own
  conversion; ``torch.OutOfMemoryError`` becomes :class:`OutOfMemoryError` with its advice;
- a backend that breaks its contract (a plain ``RuntimeError`` after a first piece, as a bug
  would): the user gets a generic line that never repeats the exception's text, which may hold
  anything, patient data included;
- an OpenAI-compatible server (the ``remote`` model, ``timeout`` and ``connect_timeout`` of 1 s)
  that hangs before its first byte or mid-stream, drops the connection before answering or
  mid-stream, or sends garbage (an HTML page, an event that is not JSON).

The fault server is switchable. After the fault it proxies to the session's one real
``transformers serve`` (the ``transformers_server`` fixture of tests/conftest.py, serving the
tiny Gemma3; the proxy asks it for exactly ``max_tokens`` tokens, as random weights end when
they like), rather than writing a well-formed reply itself: the next request then shows that
RadLens recovered against a real server (same backend object, queue free, no lock held) and
that a real server still takes its request after the fault. The proxy costs a fraction of a
second per request; the server's start (about 15 s on a 2-core machine) is paid once per
session, and only here when this module runs alone.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app import handlers_chat as chat
from app import handlers_report as report
from app import handlers_settings as settings
from app.server import DEMO_STUDY
from app.services import Services
from dicom_io.loader import load_study
from dicom_io.study import Study
from models.backends import OpenAIBackend
from models.backends.base import Result
from models.registry import ModelSpec
from tests.app.conftest import RadLensServer, ScriptedBackend, scripted
from tests.models.serving import Server
from tests.synthetic import write_ct_series

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.timeout(120)

TIMEOUT = 1.0  # the remote backend's timeout and connect_timeout, in seconds
PROMPTLY = 20.0  # generous: a fault must surface well before this; a hang would not
REMOTE_MODEL = "tiny-remote"
REPLY = "Findings:\nLungs: Clear.\n\nImpression:\n1. No acute abnormality."
SENTINEL = "DOE^JANE-4711"  # stands for patient data inside an exception's text
Predict = Callable[[RadLensServer, str], dict[str, Any]]


# --------------------------------------------------------------------------- fault server


class _FaultHandler(BaseHTTPRequestHandler):
    """Answers chat completions as the server's current ``behaviour`` says."""

    server: FaultServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        self.body = self.rfile.read(int(self.headers.get("content-length", "0")))
        getattr(self, f"_{self.server.behaviour}")()

    def _head(self, kind: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Connection", "close")
        self.end_headers()

    def _events(self, *lines: str) -> None:
        self._head("text/event-stream; charset=utf-8")
        for line in lines:
            self.wfile.write(f"{line}\n\n".encode())
            self.wfile.flush()

    @staticmethod
    def _chunk(content: str, finish: str | None = None) -> str:
        choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
        return "data: " + json.dumps({"object": "chat.completion.chunk", "choices": [choice]})

    def _proxy(self) -> None:
        """Pass the request to the real server as is, but for the model it names (the tiny
        Gemma3's folder) and an exact answer length (random weights end when they like)."""
        body = json.loads(self.body)
        body["model"] = self.server.upstream_model
        length = body["max_tokens"]
        body["generation_config"] = json.dumps(
            {"max_new_tokens": length, "min_new_tokens": length}
        )
        with httpx.stream(
            "POST", self.server.upstream, json=body, timeout=60, trust_env=False
        ) as response:
            self.send_response(response.status_code)
            self.send_header("Content-Type", response.headers.get("content-type", ""))
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in response.iter_raw():
                self.wfile.write(chunk)
                self.wfile.flush()

    def _hang(self) -> None:
        self.server.release.wait(60)

    def _hang_mid(self) -> None:
        self._events(self._chunk("Findings:"))
        self.server.release.wait(60)

    def _drop(self) -> None:
        self.close_connection = True  # say nothing, hang up

    def _drop_mid(self) -> None:
        self._events(self._chunk("Findings:"), self._chunk("\nLungs:"))

    def _html(self) -> None:
        self._head("text/html")
        self.wfile.write(b"<html><body>502 Bad Gateway</body></html>")

    def _badjson(self) -> None:
        self._events(self._chunk("Findings:"), "data: {not json")


class FaultServer(ThreadingHTTPServer):
    """An OpenAI-compatible server whose behaviour a test switches: a fault, or ``proxy`` to
    the real ``transformers serve`` at ``upstream`` (its chat completions URL)."""

    daemon_threads = True

    def __init__(self, upstream: str, upstream_model: str) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.upstream, self.upstream_model = upstream, upstream_model
        self.behaviour = "proxy"
        self.release = threading.Event()  # ends the hangs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def switch(self, behaviour: str) -> None:
        if behaviour == "proxy":
            self.release.set()  # hung requests end (their clients have gone)
            self.release = threading.Event()
        self.behaviour = behaviour


HUNG = (
    r"URL sent nothing for 1 s \(timeout\): the server is hung or overloaded; if the model is "
    r"just slow to start answering, raise the timeout \(RADLENS_REMOTE_TIMEOUT, seconds\)\."
)
# What the user reads for each fault; URL stands for the chat completions URL.
REMOTE_FAULTS = {
    "hang": HUNG,
    "hang_mid": HUNG,
    "drop": (
        r"Connection to URL dropped before the answer was complete: Server disconnected "
        r"without sending a response\."
    ),
    "drop_mid": (
        r"URL closed the stream before the answer was complete \(no finish_reason and no "
        r"\[DONE\]\)\."
    ),
    "html": (
        r"URL sent text/html instead of an event stream or JSON; is it an OpenAI-compatible "
        r"server\? It began: '<html><body>502 Bad Gateway</body></html>'"
    ),
    "badjson": r"URL sent something that is not a JSON object: '\{not json'",
}


# What each mid-stream fault lets through before it.
PARTIAL = {"hang_mid": "Findings:", "drop_mid": "Findings:\nLungs:", "badjson": "Findings:"}


def _remote_message(fault: FaultServer, behaviour: str) -> str:
    """The regular expression the whole message of ``behaviour`` matches."""
    url = re.escape(f"{fault.url}/chat/completions")
    return "^" + REMOTE_FAULTS[behaviour].replace("URL", url) + "$"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The tiny model runs fastest on one thread on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fault(transformers_server: Server) -> Iterator[FaultServer]:
    upstream = f"{transformers_server.url}/v1/chat/completions"
    server = FaultServer(upstream, str(transformers_server.folders["gemma3"]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def proxy_afterwards(fault: FaultServer) -> Iterator[FaultServer]:
    """The fault server, switched back to the real server however the test ends."""
    yield fault
    fault.switch("proxy")


@pytest.fixture(scope="module")
def remote(fault: FaultServer) -> Iterator[Services]:
    """Services on the ``remote`` model, pointed at the fault server with 1 s timeouts."""

    def open_remote(spec: ModelSpec, precision: str, device: str | None) -> OpenAIBackend:
        return OpenAIBackend(spec.source, REMOTE_MODEL, timeout=TIMEOUT, connect_timeout=TIMEOUT)

    with pytest.MonkeyPatch.context() as env:
        env.setenv("RADLENS_REMOTE_URL", fault.url)
        env.setenv("RADLENS_REMOTE_MODEL", REMOTE_MODEL)
        services = Services(
            initial_study=DEMO_STUDY, model_id="remote", open_backend=open_remote, api=True
        )
        services.spec()  # read the environment now
        yield services


@pytest.fixture(scope="module")
def remote_server(start_server: Callable[..., RadLensServer], remote: Services) -> RadLensServer:
    return start_server(remote)


@pytest.fixture(scope="module")
def local(tiny_gemma3: Path) -> Services:
    """Services on the tiny Gemma3 checkpoint, fp32 on the CPU, with the API."""
    return Services(
        initial_study=DEMO_STUDY,
        model_id=str(tiny_gemma3),
        precision="fp32",
        device="cpu",
        api=True,
    )


@pytest.fixture(scope="module")
def local_server(start_server: Callable[..., RadLensServer], local: Services) -> RadLensServer:
    return start_server(local)


class Injector:
    """Raises ``error`` once from the local model's forward pass when armed: at the first
    step, or at the first step after ``after`` is set (once text has streamed)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.after: threading.Event | None = None
        self.raised = threading.Event()

    def arm(self, error: BaseException, after: threading.Event | None = None) -> None:
        self.error, self.after = error, after
        self.raised.clear()

    def disarm(self) -> None:
        self.error = self.after = None

    def __call__(self, module: Any, args: Any) -> None:
        error = self.error
        if error is None or (self.after is not None and not self.after.is_set()):
            return
        self.disarm()
        self.raised.set()
        raise error


@pytest.fixture
def injector(local: Services) -> Iterator[Injector]:
    """A fault injector on the local model (loaded now, as the server's first request would)."""
    backend: Any = local.backend(local.spec(), local.precision)
    inject = Injector()
    handle = backend.loaded.model.register_forward_pre_hook(inject)
    yield inject
    handle.remove()


class BrokenOnce(ScriptedBackend):
    """A backend breaking its contract once: a first piece, then a plain exception (a bug)."""

    def __init__(self) -> None:
        super().__init__(lambda prompt: REPLY)
        self.error: BaseException | None = None

    def stream(self, request: Any, cancel: Any = None) -> Generator[str, None, Result]:
        stream: Any = super().stream(request, cancel)
        error, self.error = self.error, None
        if error is None:
            result: Result = yield from stream
            return result
        yield next(stream)
        raise error


@pytest.fixture(scope="module")
def broken() -> BrokenOnce:
    return BrokenOnce()


@pytest.fixture(scope="module")
def broken_services(broken: BrokenOnce) -> Services:
    services: Services
    services, _ = scripted(lambda prompt: REPLY)
    services.open_backend = lambda spec, precision, device: broken
    services.api = True
    return services


@pytest.fixture(scope="module")
def broken_server(
    start_server: Callable[..., RadLensServer], broken_services: Services
) -> RadLensServer:
    return start_server(broken_services)


@pytest.fixture(scope="module")
def ct_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-slice CT: one small image per request keeps the tiny models quick."""
    written = write_ct_series(
        tmp_path_factory.mktemp("faults") / "ct", slices=1, rows=64, columns=64
    )
    (path,) = written.paths
    return Path(path)


@pytest.fixture(scope="module")
def ct(ct_file: Path) -> Study:
    return load_study(ct_file)


@pytest.fixture(scope="module")
def predict(ct_file: Path) -> Predict:
    """``predict(server, endpoint)``: ``/ask`` or ``/draft_report`` on the CT, 8 tokens, from
    one client per server."""
    clients: dict[str, Client] = {}

    def call(server: RadLensServer, endpoint: str) -> dict[str, Any]:
        if server.url not in clients:
            clients[server.url] = Client(server.url, verbose=False, download_files=False)
        text = "Is there a nodule?" if endpoint == "/ask" else "cough"
        files = [handle_file(str(ct_file))]
        answer: dict[str, Any] = clients[server.url].predict(files, text, 8, api_name=endpoint)
        return answer

    return call


# --------------------------------------------------------------------------- helpers


def _widgets(services: Services, **changes: Any) -> tuple[Any, ...]:
    values = {
        "model": services.spec().id,
        "precision": services.precision,
        "mode": "auto",
        "max_slices": 85,
        "first_slice": None,
        "last_slice": None,
        "max_new_tokens": 8,
        "temperature": 0.0,
        "language": "English",
        **changes,
    }
    return tuple(values[name] for name in settings.WIDGET_ORDER)


def _asking(services: Services, study: Study, question: str, **changes: Any) -> Iterator[Any]:
    values = _widgets(services, **changes)
    return chat.ask(services, question, [], (), None, study, 0, "acquired", 0, *values)


def _drafting(services: Services, study: Study, **changes: Any) -> Iterator[Any]:
    values = _widgets(services, **changes)
    return report.draft(services, "cough", study, 0, "acquired", 0, *values)


def _until_error(
    updates: Iterator[Any], on_update: Callable[[Any], None]
) -> tuple[list[Any], str]:
    """Drive a handler to its ``gr.Error``: its updates and the error's message."""
    seen: list[Any] = []

    def drive() -> None:
        for update in updates:
            seen.append(update)
            on_update(update)

    with pytest.raises(gr.Error) as info:
        drive()
    return seen, info.value.message


def _one_line(message: str) -> None:
    assert message
    assert "\n" not in message
    assert SENTINEL not in message


def _assert_serving(server: RadLensServer) -> None:
    """The server still answers HTTP: its page."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        assert client.get(server.url).status_code == 200


# --------------------------------------------------------------------------- local model

# CUDA's text: the error, then advice on further lines (only the first line is shown).
CUDA_ERROR = (
    "CUDA error: an illegal memory access was encountered\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the "
    "stacktrace below might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1"
)
LOCAL_FAULTS: dict[str, tuple[Callable[[], BaseException], str]] = {
    "runtime-error": (
        lambda: RuntimeError(CUDA_ERROR),
        r"Generation with the gemma3 model failed: RuntimeError: CUDA error: an illegal memory "
        r"access was encountered",
    ),
    "out-of-memory": (
        lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        r"cpu ran out of memory while generating with the gemma3 model \(fp32, prompt of \d+ "
        r"tokens\)\. Send fewer slices or images, lower max_new_tokens, or load the model in "
        r"4-bit \(precision 'nf4'\)\.",
    ),
}


@pytest.mark.parametrize("endpoint", ["/ask", "/draft_report"])
@pytest.mark.parametrize("fault_id", list(LOCAL_FAULTS))
def test_api_reports_a_local_generation_fault_and_serves_the_next(
    predict: Predict, local_server: RadLensServer, injector: Injector, endpoint: str, fault_id: str
):
    make_error, message = LOCAL_FAULTS[fault_id]
    injector.arm(make_error())
    start = time.monotonic()
    with pytest.raises(AppError, match=f"^{message}$") as info:
        predict(local_server, endpoint)
    assert time.monotonic() - start < PROMPTLY
    assert injector.raised.is_set()
    _one_line(str(info.value))
    _assert_serving(local_server)

    after = predict(local_server, endpoint)
    assert after["schema"] == ("radlens.answer/1" if endpoint == "/ask" else "radlens.report/1")
    assert after["model"] == "tiny-gemma3"
    if endpoint == "/ask":
        assert 1 <= after["completion_tokens"] <= 8


def test_chat_reports_a_local_error_mid_stream_and_answers_the_next(
    local: Services, local_server: RadLensServer, injector: Injector, ct: Study
):
    services = local
    streamed = threading.Event()
    injector.arm(RuntimeError("CUDA error: device-side assert triggered"), after=streamed)

    def on_update(update: Any) -> None:
        if update[1] and update[1][-1]["role"] == "assistant":  # text: fail at the next step
            streamed.set()

    start = time.monotonic()
    updates, message = _until_error(
        _asking(services, ct, "Describe the image.", max_new_tokens=2048), on_update
    )
    assert time.monotonic() - start < PROMPTLY
    assert streamed.is_set()
    assert injector.raised.is_set()
    assert message == (
        "Generation with the gemma3 model failed: RuntimeError: CUDA error: device-side assert "
        "triggered"
    )
    # The pane: the question back in its box, the chat as before, no Stop, the error shown.
    question_box, messages, history, cancel, _marks, status, _slider = updates[-1]
    assert (question_box, messages, history, cancel) == ("Describe the image.", [], (), None)
    assert status == f"⚠ {message}"
    _assert_serving(local_server)

    *_, last = _asking(services, ct, "Describe the image.")
    _, messages, history, cancel, _marks, status, _slider = last
    assert [turn.question for turn in history] == ["Describe the image."]
    assert messages[-1]["role"] == "assistant"
    assert cancel is None
    assert status.startswith("tiny-gemma3: loaded as fp32 on cpu in ")


def test_report_pane_reports_out_of_memory_and_drafts_the_next(
    local: Services, local_server: RadLensServer, injector: Injector, ct: Study
):
    services = local
    injector.arm(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 8.00 GiB"))
    start = time.monotonic()
    updates, message = _until_error(_drafting(services, ct), lambda update: None)
    assert time.monotonic() - start < PROMPTLY
    _one_line(message)
    assert message.startswith("cpu ran out of memory while generating with the gemma3 model")
    assert message.endswith("or load the model in 4-bit (precision 'nf4').")
    text, _findings, _flags, drafted, cancel, _marks, status, _raw = updates[-1]
    assert (text, drafted, cancel, status) == (gr.skip(), gr.skip(), None, f"⚠ {message}")
    _assert_serving(local_server)

    *_, last = _drafting(services, ct)
    text, _findings, _flags, drafted, cancel, _marks, _status, raw = last
    assert cancel is None
    assert drafted.raw == raw
    assert text.startswith("Draft report: CT of the chest")


# --------------------------------------------------------------------------- a broken backend

GENERIC = (
    "Generation failed unexpectedly (RuntimeError); the details are in the server's log. "
    "Try again; if it keeps failing, restart RadLens."
)


@pytest.mark.parametrize("endpoint", ["/ask", "/draft_report"])
def test_api_hides_an_unexpected_exception_and_serves_the_next(
    predict: Predict, broken_server: RadLensServer, broken: BrokenOnce, endpoint: str
):
    broken.error = RuntimeError(f"decoder state lost while reading {SENTINEL}")
    with pytest.raises(AppError) as info:
        predict(broken_server, endpoint)
    assert str(info.value) == GENERIC
    _one_line(str(info.value))
    _assert_serving(broken_server)

    after = predict(broken_server, endpoint)
    assert after["raw"] == REPLY


def test_chat_hides_an_unexpected_exception_and_answers_the_next(
    broken_services: Services, broken_server: RadLensServer, broken: BrokenOnce, ct: Study
):
    services = broken_services
    broken.error = RuntimeError(f"decoder state lost while reading {SENTINEL}")
    updates, message = _until_error(_asking(services, ct, "Heart size?"), lambda u: None)
    assert message == GENERIC
    assert any(u[1] and u[1][-1]["content"] == "Findings:\nLu" for u in updates)  # streamed
    question_box, messages, _history, cancel, _marks, status, _slider = updates[-1]
    assert (question_box, messages, cancel, status) == ("Heart size?", [], None, f"⚠ {GENERIC}")

    *_, last = _asking(services, ct, "Heart size?")
    assert last[1][-1] == {"role": "assistant", "content": REPLY}
    assert [turn.question for turn in last[2]] == ["Heart size?"]


# --------------------------------------------------------------------------- remote server


@pytest.mark.parametrize("endpoint", ["/ask", "/draft_report"])
@pytest.mark.parametrize("behaviour", list(REMOTE_FAULTS))
def test_api_reports_a_remote_fault_and_serves_the_next(
    predict: Predict,
    remote_server: RadLensServer,
    proxy_afterwards: FaultServer,
    endpoint: str,
    behaviour: str,
):
    fault = proxy_afterwards
    fault.switch(behaviour)
    start = time.monotonic()
    with pytest.raises(AppError, match=_remote_message(fault, behaviour)) as info:
        predict(remote_server, endpoint)
    assert time.monotonic() - start < PROMPTLY
    _one_line(str(info.value))
    _assert_serving(remote_server)

    fault.switch("proxy")
    after = predict(remote_server, endpoint)
    assert after["model"] == REMOTE_MODEL
    if endpoint == "/ask":
        # Exactly 8 tokens, as the real server counts them.
        assert (after["finish_reason"], after["completion_tokens"]) == ("length", 8)
    else:
        assert after["title"] == "Draft report: CT of the chest"


@pytest.mark.parametrize("behaviour", list(REMOTE_FAULTS))
def test_chat_reports_a_remote_fault_and_answers_the_next(
    remote: Services,
    remote_server: RadLensServer,
    proxy_afterwards: FaultServer,
    ct: Study,
    behaviour: str,
):
    fault, services = proxy_afterwards, remote
    fault.switch(behaviour)
    start = time.monotonic()
    updates, message = _until_error(_asking(services, ct, "Heart size?"), lambda u: None)
    assert time.monotonic() - start < PROMPTLY
    _one_line(message)
    assert re.match(_remote_message(fault, behaviour), message)
    # The pane: the question back in its box, the chat as before, no Stop, the error shown.
    question_box, messages, history, cancel, _marks, status, _slider = updates[-1]
    assert (question_box, messages, history, cancel) == ("Heart size?", [], (), None)
    assert status == f"⚠ {message}"
    _assert_serving(remote_server)

    fault.switch("proxy")
    *_, last = _asking(services, ct, "Heart size?")
    _, messages, history, cancel, _marks, status, _slider = last
    assert [turn.question for turn in history] == ["Heart size?"]
    assert messages[-1]["role"] == "assistant"
    assert (cancel, status) == (None, f"Remote: {REMOTE_MODEL}: ready ({REMOTE_MODEL}).")


@pytest.mark.parametrize("behaviour", list(PARTIAL))
def test_report_pane_reports_a_remote_fault_and_drafts_the_next(
    remote: Services,
    remote_server: RadLensServer,
    proxy_afterwards: FaultServer,
    ct: Study,
    behaviour: str,
):
    fault, services = proxy_afterwards, remote
    fault.switch(behaviour)
    updates, message = _until_error(_drafting(services, ct), lambda u: None)
    _one_line(message)
    assert re.match(_remote_message(fault, behaviour), message)
    streamed = [u[0] for u in updates if isinstance(u[0], str) and u[0]]
    assert streamed[-1] == PARTIAL[behaviour]  # what came before the fault stays in the box
    text, _findings, _flags, drafted, cancel, _marks, status, _raw = updates[-1]
    assert (text, drafted, cancel, status) == (gr.skip(), gr.skip(), None, f"⚠ {message}")
    _assert_serving(remote_server)

    fault.switch("proxy")
    *_, last = _drafting(services, ct)
    text, _findings, _flags, drafted, cancel, _marks, _status, raw = last
    assert (drafted.raw, drafted.model_id, cancel) == (raw, REMOTE_MODEL, None)
    assert text.startswith("Draft report: CT of the chest")
