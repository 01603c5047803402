"""Enumerate the files of an input (a file, a folder of any nesting, or a zip) without writing.

Zip archives are read in memory, member by member, never extracted: a hostile member name cannot
land anywhere. Declared sizes are checked against :class:`dicom_io.limits.Limits` first.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from dicom_io.errors import (
    EmptyInputError,
    InputNotFoundError,
    InputTooLargeError,
    UnsafeArchiveError,
)
from dicom_io.limits import DEFAULT_LIMITS, Limits
from dicom_io.sniff import HEAD_BYTES, FileKind, sniff

__all__ = ["SourceFile", "iter_sources", "open_archive"]


class _Archive:
    """A zip opened once and read member by member under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._zip = zipfile.ZipFile(path)

    def read(self, member: str, n: int | None = None) -> bytes:
        with self._lock, self._zip.open(member) as fh:
            return fh.read() if n is None else fh.read(n)


@dataclass(frozen=True)
class SourceFile:
    """One file of the input: on disk, or a member of a zip read in memory.

    ``name`` is the path relative to the input, for messages (``"scans/IM0001"``,
    ``"study.zip:IM0001"``).
    """

    name: str
    size: int
    path: Path | None = None
    member: str | None = None
    _archive: _Archive | None = field(default=None, repr=False, compare=False)

    def read(self) -> bytes:
        if self.path is not None:
            return self.path.read_bytes()
        assert self._archive is not None
        assert self.member is not None
        return self._archive.read(self.member)

    def head(self, n: int = HEAD_BYTES) -> bytes:
        if self.path is not None:
            with self.path.open("rb") as fh:
                return fh.read(n)
        assert self._archive is not None
        assert self.member is not None
        return self._archive.read(self.member, n)

    def open(self) -> BinaryIO:
        """A readable binary file object (a real file, or bytes in memory for zip members)."""
        if self.path is not None:
            return self.path.open("rb")
        return io.BytesIO(self.read())

    def kind(self) -> FileKind:
        return sniff(self.head())


def _check_member_name(archive_name: str, info: zipfile.ZipInfo) -> None:
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive_name}: member {name!r} points outside the archive; refusing to read it."
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeArchiveError(
            f"{archive_name}: member {name!r} is a symbolic link; refusing to read the archive."
        )


def open_archive(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[SourceFile]:
    """List a zip's file members after checking names, counts and sizes (nothing extracted)."""
    try:
        archive = _Archive(path)
    except zipfile.BadZipFile as err:
        raise UnsafeArchiveError(f"{path.name}: not a readable zip archive ({err}).") from err
    infos = archive._zip.infolist()
    if len(infos) > limits.max_archive_members:
        raise UnsafeArchiveError(
            f"{path.name}: zip lists {len(infos)} members, more than the limit of "
            f"{limits.max_archive_members} (RADLENS_MAX_ARCHIVE_MEMBERS)."
        )
    total = 0
    files: list[SourceFile] = []
    for info in infos:
        _check_member_name(path.name, info)
        if info.is_dir():
            continue
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > limits.max_compression_ratio:
            raise UnsafeArchiveError(
                f"{path.name}: member {info.filename!r} expands {ratio:.0f}-fold, more than the "
                f"limit of {limits.max_compression_ratio} (a zip bomb?)."
            )
        if total > limits.max_archive_bytes:
            raise UnsafeArchiveError(
                f"{path.name}: zip expands to more than {limits.max_archive_bytes} bytes "
                "(RADLENS_MAX_ARCHIVE_BYTES)."
            )
        files.append(
            SourceFile(
                name=f"{path.name}:{info.filename}",
                size=info.file_size,
                member=info.filename,
                _archive=archive,
            )
        )
    if not files:
        raise EmptyInputError(f"{path.name}: the zip archive holds no files.")
    return files


def _walk_folder(root: Path, limits: Limits) -> Iterator[SourceFile]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            path = Path(dirpath) / fname
            try:
                st = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            count += 1
            if count > limits.max_files:
                raise InputTooLargeError(
                    f"{root.name}: folder holds more than {limits.max_files} files "
                    "(RADLENS_MAX_FILES)."
                )
            yield SourceFile(name=str(path.relative_to(root)), size=st.st_size, path=path)


def iter_sources(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[SourceFile]:
    """All files of ``path``: the file itself, a folder's files (recursively), or a zip's members.

    Raises:
        InputNotFoundError: ``path`` does not exist.
        EmptyInputError: a folder or zip without files.
        UnsafeArchiveError, InputTooLargeError: see :func:`open_archive` and the limits.
    """
    if not path.exists():
        raise InputNotFoundError(f"{path}: no such file or folder.")
    if path.is_dir():
        files = list(_walk_folder(path, limits))
        if not files:
            raise EmptyInputError(f"{path.name}: the folder holds no files.")
        return files
    single = SourceFile(name=path.name, size=path.stat().st_size, path=path)
    if single.kind() is FileKind.ZIP:
        return open_archive(path, limits)
    return [single]
