"""Decode compressed pixel data in worker processes, under a deadline.

pydicom's decoder plugins are C and Rust code that hold the GIL. On damaged data one of them may
loop forever (a JPEG-LS frame declaring zero lines once did) or crash the process; inside a
server either would stop every user's requests. With a guard configured, every compressed file
is decoded in a pool of spawned worker processes instead:

- a file whose decode runs longer than ``timeout`` seconds, counted from the moment a worker
  starts decoding it (a worker's start, its imports and the files queued before this one do not
  count), is given up: the pool's workers are killed, the caller gets a
  :class:`~dicom_io.errors.DecodeTimeoutError` naming the file, and the next decode starts a
  fresh pool (other files in flight in the killed pool are decoded again there);
- a worker that dies on its own (a decoder crashing the process) fails its file with a
  :class:`CorruptFileError` after one more try on a fresh pool.

``radlens serve`` turns the guard on (``RADLENS_DECODE_TIMEOUT`` seconds, default 60); the
command line uses it when that variable is set. Uncompressed pixel data is read directly and never
needs it. The workers start on first use (about a second) and stay for the next decode.
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.queues import SimpleQueue
from typing import Any

import numpy.typing as npt

from dicom_io.errors import CorruptFileError, DecodeTimeoutError, InvalidArgumentError
from dicom_io.pixels.plugins import Job, decode_job

__all__ = [
    "DECODE_TIMEOUT_ENV",
    "DecodeGuard",
    "active_guard",
    "configure_decode_guard",
    "timeout_from_env",
]

DECODE_TIMEOUT_ENV = "RADLENS_DECODE_TIMEOUT"
SERVER_TIMEOUT = 60.0
_POLL_SECONDS = 0.2


class _Pool:
    """One pool of spawned workers, and the queue on which each reports the moment it starts a
    job, so that a job's deadline counts from then: not from the moment the pool accepted it
    (the pool marks a job running as soon as it queues it for the workers, before a worker has
    even started, imported its decoder, or finished the job before it)."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        # A SimpleQueue writes to its pipe at once, in the calling thread: a decoder that then
        # holds the GIL forever cannot keep the start from being reported.
        self.started: SimpleQueue[int] = context.SimpleQueue()
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.started,),
        )
        self._tokens = itertools.count()
        self._starts: dict[int, float] = {}  # token -> time.monotonic() when its start was seen
        self._lock = threading.Lock()

    def token(self) -> int:
        """A new number for a job, that its worker reports when it starts the job."""
        return next(self._tokens)

    def submit(
        self, work: Callable[[Job], npt.NDArray[Any]], job: Job, token: int
    ) -> Future[npt.NDArray[Any]]:
        try:
            return self.executor.submit(_run_reporting_start, work, token, job)
        except RuntimeError as err:  # shut down just now: killed over another thread's file
            raise BrokenProcessPool(str(err)) from err

    def started_at(self, token: int) -> float | None:
        """When a worker started the job ``token`` (as first seen here), else None."""
        with self._lock:
            now = time.monotonic()
            while not self.started.empty():
                self._starts[self.started.get()] = now
            return self._starts.get(token)

    def forget(self, token: int) -> None:
        with self._lock:
            self._starts.pop(token, None)

    def kill(self) -> None:
        """Stop every worker (one is stuck in a decoder) and the pool."""
        # The executor has no public way to stop a running call; its processes are killed.
        for process in list(getattr(self.executor, "_processes", {}).values()):
            process.kill()
        self.shutdown()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


_started_queue: SimpleQueue[int] | None = None  # in a worker process: where starts are reported


def _init_worker(started: SimpleQueue[int]) -> None:
    global _started_queue
    _started_queue = started


def _run_reporting_start(
    work: Callable[[Job], npt.NDArray[Any]], token: int, job: Job
) -> npt.NDArray[Any]:
    """In a worker: report that job ``token`` starts now, then decode it."""
    if _started_queue is not None:
        _started_queue.put(token)
    return work(job)


class DecodeGuard:
    """A pool of spawned decoding processes with a per-file deadline; thread-safe.

    ``work`` decodes one job in a worker; it must be importable by name there (the default is
    :func:`dicom_io.pixels.plugins.decode_job`). The deadline counts from the moment a worker
    starts the job, so a worker's start, its imports and the files queued before this one do
    not count against it.
    """

    def __init__(
        self,
        timeout: float,
        workers: int | None = None,
        work: Callable[[Job], npt.NDArray[Any]] = decode_job,
    ) -> None:
        if not 0 < timeout <= 3600:
            raise InvalidArgumentError(
                f"The decode timeout must be seconds within (0, 3600], not {timeout:g}."
            )
        self.timeout = float(timeout)
        self.workers = workers or max(1, min(os.cpu_count() or 1, 4))
        self._work = work
        self._lock = threading.Lock()
        self._pool: _Pool | None = None
        self._killed: set[_Pool] = set()  # pools stopped on purpose

    def decode(self, job: Job) -> npt.NDArray[Any]:
        """``work(job)`` in a worker process; see the module docstring for the failures."""
        for attempt in range(3):
            pool = self._current()
            token = pool.token()
            try:
                future = pool.submit(self._work, job, token)
                return self._wait(future, pool, token, job)
            except BrokenProcessPool:
                if pool in self._killed:
                    continue  # stopped because of another file: this one was innocent
                self._discard(pool)
                if attempt >= 1:
                    raise CorruptFileError(
                        f"{job.name}: the pixel decoder crashed on this file's data; the file "
                        "is damaged."
                    ) from None
            finally:
                pool.forget(token)
        raise CorruptFileError(f"{job.name}: its pixel data could not be decoded (retried).")

    def warm(self) -> None:
        """Start a worker now (it takes about a second), without waiting for it."""
        self._current().executor.submit(os.getpid)

    def _wait(
        self, future: Future[npt.NDArray[Any]], pool: _Pool, token: int, job: Job
    ) -> npt.NDArray[Any]:
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                pass
            started = pool.started_at(token)
            if started is not None and time.monotonic() - started > self.timeout:
                self._kill(pool)
                raise DecodeTimeoutError(
                    f"{job.name}: decoding its pixel data did not finish within "
                    f"{self.timeout:g} s and was stopped; the compressed data may be damaged "
                    f"({DECODE_TIMEOUT_ENV} sets the limit)."
                )

    def _current(self) -> _Pool:
        with self._lock:
            if self._pool is None:
                self._pool = _Pool(self.workers)
            return self._pool

    def _discard(self, pool: _Pool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown()

    def _kill(self, pool: _Pool) -> None:
        """Stop every worker of ``pool`` (one is stuck in a decoder) and forget the pool."""
        with self._lock:
            self._killed.add(pool)
            if self._pool is pool:
                self._pool = None
        pool.kill()

    def close(self) -> None:
        """Stop the workers (at exit, or when the guard is replaced)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown()


_active: DecodeGuard | None = None
_configured = False
_active_lock = threading.Lock()


def configure_decode_guard(timeout: float | None) -> DecodeGuard | None:
    """Decode compressed pixel data under a ``timeout`` (seconds) from now on, or in this
    process again with None. Returns the guard in use."""
    global _active, _configured
    guard = DecodeGuard(timeout) if timeout is not None else None
    with _active_lock:
        previous, _active, _configured = _active, guard, True
    if previous is not None:
        previous.close()
    return guard


def timeout_from_env(default: float | None = None) -> float | None:
    """``RADLENS_DECODE_TIMEOUT`` in seconds (``0`` or ``off``: no guard), else ``default``."""
    text = os.environ.get(DECODE_TIMEOUT_ENV, "").strip().lower()
    if not text:
        return default
    if text in ("0", "off", "none"):
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(
            f"{DECODE_TIMEOUT_ENV} must be seconds such as 60 (or 'off'), not {text!r}."
        ) from None


def active_guard() -> DecodeGuard | None:
    """The guard compressed files are decoded under, if any: the configured one, else one from
    ``RADLENS_DECODE_TIMEOUT`` when that is set (read on first use)."""
    if not _configured:
        configure_decode_guard(timeout_from_env())
    return _active


@atexit.register
def _close_at_exit() -> None:
    if _active is not None:
        _active.close()
