"""What goes wrong with prompts: the one home of prompts' errors, each a RadLensError and a
ValueError.

:class:`PromptError` derives from :class:`dicom_io.errors.RadLensError`, the one root of every
RadLens error, so the command line and the UI treat a prompt problem like any other bad input.
``dicom_io.errors`` is a leaf module (it imports nothing of RadLens) and the only thing prompts
imports from outside itself, for that root alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from dicom_io.errors import RadLensError

__all__ = ["PromptError", "PromptFieldError", "TemplateDataError", "names"]


class PromptError(RadLensError, ValueError):
    """A prompt could not be chosen or built."""


class PromptFieldError(PromptError):
    """A field given to :func:`render` is missing, empty, unknown or not a valid choice."""


class TemplateDataError(PromptError):
    """A template data file is malformed."""


def names(mapping: Iterable[str]) -> str:
    """The names, sorted and comma-separated, for a message that lists the choices."""
    return ", ".join(sorted(mapping))
