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
UI and are recorded in the audit log like the UI's tasks.

    >>> from gradio_client import Client, handle_file
    >>> client = Client("http://127.0.0.1:7860")
    >>> client.predict([handle_file("chest.dcm")], "Is there an effusion?", 256, api_name="/ask")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from app.audit import LOCAL_USER, Task
from app.errors import user_error
from app.handlers_report import record_task
from app.services import Services
from dicom_io.errors import RadLensError
from dicom_io.study import Series, Study
from models.backends.base import Backend, GenerationSettings
from models.registry.lookup import ModelSpec
from models.tasks.ask import ask as ask_model
from models.tasks.clinical import draft_report as draft_task

__all__ = ["ask", "draft_report"]

MAX_NEW_TOKENS = 4096


def _prepare(
    services: Services, files: list[str] | None, max_new_tokens: float | None
) -> tuple[Study, Series, ModelSpec, Backend, GenerationSettings]:
    if not files:
        raise gr.Error("Send the study's files (a file, several DICOM files or a zip).")
    tokens = 512 if max_new_tokens is None else int(max_new_tokens)
    if not 1 <= tokens <= MAX_NEW_TOKENS:
        raise gr.Error(f"max_new_tokens must be within 1..{MAX_NEW_TOKENS}, not {tokens}.")
    try:
        study = services.open([Path(f) for f in files])
        spec = services.spec()
        backend = services.backend(spec, services.precision)
    except RadLensError as err:
        raise user_error(err) from None
    return study, study.default_series, spec, backend, GenerationSettings(max_new_tokens=tokens)


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
    study, series, spec, backend, settings = _prepare(services, files, max_new_tokens)
    try:
        answer = ask_model(series, question, backend, spec, settings=settings)
    except Exception as err:
        raise user_error(err) from None
    services.audit.record(
        Task.ASK,
        user=user,
        study=study.key,
        series=series.key,
        model=answer.model_id,
        prompt_version=answer.prompt_version,
        output=answer.raw,
    )
    return answer.to_json()


def draft_report(
    services: Services,
    files: list[str] | None,
    indication: str,
    max_new_tokens: float | None,
    user: str = LOCAL_USER,
) -> dict[str, Any]:
    """Draft a report of the study in ``files``: the report as ``radlens.report/1``."""
    study, series, spec, backend, settings = _prepare(services, files, max_new_tokens)
    try:
        report = draft_task(
            series,
            backend,
            spec,
            indication=(indication or "").strip(),
            settings=settings,
            study_key=study.key,
        )
    except Exception as err:
        raise user_error(err) from None
    record_task(services, Task.REPORT, user, report, report.raw, study)
    return report.to_json()
