"""The contract every generation backend fulfils, and the values that cross it.

A backend turns a :class:`GenerationRequest` (neutral chat messages plus
:class:`GenerationSettings`) into text: :meth:`Backend.generate` returns the whole answer as a
:class:`Result`, :meth:`Backend.stream` yields it as text deltas while it is produced (and
returns the :class:`Result` when it ends; :func:`drain` collects both). Both take
an optional :class:`CancelToken`; cancelling stops generation at the next token and the
:class:`Result` then says ``finish_reason="cancelled"``.

Failures are :class:`~models.errors.GenerationError` (a ``RuntimeError``, defined with the
other model errors in :mod:`models.errors`): :class:`~models.errors.OutOfMemoryError` when the
GPU ran out of memory, :class:`~models.errors.RemoteServerError` when an OpenAI-compatible server
failed, refused or could not be reached, and its subclass
:class:`~models.errors.RemoteTimeoutError` (also a ``TimeoutError``) when it did not answer in
time.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from models.inputs.messages import Message

__all__ = [
    "Backend",
    "CancelToken",
    "FinishReason",
    "GenerationRequest",
    "GenerationSettings",
    "Result",
    "drain",
]

FinishReason = Literal["stop", "length", "cancelled"]
_FINISH_REASONS = ("stop", "length", "cancelled")


@dataclass(frozen=True)
class GenerationSettings:
    """How to decode: greedy when ``temperature`` is 0, else sampling with ``top_p``.

    ``temperature`` is capped at 2, as in the OpenAI API, so one setting works on every backend.

    ``seed`` makes sampling reproducible on one machine. ``min_new_tokens`` forbids the end
    token before that many tokens (for tests and benchmarks; the OpenAI API has no such field).
    """

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        _check_int("max_new_tokens", self.max_new_tokens, minimum=1)
        _check_int("min_new_tokens", self.min_new_tokens, minimum=0)
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"Argument 'min_new_tokens' must be <= max_new_tokens ({self.max_new_tokens}), "
                f"not {self.min_new_tokens}."
            )
        if self.seed is not None:
            _check_int("seed", self.seed, minimum=0)
        if not _is_real(self.temperature) or not 0 <= self.temperature <= 2:
            raise ValueError(
                f"Argument 'temperature' must be a number in [0, 2] (0 = greedy), "
                f"not {self.temperature!r}."
            )
        if not _is_real(self.top_p) or not 0 < self.top_p <= 1:
            raise ValueError(f"Argument 'top_p' must be in (0, 1], not {self.top_p!r}.")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class GenerationRequest:
    """Chat messages to answer, and how to decode the answer."""

    messages: list[Message]
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("A generation request needs at least one message.")
        if not all(isinstance(m, Message) for m in self.messages):
            kinds = sorted({type(m).__name__ for m in self.messages})
            raise TypeError(f"GenerationRequest.messages must hold Message objects, not {kinds}.")


@dataclass(frozen=True)
class Result:
    """A finished (or cancelled) answer and what it cost.

    Token counts are None when a remote server does not report them. ``first_token_seconds``
    is None when no text was produced.
    """

    text: str
    model_id: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float
    first_token_seconds: float | None
    finish_reason: FinishReason

    def __post_init__(self) -> None:
        if self.finish_reason not in _FINISH_REASONS:
            raise ValueError(
                f"Result.finish_reason must be one of {', '.join(_FINISH_REASONS)}, "
                f"not {self.finish_reason!r}."
            )
        for name in ("prompt_tokens", "completion_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Result.{name} must be >= 0, not {value}.")
        if self.seconds < 0:
            raise ValueError(f"Result.seconds must be >= 0, not {self.seconds}.")


class CancelToken:
    """A flag another thread (a Stop button) sets to stop a running generation.

    Backends read :attr:`cancelled` between tokens; one blocked on I/O registers a callback
    with :meth:`on_cancel` to be woken (the remote backend shuts its socket).
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._guard = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._guard:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds passed; True when cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once on cancel (at once if already cancelled); returns a remover."""
        with self._guard:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._guard, contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


@runtime_checkable
class Backend(Protocol):
    """Something that answers chat requests: a local model or a remote server."""

    @property
    def model_id(self) -> str: ...

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Result:
        """The whole answer; raises :class:`~models.errors.GenerationError` on failure."""
        ...

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> Generator[str, None, Result]:
        """The answer as text deltas, in order; raises :class:`~models.errors.GenerationError`
        on failure.

        The generator's return value (``result = yield from backend.stream(...)``, or
        :func:`drain`) is the :class:`Result`. Closing it early cancels the generation.
        """
        ...


def drain(stream: Generator[str, None, Result]) -> tuple[list[str], Result]:
    """Run a :meth:`Backend.stream` to its end: its deltas and its :class:`Result`."""
    deltas: list[str] = []
    while True:
        try:
            deltas.append(next(stream))
        except StopIteration as stop:
            result: Result = stop.value
            return deltas, result


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"Argument '{name}' must be an integer >= {minimum}, not {value!r}.")
