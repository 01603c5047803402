"""A DICOMDIR opened on its own: the image files it lists, so the study opens as its folder would.

A DICOMDIR (PS3.10 section 8.6; the Basic Directory IOD, PS3.3 F.3) holds no pixels: its
Directory Record Sequence lists the files of the media, each record's Referenced File ID
(0004,1500) being the file's path components relative to the DICOMDIR's own folder. PS3.10 8.5
limits a component to 8 upper-case letters, digits and underscores; media written by real
systems are not always that strict, so any plain file name is taken (matched without regard to
case), but a component that could leave the folder (``..``, a separator, an absolute path) is
refused, and files that do not exist are counted, never guessed at.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from dicom_io.errors import UnsafeArchiveError

__all__ = ["DICOMDIR_CLASS", "DirectoryFiles", "referenced_files"]

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage (PS3.4 Annex B)
_COMPONENT = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


@dataclass(frozen=True)
class DirectoryFiles:
    """The files a DICOMDIR references that exist, and how many it names that do not."""

    files: tuple[Path, ...]
    missing: int


def _is_dicomdir(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(132 + 512)
    return head[128:132] == b"DICM" and DICOMDIR_CLASS.encode() in head


def _resolve(folder: Path, components: list[str], name: str) -> Path | None:
    """``folder/components...``, matching each component's case as the disk has it."""
    current = folder
    for part in components:
        if not _COMPONENT.match(part) or part in (".", ".."):
            raise UnsafeArchiveError(
                f"{name}: a Referenced File ID component {part[:20]!r} could leave its folder."
            )
        exact = current / part
        if exact.exists():
            current = exact
            continue
        if not current.is_dir():
            return None
        matches = [p for p in current.iterdir() if p.name.upper() == part.upper()]
        if not matches:
            return None
        current = matches[0]
    return current if current.is_file() else None


def referenced_files(path: Path) -> DirectoryFiles | None:
    """The files ``path`` lists when it is a DICOMDIR, else None (not a DICOMDIR)."""
    if not path.is_file() or not _is_dicomdir(path):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, specific_tags=["DirectoryRecordSequence"])
    except (InvalidDicomError, OSError, ValueError, KeyError, TypeError, EOFError):
        return None
    found: list[Path] = []
    missing = 0
    for record in ds.get("DirectoryRecordSequence", []):
        value = record.get("ReferencedFileID")
        if value is None:
            continue
        parts = [str(value)] if isinstance(value, str) else [str(v) for v in value]
        resolved = _resolve(path.parent, parts, path.name)
        if resolved is None:
            missing += 1
        else:
            found.append(resolved)
    return DirectoryFiles(tuple(dict.fromkeys(found)), missing)
