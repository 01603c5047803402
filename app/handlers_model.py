"""Running a model task for a pane: open the model, stream the task, show how it goes.

:func:`run_task` is the one way the panes (Chat, Report, Check, Compare) run the model, and the
scripting API through :func:`run_to_end`. It opens the model (loading it on first use), runs the
task in a worker thread (:func:`~app.services.stream_task`) so its text streams, and hands each
step to the pane's ``show`` as a :class:`Running` snapshot, yielding what ``show`` makes of it
(the pane's widget updates):

- :attr:`Phase.STATUS`: a model status line (loading, then how it was loaded);
- :attr:`Phase.TEXT`: more text came (``text`` holds all of it so far);
- :attr:`Phase.FAILED`: the model could not be opened (weights missing: the line says how to
  get them) or the task failed (out of memory, a remote server that hung, hung up or sent
  garbage); the :class:`gr.Error` with the same message is raised right after.

Every snapshot carries the run's :class:`~models.backends.base.CancelToken`, which the pane
hands to its Stop button; the task gets it too (:class:`Call`). When the task ends,
:func:`run_task` returns its value and the last status line (:class:`Finished`). Core errors
become :class:`gr.Error` with their one-line message (:func:`~app.errors.user_error`, raised
``from None``); any other exception (a bug) a generic line that never repeats its text, which
could hold anything, patient data included.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from app.errors import user_error
from app.services import Services, stream_task
from dicom_io.display.planes import plane_axes
from dicom_io.errors import RadLensError
from dicom_io.study import Series
from models.backends.base import Backend, CancelToken
from models.errors import ModelNotFoundError
from models.registry.spec import ModelSpec

__all__ = [
    "Call",
    "Finished",
    "Phase",
    "Running",
    "current_slice",
    "load_backend",
    "run_task",
    "run_to_end",
]

T = TypeVar("T")
U = TypeVar("U")


def current_slice(series: Series, plane: str, slice_index: int) -> int | None:
    """The acquired slice the viewer shows, or None in a reformatted plane."""
    return int(slice_index) if plane_axes(series.volume, plane).normal == 0 else None


class Phase(StrEnum):
    """What just happened in a run (see the module docstring)."""

    STATUS = "status"
    TEXT = "text"
    FAILED = "failed"


@dataclass(frozen=True)
class Running:
    """A run as a pane shows it: what just happened, the model status line (``⚠`` and the
    message when it failed), all text streamed so far, and the token Stop cancels."""

    phase: Phase
    status: str
    text: str
    cancel: CancelToken


@dataclass(frozen=True)
class Call:
    """What a task is given: the model, where its text goes, the token that stops it."""

    backend: Backend
    on_delta: Callable[[str], None]
    cancel: CancelToken


@dataclass(frozen=True)
class Finished(Generic[T]):
    """A run that ended: the task's value and the last model status line."""

    value: T
    status: str


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


def run_task(
    services: Services,
    spec: ModelSpec,
    precision: str,
    task: Callable[[Call], T],
    show: Callable[[Running], U],
) -> Generator[U, None, Finished[T]]:
    """Open the model and run ``task``, yielding ``show(snapshot)`` at each step; see the module
    docstring."""
    cancel = CancelToken()
    status = ""
    loading = load_backend(services, spec, precision)
    while True:
        try:
            status = next(loading)
        except StopIteration as done:
            backend: Backend = done.value
            break
        except RadLensError as err:
            yield show(Running(Phase.FAILED, f"⚠ {err}", "", cancel))
            raise user_error(err) from None
        yield show(Running(Phase.STATUS, status, "", cancel))

    stream = stream_task(lambda on_delta: task(Call(backend, on_delta, cancel)), cancel)
    streamed = ""
    while True:
        try:
            streamed += next(stream)
        except StopIteration as done:
            return Finished(done.value, status)
        except Exception as err:
            error = user_error(err)
            yield show(Running(Phase.FAILED, f"⚠ {error.message}", streamed, cancel))
            raise error from None
        yield show(Running(Phase.TEXT, status, streamed, cancel))


def run_to_end(
    services: Services, spec: ModelSpec, precision: str, task: Callable[[Call], T]
) -> T:
    """:func:`run_task` with nothing to show (the scripting API): the task's value, or its
    :class:`gr.Error`."""
    run = run_task(services, spec, precision, task, lambda now: None)
    while True:
        try:
            next(run)
        except StopIteration as done:
            finished: Finished[T] = done.value
            return finished.value
