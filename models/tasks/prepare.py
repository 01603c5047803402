"""Build exactly what a model is sent for a task on a series: images, prompt, messages.

:func:`prepare` is pure (no model is loaded): ``radlens prepare`` writes its result to disk so a
user can see the exact prompt behind every answer, and the tasks send the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Series
from models.grounding.placement import Box, box_to_model, native_text
from models.inputs.mapping import ImageMapping
from models.inputs.messages import ImagePart, Message, Part, TextPart
from models.inputs.model_inputs import InputOptions, ModelInputs, build_inputs, to_messages
from models.registry.lookup import ModelSpec
from models.tasks.outbound import check_outbound
from models.tasks.technique import describe_technique
from prompts import RenderedPrompt, Template, render, select_template

__all__ = ["Prepared", "Turn", "mark_region", "prepare", "system_text", "text_of"]

TaskName = Literal["report", "ask", "grounding", "check_probe", "check_control"]
_REGION_COLOUR = np.array([255, 220, 0], dtype=np.uint8)  # a yellow outline, as viewers draw


@dataclass(frozen=True)
class Turn:
    """One earlier question and the answer the model gave (for multi-turn questions)."""

    question: str
    answer: str


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything sent to the model for one request, and what is needed to read its answer."""

    task: str
    spec: ModelSpec
    inputs: ModelInputs
    prompt: RenderedPrompt
    messages: list[Message]
    technique: str
    spacing: tuple[float, float] | None  # (row, column) mm of the source slices, when known
    question: str = ""
    region: Box | None = field(default=None)

    @property
    def mappings(self) -> tuple[ImageMapping, ...]:
        return self.inputs.mappings


def _template(task: str, series: Series, spec: ModelSpec) -> Template:
    return select_template(
        task,
        series.modality,
        series.body_part,
        series.view_position,
        family=spec.family.value,
        box_format=spec.grounding,
    )


def mark_region(
    image: npt.NDArray[np.uint8], box: Box, mapping: ImageMapping, width: int = 3
) -> npt.NDArray[np.uint8]:
    """A copy of a model image with ``box`` (source pixels) outlined, so the model sees it."""
    x0, y0, x1, y1 = box_to_model(box, mapping)
    h, w = image.shape[:2]
    left, right = int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.ceil(x1) - 1, 0, w - 1))
    top, bottom = int(np.clip(np.floor(y0), 0, h - 1)), int(np.clip(np.ceil(y1) - 1, 0, h - 1))
    out = image.copy()
    for k in range(width):
        out[min(top + k, bottom), left : right + 1] = _REGION_COLOUR
        out[max(bottom - k, top), left : right + 1] = _REGION_COLOUR
        out[top : bottom + 1, min(left + k, right)] = _REGION_COLOUR
        out[top : bottom + 1, max(right - k, left)] = _REGION_COLOUR
    return out


def _with_region(inputs: ModelInputs, region: Box) -> tuple[ModelInputs, ImageMapping]:
    for index, mapping in enumerate(inputs.mappings):
        if mapping.slice_index == region.slice:
            images = list(inputs.images)
            images[index] = mark_region(images[index], region, mapping)
            return replace(inputs, images=tuple(images)), mapping
    shown = ", ".join(str(m.slice_index) for m in inputs.mappings)
    raise InvalidArgumentError(
        f"The region is on slice {region.slice}, which is not among the images sent to the "
        f"model (slices {shown}); include it in the slice range or ask about the current slice."
    )


def _renumbered(messages: list[Message]) -> list[Message]:
    """Number the images of a whole conversation 0, 1, 2, ... in order."""
    count = 0
    out = []
    for message in messages:
        parts: list[Part] = []
        for part in message.parts:
            if isinstance(part, ImagePart):
                parts.append(ImagePart(part.pixels, count))
                count += 1
            else:
                parts.append(part)
        out.append(Message(message.role, tuple(parts)))
    return out


def _history_messages(
    template: Template, base: dict[str, str], history: Sequence[Turn]
) -> list[Message]:
    out: list[Message] = []
    for turn in history:
        earlier = render(template, **{**base, "question": turn.question, "region": ""})
        out.append(Message.text("user", earlier.user))
        out.append(Message.text("assistant", turn.answer))
    return out


def prepare(
    series: Series,
    spec: ModelSpec,
    task: TaskName,
    *,
    question: str = "",
    indication: str = "",
    language: str = "English",
    options: InputOptions | None = None,
    region: Box | None = None,
    history: Sequence[Turn] = (),
    fields: Mapping[str, str] | None = None,
    blank: bool = False,
    inputs: ModelInputs | None = None,
    demonstrations: Sequence[tuple[ModelInputs, str]] = (),
) -> Prepared:
    """Images, prompt and chat messages for ``task`` on ``series`` (no model needed).

    For ``ask``, ``history`` holds earlier turns (their text only; the images go with the
    first question) and ``region`` a box the user drew, outlined on the image the model sees and
    named in the prompt in the model's own box format.
    """
    if task == "ask" and not question.strip():
        raise InvalidArgumentError("A question is needed to ask the model (it was empty).")
    check_outbound(series, spec)
    if inputs is None:
        inputs = build_inputs(series, spec.family, options, context_limit=spec.context_length)
    if blank:  # the control question: same sizes, no image content
        inputs = replace(inputs, images=tuple(np.zeros_like(image) for image in inputs.images))
    technique = describe_technique(series, images_sent=len(inputs.images))
    template = _template(task, series, spec)
    wanted = set(template.fields)
    offered = {"technique": technique, "indication": indication, "language": language}
    fields = {k: v for k, v in offered.items() if k in wanted} | dict(fields or {})
    region_text = ""
    if region is not None:
        if task != "ask":
            raise InvalidArgumentError("A region can only be given with a question (task 'ask').")
        inputs, mapping = _with_region(inputs, region)
        region_text = native_text(region, spec.grounding, mapping)
    if task == "ask":
        fields |= {"question": question.strip(), "region": region_text}
    prompt = render(template, **fields)
    messages = _conversation(template, fields, inputs, prompt, system_text(spec, prompt), history)
    if demonstrations:
        messages = _with_demonstrations(messages, demonstrations, prompt.user)
    spacing = (series.spacing[1], series.spacing[2]) if series.spacing_known else None
    return Prepared(
        task=task,
        spec=spec,
        inputs=inputs,
        prompt=prompt,
        messages=messages,
        technique=technique,
        spacing=spacing,
        question=question.strip(),
        region=region,
    )


def system_text(spec: ModelSpec, prompt: RenderedPrompt) -> str:
    """The system message: the model's own system prompt (if it has one), then the task's."""
    return spec.system_prompt + "\n\n" + prompt.system if spec.system_prompt else prompt.system


def _conversation(
    template: Template,
    fields: Mapping[str, str],
    inputs: ModelInputs,
    prompt: RenderedPrompt,
    system: str,
    history: Sequence[Turn],
) -> list[Message]:
    """The messages of a question: the images go with the first question of the conversation;
    earlier turns follow as text, then the new question."""
    if not history:
        return to_messages(inputs, prompt.user, system)
    base = {k: v for k, v in fields.items() if k not in ("question", "region")}
    first, *rest = history
    opening = render(template, **{**base, "question": first.question, "region": ""})
    messages = to_messages(inputs, opening.user, system)
    messages.append(Message.text("assistant", first.answer))
    messages.extend(_history_messages(template, base, rest))
    messages.append(Message.text("user", prompt.user))
    return messages


def _with_demonstrations(
    messages: list[Message], demonstrations: Sequence[tuple[ModelInputs, str]], instruction: str
) -> list[Message]:
    """Worked examples after the system message: each example's image(s) with the same
    instruction, answered by its report."""
    shown: list[Message] = []
    for demo_inputs, demo_report in demonstrations:
        shown.extend(m for m in to_messages(demo_inputs, instruction) if m.role == "user")
        shown.append(Message.text("assistant", demo_report))
    head = [m for m in messages if m.role == "system"]
    return _renumbered([*head, *shown, *(m for m in messages if m.role != "system")])


def text_of(messages: Sequence[Message]) -> str:
    """The text of the whole conversation, images as ``<image k>`` (for logs and privacy scans)."""
    return "\n".join(
        part.text if isinstance(part, TextPart) else f"<image {part.index}>"
        for message in messages
        for part in message.parts
    )
