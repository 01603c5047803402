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
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.memory import peak_bytes, reset_peak, rss_bytes  # noqa: E402 - needs ROOT on the path

TOOLS = ("radlens", "simpleitk", "monai", "dcm2niix", "dcm2niix-headers")
SERIES = {"plain": "1.2.840.10008.1.2.1", "j2k": "1.2.840.10008.1.2.4.90"}
MIB = 1024 * 1024


# ---------------------------------------------------------------- child side: one measurement


def _summary(array: np.ndarray) -> dict[str, Any]:
    """Shape, dtype, value sum and the sum profile along each axis (for order checks)."""
    profiles = [
        array.sum(axis=tuple(a for a in range(array.ndim) if a != axis), dtype=np.float64).tolist()
        for axis in range(array.ndim)
    ]
    return {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sum": float(array.sum(dtype=np.float64)),
        "profiles": profiles,
    }


def _prepare_radlens() -> Callable[[Path], Any]:
    try:
        from dicom_io.loader import load_study
    except ImportError as err:
        raise RuntimeError(
            f"cannot import dicom_io.loader.load_study ({err}); is the loader finished?"
        ) from err

    def run(folder: Path) -> Any:
        return load_study(folder).default_series.volume

    return run


def _prepare_simpleitk() -> Callable[[Path], Any]:
    import SimpleITK as sitk

    def run(folder: Path) -> Any:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        return reader.Execute()

    return run


def _prepare_monai() -> Callable[[Path], Any]:
    from monai.transforms import LoadImage

    loader = LoadImage(reader="PydicomReader", image_only=True)
    return lambda folder: loader(str(folder))


def _to_array(tool: str, result: Any) -> np.ndarray:
    if tool == "radlens":
        return np.asarray(result.array)
    if tool == "simpleitk":
        import SimpleITK as sitk

        return sitk.GetArrayViewFromImage(result)
    return np.asarray(result.numpy() if hasattr(result, "numpy") else result)


def _measure_python(tool: str, folder: Path) -> dict[str, Any]:
    run = {
        "radlens": _prepare_radlens,
        "simpleitk": _prepare_simpleitk,
        "monai": _prepare_monai,
    }[tool]()
    gc.collect()
    base = rss_bytes()
    exact = reset_peak()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = time.process_time(), time.perf_counter()
    result = run(folder)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_bytes() - base
    # Worker processes (RadLens decodes large compressed series in them) count too: their CPU,
    # and the largest worker's peak RSS (imports included) for each worker that ran.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if after.ru_maxrss > children.ru_maxrss or (after.ru_utime > children.ru_utime):
        workers = min(os.cpu_count() or 1, 8)
        peak += after.ru_maxrss * 1024 * workers
    return {"seconds": wall, "cpu": cpu, "peak": peak, "peak_exact": exact} | _summary(
        _to_array(tool, result)
    )


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


def _measure_dcm2niix(folder: Path, headers_only: bool) -> dict[str, Any]:
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
        import nibabel

        image = nibabel.load(niftis[0])
        raw = np.asarray(image.dataobj.get_unscaled())
        slope, inter = image.dataobj.slope, image.dataobj.inter
        summary = _summary(raw)
        n = raw.size
        summary["sum"] = summary["sum"] * slope + inter * n
        summary["profiles"] = [
            [v * slope + inter * (n / len(p)) for v in p] for p in summary["profiles"]
        ]
        summary["dtype"] = f"{raw.dtype} (scl {slope:g}/{inter:g})"
        return result | summary


def _profile_radlens(folder: Path, top: int) -> None:
    """Profile one RadLens load: main thread and decoder worker threads, merged."""
    import cProfile
    import pstats
    import threading

    run = _prepare_radlens()
    workers: list[cProfile.Profile] = []

    def start_worker(*_: object) -> None:
        profile = cProfile.Profile()
        workers.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread

    threading.setprofile(start_worker)
    main = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    main.enable()
    run(folder)
    main.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main)
    for profile in workers:
        stats.add(profile)
    print(f"RadLens load of {folder}: {wall:.3f} s wall, {cpu:.3f} s CPU (profiled, slower)")
    print(f"main thread + {len(workers)} worker thread(s); times are summed over threads")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def run_one(tool: str, folder: Path, profile: bool, top: int) -> int:
    """Child mode: measure ``tool`` on ``folder`` once and print one JSON line."""
    if profile:
        if tool != "radlens":
            print("--profile is only for --one radlens", file=sys.stderr)
            return 2
        _profile_radlens(folder, top)
        return 0
    try:
        if tool.startswith("dcm2niix"):
            result = _measure_dcm2niix(folder, headers_only=tool == "dcm2niix-headers")
        else:
            result = _measure_python(tool, folder)
    except Exception as err:  # report any failure of a peer as a row, not a crash
        last = traceback.format_exc().strip().splitlines()[-1]
        result = {"error": f"{type(err).__name__}: {err}"[:300], "where": last[:200]}
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------- parent side: write, run, print


@dataclass(frozen=True)
class Case:
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


def _write_case(name: str, folder: Path, slices: int, size: int) -> Case:
    from tests.synthetic import write_ct_series

    manifest = folder.with_suffix(".json")
    if manifest.exists() and folder.is_dir():
        data = json.loads(manifest.read_text())
        return Case(
            name=name,
            folder=folder,
            shape=tuple(data["shape"]),
            files=data["files"],
            disk_bytes=data["disk_bytes"],
            write_seconds=None,
            hu_sum=data["hu_sum"],
            profile=data["profile"],
        )
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
    return Case(
        name=name,
        folder=folder,
        shape=tuple(data["shape"]),
        files=data["files"],
        disk_bytes=data["disk_bytes"],
        write_seconds=seconds,
        hu_sum=data["hu_sum"],
        profile=data["profile"],
    )


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


def _check(case: Case, result: dict[str, Any]) -> str:
    """'ok' when the output holds the phantom's values with slices in order, else what differs."""
    shape = result.get("shape")
    if shape is None:
        return "no image (headers only)"
    if sorted(shape) != sorted(case.shape):
        return f"WRONG shape {tuple(shape)}"
    if not np.isclose(result["sum"], case.hu_sum, rtol=0, atol=0.5 + 1e-9 * abs(case.hu_sum)):
        return f"WRONG values (sum {result['sum']:.0f}, expected {case.hu_sum:.0f})"
    expected = np.asarray(case.profile)
    for profile in result["profiles"]:
        p = np.asarray(profile)
        if p.shape != expected.shape:
            continue
        if np.allclose(p, expected, atol=0.5):
            return "ok"
        if np.allclose(p[::-1], expected, atol=0.5):
            return "ok (slices reversed)"
    return "WRONG slice order"


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run, with the largest peak memory of all runs (errors only if all failed)."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return runs[-1]
    best = dict(min(good, key=lambda r: r["seconds"]))
    best["peak"] = max(r["peak"] for r in good)
    best["peak_exact"] = all(r["peak_exact"] for r in good)
    for key in ("reported_seconds", "reported_cpu"):
        if key in best:
            best[key] = min(r[key] for r in good)
    return best


def _label(tool: str) -> str:
    return {
        "radlens": "RadLens load_study+volume",
        "simpleitk": "SimpleITK ImageSeriesReader",
        "monai": "MONAI LoadImage(Pydicom)",
        "dcm2niix": "dcm2niix -z n (process)",
        "dcm2niix-headers": "dcm2niix -b o (no image)",
    }[tool]


def _rows(case: Case, results: dict[str, dict[str, Any]]) -> Iterator[list[str]]:
    base = results.get("radlens", {}).get("seconds")
    for tool, r in results.items():
        if "error" in r:
            yield [_label(tool), "-", "-", "-", "-", "-", "-", f"ERROR {r['error']}"]
            continue
        ratio = f"{r['seconds'] / base:.2f}" if base else "n/a"
        peak = r["peak"] / MIB
        shape = "x".join(map(str, r["shape"])) + f" {r['dtype']}" if r.get("shape") else "-"
        yield [
            _label(tool),
            f"{r['seconds']:.3f}",
            ratio,
            f"{r['cpu'] / r['seconds']:.2f}",
            f"{peak:.0f}" + ("" if r["peak_exact"] else "*"),
            f"{r['peak'] / case.volume_bytes:.2f}",
            shape,
            _check(case, r),
        ]
        if tool == "dcm2niix" and "reported_seconds" in r:
            own = r["reported_seconds"]
            ratio = f"{own / base:.2f}" if base else "n/a"
            yield [
                "  dcm2niix self-reported",
                f"{own:.3f}",
                ratio,
                f"{r['reported_cpu'] / own:.2f}" if own else "-",
                "",
                "",
                "",
                "",
            ]


def _print_table(case: Case, results: dict[str, dict[str, Any]], repeat: int) -> None:
    s, r, c = case.shape
    wrote = f"written in {case.write_seconds:.1f} s" if case.write_seconds else "reused"
    print(
        f"\n== {case.name}: {s} slices x {r}x{c} int16 CT, {SERIES[case.name]} "
        f"({case.files} files, {case.disk_bytes / MIB:.1f} MiB on disk, {wrote}); "
        f"volume {case.volume_bytes / MIB:.1f} MiB; best of {repeat} fresh processes"
    )
    header = [
        "tool",
        "seconds",
        "vs RadLens",
        "cpu/wall",
        "peak MiB",
        "peak/vol",
        "output",
        "check",
    ]
    rows = [header, *_rows(case, results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [
            cell.ljust(w) if i in (0, 6) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join([*cells, row[-1]]).rstrip())


def _print_targets(case: Case, results: dict[str, dict[str, Any]]) -> None:
    """The issue's targets for RadLens, judged on this run."""
    radlens = results.get("radlens", {})
    if "seconds" not in radlens:
        return
    base = radlens["seconds"]
    checks = [
        (
            f"peak <= 1.5x volume ({radlens['peak'] / case.volume_bytes:.2f}x)",
            radlens["peak"] <= 1.5 * case.volume_bytes,
        )
    ]
    sitk = results.get("simpleitk", {}).get("seconds")
    if sitk:
        checks.append((f">= 2x faster than SimpleITK ({sitk / base:.2f}x)", sitk >= 2 * base))
    dcm = results.get("dcm2niix", {}).get("seconds")
    if dcm:
        checks.append((f"no slower than dcm2niix process ({dcm / base:.2f}x)", dcm >= base))
    print("  targets: " + "; ".join(f"{'PASS' if ok else 'FAIL'} {text}" for text, ok in checks))


def _run_case(case: Case, tools: list[str], repeat: int, timeout: float) -> None:
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    for _ in range(repeat):  # round robin, so drifts in machine load hit every tool alike
        for tool in tools:
            runs[tool].append(_child(tool, case.folder, timeout))
    best = {tool: _best(r) for tool, r in runs.items()}
    _print_table(case, best, repeat)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  load average after the runs (1, 5, 15 min): {load}; other work skews timings")
    _print_targets(case, best)


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


def _note_write_cost(folder: Path, nbytes: int) -> float:
    """Seconds to write ``nbytes`` to a file beside ``folder`` (dcm2niix's NIfTI output cost)."""
    block = np.zeros(nbytes // 2, dtype=np.int16)
    target = folder.parent / "write-cost.tmp"
    start = time.perf_counter()
    block.tofile(target)
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds


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
            case = _write_case(name, work / f"{name}-{slices}x{args.size}", slices, args.size)
            _run_case(case, tools, args.repeat, args.timeout)
            if "dcm2niix" in tools:
                cost = _note_write_cost(case.folder, case.volume_bytes)
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
