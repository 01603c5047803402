"""Faults of an OpenAI-compatible server during generation, seen from a running RadLens server.

RadLens runs the ``remote`` model (``timeout`` and ``connect_timeout`` of 1 s) against the
switchable fault server of tests/app/fault_server.py, which hangs before its first byte or
mid-stream, drops the connection before answering or mid-stream, or sends garbage (an HTML page,
an event that is not JSON). Each test drives ``/ask``, ``/draft_report`` or a pane to the fault
and checks the message, its promptness and that the server serves the next request (see
tests/app/fault_checks.py).

After the fault, the fault server proxies to the session's one real ``transformers serve`` (the
``transformers_server`` fixture of tests/conftest.py, serving the tiny Gemma3; the proxy asks it
for exactly ``max_tokens`` tokens, as random weights end when they like), rather than writing a
well-formed reply itself: the next request then shows that RadLens recovered against a real
server (same backend object, queue free, no lock held) and that a real server still takes its
request after the fault. The proxy costs a fraction of a second per request; the server's start
(about 15 s on a 2-core machine) is paid once per session, and only here when this module runs
alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import gradio as gr
import pytest
from gradio_client.exceptions import AppError

from app.server import DEMO_STUDY
from app.services import Services
from dicom_io.study import Study
from models.backends.remote import OpenAIBackend
from models.registry.spec import ModelSpec
from tests.app.conftest import RadLensServer
from tests.app.fault_checks import (
    Predict,
    asking,
    assert_one_line,
    assert_serving,
    drafting,
    until_error,
)
from tests.app.fault_server import PARTIAL, REMOTE_FAULTS, FaultServer, remote_message
from tests.models.serving import Server
from tests.network import serving

pytest.importorskip("torch")

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("_one_torch_thread")]

TIMEOUT = 1.0  # the remote backend's timeout and connect_timeout, in seconds
REMOTE_MODEL = "tiny-remote"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fault(transformers_server: Server) -> Iterator[FaultServer]:
    upstream = f"{transformers_server.url}/v1/chat/completions"
    server = FaultServer(upstream, str(transformers_server.folders["gemma3"]))
    with serving(server, lambda: server.release.set()):
        yield server


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
    with pytest.raises(AppError, match=remote_message(fault, behaviour)) as info:
        predict(remote_server, endpoint)
    assert_one_line(str(info.value))
    assert_serving(remote_server)

    fault.switch("proxy")
    after = predict(remote_server, endpoint)
    assert after["model"] == REMOTE_MODEL
    if endpoint == "/ask":
        # Exactly 8 tokens, as the real server counts them.
        assert (after["finish_reason"], after["completion_tokens"]) == ("length", 8)
    else:  # the tiny model writes to its 8-token budget: a draft that says it may be cut off
        assert after["title"] == "Draft report: CT of the chest (incomplete)"


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
    updates, message = until_error(asking(services, ct, "Heart size?"), lambda u: None)
    assert_one_line(message)
    assert re.match(remote_message(fault, behaviour), message)
    # The pane: the question back in its box, the chat as before, no Stop, the error shown.
    question_box, messages, history, cancel, _marks, status, _slider = updates[-1]
    assert (question_box, messages, history, cancel) == ("Heart size?", [], (), None)
    assert status == f"⚠ {message}"
    assert_serving(remote_server)

    fault.switch("proxy")
    *_, last = asking(services, ct, "Heart size?")
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
    updates, message = until_error(drafting(services, ct), lambda u: None)
    assert_one_line(message)
    assert re.match(remote_message(fault, behaviour), message)
    streamed = [u[0] for u in updates if isinstance(u[0], str) and u[0]]
    assert streamed[-1] == PARTIAL[behaviour]  # what came before the fault stays in the box
    text, _findings, _flags, drafted, cancel, _marks, status, _raw = updates[-1]
    assert (text, drafted, cancel, status) == (gr.skip(), gr.skip(), None, f"⚠ {message}")
    assert_serving(remote_server)

    fault.switch("proxy")
    *_, last = drafting(services, ct)
    text, _findings, _flags, drafted, cancel, _marks, _status, raw = last
    assert (drafted.raw, drafted.model_id, cancel) == (raw, REMOTE_MODEL, None)
    assert text.startswith("Draft report: CT of the chest")
