"""Fill a chosen template's fields: the system, instruction and query text to send, where each
goes, and where it came from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prompts.errors import PromptFieldError, names
from prompts.placeholders import fill, substitute
from prompts.templates import FieldSpec, Template

__all__ = ["RenderedPrompt", "render"]


@dataclass(frozen=True)
class RenderedPrompt:
    """The text of one request.

    Attributes:
        system: the system message ("": send none).
        user: the query, sent after the images (before them when ``text_first``).
        instruction: text at the start of the user turn, before the images ("": none).
        text_first: the instruction and the query both go before the images.
    """

    system: str
    user: str
    template_id: str
    version: str
    catalogue_version: str
    instruction: str = ""
    text_first: bool = False

    @property
    def provenance(self) -> str:
        """One line to store beside the output, e.g. ``report/ct_head 2026.11.1 (prompts
        2026.11.1)``."""
        return f"{self.template_id} {self.version} (prompts {self.catalogue_version})"


def render(template: Template, **fields: str) -> RenderedPrompt:
    """The system and user text of ``template`` with ``fields`` filled in."""
    unknown = sorted(set(fields) - set(template.fields))
    if unknown:
        raise PromptFieldError(
            f"Template {template.id!r} has no field {unknown[0]!r}; its fields are "
            f"{names(template.fields)}."
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
    system, instruction, user = (
        fill(substitute(text, choices, keep_unknown=True), values)
        for text in (template.system, template.instruction, template.user)
    )
    return RenderedPrompt(
        system,
        user,
        template.id,
        template.version,
        template.catalogue_version,
        instruction=instruction,
        text_first=template.text_first,
    )


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
            f"{where}: field {spec.name!r} must be one of {names(spec.choices)}, not {value!r}."
        )
    return value.strip()
