"""Many ``gradio_client`` clients at once against one RadLens server, each with its own study.

Shared by the load test (``tests/app/test_load.py``) and the load benchmark (``bench/load.py``):

- :func:`write_studies` writes one small synthetic CT study per client (distinct study UIDs,
  series descriptions and slice counts, so every study has its own key and technique line);
- :class:`GenerationCounter` wraps the backend a :class:`~app.services.Services` opens and
  counts the generations running at once;
- :func:`start_server` starts a RadLens server in this process on a free loopback port;
- :func:`run_clients` starts one thread per study, each with its own ``Client``; they wait
  for each other at a barrier, then call ``/ask`` and ``/draft_report`` in turn;
- :func:`problems`, :func:`audit_problems`, :func:`most_in_flight` and :func:`figures` check
  and sum up the calls.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.services import BackendFactory, Services
from dicom_io.loader import load_study
from models.backends.base import Backend, CancelToken, GenerationRequest, Result
from models.registry.spec import ModelSpec
from models.tasks.technique import describe_technique
from tests.network import free_port
from tests.synthetic import write_ct_series

__all__ = [
    "TASKS",
    "Call",
    "Figures",
    "GenerationCounter",
    "StudyFiles",
    "audit_problems",
    "figures",
    "most_in_flight",
    "problems",
    "run_clients",
    "start_server",
    "write_studies",
]

# API name -> the task the audit log records for it.
TASKS = {"ask": "ask", "draft_report": "report"}


@dataclass(frozen=True)
class StudyFiles:
    """One client's study: its files, :attr:`Study.key` and the default series' technique."""

    name: str
    paths: tuple[Path, ...]
    key: str
    technique: str


def write_studies(folder: Path, count: int, size: int = 32) -> list[StudyFiles]:
    """Write ``count`` synthetic CT studies under ``folder``: study ``i`` has seed ``i + 1``
    (its own study UID), ``6 + i`` slices of ``size + 4 * i`` pixels and the description
    ``SYNTHETIC LOAD i``."""
    studies = []
    for i in range(count):
        written = write_ct_series(
            folder / f"study-{i:02d}",
            slices=6 + i,
            rows=size + 4 * i,
            columns=size + 4 * i,
            series_description=f"SYNTHETIC LOAD {i:02d}",
            seed=i + 1,
        )
        study = load_study(list(written.paths))
        technique = describe_technique(study.default_series).removesuffix(".")
        studies.append(StudyFiles(f"study-{i:02d}", written.paths, study.key, technique))
    if len({s.key for s in studies}) != count:
        raise RuntimeError("The synthetic studies must have distinct study keys.")
    for a in studies:
        if any(b is not a and b.technique.startswith(a.technique) for b in studies):
            raise RuntimeError(f"Technique {a.technique!r} does not tell its study apart.")
    return studies


class GenerationCounter:
    """Counts generations through the backends opened by :meth:`wrap`: how many started, the
    most that ran at once and the seconds during which at least one ran (a call counts from
    its start until it returns or its stream ends, whether or not the backend itself makes it
    wait)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._since = 0.0
        self.started = 0
        self.peak = 0
        self.busy_s = 0.0

    def wrap(self, open_backend: BackendFactory) -> BackendFactory:
        """``open_backend`` whose backends count their generations here."""

        def opened(spec: ModelSpec, precision: str, device: str | None) -> Backend:
            return _CountedBackend(open_backend(spec, precision, device), self)

        return opened

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            if self._running == 0:
                self._since = time.perf_counter()
            self._running += 1
            self.started += 1
            self.peak = max(self.peak, self._running)
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0:
                    self.busy_s += time.perf_counter() - self._since


class _CountedBackend:
    def __init__(self, backend: Backend, counter: GenerationCounter) -> None:
        self._backend = backend
        self._counter = counter

    def __getattr__(self, name: str) -> Any:  # ``loaded`` and the like: the wrapped backend's
        return getattr(self._backend, name)

    @property
    def model_id(self) -> str:
        return self._backend.model_id

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Result:
        with self._counter.running():
            return self._backend.generate(request, cancel)

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> Generator[str, None, Result]:
        with self._counter.running():
            return (yield from self._backend.stream(request, cancel))


def start_server(
    services: Services, queue: dict[str, Any] | None = None, **overrides: Any
) -> tuple[str, Any]:
    """Serve ``build_ui(services)`` on a free 127.0.0.1 port with RadLens' launch settings
    (``queue`` replaces keys of :data:`app.server.QUEUE`, ``overrides`` launch options such as
    ``auth``): its URL and the Blocks to close."""
    from app.server import launch
    from app.ui import build_ui

    error: OSError | None = None
    for _ in range(5):  # another process may take the free port before Gradio binds it
        blocks = build_ui(services)
        port = free_port()
        try:
            launch(blocks, "127.0.0.1", port, prevent_thread_lock=True, queue=queue, **overrides)
        except OSError as err:
            error = err
            blocks.close()
            continue
        return f"http://127.0.0.1:{port}", blocks
    raise RuntimeError(f"could not start a RadLens server on a free port: {error}")


@dataclass(frozen=True)
class Call:
    """One API call of one client: what it sent, when, and what came back (or the error)."""

    client: int
    api_name: str
    study: StudyFiles
    text: str  # the question (``/ask``) or the indication (``/draft_report``)
    start: float  # time.perf_counter()
    end: float
    result: dict[str, Any] | None
    error: str | None

    @property
    def seconds(self) -> float:
        return self.end - self.start


def _client_calls(
    client: Any, index: int, study: StudyFiles, requests: int, max_new_tokens: int
) -> Iterator[Call]:
    from gradio_client import handle_file

    for r in range(requests):
        api_name = list(TASKS)[r % len(TASKS)]
        text = f"Client {index}, request {r}: what do you see?"
        if api_name == "draft_report":
            text = f"screening {index}.{r}"
        files = [handle_file(str(path)) for path in study.paths]
        start = time.perf_counter()
        try:
            result = client.predict(files, text, max_new_tokens, api_name=f"/{api_name}")
        except Exception as err:  # recorded and reported by problems()
            yield Call(index, api_name, study, text, start, time.perf_counter(), None, repr(err))
        else:
            yield Call(index, api_name, study, text, start, time.perf_counter(), result, None)


def run_clients(
    url: str,
    studies: Sequence[StudyFiles],
    requests_per_client: int = 2,
    max_new_tokens: int = 8,
    timeout: float = 600.0,
) -> list[Call]:
    """One ``Client`` per study, each in its own thread; all start together (a barrier), then
    each makes ``requests_per_client`` calls in turn (``/ask``, ``/draft_report``, ``/ask``,
    ...) about its own study. Returns every call; raises if a client is not done in
    ``timeout`` seconds."""
    from gradio_client import Client

    clients = [Client(url, verbose=False, download_files=False) for _ in studies]
    barrier = threading.Barrier(len(studies))
    calls: list[list[Call]] = [[] for _ in studies]

    def work(index: int) -> None:
        barrier.wait(timeout)
        calls[index].extend(
            _client_calls(
                clients[index], index, studies[index], requests_per_client, max_new_tokens
            )
        )

    threads = [
        threading.Thread(target=work, args=(i,), name=f"load-client-{i}", daemon=True)
        for i in range(len(studies))
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    late = [thread.name for thread in threads if thread.is_alive()]
    if late:
        raise TimeoutError(f"{', '.join(late)} not done after {timeout:g} s.")
    return [call for client_calls in calls for call in client_calls]


def _call_problems(call: Call, max_new_tokens: int) -> list[str]:
    where = f"client {call.client} /{call.api_name}"
    if call.error is not None:
        return [f"{where}: {call.error}"]
    result = call.result or {}
    found = []
    technique = str(result.get("technique", ""))
    if not technique.startswith(call.study.technique):
        found.append(f"{where}: technique {technique!r} is not {call.study.technique!r}")
    if call.api_name == "ask":
        expected = {"schema": "radlens.answer/1", "question": call.text}
        tokens = result.get("completion_tokens")
        if not isinstance(tokens, int) or not 0 < tokens <= max_new_tokens:
            found.append(f"{where}: {tokens} completion tokens, not 1..{max_new_tokens}")
    else:
        expected = {"schema": "radlens.report/1", "indication": call.text}
        key = (result.get("study") or {}).get("study_key")
        if key != call.study.key:
            found.append(f"{where}: study key {key!r} is not its study's {call.study.key!r}")
    found.extend(
        f"{where}: {name} {result.get(name)!r} is not {value!r}"
        for name, value in expected.items()
        if result.get(name) != value
    )
    return found


def problems(calls: Sequence[Call], max_new_tokens: int) -> list[str]:
    """What is wrong with ``calls``: errors, and answers or reports that are not about the
    calling client's study or not what it asked (empty when every call is right)."""
    return [line for call in calls for line in _call_problems(call, max_new_tokens)]


def most_in_flight(calls: Sequence[Call]) -> int:
    """The most calls in flight at once, seen from the clients (from send to answer)."""
    steps = sorted([(c.start, 1) for c in calls] + [(c.end, -1) for c in calls])
    most = running = 0
    for _, step in steps:
        running += step
        most = max(most, running)
    return most


def audit_problems(lines: Sequence[dict[str, Any]], calls: Sequence[Call]) -> list[str]:
    """Differences between the audit lines written during ``calls`` and one line per call
    with the call's study key and task (``ask`` / ``report``) for the local user."""
    seen: Counter[tuple[Any, ...]] = Counter(
        (line.get("study"), line.get("task"), line.get("user")) for line in lines
    )
    expected: Counter[tuple[Any, ...]] = Counter(
        (call.study.key, TASKS[call.api_name], "local") for call in calls
    )
    return [
        f"audit: {seen[k]} line(s) for study {k[0]}, task {k[1]}, user {k[2]}, not {expected[k]}"
        for k in sorted(seen.keys() | expected.keys(), key=str)
        if seen[k] != expected[k]
    ]


@dataclass(frozen=True)
class Figures:
    """Throughput and client-side latency of a run of calls."""

    requests: int
    errors: int
    wall_s: float  # first call's start to last call's end
    per_minute: float
    p50_s: float
    p95_s: float

    def lines(self) -> list[str]:
        return [
            f"requests: {self.requests}, errors: {self.errors}",
            f"wall: {self.wall_s:.2f} s, {self.per_minute:.1f} requests/minute",
            f"latency per request (client side): p50 {self.p50_s:.2f} s, p95 {self.p95_s:.2f} s",
        ]


def _nearest_rank(sorted_values: Sequence[float], fraction: float) -> float:
    return sorted_values[max(0, math.ceil(fraction * len(sorted_values)) - 1)]


def figures(calls: Sequence[Call]) -> Figures:
    """Requests, errors, wall time, requests per minute and nearest-rank p50 / p95 latency."""
    if not calls:
        raise ValueError("Argument 'calls' must hold at least one call.")
    wall = max(c.end for c in calls) - min(c.start for c in calls)
    seconds = sorted(c.seconds for c in calls)
    return Figures(
        requests=len(calls),
        errors=sum(c.error is not None for c in calls),
        wall_s=wall,
        per_minute=len(calls) / wall * 60.0,
        p50_s=_nearest_rank(seconds, 0.50),
        p95_s=_nearest_rank(seconds, 0.95),
    )
