"""Errors raised by RadLens, and the one home of those dicom_io raises.

Every error a user can cause derives from :class:`RadLensError` and from the builtin that fits
(``ValueError``, ``FileNotFoundError``, ...), so callers can catch either. Messages are one line:
what is wrong, where (the file name, never a patient identifier), and how to fix it.

:class:`RadLensError` is the root for the whole project: ``models.errors`` and
``prompts.errors`` (the other two homes) derive from it. This module imports nothing of RadLens,
so any package, and every decoding worker, may import it cheaply.
"""

from __future__ import annotations

import re

__all__ = [
    "CorruptFileError",
    "DecodeTimeoutError",
    "DecoderMissingError",
    "EmptyInputError",
    "InputNotFoundError",
    "InputTooLargeError",
    "InvalidArgumentError",
    "MissingPixelDataError",
    "MultipleStudiesError",
    "RadLensError",
    "UnsafeArchiveError",
    "UnsafeOutputError",
    "UnsupportedFileError",
    "library_reason",
]


class RadLensError(Exception):
    """Root of every error RadLens raises on purpose."""


class UnsupportedFileError(RadLensError, ValueError):
    """The file is not a DICOM, NIfTI or image file RadLens can read."""


class CorruptFileError(RadLensError, ValueError):
    """The file has the right format but its content is broken (for example truncated)."""


class DecodeTimeoutError(CorruptFileError):
    """A file's pixel data did not decode within the deadline (the decoder was stopped; see
    :mod:`dicom_io.pixels.decode_guard`)."""


class MissingPixelDataError(RadLensError, ValueError):
    """A DICOM file holds no image (no Pixel Data element)."""


class DecoderMissingError(RadLensError, RuntimeError):
    """The pixel data is compressed with a scheme no installed decoder handles."""


class InputTooLargeError(RadLensError, ValueError):
    """A declared size exceeds the file or a configured cap; refused before allocating."""


class UnsafeArchiveError(RadLensError, ValueError):
    """An archive is a bomb or names members outside the extraction root."""


class UnsafeOutputError(RadLensError, ValueError):
    """A de-identification output path is the input, lies inside it, or already holds files."""


class EmptyInputError(RadLensError, FileNotFoundError):
    """A folder or archive holds no readable image."""


class InputNotFoundError(RadLensError, FileNotFoundError):
    """The path given does not exist."""


class InvalidArgumentError(RadLensError, ValueError):
    """An argument (window, slice, series, plane...) is out of range or malformed."""


class MultipleStudiesError(InvalidArgumentError):
    """The input holds several studies (or patients) and none was chosen: one must be."""


_QUOTED = re.compile(r"""(['"]).*?\1|b(['"]).*?\2""")
_NON_TEXT = re.compile(r"[^\x20-\x7e]")


def library_reason(err: BaseException, limit: int = 160) -> str:
    """A library's error as a short, single-line reason safe to show and log.

    Libraries quote the values they choke on, and a value read from a damaged file may be a
    patient's name or ID: quoted text is replaced by ``'…'``, non-printable characters dropped,
    whitespace collapsed and the result cut to ``limit`` characters.
    """
    text = " ".join(_NON_TEXT.sub(" ", str(err)).split())
    text = _QUOTED.sub("'…'", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
