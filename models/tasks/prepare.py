"""Build exactly what a model is sent for a task on a series: images, prompt, messages.

:func:`prepare` is pure (no model is loaded): ``radlens prepare`` writes its result to disk so a
user can see the exact prompt behind every answer, and the tasks send the same messages.
Every task builds its request here and nowhere else: ask (with its history and region), report
(with few-shot demonstrations), grounding, the check probes, and compare (with its prior series,
whose images go first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from dicom_io.display.overlays import REGION_COLOUR
from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Series
from models.grounding.box import Box
from models.grounding.conventions import box_to_model, native_text
from models.inputs.mapping import ImageMapping
from models.inputs.messages import ImagePart, Message, Part, TextPart
from models.inputs.model_inputs import (
    InputOptions,
    ModelInputs,
    build_inputs,
    slice_labels,
    to_messages,
)
from models.inputs.request_tokens import RequestTokens, TokenCount, check_context, count_tokens
from models.registry.spec import ModelSpec
from models.tasks.decoding import ANSWER_BUDGETS
from models.tasks.names import TaskName, task_name
from models.tasks.outbound import check_outbound
from models.tasks.technique import describe_technique
from prompts import RenderedPrompt, Template, render, select_template

__all__ = [
    "Prepared",
    "Turn",
    "inputs_for",
    "mark_region",
    "prepare",
    "same_patient",
    "system_text",
    "text_of",
]


@dataclass(frozen=True)
class Turn:
    """One earlier question and the answer the model gave (for multi-turn questions)."""

    question: str
    answer: str


@dataclass(frozen=True, eq=False)
class Prepared:
    """Everything sent to the model for one request, and what is needed to read its answer."""

    task: TaskName
    spec: ModelSpec
    inputs: ModelInputs
    template: Template  # the task's template for the series, as rendered into ``prompt``
    prompt: RenderedPrompt
    messages: list[Message]
    technique: str
    spacing: tuple[float, float] | None  # (row, column) mm of the source slices, when known
    question: str = ""
    region: Box | None = field(default=None)
    prior_technique: str = ""  # compare: the prior series' technique line

    @property
    def mappings(self) -> tuple[ImageMapping, ...]:
        return self.inputs.mappings


NO_BOXES_INSTRUCTION = (
    "No boxes can be drawn on these images: say where in words instead (side, region or lobe, "
    "and the image's label)."
)


def _withholds_boxes(spec: ModelSpec, series: Series) -> bool:
    """``spec`` does not localize on ``series`` (its declared capabilities)."""
    note = spec.can.localization_note(
        spec.name, series.modality, series.body_part, stack=series.is_volume
    )
    return bool(note)


def _template(task: TaskName, series: Series, spec: ModelSpec) -> Template:
    return select_template(
        task,
        series.modality,
        series.body_part,
        series.view_position,
        family=spec.family.value,
        box_format=spec.grounding,
        model=spec.recipe or spec.id,
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
        out[min(top + k, bottom), left : right + 1] = REGION_COLOUR
        out[max(bottom - k, top), left : right + 1] = REGION_COLOUR
        out[top : bottom + 1, min(left + k, right)] = REGION_COLOUR
        out[top : bottom + 1, max(right - k, left)] = REGION_COLOUR
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
    task: TaskName | str,
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
    prior: Series | None = None,
    answer_tokens: int | None = None,
) -> Prepared:
    """Images, prompt and chat messages for ``task`` on ``series`` (no model needed).

    For ``ask``, ``history`` holds earlier turns (their text only; the images go with the
    first question) and ``region`` a box the user drew, outlined on the image the model sees and
    named in the prompt in the model's own box format. For ``compare``, ``prior`` is the earlier
    series: its images go first, labelled PRIOR, then the current ones, labelled CURRENT (as
    the prompt's image order says), and its technique line fills ``prior_technique``.

    The layout is MedGemma's CT notebook's (:func:`~models.inputs.model_inputs.to_messages`):
    instruction, each image followed by its label, the query last; no system message when the
    template and the model give no system text.

    The whole request is counted before it is returned (every study's images and labels, the
    text, the few-shot examples and ``answer_tokens``, the answer budget: the caller's
    ``max_new_tokens``, by default the task's :data:`~models.tasks.decoding.ANSWER_BUDGETS`); it
    must fit the model's ``context_length``.

    Raises:
        ContextOverflowError: the request does not fit (the message names what to lower).
    """
    task = _checked(task_name(task), question, region, prior)
    for sent in (prior, series):
        if sent is not None:
            check_outbound(sent, spec)
    if prior is not None:
        same_patient(series, prior)
    inputs = inputs_for(series, spec, options) if inputs is None else inputs
    if blank:  # the control question: same sizes, no image content
        inputs = replace(inputs, images=tuple(np.zeros_like(image) for image in inputs.images))
    before = None if prior is None else inputs_for(prior, spec, options)
    technique = describe_technique(series, images_sent=len(inputs.images))
    template = _template(task, series, spec)
    offered = {"technique": technique, "indication": indication, "language": language}
    if task is TaskName.ASK and _withholds_boxes(spec, series):
        # No box instructions where the model was not trained to localize (its capabilities):
        # its boxes would be dropped anyway (models.tasks.ask.drop_unoffered_boxes).
        offered["box_format_instructions"] = NO_BOXES_INSTRUCTION
    if prior is not None and before is not None:
        offered["prior_technique"] = describe_technique(prior, images_sent=len(before.images))
    fields = {k: v for k, v in offered.items() if k in template.fields} | dict(fields or {})
    region_text = ""
    if region is not None:
        inputs, mapping = _with_region(inputs, region)
        region_text = native_text(region, spec.grounding, mapping)
    if task is TaskName.ASK:
        fields |= {"question": question.strip(), "region": region_text}
    prompt = render(template, **fields)
    shown = inputs if before is None else _prior_first(before, inputs)
    messages = _conversation(template, fields, shown, prompt, system_text(spec, prompt), history)
    examples = _demonstration_messages(demonstrations, prompt)
    budget = ANSWER_BUDGETS[task] if answer_tokens is None else answer_tokens
    tokens = RequestTokens(
        count_tokens(messages, spec.family),
        count_tokens(examples, spec.family) if examples else TokenCount(),
        budget,
        studies=1 if before is None else 2,
    )
    check_context(tokens, spec.family, spec.context_length, spec.name)
    if examples:
        head = [m for m in messages if m.role == "system"]
        messages = _renumbered([*head, *examples, *(m for m in messages if m.role != "system")])
    return Prepared(
        task=task,
        spec=spec,
        inputs=inputs,
        template=template,
        prompt=prompt,
        messages=messages,
        technique=technique,
        spacing=(series.spacing[1], series.spacing[2]) if series.spacing_known else None,
        question=question.strip(),
        region=region,
        prior_technique=offered.get("prior_technique", ""),
    )


def _checked(task: TaskName, question: str, region: Box | None, prior: Series | None) -> TaskName:
    """``task``, once the arguments it was given suit it."""
    if not task.prompted:
        raise InvalidArgumentError(f"Task {task.value!r} sends no prompt of its own to prepare.")
    if task is TaskName.ASK and not question.strip():
        raise InvalidArgumentError("A question is needed to ask the model (it was empty).")
    if region is not None and task is not TaskName.ASK:
        raise InvalidArgumentError("A region can only be given with a question (task 'ask').")
    if (prior is not None) != (task is TaskName.COMPARE):
        raise InvalidArgumentError("A prior series is needed for, and only for, task 'compare'.")
    return task


def same_patient(series: Series, prior: Series) -> None:
    """Refuse a prior of another patient (the salted hashes of Patient ID, Name and Birth
    Date differ): a comparison is of one patient's studies. A series without patient data
    (NIfTI, a plain image) cannot be checked and is let through."""
    if series.patient_key and prior.patient_key and series.patient_key != prior.patient_key:
        raise InvalidArgumentError(
            "The prior study belongs to another patient than the current one (Patient ID, "
            "name or birth date differ); a comparison needs two studies of the same patient."
        )


def inputs_for(series: Series, spec: ModelSpec, options: InputOptions | None) -> ModelInputs:
    """The images ``spec`` is sent of ``series`` (built once by a task that sends them with
    several prompts, then given to :func:`prepare` as ``inputs``).

    A spec with ``max_pixels`` (a server's own limit, RADLENS_REMOTE_MAX_PIXELS) caps the Qwen
    area bounds, so the server's resize leaves the images as sent and boxes in absolute pixels
    stay in this mapping's frame."""
    if spec.max_pixels is not None:
        chosen = options or InputOptions()
        cap = spec.max_pixels
        options = replace(
            chosen,
            qwen_max_pixels=min(chosen.qwen_max_pixels, cap),
            qwen_min_pixels=min(chosen.qwen_min_pixels, cap),
        )
    return build_inputs(series, spec.family, options, context_limit=spec.context_length)


def _prior_first(before: ModelInputs, now: ModelInputs) -> ModelInputs:
    """The images a comparison sends: the prior's, then the current ones, each study's labelled
    ``PRIOR SLICE n`` / ``CURRENT SLICE n`` with ``n`` its position among that study's images
    (``PRIOR`` / ``CURRENT`` for a single image). Boxes are read against the current study's
    images (:attr:`Prepared.mappings`), so ``"slice": n`` names the current study's n-th."""
    return replace(
        now,
        images=before.images + now.images,
        labels=slice_labels(len(before.images), "PRIOR")
        + slice_labels(len(now.images), "CURRENT"),
        mappings=before.mappings + now.mappings,
        slice_indices=before.slice_indices + now.slice_indices,
        image_tokens=before.image_tokens + now.image_tokens,
    )


def system_text(spec: ModelSpec, prompt: RenderedPrompt) -> str:
    """The system message: the model's own system prompt (if it has one), then the task's;
    ``""`` (no system message) when neither has text."""
    pieces = ((spec.system_prompt or "").strip(), prompt.system.strip())
    return "\n\n".join(piece for piece in pieces if piece)


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
        return _opening(inputs, prompt, system)
    base = {k: v for k, v in fields.items() if k not in ("question", "region")}
    first, *rest = history
    opening = render(template, **{**base, "question": first.question, "region": ""})
    messages = _opening(inputs, opening, system)
    messages.append(Message.text("assistant", first.answer))
    messages.extend(_history_messages(template, base, rest))
    messages.append(Message.text("user", prompt.user))
    return messages


def _opening(inputs: ModelInputs, prompt: RenderedPrompt, system: str) -> list[Message]:
    """The system message (if any) and the user turn that carries the images."""
    return to_messages(
        inputs, prompt.user, system, instruction=prompt.instruction, text_first=prompt.text_first
    )


def _demonstration_messages(
    demonstrations: Sequence[tuple[ModelInputs, str]], prompt: RenderedPrompt
) -> list[Message]:
    """Worked examples, to go after the system message: each example's image(s) laid out as
    the request is, with the same instruction and query, answered by its report."""
    shown: list[Message] = []
    for demo_inputs, demo_report in demonstrations:
        shown.extend(m for m in _opening(demo_inputs, prompt, "") if m.role == "user")
        shown.append(Message.text("assistant", demo_report))
    return shown


def text_of(messages: Sequence[Message]) -> str:
    """The text of the whole conversation, images as ``<image k>`` (for logs and privacy scans)."""
    return "\n".join(
        part.text if isinstance(part, TextPart) else f"<image {part.index}>"
        for message in messages
        for part in message.parts
    )
