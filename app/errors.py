"""What the user reads when a handler fails, and what the server's log keeps of it.

Every handler turns an exception into :func:`user_error` and raises it ``from None``: Gradio
prints the traceback of what a handler raises, its causes included, into the server's log, and
a library's message may quote a header value (a patient's name) or anything else a bug carried.
So the log never gets a cause's text:

- a :class:`RadLensError` (bad input, a missing model, a fault of the model or its server) or a
  ``ValueError`` (bad settings) is shown with its own message, which RadLens words without
  patient data; nothing more is logged;
- anything else is a bug: the user gets a generic line naming the exception's type, and the log
  gets its traceback (every frame of every chained exception) with each message withheld.
"""

from __future__ import annotations

import logging
import traceback

import gradio as gr

from dicom_io.errors import RadLensError

__all__ = ["redacted_traceback", "user_error"]

logger = logging.getLogger("radlens.app")
WITHHELD = "<message withheld: it may hold patient data>"


def redacted_traceback(err: BaseException) -> str:
    """``err``'s traceback, causes and contexts first as Python prints them, with every
    exception's message replaced by :data:`WITHHELD`."""
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = err
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, "direct cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, "context"
        else:
            current = None
    parts: list[str] = []
    for exc, link_to_next in reversed(chain):
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(exc.__traceback__))
        parts.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {WITHHELD}\n")
        if link_to_next == "direct cause":
            parts.append("\nThe above exception was the direct cause of the following:\n\n")
        elif link_to_next == "context":
            parts.append("\nDuring handling of the above exception, another occurred:\n\n")
    return "".join(parts)


def user_error(err: BaseException) -> gr.Error:
    """The one-line :class:`gr.Error` for ``err`` (see the module docstring); raise it
    ``from None``."""
    if isinstance(err, RadLensError | ValueError):
        return gr.Error(" ".join(str(err).split()))
    logger.error("Unexpected %s in a request:\n%s", type(err).__name__, redacted_traceback(err))
    return gr.Error(
        f"Unexpected error ({type(err).__name__}); the server's log has where it happened. "
        "Try again; if it keeps failing, restart RadLens."
    )
