"""Faults during generation in the local model and in a broken backend, seen from a running server.

Each test drives ``/ask``, ``/draft_report`` or a pane to the fault and checks the message, its
promptness and that the server serves the next request (see tests/app/fault_checks.py). The
faults:

- in the local model (the tiny random-weight Gemma3, loaded by the server through the
  production path): a forward pre-hook raises inside ``model.generate``, at the first step or
  once text has streamed, so :class:`~models.backends.local.TransformersBackend` does its own
  conversion; ``torch.OutOfMemoryError`` becomes :class:`OutOfMemoryError` with its advice;
- a backend that breaks its contract (a plain ``RuntimeError`` after a first piece, as a bug
  would): the user gets a generic line that never repeats the exception's text, which may hold
  anything, patient data included.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from gradio_client.exceptions import AppError

from app.server import DEMO_STUDY
from app.services import Services
from dicom_io.study import Study
from models.backends.base import Result
from tests.app.conftest import RadLensServer, ScriptedBackend, scripted
from tests.app.fault_checks import (
    SENTINEL,
    Predict,
    asking,
    assert_one_line,
    assert_serving,
    drafting,
    until_error,
)

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("_one_torch_thread")]

REPLY = "Findings:\nLungs: Clear.\n\nImpression:\n1. No acute abnormality."


# --------------------------------------------------------------------------- fixtures


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
    with pytest.raises(AppError, match=f"^{message}$") as info:
        predict(local_server, endpoint)
    assert injector.raised.is_set()
    assert_one_line(str(info.value))
    assert_serving(local_server)

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

    updates, message = until_error(
        asking(services, ct, "Describe the image.", max_new_tokens=2048), on_update
    )
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
    assert_serving(local_server)

    *_, last = asking(services, ct, "Describe the image.")
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
    updates, message = until_error(drafting(services, ct), lambda update: None)
    assert_one_line(message)
    assert message.startswith("cpu ran out of memory while generating with the gemma3 model")
    assert message.endswith("or load the model in 4-bit (precision 'nf4').")
    text, _findings, _flags, drafted, cancel, _marks, status, _raw = updates[-1]
    assert (text, drafted, cancel, status) == (gr.skip(), gr.skip(), None, f"⚠ {message}")
    assert_serving(local_server)

    *_, last = drafting(services, ct)
    text, _findings, _flags, drafted, cancel, _marks, _status, raw = last
    assert cancel is None
    assert drafted.raw == raw
    assert text.startswith("Draft report: CT of the chest")


# --------------------------------------------------------------------------- a broken backend

GENERIC = (
    "Unexpected error (RuntimeError); the server's log has where it happened. "
    "Try again; if it keeps failing, restart RadLens."
)


@pytest.mark.parametrize("endpoint", ["/ask", "/draft_report"])
def test_api_hides_an_unexpected_exception_and_serves_the_next(
    predict: Predict,
    broken_server: RadLensServer,
    broken: BrokenOnce,
    endpoint: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    broken.error = RuntimeError(f"decoder state lost while reading {SENTINEL}")
    with pytest.raises(AppError) as info:
        predict(broken_server, endpoint)
    assert str(info.value) == GENERIC
    assert_one_line(str(info.value))
    assert_serving(broken_server)
    # The server's log says where it happened, never what the exception's text was.
    (logged,) = [r.getMessage() for r in caplog.records if r.name == "radlens.app"]
    assert logged.startswith("Unexpected RuntimeError in a request:\nTraceback")
    assert "in stream\n" in logged  # the frame that raised
    assert "builtins.RuntimeError: <message withheld: it may hold patient data>" in logged
    printed = capfd.readouterr()
    assert "gradio.exceptions.Error" in printed.err  # Gradio printed what it was handed...
    assert SENTINEL not in printed.out + printed.err + logged  # ...and no cause's text

    after = predict(broken_server, endpoint)
    assert after["raw"] == REPLY


def test_chat_hides_an_unexpected_exception_and_answers_the_next(
    broken_services: Services, broken_server: RadLensServer, broken: BrokenOnce, ct: Study
):
    services = broken_services
    broken.error = RuntimeError(f"decoder state lost while reading {SENTINEL}")
    updates, message = until_error(asking(services, ct, "Heart size?"), lambda u: None)
    assert message == GENERIC
    assert any(u[1] and u[1][-1]["content"] == "Findings:\nLu" for u in updates)  # streamed
    question_box, messages, _history, cancel, _marks, status, _slider = updates[-1]
    assert (question_box, messages, cancel, status) == ("Heart size?", [], None, f"⚠ {GENERIC}")

    *_, last = asking(services, ct, "Heart size?")
    assert last[1][-1] == {"role": "assistant", "content": REPLY}
    assert [turn.question for turn in last[2]] == ["Heart size?"]
