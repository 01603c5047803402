"""Prompt templates as data: the values the files in ``prompts/templates/`` are read into.

The text lives in ``prompts/templates/*.json``: ``catalogue.json`` (the box formats,
the fields templates may use and the per-model layouts), ``exams.json`` (exam types: what
they apply to, their anatomy) and one file per task, read and checked by :mod:`prompts.loader`.
:func:`~prompts.selection.select_template` picks the exam from modality, body part and view, the
task's template for that exam, and binds the two with the caller's box format: the result, a
:class:`Template`, holds text whose remaining ``{name}`` placeholders
(:mod:`prompts.placeholders`) are the caller's fields. :func:`~prompts.rendering.render` fills
them and fails on a missing, empty or unknown field.

Where the text goes: a template has up to three texts, ``system`` (the system message),
``instruction`` (the user turn, before the images) and ``user`` (the query, after the images).
A template may name the models it is written for (``"models"``: registry ids such as
``"medgemma-1.5-4b"``, where a maker documents its own wording for the task); selection
prefers it over the generic template. A :class:`ModelLayout` in ``catalogue.json`` says how a
model's makers lay a request out: the task's system text moved into the instruction (MedGemma
1.5's notebooks send no system message) and the text sent before the images (MedGemma 1's card).

A template's task is the plain string its file holds (``"report"``, ``"check_probe"``, ...):
the vocabulary of task names is ``models.tasks.names.TaskName``, one layer up, which prompts
never imports; the catalogue's :attr:`Catalogue.tasks` are checked against it in the tests.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "AppliesTo",
    "BoxFormat",
    "Catalogue",
    "Exam",
    "FieldSpec",
    "ModelLayout",
    "TaskTemplate",
    "Template",
    "covers",
    "frozen",
    "version_key",
]


def frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class FieldSpec:
    """A caller's field: required, or optional with a default. An empty default means the
    field may be left empty, and ``when_given`` is the sentence a value goes into; ``choices``
    map each allowed value to the text that stands for it."""

    name: str
    required: bool
    default: str = ""
    when_given: str = ""  # "... {value} ...", used only for a non-empty value
    choices: Mapping[str, str] = field(default_factory=lambda: frozen({}))
    about: str = ""
    from_box_format: bool = False  # the default is the template's box format instructions


@dataclass(frozen=True)
class AppliesTo:
    """Modality codes (``*``: any) and body part / view patterns (empty: any)."""

    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    views: tuple[str, ...]

    def matches(self, modality: str, body_part: str, view: str) -> bool:
        return (
            ("*" in self.modalities or modality in self.modalities)
            and _matches_any(body_part, self.body_parts)
            and _matches_any(view, self.views)
        )

    @property
    def specificity(self) -> tuple[bool, bool, bool]:
        return "*" not in self.modalities, bool(self.body_parts), bool(self.views)


def _matches_any(value: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True)
class Exam:
    id: str
    version: str
    name: str
    applies_to: AppliesTo
    image_note: str
    findings_sections: tuple[str, ...]


@dataclass(frozen=True)
class BoxFormat:
    version: str
    key: str
    instructions: str


@dataclass(frozen=True)
class ModelLayout:
    """How one model's makers lay a request out (``catalogue.json`` ``"model_layouts"``).

    Attributes:
        system_in_instruction: the task's system text is sent at the start of the user turn,
            before the images, and no system message is sent for it.
        text_first: all the text goes before the images (instruction, then query).
        source: where the makers show it (card section, notebook cell).
    """

    system_in_instruction: bool = False
    text_first: bool = False
    source: str = ""


@dataclass(frozen=True)
class TaskTemplate:
    id: str
    version: str
    task: str  # the file's "task" string: a models.tasks.names.TaskName value
    exams: tuple[str, ...]  # ("*",): every exam
    system: str
    user: str
    sections: tuple[str, ...]
    anatomy_line: str
    vocabulary: tuple[str, ...]
    fields: Mapping[str, FieldSpec]
    instruction: str = ""  # user-turn text before the images
    models: tuple[str, ...] = ()  # registry ids it is written for; (): every model


@dataclass(frozen=True, eq=False)  # hashed by identity: bound templates are cached per catalogue
class Catalogue:
    """Everything in one template folder, validated."""

    version: str
    box_formats: Mapping[str, BoxFormat]
    fields: Mapping[str, FieldSpec]
    exams: tuple[Exam, ...]
    templates: tuple[TaskTemplate, ...]
    model_layouts: Mapping[str, ModelLayout] = field(default_factory=lambda: frozen({}))

    def layout_for(self, model: str) -> ModelLayout:
        """The layout of ``model`` (a registry id); the default for models without one."""
        found: ModelLayout = self.model_layouts.get(model, ModelLayout())
        return found

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the templates are for, in the order they are first met."""
        return tuple(dict.fromkeys(t.task for t in self.templates))

    def exam_for(self, modality: str, body_part: str = "", view: str = "") -> Exam:
        """The most specific exam for a series (the last exam matches anything)."""
        mod, part, vw = modality.strip().upper(), _normalise(body_part), _normalise(view)
        found = [e for e in self.exams if e.applies_to.matches(mod, part, vw)]
        return max(found, key=lambda e: e.applies_to.specificity)  # max keeps the first tie


def _normalise(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).upper()


@dataclass(frozen=True)
class Template:
    """A task template bound to an exam and a box format, ready for :func:`render`."""

    id: str  # "<task template>/<exam>", e.g. "report/ct_head"
    version: str  # the latest version of the pieces it was made from
    catalogue_version: str
    task: str
    exam: str
    exam_name: str
    applies_to: AppliesTo
    family: str  # the caller's label for the model family; prompts does not interpret it
    box_format: str
    box_key: str  # the JSON key (or markup) boxes come in
    sections: tuple[str, ...]  # report headings, in order
    findings_sections: tuple[str, ...]  # the exam's anatomy headings under Findings
    vocabulary: tuple[str, ...]  # closed answer words (interval changes, yes/no)
    system: str  # the system message ("": none)
    user: str  # the query, after the images
    fields: Mapping[str, FieldSpec]
    instruction: str = ""  # user-turn text before the images
    text_first: bool = False  # instruction and query both go before the images
    model: str = ""  # the registry id it was selected for ("": any model)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.fields.items() if f.required)


def covers(template: TaskTemplate, exam_id: str) -> bool:
    return template.exams == ("*",) or exam_id in template.exams


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))
