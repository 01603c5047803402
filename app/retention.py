"""How long a page's files stay on the server's disk, and its studies' voxels in memory.

Uploads (Gradio copies them into the server's private temporary folder) and exports hold
patient data, so a page's are deleted when its tab is closed or reloaded (Gradio's unload event;
the page's study is never used again after that), not kept until the server stops. The decoded
voxels of the studies the page opened are let go at the same moment (Gradio itself drops a
closed page's state only an hour later).

Gradio names an upload by its content's hash, so two pages that upload the same file share it:
:class:`PageHoldings` counts which pages hold each file and deletes it when the last one lets go.
An upload of the same content replaces the file (a new inode) before its page's handler holds
it; so the last holder deletes the file only if it is still one a holder saw, and leaves a newer
copy to the page that uploaded it. (One race remains: a page that uploads the same file while
the only other holder closes, in the moment before its upload handler runs, finds the file gone
and is told to open the study again.) Only files inside Gradio's temporary folder are ever
deleted, never a user's own files, and the folder the file was put in goes with it once empty.

The scripting API's uploads are not deleted per call: a call waits in the model's queue after
its upload, and another call may have uploaded the same file meanwhile, which nothing could
tell. The API is offered on loopback only (the files came from this machine); they are removed,
with everything else left, when the server exits and its temporary folder goes.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from dicom_io.study import Study

__all__ = ["PageHoldings"]

logger = logging.getLogger("radlens.app")


def _temp_root() -> Path:
    return Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()).resolve()


class PageHoldings:
    """Files and studies held by pages (by their session hash); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[Path, set[str]] = {}
        self._held: dict[str, set[Path]] = {}
        self._seen: dict[Path, set[int]] = {}  # the inodes the holders held
        self._studies: dict[str, list[Study]] = {}

    def hold(self, holder: str | None, paths: Iterable[str | Path]) -> None:
        """``holder`` uses ``paths`` (files in Gradio's temporary folder; others are ignored)."""
        if not holder:
            return
        root = _temp_root()
        with self._lock:
            for item in paths:
                path = Path(item).resolve()
                if not path.is_relative_to(root) or path == root:
                    continue
                self._holders.setdefault(path, set()).add(holder)
                self._held.setdefault(holder, set()).add(path)
                inode = _inode(path)
                if inode is not None:
                    self._seen.setdefault(path, set()).add(inode)

    def hold_study(self, holder: str | None, study: Study) -> None:
        """``holder`` opened ``study`` (its own: never the shared initial study)."""
        if holder:
            with self._lock:
                self._studies.setdefault(holder, []).append(study)

    def release(self, holder: str | None) -> int:
        """``holder`` is done: its studies' voxels are let go and the files nobody else holds
        are deleted. Returns how many files went."""
        if not holder:
            return 0
        with self._lock:
            for study in self._studies.pop(holder, []):
                for series in study.series:
                    series.release_voxels()
            paths = self._held.pop(holder, set())
            unheld = []
            for path in paths:
                holders = self._holders.get(path, set())
                holders.discard(holder)
                if not holders:
                    self._holders.pop(path, None)
                    if _inode(path) in self._seen.pop(path, set()):
                        unheld.append(path)
            deleted = sum(_delete(path) for path in unheld)
        return deleted

    def holders(self, path: str | Path) -> set[str]:
        with self._lock:
            return set(self._holders.get(Path(path).resolve(), set()))


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _delete(path: Path) -> bool:
    """Delete ``path`` and its folder when that is left empty (inside the temporary folder)."""
    root = _temp_root()
    if not path.is_relative_to(root) or path == root:
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:  # the path is the server's, never a patient's: safe to log
        logger.warning("Could not delete %s (%s).", path, err.strerror)
        return False
    folder = path.parent
    if folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass
    return True
