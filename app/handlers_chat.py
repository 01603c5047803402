"""Chat pane: questions about the series shown, answers streamed, boxes put on the viewer.

:func:`ask` is a generator handler. It yields the conversation as the text arrives; its last
yield has the answer with its box markup taken out, the boxes listed (and handed to the viewer
through the user's :class:`~app.handlers_viewer.Marks`, the slider jumping to the first one),
and the turn added to the history the model sees next time. The model runs through
:func:`~app.handlers_model.run_task`, whose :class:`~models.backends.base.CancelToken` is yielded
first, so the Stop button can cancel it. Each answer (stopped ones too) is recorded in the audit
log, by hash only (:func:`record_answer`, which the scripting API uses too).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

import gradio as gr

from app.audit import LOCAL_USER
from app.handlers_model import Call, Phase, Running, current_slice, run_task
from app.handlers_settings import UserSettings
from app.handlers_viewer import Marks, jump_slice, pick_series
from app.services import Services
from dicom_io.study import Series, Study
from models.backends.base import CancelToken
from models.grounding.box import Box
from models.tasks.ask import Answer
from models.tasks.ask import ask as ask_model
from models.tasks.names import TaskName
from models.tasks.prepare import Turn

__all__ = ["answer_markdown", "ask", "clear_chat", "record_answer", "stop"]

Messages = list[dict[str, Any]]
# ask() yields: (question box, chat, turns, cancel token, marks, model status, slider)
AskUpdate = tuple[Any, Messages, tuple[Turn, ...], CancelToken | None, Any, str, Any]


def _box_line(box: Box) -> str:
    return (
        f"- **{box.label or 'box'}**: slice {box.slice}, "
        f"x {box.x0:.0f}-{box.x1:.0f}, y {box.y0:.0f}-{box.y1:.0f} px"
    )


def answer_markdown(answer: Answer, cancelled: bool = False) -> str:
    """The answer as the chat shows it: text, boxes, what was dropped, stopped."""
    text = answer.text
    if text.count("```") % 2:  # stopped inside a ```json fence: close it before what follows
        text = text.rstrip() + "\n```"
    parts = [text]
    if answer.boxes:
        parts.append("\n".join(_box_line(b) for b in answer.boxes))
    if answer.dropped:
        parts.append("\n".join(f"*dropped: {line}*" for line in answer.dropped))
    if cancelled:
        parts.append("*(stopped)*")
    return "\n\n".join(p for p in parts if p)


def _user_text(question: str, region: Box | None) -> str:
    if region is None:
        return question
    return (
        f"{question}\n\n*(about the region on slice {region.slice}: x {region.x0:.0f}-"
        f"{region.x1:.0f}, y {region.y0:.0f}-{region.y1:.0f} px)*"
    )


def ask(
    services: Services,
    question: str,
    messages: Messages | None,
    turns: Sequence[Turn] | None,
    marks: Marks | None,
    study: Study | None,
    index: int | None,
    plane: str,
    slice_index: int,
    *settings_values: Any,
    user: str = LOCAL_USER,
) -> Generator[AskUpdate, None, None]:
    """Ask ``question`` about the series shown; see the module docstring for the yields.

    Without a study of its own (the page has not loaded one) it asks about the initial study.
    ``user`` is who asks, for the audit log.
    """
    question = (question or "").strip()
    study = study if study is not None else services.initial()
    series = pick_series(study, index)
    if not question:
        raise gr.Error("Type a question first.")
    if study is None or series is None:
        raise gr.Error("Open a study first.")
    history = tuple(turns or ())
    settings = UserSettings.from_widgets(*settings_values)
    marks = (marks or Marks()).for_series(series.index)
    region = marks.region
    current = current_slice(series, plane, slice_index)
    spec, options, generation = settings.for_task(services, series, current, region, task="ask")
    before = list(messages or [])
    chat = [*before, {"role": "user", "content": _user_text(question, region)}]
    skip = gr.skip()

    def task(call: Call) -> Answer:
        return ask_model(
            series,
            question,
            call.backend,
            spec,
            history=history,
            region=region,
            options=options,
            settings=generation,
            language=settings.language,
            on_delta=call.on_delta,
            cancel=call.cancel,
        )

    def show(now: Running) -> AskUpdate:
        if now.phase is Phase.FAILED:  # the question back in its box; a gr.Error follows
            return question, before, history, None, marks, now.status, skip
        if now.phase is Phase.STATUS:
            return "", chat, history, now.cancel, marks, now.status, skip
        replied = [*chat, {"role": "assistant", "content": now.text}]
        return skip, replied, history, now.cancel, marks, now.status, skip

    run = yield from run_task(services, spec, settings.precision, task, show)
    answer = run.value
    record_answer(services, user, study, series, answer)
    yield _answered(answer, question, chat, history, marks, series, plane, run.status)


def record_answer(
    services: Services, user: str, study: Study, series: Series, answer: Answer
) -> None:
    """Record an ``ask`` by ``user`` in the audit log (the model's text is hashed, never kept);
    the Chat pane and the scripting API both record their answers here."""
    services.audit.record(
        TaskName.ASK,
        user=user,
        study=study.key,
        series=series.key,
        model=answer.model_id,
        prompt_version=answer.prompt_version,
        output=answer.raw,
    )


def _answered(
    answer: Answer,
    question: str,
    chat: Messages,
    history: tuple[Turn, ...],
    marks: Marks,
    series: Series,
    plane: str,
    status: str,
) -> AskUpdate:
    """The last update: the answer shown, the turn remembered (unless stopped), its boxes on
    the viewer and the slider at the first one."""
    cancelled = answer.finish_reason == "cancelled"
    chat = [*chat, {"role": "assistant", "content": answer_markdown(answer, cancelled)}]
    if not cancelled:
        history = (*history, Turn(question, answer.raw or answer.text))
    slider: Any = gr.skip()
    if answer.boxes:
        marks = replace(marks, boxes=answer.boxes, highlight=None)
        slider = gr.update(value=jump_slice(series, plane, answer.boxes[0]))
    return gr.skip(), chat, history, None, marks, status, slider


def stop(cancel: CancelToken | None) -> None:
    """Stop the running generation of this session (if any) at its next token."""
    if cancel is not None:
        cancel.cancel()


def clear_chat(marks: Marks | None) -> tuple[Messages, tuple[Turn, ...], Marks | None]:
    """A new conversation: no messages, no history, no answer boxes (the region stays)."""
    if marks is not None:
        marks = replace(marks, boxes=(), highlight=None)
    return [], (), marks
