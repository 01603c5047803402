"""Ingest benchmark: RadLens against SimpleITK, MONAI and dcm2niix on one synthetic CT series.

    python bench/ingest.py                      # 300 x 512 x 512, plain and JPEG 2000, best of 3
    python bench/ingest.py --repeat 5 --only radlens,simpleitk --series plain
    python bench/ingest.py --one radlens DIR --profile   # cProfile of one RadLens load

Each measurement runs in a fresh child process (``--one TOOL DIR``), so no tool profits from
another's caches or imports. The child imports its library, resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``), loads the series, and reports wall and CPU seconds, the peak RSS
above its post-import RSS, and the output's shape, value sum and per-axis profiles; the parent
checks those against the phantom (right values, slices in order along the normal). dcm2niix is a
C program: the child times ``dcm2niix -z n`` with ``os.wait4`` and reports its ``ru_maxrss``
less that of ``dcm2niix -h``.

The parts are the modules of bench/ingestion/ (see its ``__init__``): the series, the tools'
measurements, the checks and the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The imports below need ROOT on the path.
from bench.ingestion.cases import SERIES, Case, write_case  # noqa: E402
from bench.ingestion.dcm2niix import measure_dcm2niix, note_write_cost  # noqa: E402
from bench.ingestion.python_tools import measure_python, profile_radlens  # noqa: E402
from bench.ingestion.table import MIB, best, print_table, print_targets  # noqa: E402

TOOLS = ("radlens", "simpleitk", "monai", "dcm2niix", "dcm2niix-headers")


# ---------------------------------------------------------------- child side: one measurement


def run_one(tool: str, folder: Path, profile: bool, top: int) -> int:
    """Child mode: measure ``tool`` on ``folder`` once and print one JSON line."""
    if profile:
        if tool != "radlens":
            print("--profile is only for --one radlens", file=sys.stderr)
            return 2
        profile_radlens(folder, top)
        return 0
    try:
        if tool.startswith("dcm2niix"):
            result = measure_dcm2niix(folder, headers_only=tool == "dcm2niix-headers")
        else:
            result = measure_python(tool, folder)
    except Exception as err:  # report any failure of a peer as a row, not a crash
        last = traceback.format_exc().strip().splitlines()[-1]
        result = {"error": f"{type(err).__name__}: {err}"[:300], "where": last[:200]}
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- parent side: write, run, print


def _child(tool: str, folder: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", tool, str(folder)]
    env = os.environ | {"PYTHONWARNINGS": "ignore"}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1])


def _run_case(case: Case, tools: list[str], repeat: int, timeout: float) -> None:
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for _ in range(repeat):  # round robin, so drifts in machine load hit every tool alike
        for tool in tools:
            runs[tool].append(_child(tool, case.folder, timeout))
    fastest = {tool: best(r) for tool, r in runs.items()}
    print_table(case, fastest, repeat)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  load average after the runs (1, 5, 15 min): {load}; other work skews timings")
    print_targets(case, fastest)


def _print_profile(case: Case, top: int) -> None:
    print(
        f"\n== RadLens profile, {case.name} series (bench/ingest.py --one radlens "
        f"{case.folder} --profile)"
    )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--one",
        "radlens",
        str(case.folder),
        "--profile",
        "--top",
        str(top),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    print(proc.stdout.rstrip() or proc.stderr.strip().splitlines()[-1])


@contextmanager
def _workdir(path: str | None) -> Iterator[Path]:
    if path:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
    else:
        with tempfile.TemporaryDirectory(prefix="radlens-ingest-") as tmp:
            yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.one:
        tool, folder = args.one
        return run_one(tool, Path(folder), args.profile, args.top)
    tools = [t.strip() for t in args.only.split(",")] if args.only else list(TOOLS)
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        raise SystemExit(f"Unknown tool(s) {unknown}; choose from {', '.join(TOOLS)}.")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; tools: {', '.join(tools)}")
    with _workdir(args.dir) as work:
        for name in args.series:
            slices = args.j2k_slices if name == "j2k" and args.j2k_slices else args.slices
            case = write_case(name, work / f"{name}-{slices}x{args.size}", slices, args.size)
            _run_case(case, tools, args.repeat, args.timeout)
            if "dcm2niix" in tools:
                cost = note_write_cost(case.folder, case.volume_bytes)
                print(
                    f"  (writing {case.volume_bytes / MIB:.0f} MiB to this disk from Python "
                    f"takes {cost:.3f} s: part of dcm2niix's time is its NIfTI output)"
                )
            if args.profile:
                _print_profile(case, args.top)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slices", type=int, default=300, help="slices in the series (300)")
    p.add_argument("--size", type=int, default=512, help="rows = columns (512)")
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per tool; best wins")
    p.add_argument("--only", help=f"comma-separated tools among {', '.join(TOOLS)}")
    p.add_argument(
        "--series",
        nargs="+",
        choices=list(SERIES),
        default=list(SERIES),
        help="which encodings to write and time (both)",
    )
    p.add_argument("--j2k-slices", type=int, help="slices of the JPEG 2000 series (--slices)")
    p.add_argument("--dir", help="write series here and reuse them on later runs (temp dir)")
    p.add_argument("--profile", action="store_true", help="also cProfile one RadLens load")
    p.add_argument("--top", type=int, default=25, help="profile entries to print (25)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per child run (600)")
    p.add_argument("--one", nargs=2, metavar=("TOOL", "DIR"), help="child mode: one run")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
