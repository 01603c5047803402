"""Decode compressed pixel data in worker processes, under a deadline.

pydicom's decoder plugins are C and Rust code that hold the GIL. On damaged data one of them may
loop forever (a JPEG-LS frame declaring zero lines once did) or crash the process; inside a
server either would stop every user's requests. With a guard configured, every compressed file
is decoded in a pool of spawned worker processes instead:

- a file whose decode runs longer than ``timeout`` seconds is given up: the pool's workers are
  killed, the caller gets a :class:`DecodeTimeoutError` naming the file, and the next decode
  starts a fresh pool (other files in flight in the killed pool are decoded again there);
- a worker that dies on its own (a decoder crashing the process) fails its file with a
  :class:`CorruptFileError` after one more try on a fresh pool.

``radlens serve`` turns the guard on (``RADLENS_DECODE_TIMEOUT`` seconds, default 60); the
command line uses it when that variable is set. Uncompressed pixel data is read directly and never
needs it. The workers start on first use (about a second) and stay for the next decode.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy.typing as npt

from dicom_io.errors import CorruptFileError, InvalidArgumentError
from dicom_io.pixels.plugins import Job, decode_job

__all__ = [
    "DECODE_TIMEOUT_ENV",
    "DecodeGuard",
    "DecodeTimeoutError",
    "active_guard",
    "configure_decode_guard",
    "timeout_from_env",
]

DECODE_TIMEOUT_ENV = "RADLENS_DECODE_TIMEOUT"
SERVER_TIMEOUT = 60.0
_POLL_SECONDS = 0.2


class DecodeTimeoutError(CorruptFileError):
    """A file's pixel data did not decode within the deadline (the decoder was stopped)."""


class DecodeGuard:
    """A pool of spawned decoding processes with a per-file deadline; thread-safe.

    ``work`` decodes one job in a worker; it must be importable by name there (the default is
    :func:`dicom_io.pixels.plugins.decode_job`).
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
        self._pool: ProcessPoolExecutor | None = None
        self._killed: set[ProcessPoolExecutor] = set()  # pools stopped on purpose

    def decode(self, job: Job) -> npt.NDArray[Any]:
        """``work(job)`` in a worker process; see the module docstring for the failures."""
        for attempt in range(3):
            pool = self._current()
            try:
                future = pool.submit(self._work, job)
                return self._wait(future, pool, job)
            except BrokenProcessPool:
                if pool in self._killed:
                    continue  # stopped because of another file: this one was innocent
                self._discard(pool)
                if attempt >= 1:
                    raise CorruptFileError(
                        f"{job.name}: the pixel decoder crashed on this file's data; the file "
                        "is damaged."
                    ) from None
        raise CorruptFileError(f"{job.name}: its pixel data could not be decoded (retried).")

    def warm(self) -> None:
        """Start a worker now (it takes about a second), without waiting for it."""
        self._current().submit(os.getpid)

    def _wait(
        self, future: Future[npt.NDArray[Any]], pool: ProcessPoolExecutor, job: Job
    ) -> npt.NDArray[Any]:
        started: float | None = None
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                pass
            if future.running() and started is None:
                started = time.monotonic()
            if started is not None and time.monotonic() - started > self.timeout:
                self._kill(pool)
                raise DecodeTimeoutError(
                    f"{job.name}: decoding its pixel data did not finish within "
                    f"{self.timeout:g} s and was stopped; the compressed data may be damaged "
                    f"({DECODE_TIMEOUT_ENV} sets the limit)."
                )

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        """Stop every worker of ``pool`` (one is stuck in a decoder) and forget the pool."""
        with self._lock:
            self._killed.add(pool)
            if self._pool is pool:
                self._pool = None
        # The executor has no public way to stop a running call; its processes are killed.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers (at exit, or when the guard is replaced)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


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
