"""dcm2niix, a C program, timed as a child process: ``dcm2niix -z n`` (optionally ``-b o``,
headers and sidecar only) with ``os.wait4``, its peak the child's ``ru_maxrss`` less that of
``dcm2niix -h``; and what writing its NIfTI output costs on this disk from Python."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.ingestion.summary import summary

__all__ = ["measure_dcm2niix", "note_write_cost"]


def _dcm2niix() -> str:
    local = Path(sys.executable).with_name("dcm2niix")
    found = str(local) if local.exists() else shutil.which("dcm2niix")
    if not found:
        raise RuntimeError("dcm2niix not found: pip install dcm2niix")
    return found


def _wait(cmd: list[str]) -> tuple[float, resource.struct_rusage, str]:
    """Run ``cmd``; return its wall seconds, its rusage and its stdout."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode:
        raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}: {text[-400:]}")
    return seconds, usage, text


def measure_dcm2niix(folder: Path, headers_only: bool) -> dict[str, Any]:
    exe = _dcm2niix()
    _, idle, _ = _wait([exe, "-h"])
    with tempfile.TemporaryDirectory(prefix="ingest-dcm2niix-") as out:
        bids = ["-b", "o"] if headers_only else []
        cmd = [exe, "-z", "n", *bids, "-f", "%s", "-o", out, str(folder)]
        seconds, usage, text = _wait(cmd)
        result: dict[str, Any] = {
            "seconds": seconds,
            "cpu": usage.ru_utime + usage.ru_stime,
            "peak": (usage.ru_maxrss - idle.ru_maxrss) * 1024,
            "peak_exact": True,
        }
        reported = re.search(r"Conversion required ([\d.]+) seconds \(([\d.]+) for core", text)
        if reported:
            result["reported_seconds"] = float(reported.group(1))
            result["reported_cpu"] = float(reported.group(2))
        niftis = sorted(Path(out).glob("*.nii"))
        if headers_only:
            return result | {"shape": None, "dtype": "", "niftis": len(niftis)}
        if len(niftis) != 1:
            raise RuntimeError(f"dcm2niix wrote {len(niftis)} NIfTI files: {text[-400:]}")
        return result | _nifti_summary(niftis[0])


def _nifti_summary(path: Path) -> dict[str, Any]:
    """The summary of dcm2niix's NIfTI output, its stored values scaled as its header says."""
    import nibabel

    image = nibabel.load(path)
    raw = np.asarray(image.dataobj.get_unscaled())
    slope, inter = image.dataobj.slope, image.dataobj.inter
    scaled = summary(raw)
    n = raw.size
    scaled["sum"] = scaled["sum"] * slope + inter * n
    scaled["profiles"] = [
        [v * slope + inter * (n / len(p)) for v in p] for p in scaled["profiles"]
    ]
    scaled["dtype"] = f"{raw.dtype} (scl {slope:g}/{inter:g})"
    return scaled


def note_write_cost(folder: Path, nbytes: int) -> float:
    """Seconds to write ``nbytes`` to a file beside ``folder`` (dcm2niix's NIfTI output cost)."""
    block = np.zeros(nbytes // 2, dtype=np.int16)
    target = folder.parent / "write-cost.tmp"
    start = time.perf_counter()
    block.tofile(target)
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds
