"""Choose a template: the exam for a series, the task's template for it (the model's own when its
makers document one), bound to a box format and laid out the model's way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache

from prompts.errors import PromptError, names
from prompts.loader import load_catalogue
from prompts.placeholders import placeholders, substitute
from prompts.templates import (
    BoxFormat,
    Catalogue,
    Exam,
    FieldSpec,
    TaskTemplate,
    Template,
    covers,
    frozen,
    version_key,
)

__all__ = ["select_template"]


def select_template(
    task: str,
    modality: str,
    body_part: str = "",
    view: str = "",
    *,
    box_format: str,
    family: str = "",
    model: str = "",
    catalogue: Catalogue | None = None,
) -> Template:
    """The template for ``task`` on a series of this modality, body part and view, asking for
    boxes in ``box_format`` (the model's native convention, which the caller knows: prompts
    knows no model family). ``family`` is only recorded on the template. Unknown body parts
    fall back to the modality's generic exam, never another's.

    ``model`` is the registry id of the model (``"medgemma-1.5-4b"``): a template written for
    it (its makers' wording) wins over the generic one, and the model's layout in the catalogue
    decides where the system text goes and whether the text precedes the images."""
    cat = catalogue if catalogue is not None else load_catalogue()
    task = str(task)
    if task not in cat.tasks:
        raise PromptError(f"Unknown task {task!r}; use one of {names(cat.tasks)}.")
    box_id = str(box_format)
    if box_id not in cat.box_formats:
        raise PromptError(f"Unknown box format {box_id!r}; use one of {names(cat.box_formats)}.")
    exam = cat.exam_for(str(modality), str(body_part), str(view))
    return _bound(cat, task, exam, str(family), box_id, str(model))


@lru_cache(maxsize=1024)
def _bound(
    cat: Catalogue, task: str, exam: Exam, family: str, box_id: str, model: str
) -> Template:
    """The task's template for ``exam``: one written for ``model`` before a generic one, then
    one naming the exam before one for every exam."""
    candidates = [
        t
        for t in cat.templates
        if t.task == task and covers(t, exam.id) and (not t.models or model in t.models)
    ]
    chosen = max(candidates, key=lambda t: (bool(t.models), t.exams != ("*",)))
    return _bind(cat, chosen, exam, family, box_id, model)


def _bind(
    cat: Catalogue, tpl: TaskTemplate, exam: Exam, family: str, box_id: str, model: str
) -> Template:
    box = cat.box_formats[box_id]
    derived = {
        "exam_name": exam.name,
        "image_note": exam.image_note,
        "anatomy_lines": "\n".join(
            substitute(tpl.anatomy_line, {"section": s}) for s in exam.findings_sections
        ),
    }
    system, instruction, user = (
        substitute(t, derived, keep_unknown=True) for t in (tpl.system, tpl.instruction, tpl.user)
    )
    layout = cat.layout_for(model)
    if layout.system_in_instruction and system:
        system, instruction = "", "\n".join(t for t in (system, instruction) if t)
    return Template(
        id=f"{tpl.id}/{exam.id}",
        version=max((tpl.version, exam.version, box.version), key=version_key),
        catalogue_version=cat.version,
        task=tpl.task,
        exam=exam.id,
        exam_name=exam.name,
        applies_to=exam.applies_to,
        family=family,
        box_format=box_id,
        box_key=box.key,
        sections=tpl.sections,
        findings_sections=exam.findings_sections if tpl.anatomy_line else (),
        vocabulary=tpl.vocabulary,
        system=system,
        user=user,
        fields=_bound_fields(
            {**cat.fields, **tpl.fields}, "\n".join((system, instruction, user)), derived, box
        ),
        instruction=instruction,
        text_first=layout.text_first,
        model=model,
    )


def _bound_fields(
    specs: Mapping[str, FieldSpec], text: str, derived: Mapping[str, str], box: BoxFormat
) -> Mapping[str, FieldSpec]:
    """The fields ``text`` uses (with those its choices use), defaults and choices bound."""
    used: dict[str, FieldSpec] = {}
    for name in placeholders(text):
        spec = specs[name]
        if spec.choices:
            choices = {k: substitute(v, derived, True) for k, v in spec.choices.items()}
            spec = replace(spec, choices=frozen(choices))
            used |= {n: specs[n] for n in placeholders("\n".join(choices.values()))}
        elif spec.from_box_format:
            spec = replace(spec, default=box.instructions)
        used[name] = spec
    return frozen(dict(sorted(used.items())))
