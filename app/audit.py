"""The audit log: one JSON line per model task run from the UI, the scripting API or the
command line (ask, report, compare, check, export).

A line says who ran which task on which study with which model, and fingerprints what came out;
it holds nothing a reader could take a patient or a finding from. Its fields, and no others:

- ``time``: when the task finished, UTC, ISO 8601 (seconds);
- ``user``: the username the server authenticated, ``"local"`` for the web app without a login,
  or the operating-system account that ran a command-line task;
- ``study``: :attr:`Study.key` (a salted hash of the study UIDs, never a raw UID);
- ``series``: :attr:`Series.key` (a hash too);
- ``task``: ``ask``, ``report``, ``compare``, ``check`` or ``export`` (:data:`AUDITED`, names
  of :class:`models.tasks.names.TaskName`);
- ``model``: the model id that wrote the output;
- ``prompt_version``: the version of the prompt templates it was given;
- ``output_sha256``: SHA-256 of the output text (UTF-8): the model's raw text for ``ask``,
  ``report`` and ``compare``; the findings' statuses and the check lines for ``check``; the
  exported file's bytes for ``export`` (``radlens report`` records both the report and the file
  it wrote).

Never a patient identifier, a question or an answer. The file is ``RADLENS_AUDIT_LOG``, else
``audit.jsonl`` in RadLens' state folder (``$XDG_STATE_HOME/radlens``, by default
``~/.local/state/radlens``). It is created readable and writable by its owner only (0600, in a
0700 folder when RadLens creates the folder) and only ever appended to, one ``write`` per line.
Failing to write is logged as a warning and never stops the task.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dicom_io.errors import InvalidArgumentError
from models.tasks.names import TaskName, task_name

__all__ = [
    "AUDITED",
    "AUDIT_ENV",
    "FIELDS",
    "LOCAL_USER",
    "AuditLog",
    "cli_user",
    "default_audit_path",
    "user_of",
]

AUDIT_ENV = "RADLENS_AUDIT_LOG"
FIELDS = ("time", "user", "study", "series", "task", "model", "prompt_version", "output_sha256")
LOCAL_USER = "local"
logger = logging.getLogger(__name__)


AUDITED = (TaskName.ASK, TaskName.REPORT, TaskName.COMPARE, TaskName.CHECK, TaskName.EXPORT)


def _audited(task: TaskName | str) -> TaskName:
    name = task_name(task)
    if name not in AUDITED:
        raise InvalidArgumentError(
            f"Task {name.value!r} is not audited; use one of {', '.join(AUDITED)}."
        )
    return name


def default_audit_path(environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """``RADLENS_AUDIT_LOG``, else ``$XDG_STATE_HOME/radlens/audit.jsonl`` (by default under
    ``~/.local/state``)."""
    env = os.environ if environ is None else environ
    if env.get(AUDIT_ENV):
        return Path(env[AUDIT_ENV]).expanduser()
    state = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "radlens" / "audit.jsonl"


def user_of(request: Any) -> str:
    """The authenticated username of a ``gr.Request`` (``"local"`` without a login)."""
    username = getattr(request, "username", None)
    return str(username) if username else LOCAL_USER


def cli_user() -> str:
    """The operating-system account running a command (``"local"`` when it has no name)."""
    try:
        return getpass.getuser() or LOCAL_USER
    except (OSError, KeyError):  # no passwd entry and no LOGNAME/USER (some containers)
        return LOCAL_USER


def _sha256(output: str | bytes | Path) -> str:
    """SHA-256 of a text (UTF-8), bytes, or a file's contents."""
    if isinstance(output, Path):
        with output.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    data = output.encode("utf-8") if isinstance(output, str) else output
    return hashlib.sha256(data).hexdigest()


@dataclass
class AuditLog:
    """Appends audit lines to ``path`` (see the module docstring); thread-safe."""

    path: Path = field(default_factory=default_audit_path)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(
        self,
        task: TaskName | str,
        *,
        user: str,
        study: str,
        series: str,
        model: str,
        prompt_version: str,
        output: str | bytes | Path,
    ) -> dict[str, str] | None:
        """Append one line; return it as a dict, or None when it could not be written.

        ``output`` is hashed: a text, bytes, or a file (an export) by its contents.
        """
        try:
            digest = _sha256(output)
        except OSError as err:
            logger.warning("audit log: could not read the output to hash it (%s).", err)
            return None
        line = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "user": user or LOCAL_USER,
            "study": study,
            "series": series,
            "task": _audited(task).value,
            "model": model,
            "prompt_version": prompt_version,
            "output_sha256": digest,
        }
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            with self._lock:
                self._append(data)
        except OSError as err:
            # The path may name the user's home folder, never a patient: safe to log.
            logger.warning("audit log %s: could not write (%s); the task went on.", self.path, err)
            return None
        return line

    def _append(self, data: bytes) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(self.path, flags, 0o600)
        try:
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(f"wrote {written} of {len(data)} bytes")
        finally:
            os.close(descriptor)
