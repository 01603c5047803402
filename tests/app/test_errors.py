"""What users read when a handler fails, and what the server's log keeps of it."""

from __future__ import annotations

import logging

import pytest

from app.errors import WITHHELD, redacted_traceback, user_error
from dicom_io.errors import CorruptFileError

NAME = "DOE^JANE"


def _chained() -> BaseException:
    try:
        try:
            raise KeyError(f"(0010,0010) {NAME}")
        except KeyError:
            raise ValueError(f"bad value {NAME}") from None
    except ValueError as err:
        try:
            raise RuntimeError(f"while reading {NAME}") from err
        except RuntimeError as outer:
            return outer


def test_the_traceback_keeps_every_frame_and_no_message():
    text = redacted_traceback(_chained())
    assert NAME not in text
    assert text.count("Traceback (most recent call last):") == 2  # KeyError suppressed
    assert f"builtins.ValueError: {WITHHELD}\n" in text
    assert "The above exception was the direct cause of the following:" in text
    assert text.endswith(f"builtins.RuntimeError: {WITHHELD}\n")
    assert text.count("in _chained\n") == 2


def test_context_is_followed_when_not_suppressed():
    try:
        try:
            raise OSError(NAME)
        except OSError:
            raise TypeError(NAME)  # noqa: B904 - the implicit context is the point
    except TypeError as err:
        text = redacted_traceback(err)
    assert "During handling of the above exception, another occurred:" in text
    assert text.index("builtins.OSError") < text.index("builtins.TypeError")
    assert NAME not in text


def test_radlens_errors_are_shown_and_bugs_are_logged_without_text(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.ERROR)
    shown = user_error(CorruptFileError("scan.dcm: truncated pixel data.\n  (at byte 10)"))
    assert shown.message == "scan.dcm: truncated pixel data. (at byte 10)"
    assert caplog.records == []
    bug = user_error(_chained())
    assert bug.message.startswith("Unexpected error (RuntimeError); the server's log has")
    (record,) = caplog.records
    assert record.name == "radlens.app"
    assert NAME not in record.getMessage()
