"""Driving RadLens to a fault during generation, and the checks every fault test makes.

Each fault test (``test_faults_local.py``, ``test_faults_remote.py``) starts from a real
in-process server (``start_server``) and drives a real entry point: ``/ask`` or
``/draft_report`` through ``gradio_client`` (the ``predict`` fixture of tests/app/conftest.py),
or the Chat or Report pane's handler as the UI calls it (:func:`asking`, :func:`drafting`), on
the same :class:`~app.services.Services` the server runs. It injects one fault, then checks that

- the user gets RadLens' one-line message (``AppError`` for the API; for the panes, the status
  line shows it, the pane is left ready for another try, and ``gr.Error`` carries it:
  :func:`until_error`, :func:`assert_one_line`),
- it ends in that error rather than waiting forever (a hang is caught by the test timeout of
  pyproject.toml, never by a wall-clock bound that a busy machine could miss),
- the server still answers HTTP (:func:`assert_serving`), and the next request on it succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import httpx
import pytest

from app import handlers_chat as chat
from app import handlers_report as report
from app.services import Services
from dicom_io.study import Study
from tests.app.conftest import RadLensServer
from tests.app.test_ui_handlers import widgets as settings_values

__all__ = [
    "SENTINEL",
    "Predict",
    "asking",
    "assert_one_line",
    "assert_serving",
    "drafting",
    "until_error",
    "widgets",
]

SENTINEL = "DOE^JANE-4711"  # stands for patient data inside an exception's text
Predict = Callable[[RadLensServer, str], dict[str, Any]]


def widgets(services: Services, **changes: Any) -> tuple[Any, ...]:
    """The settings widgets' values for ``services``' model and precision, in the handlers'
    order: 8 new tokens unless changed."""
    return settings_values(services.spec().id, **{"precision": services.precision, **changes})


def asking(services: Services, study: Study, question: str, **changes: Any) -> Iterator[Any]:
    """The Chat pane's updates for ``question`` about ``study``, from a fresh chat."""
    values = widgets(services, **changes)
    return chat.ask(services, question, [], (), None, study, 0, "acquired", 0, *values)


def drafting(services: Services, study: Study, **changes: Any) -> Iterator[Any]:
    """The Report pane's updates drafting a report of ``study`` for the indication "cough"."""
    values = widgets(services, **changes)
    return report.draft(services, "cough", study, 0, "acquired", 0, *values)


def until_error(updates: Iterator[Any], on_update: Callable[[Any], None]) -> tuple[list[Any], str]:
    """Drive a handler to its ``gr.Error``: its updates and the error's message."""
    seen: list[Any] = []

    def drive() -> None:
        for update in updates:
            seen.append(update)
            on_update(update)

    with pytest.raises(gr.Error) as info:
        drive()
    return seen, info.value.message


def assert_one_line(message: str) -> None:
    """A message the user can read: not empty, one line, no patient data."""
    assert message
    assert "\n" not in message
    assert SENTINEL not in message


def assert_serving(server: RadLensServer) -> None:
    """The server still answers HTTP: its page."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        assert client.get(server.url).status_code == 200
