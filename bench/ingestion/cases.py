"""The synthetic CT series the tools load: written once per encoding, or reused from ``--dir``.

Each is a chest CT from ``tests/synthetic.py`` (int16 stored values, seed 1) in one transfer
syntax (:data:`SERIES`); a JSON manifest beside the folder keeps what the checks need (shape,
value sum, per-slice sums), so a reused series is not read again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SERIES", "Case", "write_case"]

SERIES = {"plain": "1.2.840.10008.1.2.1", "j2k": "1.2.840.10008.1.2.4.90"}


@dataclass(frozen=True)
class Case:
    """One written series and what the checks expect of its volume."""

    name: str
    folder: Path
    shape: tuple[int, int, int]
    files: int
    disk_bytes: int
    write_seconds: float | None  # None when reused
    hu_sum: float
    profile: list[float]  # expected sum of each slice, in order along the normal

    @property
    def volume_bytes(self) -> int:
        return self.shape[0] * self.shape[1] * self.shape[2] * 2


def write_case(name: str, folder: Path, slices: int, size: int) -> Case:
    """The ``name`` series in ``folder``: reused when its manifest is there, else written."""
    from tests.synthetic import write_ct_series

    manifest = folder.with_suffix(".json")
    if manifest.exists() and folder.is_dir():
        return _case(name, folder, json.loads(manifest.read_text()), write_seconds=None)
    if folder.exists() and any(folder.iterdir()):
        raise SystemExit(f"{folder}: not empty and no {manifest.name}; use an empty --dir.")
    start = time.perf_counter()
    info = write_ct_series(
        folder, slices=slices, rows=size, columns=size, transfer_syntax=SERIES[name], seed=1
    )
    seconds = time.perf_counter() - start
    data = {
        "shape": list(info.hu.shape),
        "files": len(info.paths),
        "disk_bytes": sum(p.stat().st_size for p in info.paths),
        "hu_sum": float(info.hu.sum(dtype=np.int64)),
        "profile": info.hu.sum(axis=(1, 2), dtype=np.int64).astype(float).tolist(),
    }
    manifest.write_text(json.dumps(data))
    return _case(name, folder, data, write_seconds=seconds)


def _case(name: str, folder: Path, data: dict[str, Any], write_seconds: float | None) -> Case:
    return Case(
        name=name,
        folder=folder,
        shape=tuple(data["shape"]),
        files=data["files"],
        disk_bytes=data["disk_bytes"],
        write_seconds=write_seconds,
        hu_sum=data["hu_sum"],
        profile=data["profile"],
    )
