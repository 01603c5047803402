"""Asking a model about a study: :func:`ask` and the :class:`Answer` it returns.

The same post-processing runs on a live answer and on a saved raw output
(:func:`answer_from_text`, behind ``radlens ask --from-raw``), so an answer can be re-read and
debugged without loading the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from dicom_io.study import Series
from models.backends.base import (
    Backend,
    CancelToken,
    GenerationRequest,
    GenerationSettings,
    Result,
)
from models.grounding.box import Box
from models.inputs.model_inputs import InputOptions
from models.registry.spec import ModelSpec
from models.report.draft import DISCLAIMER
from models.tasks.decoding import default_settings
from models.tasks.model_text import ModelText, read_model_text
from models.tasks.names import TaskName
from models.tasks.prepare import Prepared, Turn, prepare

__all__ = [
    "ANSWER_SCHEMA",
    "Answer",
    "answer_from_text",
    "ask",
    "drop_unoffered_boxes",
    "localization_note",
    "run",
]

ANSWER_SCHEMA = "radlens.answer/1"
NO_TEXT = "Unable to assess: the model returned no text."


@dataclass(frozen=True)
class Answer:
    """A model's answer to one question, with its boxes on source slices.

    ``text`` is the answer with the box markup taken out; ``raw`` what the model wrote.
    ``dropped`` lists boxes that could not be used and why; nothing is invented in their place.
    """

    question: str
    text: str
    boxes: tuple[Box, ...]
    dropped: tuple[str, ...]
    notes: tuple[str, ...]
    raw: str
    model_id: str
    prompt: str  # template provenance, e.g. "ask/cxr_frontal 2026.11.1 (prompts 2026.11.1)"
    prompt_version: str
    technique: str
    images: int
    slices: tuple[int, ...]
    settings: GenerationSettings | None = None
    finish_reason: str | None = None
    seconds: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    disclaimer: str = DISCLAIMER

    def to_json(self) -> dict[str, Any]:
        """The answer as JSON-ready data (schema ``radlens.answer/1``, see the README)."""
        return {
            "schema": ANSWER_SCHEMA,
            "question": self.question,
            "answer": self.text,
            "boxes": [b.to_json() for b in self.boxes],
            "dropped": list(self.dropped),
            "notes": list(self.notes),
            "model": self.model_id,
            "prompt": self.prompt,
            "prompt_version": self.prompt_version,
            "technique": self.technique,
            "images": self.images,
            "slices": list(self.slices),
            "settings": None if self.settings is None else asdict(self.settings),
            "finish_reason": self.finish_reason,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "raw": self.raw,
            "disclaimer": self.disclaimer,
        }


def answer_from_text(
    prepared: Prepared,
    raw: str,
    result: Result | None = None,
    settings: GenerationSettings | None = None,
) -> Answer:
    """Read a model's raw text for ``prepared``: the family's reasoning trace out (kept in
    ``raw``), boxes to source pixels, markup removed (:func:`read_model_text`)."""
    read = read_model_text(prepared, raw)
    text = read.text.strip()
    if not text and read.boxes:
        # An answer that is only a box list (Qwen's JSON, a bare MedRegA list): its labels are
        # what the model said, so they are the answer's text too.
        text = "; ".join(dict.fromkeys(b.label for b in read.boxes if b.label))
    if not text:
        text = NO_TEXT if not raw.strip() else _no_answer(read)
    return Answer(
        question=prepared.question,
        text=text,
        boxes=read.boxes,
        dropped=read.dropped,
        notes=read.notes,
        raw=raw,
        model_id=result.model_id if result is not None else prepared.spec.id,
        prompt=prepared.prompt.provenance,
        prompt_version=prepared.prompt.version,
        technique=prepared.technique,
        images=len(prepared.inputs.images),
        slices=prepared.inputs.slice_indices,
        settings=settings,
        finish_reason=None if result is None else result.finish_reason,
        seconds=None if result is None else result.seconds,
        prompt_tokens=None if result is None else result.prompt_tokens,
        completion_tokens=None if result is None else result.completion_tokens,
    )


def _no_answer(read: ModelText) -> str:
    if read.reasoning.trace and not read.reasoning.finished:
        return "Unable to assess: the model's reasoning was cut off before it gave an answer."
    if read.dropped:
        return "Unable to assess: the model wrote only boxes that could not be used (see dropped)."
    return ""


def localization_note(spec: ModelSpec, series: Series) -> str:
    """Why ``spec`` gives no boxes on ``series`` (its declared capabilities), or "" when it
    localizes this modality, body part and kind of image (a 2D image or slices of a stack)."""
    return spec.can.localization_note(
        spec.name, series.modality, series.body_part, stack=series.is_volume
    )


def drop_unoffered_boxes(answer: Answer, spec: ModelSpec, series: Series) -> Answer:
    """``answer`` without the boxes ``spec`` wrote for an image it does not localize, each
    listed in ``dropped`` with the reason (plausible boxes from a model never trained for
    them are worse than none)."""
    withheld = localization_note(spec, series)
    if not withheld or not answer.boxes:
        return answer
    lines = tuple(f"box {b.label or 'unlabelled'!r}: {withheld}" for b in answer.boxes)
    return replace(answer, boxes=(), dropped=(*answer.dropped, *lines))


def run(
    backend: Backend,
    prepared: Prepared,
    settings: GenerationSettings,
    on_delta: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """Send ``prepared`` to ``backend``, streaming deltas to ``on_delta`` as they arrive."""
    request = GenerationRequest(prepared.messages, settings)
    if on_delta is None:
        return backend.generate(request, cancel)
    stream = backend.stream(request, cancel)
    start = time.perf_counter()
    while True:
        try:
            on_delta(next(stream))
        except StopIteration as stop:
            result: Result = stop.value
            return (
                result
                if result is not None
                else Result(
                    "", backend.model_id, None, None, time.perf_counter() - start, None, "stop"
                )
            )


def ask(
    series: Series,
    question: str,
    backend: Backend,
    spec: ModelSpec,
    *,
    history: Sequence[Turn] = (),
    region: Box | None = None,
    options: InputOptions | None = None,
    settings: GenerationSettings | None = None,
    language: str = "English",
    on_delta: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Answer:
    """Ask ``question`` about ``series``; boxes in the answer come back on source slices."""
    settings = settings or default_settings(TaskName.ASK)
    prepared = prepare(
        series,
        spec,
        "ask",
        question=question,
        language=language,
        options=options,
        region=region,
        history=history,
        answer_tokens=settings.max_new_tokens,
    )
    result = run(backend, prepared, settings, on_delta, cancel)
    answer = answer_from_text(prepared, result.text, result, settings)
    return drop_unoffered_boxes(answer, spec, series)
