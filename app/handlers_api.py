"""The scripting API: ``/ask`` and ``/draft_report`` for Gradio clients on this machine.

Two deliberate endpoints, stateless: each call sends a study (its files: one DICOM, NIfTI or
image file, several DICOM files, or a zip) with a question or an indication, and gets back the
answer or report as JSON (``radlens.answer/1``, ``radlens.report/1``, as ``radlens ask --json``
writes them). The study's default series is asked about, with the server's model and the
default settings; ``max_new_tokens`` caps the answer. Files go through Gradio's upload route
(``gradio_client.handle_file``): a path the client did not upload is refused.

They exist only when :attr:`Services.api` is on, which ``radlens serve`` does only without
``--auth``: a server behind a login offers no API at all (not even on its login page, which
would list it), and is scripted with the CLI instead. Calls share the model's queue with the
UI, run the model the panes' way (:func:`~app.handlers_model.run_to_end`: the same model
loading and one-line errors) and are recorded in the audit log like the UI's tasks.

    >>> from gradio_client import Client, handle_file
    >>> client = Client("http://127.0.0.1:7860")
    >>> client.predict([handle_file("chest.dcm")], "Is there an effusion?", 256, api_name="/ask")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from app.audit import LOCAL_USER
from app.errors import user_error
from app.handlers_chat import record_answer
from app.handlers_model import Call, run_to_end
from app.handlers_report import record_task
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Study
from models.backends.base import GenerationSettings
from models.registry.spec import ModelSpec
from models.report.draft import Report
from models.tasks.ask import Answer
from models.tasks.ask import ask as ask_model
from models.tasks.decoding import default_settings
from models.tasks.names import TaskName
from models.tasks.report import draft_report as draft_task

__all__ = ["ask", "draft_report"]

MAX_NEW_TOKENS = 4096


def _prepare(
    services: Services, files: list[str] | None, max_new_tokens: float | None, task: TaskName
) -> tuple[Study, ModelSpec, GenerationSettings]:
    if not files:
        raise gr.Error("Send the study's files (a file, several DICOM files or a zip).")
    budget = default_settings(task).max_new_tokens  # the task's, from the makers' notebooks
    tokens = budget if max_new_tokens is None else int(max_new_tokens)
    if not 1 <= tokens <= MAX_NEW_TOKENS:
        raise gr.Error(f"max_new_tokens must be within 1..{MAX_NEW_TOKENS}, not {tokens}.")
    try:
        study = services.open([Path(f) for f in files])
        spec = services.spec()
    except RadLensError as err:
        raise user_error(err) from None
    return study, spec, GenerationSettings(max_new_tokens=tokens)


def ask(
    services: Services,
    files: list[str] | None,
    question: str,
    max_new_tokens: float | None,
    user: str = LOCAL_USER,
) -> dict[str, Any]:
    """Answer ``question`` about the study in ``files``: the answer as ``radlens.answer/1``."""
    question = (question or "").strip()
    if not question:
        raise gr.Error("Send a question.")
    study, spec, settings = _prepare(services, files, max_new_tokens, TaskName.ASK)
    series = study.default_series

    def task(call: Call) -> Answer:  # not streamed: the whole answer at once, as JSON
        return ask_model(series, question, call.backend, spec, settings=settings)

    answer = run_to_end(services, spec, services.precision, task)
    record_answer(services, user, study, series, answer)
    return answer.to_json()


def draft_report(
    services: Services,
    files: list[str] | None,
    indication: str,
    max_new_tokens: float | None,
    user: str = LOCAL_USER,
) -> dict[str, Any]:
    """Draft a report of the study in ``files``: the report as ``radlens.report/1``."""
    study, spec, settings = _prepare(services, files, max_new_tokens, TaskName.REPORT)

    def task(call: Call) -> Report:  # not streamed either
        return draft_task(
            study.default_series,
            call.backend,
            spec,
            indication=(indication or "").strip(),
            settings=settings,
            study_key=study.key,
        )

    report = run_to_end(services, spec, services.precision, task)
    record_task(services, TaskName.REPORT, user, report, report.raw, study)
    return report.to_json()
