"""What goes wrong with prompts: one error for each kind of problem, all of them ValueErrors."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PromptError", "PromptFieldError", "TemplateDataError", "names"]


class PromptError(ValueError):
    """A prompt could not be chosen or built."""


class PromptFieldError(PromptError):
    """A field given to :func:`render` is missing, empty, unknown or not a valid choice."""


class TemplateDataError(PromptError):
    """A template data file is malformed."""


def names(mapping: Iterable[str]) -> str:
    """The names, sorted and comma-separated, for a message that lists the choices."""
    return ", ".join(sorted(mapping))
