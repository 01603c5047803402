"""Fixtures for the app tests: real RadLens servers and a real Chromium driven by Playwright.

Servers run in this process (``build_ui(Services(...)).queue(...).launch(prevent_thread_lock=
True, **launch_options())``) on 127.0.0.1 at a free port. That is more robust than a
``radlens serve`` subprocess: launch errors surface here as exceptions instead of a hung port
poll, ``launch()`` returns only once the server answers, tests can override launch options
(auth, max_file_size), and gradio is imported once for the whole session.

Gradio reads ``GRADIO_TEMP_DIR`` at run time as well as at start-up (uploads are checked
against it), so the session sets one private folder for every server and keeps it until the
end, as ``radlens serve`` does for its process.

The browser is Debian's Chromium at ``/usr/bin/chromium`` (``make test`` installs it);
Playwright never downloads one. Screenshots go under the test's ``tmp_path/screens`` and, when
``RADLENS_SCREENSHOTS`` is set, are copied to ``/tmp/radlens-screens/`` too.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dicom_io.study import Study
    from tests.app.fault_checks import Predict

# The fault tests' shared checks are plain asserts: rewrite them for pytest's messages.
pytest.register_assert_rewrite("tests.app.fault_checks")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-proxy-server",
)
CHROMIUM_MISSING = (
    f"Chromium is missing at {CHROMIUM}: the browser tests drive Debian's chromium through "
    "Playwright (which must not download a browser). Run `make test`: it installs chromium "
    "and chromium-driver with apt-get."
)
SCREENS_COPY_DIR = Path("/tmp/radlens-screens")
VIEWPORT = {"width": 1400, "height": 1000}


@dataclass(frozen=True)
class RadLensServer:
    """A running server: its base URL (no trailing slash), Gradio's temp dir and the Blocks."""

    url: str
    temp_dir: Path
    blocks: Any


@pytest.fixture(scope="session")
def gradio_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One private Gradio temp dir for every server of the session (restored at the end)."""
    path = tmp_path_factory.mktemp("gradio-temp").resolve()
    path.chmod(0o700)
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(path)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    yield path
    if previous is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = previous


@pytest.fixture(scope="session")
def start_server(gradio_temp_dir: Path) -> Iterator[Callable[..., RadLensServer]]:
    """``start_server(services=None, **launch_overrides)``: a RadLens server, closed at the end
    of the session; by default with the services ``radlens serve`` makes (demo study, the API
    only without auth). Overrides replace keys of ``launch_options()`` (``auth``,
    ``max_file_size``, ...)."""
    from app.server import server_services
    from app.services import Services
    from tests.app.clients import start_server as serve

    started: list[Any] = []

    def start(services: Services | None = None, **overrides: Any) -> RadLensServer:
        url, blocks = serve(services or server_services(overrides.get("auth")), **overrides)
        started.append(blocks)
        return RadLensServer(url, gradio_temp_dir, blocks)

    yield start
    for blocks in started:
        blocks.close()


@pytest.fixture(scope="session")
def radlens_server(start_server: Callable[..., RadLensServer]) -> RadLensServer:
    """The server as ``radlens serve`` runs it: demo study, default launch options, no auth."""
    return start_server()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; a clear failure (never a skip) when it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(CHROMIUM_MISSING, pytrace=False)
    return CHROMIUM


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def browser_page(
    playwright_driver: Any, chromium: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A page in a fresh Chromium profile (its own --user-data-dir under ``tmp_path``).

    A screenshot named ``failure`` is saved when the test body fails."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(chromium),
        headless=True,
        args=list(CHROMIUM_ARGS),
        viewport=VIEWPORT,
        accept_downloads=False,
    )
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
        if request.node.stash.get(_CALL_FAILED, False):
            _save_screenshot(page, tmp_path, request.node.name, "failure")
    finally:
        context.close()


def _save_screenshot(page: Any, tmp_path: Path, test_name: str, step: str) -> Path:
    name = re.sub(r"[^\w.-]+", "_", f"{test_name}-{step}") + ".png"
    path = tmp_path / "screens" / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("RADLENS_SCREENSHOTS"):
        SCREENS_COPY_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENS_COPY_DIR / name)
    return path


@pytest.fixture
def screenshot(
    browser_page: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[str], Path]:
    """``screenshot("step")`` saves ``tmp_path/screens/<test>-NN-step.png`` and returns it."""
    counter = itertools.count(1)

    def take(step: str) -> Path:
        return _save_screenshot(
            browser_page, tmp_path, request.node.name, f"{next(counter):02d}-{step}"
        )

    return take


# --- models for the assistant panes ------------------------------------------------------------


HOLD_SECONDS = 120.0  # how long a held stream waits for Stop before it goes on


class ScriptedBackend:
    """A backend that writes prepared model text: for UI wiring tests only.

    ``reply(prompt_text)`` picks the text from the last user message; it is streamed a few
    characters at a time, ``delay`` seconds apart, and stops at the next piece when cancelled
    (``finish_reason="cancelled"``), as the real backends do. ``calls`` records the prompts.

    ``hold(prompt_text)`` true: after the first piece the stream waits for Stop (up to
    :data:`HOLD_SECONDS`), so a test of Stop does not race the stream on a busy machine.
    """

    def __init__(
        self,
        reply: Callable[[str], str],
        delay: float = 0.0,
        chunk: int = 12,
        hold: Callable[[str], bool] | None = None,
    ) -> None:
        self._reply = reply
        self._delay = delay
        self._chunk = chunk
        self._hold = hold
        self.calls: list[str] = []

    @property
    def model_id(self) -> str:
        return "scripted"

    def generate(self, request: Any, cancel: Any = None) -> Any:
        from models.backends.base import drain

        return drain(self.stream(request, cancel))[1]

    def stream(self, request: Any, cancel: Any = None) -> Iterator[str]:
        import time

        from models.backends.base import Result
        from models.inputs.messages import TextPart

        user = [m for m in request.messages if m.role == "user"][-1]
        prompt = "\n".join(p.text for p in user.parts if isinstance(p, TextPart))
        self.calls.append(prompt)
        text = self._reply(prompt)
        held = self._hold is not None and cancel is not None and self._hold(prompt)
        start = time.perf_counter()
        written = ""
        for k in range(0, len(text), self._chunk):
            wait = HOLD_SECONDS if held and k == self._chunk else self._delay
            if cancel is None:
                time.sleep(self._delay)
            elif cancel.wait(wait):
                return Result(
                    written, "scripted", 10, 1, time.perf_counter() - start, 0.0, "cancelled"
                )
            piece = text[k : k + self._chunk]
            written += piece
            yield piece
        return Result(
            written, "scripted", 10, len(written), time.perf_counter() - start, 0.0, "stop"
        )


def localizes_everything() -> Any:
    """Capabilities that localize any modality, slices of a stack too: a scripted model's, so
    UI wiring tests see boxes on a CT (no registry model declares CT localization)."""
    from models.registry.capabilities import ANY, Capabilities

    return Capabilities(
        localization=frozenset({ANY}),
        localization_stacks=True,
        localization_scope="anything (a scripted model for UI wiring tests)",
    )


def scripted(
    reply: Callable[[str], str],
    delay: float = 0.0,
    model_id: str = "medgemma-1.5-4b",
    hold: Callable[[str], bool] | None = None,
    can: Any = None,
) -> tuple[Any, ScriptedBackend]:
    """Services whose model is a :class:`ScriptedBackend` standing in for ``model_id`` (a
    registry model, as if downloaded): for UI wiring tests. ``can`` replaces the model's
    declared capabilities (:func:`localizes_everything`)."""
    from dataclasses import replace

    from app.server import DEMO_STUDY
    from app.services import Services

    class ScriptedServices(Services):
        def missing(self, spec: Any) -> str:
            return ""

        def spec(self, model_id: str | None = None) -> Any:
            chosen = super().spec(model_id)
            return chosen if can is None else replace(chosen, capabilities=can)

    backend = ScriptedBackend(reply, delay=delay, hold=hold)
    services = ScriptedServices(
        initial_study=DEMO_STUDY,
        model_id=model_id,
        open_backend=lambda spec, precision, device: backend,
    )
    return services, backend


# --- faults during generation (tests/app/test_faults_*.py) -------------------------------------


@pytest.fixture(scope="module")
def _one_torch_thread() -> Iterator[None]:
    """The tiny model runs fastest on one thread on a busy 2-core machine (the fault tests use
    it for their whole module)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ct_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-slice CT: one small image per request keeps the tiny models quick."""
    from tests.synthetic import write_ct_series

    written = write_ct_series(
        tmp_path_factory.mktemp("faults") / "ct", slices=1, rows=64, columns=64
    )
    (path,) = written.paths
    return Path(path)


@pytest.fixture(scope="module")
def ct(ct_file: Path) -> Study:
    from dicom_io.loader import load_study

    return load_study(ct_file)


@pytest.fixture(scope="module")
def predict(ct_file: Path) -> Predict:
    """``predict(server, endpoint)``: ``/ask`` or ``/draft_report`` on the CT, 8 tokens, from
    one client per server."""
    from gradio_client import Client, handle_file

    clients: dict[str, Client] = {}

    def call(server: RadLensServer, endpoint: str) -> dict[str, Any]:
        if server.url not in clients:
            clients[server.url] = Client(server.url, verbose=False, download_files=False)
        text = "Is there a nodule?" if endpoint == "/ask" else "cough"
        files = [handle_file(str(ct_file))]
        answer: dict[str, Any] = clients[server.url].predict(files, text, 8, api_name=endpoint)
        return answer

    return call
