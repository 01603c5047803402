"""Read and check a folder of template data files: :func:`load_catalogue`.

``catalogue.json`` holds the box formats, the fields templates may use (which box format a
model family writes is the family's business, in ``models.families``: callers pass it) and the
per-model layouts (``"model_layouts"``, keyed by registry id);
``exams.json`` the exam types; every other ``*.json`` file the templates of one task. Everything
is checked on loading, within a file and across files (references, unique ids, versions, every
series finding an exam and every task a template for every exam), so selection and rendering
never meet malformed data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from prompts.errors import TemplateDataError
from prompts.placeholders import placeholders
from prompts.templates import (
    AppliesTo,
    BoxFormat,
    Catalogue,
    Exam,
    FieldSpec,
    ModelLayout,
    TaskTemplate,
    covers,
    frozen,
    version_key,
)

__all__ = ["PROMPTS_VERSION", "load_catalogue"]

PROMPTS_VERSION = "2026.12.2"  # catalogue.json's "version" must say the same

_VERSION = re.compile(r"^\d{4}\.\d{1,2}\.\d+$")
_DERIVED = frozenset({"exam_name", "image_note", "anatomy_lines"})  # filled from the data


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
        n: BoxFormat(_version(b, n), _get(b, "key", str), _text(b, "instructions", n))
        for n, b in _get(head, "box_formats", dict).items()
    }
    layouts = {n: _layout(n, spec) for n, spec in _get(head, "model_layouts", dict, {}).items()}
    exams = tuple(_exam(e) for e in _get(exams_doc, "exams", list))
    templates = tuple(
        _template(t, fields, name)
        for name in sorted(docs)
        for t in _get(_read(docs[name]), "templates", list)
    )
    cat = Catalogue(version, frozen(boxes), frozen(fields), exams, templates, frozen(layouts))
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


def _text(doc: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    """A text written as one string or as a list of lines (``default`` when absent, if any)."""
    value = doc.get(key, default)
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
    elif when_given and (placeholders(when_given) != ["value"] or default != ""):
        problem = "when_given needs {value}, no other placeholder, and an empty default"
    elif choices and default not in choices:
        problem = "its default must be one of its choices"
    if problem:
        raise TemplateDataError(f"{where}: field {name!r}: {problem}.")
    about = _get(spec, "about", str, "")
    return FieldSpec(name, required, default or "", when_given, frozen(choices), about, from_box)


def _layout(model: str, spec: Any) -> ModelLayout:
    flags = ("system_in_instruction", "text_first")
    if not isinstance(spec, dict) or set(spec) - {*flags, "source"}:
        raise TemplateDataError(
            f"catalogue.json: model layout {model!r} may only hold {', '.join(flags)} and source."
        )
    if not all(isinstance(spec.get(f, False), bool) for f in flags):
        raise TemplateDataError(f"catalogue.json: model layout {model!r}: flags are true/false.")
    source = _get(spec, "source", str, "")
    if not source:
        raise TemplateDataError(f"catalogue.json: model layout {model!r} needs its source.")
    return ModelLayout(bool(spec.get(flags[0])), bool(spec.get(flags[1])), source)


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


def _template(doc: Mapping[str, Any], fields: Mapping[str, FieldSpec], file: str) -> TaskTemplate:
    where = f"{file}: template {_get(doc, 'id', str)!r}"
    exams = doc.get("exams")
    own = {n: _field(n, s, where) for n, s in _get(doc, "fields", dict, {}).items()}
    tpl = TaskTemplate(
        id=doc["id"],
        version=_version(doc, doc["id"]),
        task=_get(doc, "task", str),
        exams=("*",) if exams == "*" else _strings(doc, "exams"),
        system=_text(doc, "system", where),
        user=_text(doc, "user", where),
        sections=_strings(doc, "sections"),
        anatomy_line=_get(doc, "anatomy_line", str, ""),
        vocabulary=_strings(doc, "vocabulary"),
        fields=frozen(own),
        instruction=_text(doc, "instruction", where, ""),
        models=_strings(doc, "models"),
    )
    if tpl.models and not _get(doc, "source", str, ""):
        raise TemplateDataError(f"{where}: a template for named models needs its source.")
    known = {**fields, **own}
    choice_text = "\n".join(t for f in known.values() for t in f.choices.values())
    for name in placeholders(tpl.system + tpl.instruction + tpl.user + choice_text):
        if name not in known and name not in _DERIVED:
            raise TemplateDataError(f"{where}: unknown placeholder {{{name}}}.")
        if name in placeholders(choice_text) and name in known and known[name].choices:
            raise TemplateDataError(f"{where}: a choice uses the choice field {{{name}}}.")
    if ("{anatomy_lines}" in tpl.user) != bool(tpl.anatomy_line and tpl.sections):
        raise TemplateDataError(
            f"{where}: {{anatomy_lines}}, anatomy_line and sections go together."
        )
    return tpl


def _check(cat: Catalogue) -> None:
    """Checks across files: references, unique ids, versions."""
    versions = [(e.id, e.version) for e in cat.exams]
    versions += [(t.id, t.version) for t in cat.templates]
    versions += [(n, b.version) for n, b in cat.box_formats.items()]
    ids = [e.id for e in cat.exams] + [t.id for t in cat.templates]
    if len(set(ids)) != len(ids):
        raise TemplateDataError(f"Template data: an id is used twice in {sorted(ids)}.")
    for name, version in versions:
        if version_key(version) > version_key(cat.version):
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
    generic = [t for t in cat.templates if not t.models]  # a named model's may cover fewer
    for task in cat.tasks:
        for exam in cat.exams:
            if not any(t.task == task and covers(t, exam.id) for t in generic):
                raise TemplateDataError(f"Template data: no {task} template for exam {exam.id!r}.")
