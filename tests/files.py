"""Helpers for tests: real files written by others, located offline, and checksums."""

from __future__ import annotations

import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def data_file(name: str) -> Path:
    """A pydicom or pydicom-data test file, never downloaded (both are test dependencies)."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is missing; install pydicom-data.")
    return Path(str(found))


def sha256_tree(path: Path) -> dict[str, str]:
    """Checksums of a file or of every file under a folder (to prove inputs are untouched)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
