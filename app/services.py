"""What the UI handlers share: settings, the read-only demo study and the loaded model.

Per-user data (the study a user opened, the conversation, the report) lives in ``gr.State``,
never here. The model is the one thing every session shares: :class:`Services` opens it on
first use (the :meth:`Services.backend` lock makes a second session wait for that load instead
of loading it twice) and keeps one model in memory; asking for another model or precision
replaces it, the old one's memory (GPU memory too) freed before the new one loads. Backends
serialise generation themselves, and the UI runs model events one at a time for a local model,
so sharing it read-only is safe. A remote server batches requests (vLLM, SGLang), so with the
remote entry configured the UI lets :meth:`Services.concurrency` model events run at once
(RADLENS_REMOTE_CONCURRENCY); :class:`RunningTasks` keeps each page's running tasks so Stop
cancels them all.

:func:`stream_task` runs a blocking core call that reports text through ``on_delta`` (``ask``,
``draft_report``) in a worker thread, so a generator handler can yield the text as it comes;
:func:`app.handlers_model.run_task` drives it for every pane.
"""

from __future__ import annotations

import gc
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from app.audit import AuditLog
from app.retention import PageHoldings
from dicom_io.limits import Limits
from dicom_io.loader import Progress, load_studies, load_study
from dicom_io.study import Series, Study
from models.backends.base import Backend, CancelToken
from models.backends.loading import Precision, resolve_model_folder
from models.errors import ModelNotFoundError
from models.registry.hub import is_downloaded
from models.registry.lookup import default_spec, get_spec, list_specs
from models.registry.remote_entry import remote_settings
from models.registry.spec import ModelSpec

__all__ = ["BackendFactory", "RunningTasks", "Services", "stream_task"]

T = TypeVar("T")
BackendFactory = Callable[[ModelSpec, str, str | None], Backend]
STATUS_PRECISION = Precision.NF4  # memory estimates in the model list


class RunningTasks:
    """The cancel tokens of each page's running model tasks (keyed by Gradio's session hash),
    so one Stop cancels every task of that page, however many run at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, list[CancelToken]] = {}

    def track(self, page: str, token: CancelToken) -> None:
        with self._lock:
            held = self._tokens.setdefault(page, [])
            if all(t is not token for t in held):
                held.append(token)

    def forget(self, page: str, token: CancelToken) -> None:
        with self._lock:
            held = [t for t in self._tokens.get(page, []) if t is not token]
            if held:
                self._tokens[page] = held
            else:
                self._tokens.pop(page, None)

    def running(self, page: str) -> int:
        with self._lock:
            return len(self._tokens.get(page, []))

    def cancel(self, page: str) -> int:
        """Cancel every task ``page`` runs; how many there were."""
        with self._lock:
            tokens = list(self._tokens.get(page, []))
        for token in tokens:
            token.cancel()
        return len(tokens)


def _open_backend(spec: ModelSpec, precision: str, device: str | None) -> Backend:
    from models.backends.engine import open_backend

    return open_backend(spec, precision, device)


@dataclass
class Services:
    """Settings and shared, read-only resources of one running app.

    Attributes:
        initial_study: the study every session opens with (None: an empty viewer).
        model_id: the model the settings start on (None: the registry default).
        precision: ``auto``, ``nf4``, ``int8``, ``bf16`` or ``fp32`` to start with.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (None: the GPU when there is one).
        hub_cache: the Hugging Face cache to look models up in (None: the standard one).
        open_backend: how a backend is opened (tests may script one; default: the engine).
        audit: where each model task is recorded (see :mod:`app.audit`).
        pages: the studies each page opened (see :mod:`app.retention`).
        running: each page's running model tasks, for Stop (:class:`RunningTasks`).
        api: offer the scripting API (``/ask``, ``/draft_report``; see :mod:`app.handlers_api`)
            to Gradio clients. ``radlens serve`` turns it on only without ``--auth``, so it is
            never listed on a login page.
    """

    initial_study: Path | None = None
    model_id: str | None = None
    precision: str = "auto"
    device: str | None = None
    hub_cache: Path | None = None
    limits: Limits = field(default_factory=Limits.from_env)
    open_backend: BackendFactory = _open_backend
    audit: AuditLog = field(default_factory=AuditLog)
    api: bool = False
    pages: PageHoldings = field(default_factory=PageHoldings)
    running: RunningTasks = field(default_factory=RunningTasks)
    _initial: Study | None = field(default=None, repr=False)
    _configured: ModelSpec | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _spec_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _model_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _backend: Backend | None = field(default=None, repr=False)
    _backend_key: tuple[str, str, str | None] | None = field(default=None, repr=False)
    _load_note: str = field(default="", repr=False)

    # ----------------------------------------------------------------------------- studies

    def initial(self) -> Study | None:
        """The study every session opens with (loaded once, shared read-only)."""
        if self.initial_study is None:
            return None
        with self._lock:
            if self._initial is None:
                self._initial = load_study(self.initial_study, self.limits)
            return self._initial

    def open(self, paths: list[Path], progress: Progress | None = None) -> Study:
        """Read an upload (files, a folder's files or a zip) into a new study; an upload of
        several studies raises :class:`~dicom_io.errors.MultipleStudiesError` listing them.

        ``progress(stage, done, total)`` is called as the headers are read.
        """
        return load_study(paths, self.limits, progress)

    def open_all(self, paths: list[Path], progress: Progress | None = None) -> tuple[Study, ...]:
        """Every study of an upload, one per patient and study (see :meth:`open`)."""
        return load_studies(paths, self.limits, progress)

    # ----------------------------------------------------------------------------- models

    def spec(self, model_id: str | None = None) -> ModelSpec:
        """The spec of ``model_id`` (default: the configured model, else the registry's).

        The configured model is also found by its spec id (a folder's name), the value the
        settings' model list holds for it.
        """
        if self.model_id is None:
            return get_spec(model_id) if model_id else default_spec()
        with self._spec_lock:
            if self._configured is None:
                self._configured = get_spec(self.model_id)
            configured = self._configured
        if model_id in (None, "", configured.id, self.model_id):
            return configured
        return get_spec(model_id)

    def specs(self) -> list[ModelSpec]:
        """The models the settings offer: the configured one first when it is a folder."""
        listed = list(list_specs())
        configured = self.spec()
        if all(spec.id != configured.id for spec in listed):
            listed.insert(0, configured)
        return listed

    def concurrency(self, spec: ModelSpec | None = None) -> int:
        """Model requests that may run at once with ``spec`` (default: the configured model):
        a remote server's RADLENS_REMOTE_CONCURRENCY, else 1 (a local model generates one
        request at a time)."""
        chosen = self.spec() if spec is None else spec
        return remote_settings().concurrency if chosen.is_remote else 1

    def missing(self, spec: ModelSpec) -> str:
        """How to get ``spec``'s weights when they are not here (one line), else ``""``."""
        if spec.is_remote:
            return ""
        if spec.local_folder is not None:
            try:
                resolve_model_folder(spec.local_folder, model_id=spec.id)
            except ModelNotFoundError as err:
                return str(err)
            return ""
        if is_downloaded(spec, self.hub_cache):
            return ""
        if spec.gated:  # the note ends with the pull command
            return f"Model {spec.id!r} is not downloaded. {spec.gated_note}"
        return f"Model {spec.id!r} is not downloaded: run `radlens models pull {spec.id}`."

    def is_loaded(self, spec: ModelSpec, precision: str) -> bool:
        return self._backend is not None and self._backend_key == self._key(spec, precision)

    def load_note(self) -> str:
        """How the model in memory was loaded (empty before the first load)."""
        return self._load_note

    def _key(self, spec: ModelSpec, precision: str) -> tuple[str, str, str | None]:
        return (spec.source, Precision.parse(precision).value, self.device)

    def backend(self, spec: ModelSpec, precision: str) -> Backend:
        """The model for ``spec`` at ``precision``, opened on first use (one load at a time).

        Raises:
            ModelNotFoundError: the weights are not here; the message says how to get them.
        """
        key = self._key(spec, precision)
        with self._model_lock:
            if self._backend is not None and self._backend_key == key:
                return self._backend
            gone = self.missing(spec)
            if gone:
                raise ModelNotFoundError(gone)
            self._release()  # one model at a time: free the last one before loading the next
            backend = self.open_backend(spec, precision, self.device)
            self._backend, self._backend_key = backend, key
            self._load_note = _describe_loaded(spec, backend)
            return backend

    def _release(self) -> None:
        """Forget the model in memory and give its memory back: a collection pass (models hold
        reference cycles, which reference counting alone never frees) and, on a GPU, PyTorch's
        cached blocks, so the next model can use them."""
        if self._backend is None:
            return
        self._backend = self._backend_key = None
        self._load_note = ""
        gc.collect()
        torch = sys.modules.get("torch")  # never imported here only to clean up
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.empty_cache()

    # ----------------------------------------------------------------------------- exports

    def export(self, report: Any, suffix: str, series: Series | None) -> Path:
        """Write ``report`` as ``suffix`` (``.md``, ``.pdf``, ...) into a fresh private folder.

        The folder is inside Gradio's temporary folder (``GRADIO_TEMP_DIR``), which the server
        keeps private and removes at exit.
        """
        from models.report.exports import export_report

        base = os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()
        Path(base).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="export-", dir=base))
        return export_report(report, folder / f"radlens-report{suffix}", series=series)


def _describe_loaded(spec: ModelSpec, backend: Backend) -> str:
    loaded = getattr(backend, "loaded", None)
    if loaded is None:
        return f"{spec.name}: ready ({backend.model_id})."
    return (
        f"{spec.name}: loaded as {loaded.precision.value} on {loaded.device} "
        f"in {loaded.load_seconds:.1f} s."
    )


_DONE = object()


def stream_task(
    task: Callable[[Callable[[str], None]], T], cancel: CancelToken
) -> Generator[str, None, T]:
    """Run ``task(on_delta)`` in a worker thread; yield its text deltas, return its value.

    Deltas that arrived together are yielded as one string. The task's exception is raised
    here. Closing the generator early (the page went away) cancels ``cancel`` so the model
    stops at its next token.
    """
    deltas: queue.Queue[object] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = task(deltas.put)
        except BaseException as err:  # re-raised in the consumer's thread
            outcome["error"] = err
        finally:
            deltas.put(_DONE)

    worker = threading.Thread(target=work, name="radlens-generate", daemon=True)
    worker.start()
    finished = False
    try:
        while not finished:
            pieces = [deltas.get()]
            while not deltas.empty():
                pieces.append(deltas.get_nowait())
            finished = pieces[-1] is _DONE
            text = "".join(p for p in pieces if isinstance(p, str))
            if text:
                yield text
    finally:
        if not finished:
            cancel.cancel()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
