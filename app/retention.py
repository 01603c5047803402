"""A closed page's studies let go of their decoded voxels at once.

Gradio keeps a page's state (its study, conversation and report) for an hour after the page's
connection is lost, so that a page that reconnects (a network blip, a laptop waking up) carries
on. A study's decoded voxels are most of that memory (hundreds of MB for a CT), so when the page
goes (Gradio's unload event) :class:`PageHoldings` lets go of the voxels of the studies it
opened: a page that does come back decodes them again from its uploaded files, which stay in the
server's private temporary folder until the server exits.
"""

from __future__ import annotations

import threading

from dicom_io.study import Study

__all__ = ["PageHoldings"]


class PageHoldings:
    """The studies each page opened (by its session hash); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._studies: dict[str, list[Study]] = {}

    def hold_study(self, holder: str | None, *studies: Study) -> None:
        """Page ``holder`` opened ``studies`` (its own: never the shared initial study; an
        upload of several studies holds them all until one is chosen)."""
        if holder:
            with self._lock:
                self._studies.setdefault(holder, []).extend(studies)

    def release(self, holder: str | None) -> int:
        """Page ``holder`` went: its studies let go of their voxels. Returns how many studies."""
        if not holder:
            return 0
        with self._lock:
            studies = self._studies.pop(holder, [])
        for study in studies:
            for series in study.series:
                series.release_voxels()
        return len(studies)

    def holders(self) -> list[str]:
        """The pages holding studies now."""
        with self._lock:
            return list(self._studies)

    def studies(self, holder: str) -> list[Study]:
        with self._lock:
            return list(self._studies.get(holder, []))
