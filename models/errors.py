"""Errors raised by the model side of RadLens.

They derive from :class:`dicom_io.errors.RadLensError` (the one root of every RadLens error) and
from the builtin that fits, so callers can catch either. Messages are one line: what is wrong,
where it was looked for, and how to fix it.
"""

from __future__ import annotations

from dicom_io.errors import RadLensError

__all__ = [
    "DeviceUnavailableError",
    "ModelNotFoundError",
    "UnsupportedPrecisionError",
]


class ModelNotFoundError(RadLensError, FileNotFoundError):
    """A model is neither a local folder nor in the Hugging Face cache (nothing is downloaded)."""


class UnsupportedPrecisionError(RadLensError, ValueError):
    """An unknown precision name, or one this machine cannot run (nf4 without bitsandbytes)."""


class DeviceUnavailableError(RadLensError, RuntimeError):
    """The requested device (e.g. ``cuda:1``) does not exist on this machine."""
