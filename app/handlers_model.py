"""Running the model for the Chat and Report panes: load it, stream a task, report errors.

:func:`run_model` is the generator both panes' handlers drive. It yields events:

- ``("status", line)``: the model status line (loading, then how it was loaded);
- ``("failed", line)``: the model could not be opened (weights missing: the line says how to
  get them) or generation failed (out of memory, a remote server that hung, hung up or sent
  garbage); a :class:`gr.Error` with the same message follows;
- ``("text", delta)``: text the model wrote since the last event;

and returns the task's value. Core errors become :class:`gr.Error` with their one-line message
(:func:`user_error`); any other exception (a bug) with a generic line that never repeats its
text, which could hold anything, patient data included.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Literal, TypeVar

from app.errors import user_error
from app.services import Services, stream_task
from dicom_io.display.planes import plane_axes
from dicom_io.errors import RadLensError
from dicom_io.study import Series
from models.backends.base import Backend, CancelToken
from models.errors import ModelNotFoundError
from models.registry.lookup import ModelSpec

__all__ = ["Event", "current_slice", "follow", "load_backend", "run_model"]

T = TypeVar("T")
Event = tuple[Literal["status", "failed", "text"], str]
Task = Callable[[Backend, Callable[[str], None]], T]


def current_slice(series: Series, plane: str, slice_index: int) -> int | None:
    """The acquired slice the viewer shows, or None in a reformatted plane."""
    return int(slice_index) if plane_axes(series.volume, plane).normal == 0 else None


def load_backend(
    services: Services, spec: ModelSpec, precision: str
) -> Generator[str, None, Backend]:
    """The model, opened if needed; yields status lines (loading, then loaded).

    Raises:
        ModelNotFoundError: the weights are not here (the message says how to get them).
    """
    gone = services.missing(spec)
    if gone:
        raise ModelNotFoundError(gone)
    if not services.is_loaded(spec, precision):
        yield f"Loading {spec.name} ({precision}); the first request waits for it..."
    backend = services.backend(spec, precision)
    yield services.load_note()
    return backend


def run_model(
    services: Services,
    spec: ModelSpec,
    precision: str,
    cancel: CancelToken,
    task: Task[T],
) -> Generator[Event, None, T]:
    """Open the model and run ``task(backend, on_delta)``; see the module docstring."""
    loading = load_backend(services, spec, precision)
    try:
        while True:
            yield "status", next(loading)
    except StopIteration as done:
        backend: Backend = done.value
    except RadLensError as err:
        yield "failed", f"⚠ {err}"
        raise user_error(err) from None

    def call(on_delta: Callable[[str], None]) -> T:
        return task(backend, on_delta)

    stream = stream_task(call, cancel)
    try:
        while True:
            yield "text", next(stream)
    except StopIteration as done:
        value: T = done.value
        return value
    except Exception as err:
        error = user_error(err)
        yield "failed", f"⚠ {error.message}"
        raise error from None


def follow(
    events: Generator[Event, None, T],
    failed: Callable[[str], tuple[Any, ...]],
    status: Callable[[str], tuple[Any, ...]],
    text: Callable[[str, str], tuple[Any, ...]],
) -> Generator[tuple[Any, ...], None, T]:
    """Turn :func:`run_model`'s events into a pane's widget updates; return the task's result.

    ``failed(message)`` and ``status(message)`` build the updates for those events,
    ``text(streamed_so_far, status)`` the update for each new piece of streamed text.
    """
    current, streamed = "", ""
    while True:
        try:
            kind, value = next(events)
        except StopIteration as done:
            result: T = done.value
            return result
        if kind == "failed":  # a gr.Error follows
            yield failed(value)
        elif kind == "status":
            current = value
            yield status(current)
        else:
            streamed += value
            yield text(streamed, current)
