"""A sentinel study and the scan for its identifiers, shared by the privacy tests.

The study is a small synthetic CT whose every file carries unique patient name, ID, birth date,
accession number and institution strings. The scan looks for fragments of them (the name's
family part, the ID, the date, the accession number, the institution) in any text: a found
fragment means an identifier left the study.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from tests.synthetic import write_ct_series

__all__ = ["NEEDLES", "SENTINELS", "leaks", "readable_texts", "write_sentinel_study"]

SENTINELS = {
    "PatientName": "ZQXSENTINEL^NAME",
    "PatientID": "ZQX-ID-4242",
    "PatientBirthDate": "19370412",
    "AccessionNumber": "ZQXACC99",
    "InstitutionName": "ZQX SENTINEL INSTITUTE",
}
NEEDLES = ("ZQXSENTINEL", "ZQX-ID-4242", "19370412", "ZQXACC99", "ZQX SENTINEL")


def write_sentinel_study(
    folder: Path, slices: int = 6, size: int = 64, transfer_syntax: str = ExplicitVRLittleEndian
) -> Path:
    """Write the sentinel CT series into ``folder`` (created) and return it."""
    info = write_ct_series(
        folder, slices=slices, rows=size, columns=size, transfer_syntax=transfer_syntax
    )
    for path in info.paths:
        ds = pydicom.dcmread(path)
        for keyword, value in SENTINELS.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return folder


def readable_texts(folder: Path) -> list[tuple[str, str]]:
    """``(name, text)`` of every file under ``folder``: its bytes as Latin-1 (so any byte
    string is found), plus the extracted text of PDFs (their text streams are compressed)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        name = str(path.relative_to(folder))
        found.append((name, path.read_bytes().decode("latin-1")))
        if path.suffix == ".pdf":
            text = subprocess.run(
                ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
            ).stdout
            found.append((f"{name} (text)", text))
    return found


def leaks(texts: Iterable[tuple[str, str]]) -> list[str]:
    """``"<needle> in <where>"`` for every sentinel fragment found in ``(where, text)``."""
    return [
        f"{needle!r} in {where}" for where, text in texts for needle in NEEDLES if needle in text
    ]
