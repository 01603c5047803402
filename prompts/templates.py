"""Prompt templates: data files chosen by task and exam, rendered by :func:`render`.

The text lives in ``prompts/templates/*.json``: ``catalogue.json`` (model families, their native
box formats, the fields templates may use), ``exams.json`` (exam types: what they apply to, their
anatomy) and one file per task. :func:`select_template` picks the exam from modality, body part
and view, the task's template for that exam, and binds the two with the model family: the
result, a :class:`Template`, holds text whose remaining ``{name}`` placeholders are the caller's
fields. :func:`render` fills them and fails on a missing, empty or unknown field.

Placeholders are ``{name}`` with ``name`` a lower-case identifier; every other brace is literal,
so JSON examples in the text need no escaping. Values are inserted in one pass and never read
again: a question containing ``{finding}`` stays as typed. A line holding only a placeholder
whose value is empty (an optional field not given) is left out.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "PROMPTS_VERSION",
    "AppliesTo",
    "Catalogue",
    "Exam",
    "FieldSpec",
    "PromptError",
    "PromptFieldError",
    "RenderedPrompt",
    "Task",
    "Template",
    "TemplateDataError",
    "load_catalogue",
    "render",
    "select_template",
]

PROMPTS_VERSION = "2026.11.1"  # catalogue.json's "version" must say the same

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_VERSION = re.compile(r"^\d{4}\.\d{1,2}\.\d+$")
_DERIVED = frozenset({"exam_name", "image_note", "anatomy_lines"})  # filled from the data


class PromptError(ValueError):
    """A prompt could not be chosen or built."""


class PromptFieldError(PromptError):
    """A field given to :func:`render` is missing, empty, unknown or not a valid choice."""


class TemplateDataError(PromptError):
    """A template data file is malformed."""


class Task(StrEnum):
    REPORT = "report"
    ASK = "ask"
    COMPARE = "compare"
    CHECK_PROBE = "check_probe"
    CHECK_CONTROL = "check_control"
    GROUNDING = "grounding"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
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
    choices: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
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
class _BoxFormat:
    version: str
    key: str
    instructions: str


@dataclass(frozen=True)
class _TaskTemplate:
    id: str
    version: str
    task: Task
    exams: tuple[str, ...]  # ("*",): every exam
    system: str
    user: str
    sections: tuple[str, ...]
    anatomy_line: str
    vocabulary: tuple[str, ...]
    fields: Mapping[str, FieldSpec]


@dataclass(frozen=True, eq=False)  # hashed by identity: bound templates are cached per catalogue
class Catalogue:
    """Everything in one template folder, validated."""

    version: str
    families: Mapping[str, str]  # family -> its box format
    box_formats: Mapping[str, _BoxFormat]
    fields: Mapping[str, FieldSpec]
    exams: tuple[Exam, ...]
    templates: tuple[_TaskTemplate, ...]

    def exam_for(self, modality: str, body_part: str = "", view: str = "") -> Exam:
        """The most specific exam for a series (the last exam matches anything)."""
        mod, part, vw = modality.strip().upper(), _normalise(body_part), _normalise(view)
        found = [e for e in self.exams if e.applies_to.matches(mod, part, vw)]
        return max(found, key=lambda e: e.applies_to.specificity)  # max keeps the first tie


def _normalise(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).upper()


@dataclass(frozen=True)
class Template:
    """A task template bound to an exam and a model family, ready for :func:`render`."""

    id: str  # "<task template>/<exam>", e.g. "report/ct_head"
    version: str  # the latest version of the pieces it was made from
    catalogue_version: str
    task: Task
    exam: str
    exam_name: str
    applies_to: AppliesTo
    family: str
    box_format: str
    box_key: str  # the JSON key (or markup) boxes come in
    sections: tuple[str, ...]  # report headings, in order
    findings_sections: tuple[str, ...]  # the exam's anatomy headings under Findings
    vocabulary: tuple[str, ...]  # closed answer words (interval changes, yes/no)
    system: str
    user: str
    fields: Mapping[str, FieldSpec]

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(n for n, f in self.fields.items() if f.required)


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str
    template_id: str
    version: str
    catalogue_version: str

    @property
    def provenance(self) -> str:
        """One line to store beside the output, e.g. ``report/ct_head 2026.11.1 (prompts
        2026.11.1)``."""
        return f"{self.template_id} {self.version} (prompts {self.catalogue_version})"


# --------------------------------------------------------------------------- selection


def select_template(
    task: Task | str,
    modality: str,
    body_part: str = "",
    view: str = "",
    family: str = "gemma3",
    *,
    box_format: str | None = None,
    catalogue: Catalogue | None = None,
) -> Template:
    """The template for ``task`` on a series of this modality, body part and view, in the form
    ``family`` expects (``box_format`` overrides the family's box convention, e.g. for a remote
    model). Unknown body parts fall back to the modality's generic exam, never another's."""
    cat = catalogue if catalogue is not None else load_catalogue()
    task = _task(task)
    family = str(family)
    if family not in cat.families:
        raise PromptError(f"Unknown model family {family!r}; use one of {_names(cat.families)}.")
    box_id = box_format if box_format is not None else cat.families[family]
    if box_id not in cat.box_formats:
        raise PromptError(f"Unknown box format {box_id!r}; use one of {_names(cat.box_formats)}.")
    return _bound(
        cat, task, cat.exam_for(str(modality), str(body_part), str(view)), family, box_id
    )


@lru_cache(maxsize=1024)
def _bound(cat: Catalogue, task: Task, exam: Exam, family: str, box_id: str) -> Template:
    """The task's template for ``exam`` (one naming the exam before one for every exam)."""
    candidates = [t for t in cat.templates if t.task is task and _covers(t, exam.id)]
    chosen = max(candidates, key=lambda t: t.exams != ("*",))
    return _bind(cat, chosen, exam, family, box_id)


def _task(task: Task | str) -> Task:
    try:
        return Task(str(task))
    except ValueError:
        raise PromptError(
            f"Unknown task {task!r}; use one of {', '.join(t.value for t in Task)}."
        ) from None


def _covers(template: _TaskTemplate, exam_id: str) -> bool:
    return template.exams == ("*",) or exam_id in template.exams


def _names(mapping: Iterable[str]) -> str:
    return ", ".join(sorted(mapping))


def _bind(cat: Catalogue, tpl: _TaskTemplate, exam: Exam, family: str, box_id: str) -> Template:
    box = cat.box_formats[box_id]
    derived = {
        "exam_name": exam.name,
        "image_note": exam.image_note,
        "anatomy_lines": "\n".join(
            _substitute(tpl.anatomy_line, {"section": s}) for s in exam.findings_sections
        ),
    }
    system, user = (_substitute(t, derived, keep_unknown=True) for t in (tpl.system, tpl.user))
    return Template(
        id=f"{tpl.id}/{exam.id}",
        version=max((tpl.version, exam.version, box.version), key=_version_key),
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
        fields=_bound_fields({**cat.fields, **tpl.fields}, system + "\n" + user, derived, box),
    )


def _bound_fields(
    specs: Mapping[str, FieldSpec], text: str, derived: Mapping[str, str], box: _BoxFormat
) -> Mapping[str, FieldSpec]:
    """The fields ``text`` uses (with those its choices use), defaults and choices bound."""
    used: dict[str, FieldSpec] = {}
    for name in _placeholders(text):
        spec = specs[name]
        if spec.choices:
            choices = {k: _substitute(v, derived, True) for k, v in spec.choices.items()}
            spec = replace(spec, choices=_frozen(choices))
            used |= {n: specs[n] for n in _placeholders("\n".join(choices.values()))}
        elif spec.from_box_format:
            spec = replace(spec, default=box.instructions)
        used[name] = spec
    return _frozen(dict(sorted(used.items())))


# --------------------------------------------------------------------------- rendering


def render(template: Template, **fields: str) -> RenderedPrompt:
    """The system and user text of ``template`` with ``fields`` filled in."""
    unknown = sorted(set(fields) - set(template.fields))
    if unknown:
        raise PromptFieldError(
            f"Template {template.id!r} has no field {unknown[0]!r}; its fields are "
            f"{_names(template.fields)}."
        )
    values: dict[str, str] = {}
    choices: dict[str, str] = {}
    for name, spec in template.fields.items():
        value = _value(template, spec, fields)
        if spec.choices:
            choices[name] = spec.choices[value]
        elif spec.when_given:
            values[name] = spec.when_given.replace("{value}", value) if value else ""
        else:
            values[name] = value
    system, user = (
        _fill(_substitute(text, choices, keep_unknown=True), values)
        for text in (template.system, template.user)
    )
    return RenderedPrompt(system, user, template.id, template.version, template.catalogue_version)


def _value(template: Template, spec: FieldSpec, fields: Mapping[str, object]) -> str:
    where = f"Template {template.id!r}"
    if spec.name not in fields:
        if spec.required:
            raise PromptFieldError(
                f"{where} needs field {spec.name!r} ({spec.about or 'no description'})."
            )
        return spec.default
    value = fields[spec.name]
    if not isinstance(value, str):
        raise PromptFieldError(
            f"{where}: field {spec.name!r} must be a str, not {type(value).__name__}."
        )
    if not value.strip() and (spec.required or spec.default):
        raise PromptFieldError(f"{where}: field {spec.name!r} must not be empty.")
    if spec.choices and value not in spec.choices:
        raise PromptFieldError(
            f"{where}: field {spec.name!r} must be one of {_names(spec.choices)}, not {value!r}."
        )
    return value.strip()


def _fill(text: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder, dropping lines that hold only a placeholder left empty."""
    kept = [
        line
        for line in text.split("\n")
        if not ((m := _PLACEHOLDER.fullmatch(line.strip())) and values.get(m[1]) == "")
    ]
    return _substitute("\n".join(kept), values)


def _substitute(text: str, values: Mapping[str, str], keep_unknown: bool = False) -> str:
    def one(match: re.Match[str]) -> str:
        name = match[1]
        if name in values:
            return values[name]
        if keep_unknown:
            return match[0]
        raise KeyError(name)  # unreachable for validated templates

    return _PLACEHOLDER.sub(one, text)


def _placeholders(text: str) -> list[str]:
    return list(dict.fromkeys(_PLACEHOLDER.findall(text)))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


# --------------------------------------------------------------------------- loading


@cache
def _packaged() -> Catalogue:
    return _load(resources.files("prompts") / "templates")


def load_catalogue(folder: str | Path | None = None) -> Catalogue:
    """The templates in ``folder`` (default: the packaged ones, read once), validated."""
    return _packaged() if folder is None else _load(Path(folder))


def _load(folder: Traversable) -> Catalogue:
    docs = {p.name: p for p in folder.iterdir() if p.name.endswith(".json")}
    for name in ("catalogue.json", "exams.json"):
        if name not in docs:
            raise TemplateDataError(f"{folder}: no {name}.")
    head, exams_doc = _read(docs.pop("catalogue.json")), _read(docs.pop("exams.json"))
    version = _version(head, "catalogue.json")
    if version != PROMPTS_VERSION:
        raise TemplateDataError(
            f"catalogue.json: version {version} differs from PROMPTS_VERSION {PROMPTS_VERSION}; "
            "bump both together."
        )
    fields = {n: _field(n, s, "catalogue.json") for n, s in _get(head, "fields", dict).items()}
    boxes = {
        n: _BoxFormat(_version(b, n), _get(b, "key", str), _text(b, "instructions", n))
        for n, b in _get(head, "box_formats", dict).items()
    }
    families = {n: _get(f, "box_format", str) for n, f in _get(head, "families", dict).items()}
    exams = tuple(_exam(e) for e in _get(exams_doc, "exams", list))
    templates = tuple(
        _template(t, fields, name)
        for name in sorted(docs)
        for t in _get(_read(docs[name]), "templates", list)
    )
    cat = Catalogue(version, _frozen(families), _frozen(boxes), _frozen(fields), exams, templates)
    _check(cat)
    return cat


def _read(path: Traversable) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TemplateDataError(f"{path.name}: not a readable JSON file ({err}).") from err
    if not isinstance(doc, dict):
        raise TemplateDataError(f"{path.name}: the top level must be a JSON object.")
    return doc


def _get(doc: Mapping[str, Any], key: str, kind: type[Any], default: Any = None) -> Any:
    value = doc.get(key, default)
    if not isinstance(value, kind):
        where = doc.get("id", "entry")
        raise TemplateDataError(f"Template data {where!r}: {key!r} must be a {kind.__name__}.")
    return value


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    """A text written as one string or as a list of lines."""
    value = doc.get(key)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    if isinstance(value, str):
        return value
    raise TemplateDataError(f"Template data {where!r}: {key!r} must be a string or lines.")


def _version(doc: Mapping[str, Any], where: str) -> str:
    version = doc.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise TemplateDataError(
            f"Template data {where!r}: version must look like 2026.11.1, not {version!r}."
        )
    return version


def _strings(doc: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _get(doc, key, list, [])
    if not all(isinstance(v, str) and v for v in values):
        raise TemplateDataError(f"Template data {doc.get('id')!r}: {key!r} must list strings.")
    return tuple(values)


def _field(name: str, spec: Mapping[str, Any], where: str) -> FieldSpec:
    required = spec.get("required") is True
    from_box = spec.get("from_box_format") is True
    choices = _get(spec, "choices", dict, {})
    when_given = _get(spec, "when_given", str, "")
    default = spec.get("default")
    problem = ""
    if required + from_box + isinstance(default, str) != 1:
        problem = "give exactly one of required, default and from_box_format"
    elif when_given and (_placeholders(when_given) != ["value"] or default != ""):
        problem = "when_given needs {value}, no other placeholder, and an empty default"
    elif choices and default not in choices:
        problem = "its default must be one of its choices"
    if problem:
        raise TemplateDataError(f"{where}: field {name!r}: {problem}.")
    about = _get(spec, "about", str, "")
    return FieldSpec(name, required, default or "", when_given, _frozen(choices), about, from_box)


def _exam(doc: Mapping[str, Any]) -> Exam:
    where = _get(doc, "id", str)
    rule = _get(doc, "applies_to", dict)
    applies = AppliesTo(*(_strings(rule, k) for k in ("modalities", "body_parts", "views")))
    if not applies.modalities:
        raise TemplateDataError(f"exams.json: exam {where!r} applies to no modality.")
    return Exam(
        id=where,
        version=_version(doc, where),
        name=_get(doc, "name", str),
        applies_to=applies,
        image_note=_text(doc, "image_note", where),
        findings_sections=_strings(doc, "findings_sections"),
    )


def _template(doc: Mapping[str, Any], fields: Mapping[str, FieldSpec], file: str) -> _TaskTemplate:
    where = f"{file}: template {_get(doc, 'id', str)!r}"
    exams = doc.get("exams")
    own = {n: _field(n, s, where) for n, s in _get(doc, "fields", dict, {}).items()}
    tpl = _TaskTemplate(
        id=doc["id"],
        version=_version(doc, doc["id"]),
        task=_task(_get(doc, "task", str)),
        exams=("*",) if exams == "*" else _strings(doc, "exams"),
        system=_text(doc, "system", where),
        user=_text(doc, "user", where),
        sections=_strings(doc, "sections"),
        anatomy_line=_get(doc, "anatomy_line", str, ""),
        vocabulary=_strings(doc, "vocabulary"),
        fields=_frozen(own),
    )
    known = {**fields, **own}
    choice_text = "\n".join(t for f in known.values() for t in f.choices.values())
    for name in _placeholders(tpl.system + tpl.user + choice_text):
        if name not in known and name not in _DERIVED:
            raise TemplateDataError(f"{where}: unknown placeholder {{{name}}}.")
        if name in _placeholders(choice_text) and name in known and known[name].choices:
            raise TemplateDataError(f"{where}: a choice uses the choice field {{{name}}}.")
    if ("{anatomy_lines}" in tpl.user) != bool(tpl.anatomy_line and tpl.sections):
        raise TemplateDataError(
            f"{where}: {{anatomy_lines}}, anatomy_line and sections go together."
        )
    return tpl


def _check(cat: Catalogue) -> None:
    """Checks across files: references, unique ids, versions."""
    for family, box in cat.families.items():
        if box not in cat.box_formats:
            raise TemplateDataError(f"catalogue.json: family {family!r}: no box format {box!r}.")
    versions = [(e.id, e.version) for e in cat.exams]
    versions += [(t.id, t.version) for t in cat.templates]
    versions += [(n, b.version) for n, b in cat.box_formats.items()]
    ids = [e.id for e in cat.exams] + [t.id for t in cat.templates]
    if len(set(ids)) != len(ids):
        raise TemplateDataError(f"Template data: an id is used twice in {sorted(ids)}.")
    for name, version in versions:
        if _version_key(version) > _version_key(cat.version):
            raise TemplateDataError(f"{name!r}: version {version} is newer than the catalogue's.")
    _check_coverage(cat)


def _check_coverage(cat: Catalogue) -> None:
    """Every series finds an exam, and every task a template for every exam."""
    if not any(e.applies_to.specificity == (False, False, False) for e in cat.exams):
        raise TemplateDataError('exams.json: no exam applies to every series (modalities ["*"]).')
    exam_ids = {e.id for e in cat.exams} | {"*"}
    for tpl in cat.templates:
        if unknown := set(tpl.exams) - exam_ids:
            raise TemplateDataError(f"Template {tpl.id!r}: unknown exams {sorted(unknown)}.")
    for task in Task:
        for exam in cat.exams:
            if not any(t.task is task and _covers(t, exam.id) for t in cat.templates):
                raise TemplateDataError(f"Template data: no {task} template for exam {exam.id!r}.")
