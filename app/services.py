"""What the UI handlers share: settings and the read-only demo study.

Per-user data (the study a user opened) lives in ``gr.State``, never here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from dicom_io.limits import Limits
from dicom_io.loader import load_study
from dicom_io.study import Study

__all__ = ["Services"]


@dataclass
class Services:
    initial_study: Path | None = None
    model_id: str | None = None
    limits: Limits = field(default_factory=Limits.from_env)
    _initial: Study | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def initial(self) -> Study | None:
        """The study every session opens with (loaded once, shared read-only)."""
        if self.initial_study is None:
            return None
        with self._lock:
            if self._initial is None:
                self._initial = load_study(self.initial_study, self.limits)
            return self._initial

    def open(self, paths: list[Path]) -> Study:
        """Read an upload (files, a folder's files or a zip) into a new study."""
        return load_study(paths, self.limits)
