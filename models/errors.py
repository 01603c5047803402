"""Errors raised by the model side of RadLens: the one home of every error models/ defines.

Sections: loading a model; the registry and the hub; generation (what a backend raises); what
may leave the machine (:mod:`models.tasks.outbound`). They derive from
:class:`dicom_io.errors.RadLensError` (the one root of every RadLens error) and from the builtin
that fits, so callers can catch either. Messages are one line: what is wrong, where it was looked
for, and how to fix it.
"""

from __future__ import annotations

from dicom_io.errors import RadLensError

__all__ = [
    "DeviceUnavailableError",
    "ModelNotFoundError",
    "UnsupportedPrecisionError",
]

# --------------------------------------------------------------------------- loading a model


class ModelNotFoundError(RadLensError, FileNotFoundError):
    """A model is neither a local folder nor in the Hugging Face cache (nothing is downloaded)."""


class UnsupportedPrecisionError(RadLensError, ValueError):
    """An unknown precision name, or one this machine cannot run (nf4 without bitsandbytes)."""


class DeviceUnavailableError(RadLensError, RuntimeError):
    """The requested device (e.g. ``cuda:1``) does not exist on this machine."""


# --------------------------------------------------------------------------- registry and hub

__all__ += [
    "ContextOverflowError",
    "DownloadUnavailableError",
    "GatedModelError",
    "UnknownModelError",
    "UnsupportedModelError",
]


class UnknownModelError(RadLensError, KeyError):
    """A model id that is neither in the registry nor a local model folder."""

    def __str__(self) -> str:
        # KeyError quotes its message; a one-line error reads better without the quotes.
        return str(self.args[0]) if self.args else ""


class UnsupportedModelError(RadLensError, ValueError):
    """A local model folder whose architecture (config.json ``model_type``) RadLens cannot run."""


class GatedModelError(RadLensError, PermissionError):
    """The hub refused a download: the model is gated and the token has not been granted access."""


class DownloadUnavailableError(RadLensError, ConnectionError):
    """A download was asked for while downloads are disabled or the hub cannot be reached."""


class ContextOverflowError(RadLensError, ValueError):
    """The images (and their labels) need more tokens than the model's context allows."""


# --------------------------------------------------------------------------- generation

__all__ += [
    "GenerationError",
    "OutOfMemoryError",
    "RemoteServerError",
    "RemoteTimeoutError",
]


class GenerationError(RadLensError, RuntimeError):
    """Generation failed; the cause is chained (``raise ... from``) and named in the message."""


class OutOfMemoryError(GenerationError):
    """The device ran out of memory while generating; the backend stays usable."""


class RemoteServerError(GenerationError):
    """An OpenAI-compatible server failed, refused the request, or could not be reached.

    ``status_code`` is the HTTP status when the server answered with an error status, else None.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RemoteTimeoutError(RemoteServerError, TimeoutError):
    """The server accepted no connection, or sent nothing, within the configured timeout."""


# --------------------------------------------------------------------------- outbound images

__all__ += ["BurnedInTextError"]


class BurnedInTextError(RadLensError, PermissionError):
    """A series that may show identifiers in its pixels was about to go to a remote model."""
