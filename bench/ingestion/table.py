"""The ingest table: each tool's best run, its row (seconds, ratio to RadLens, CPU/wall, peak
memory, output, check), and the targets RadLens is judged by."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.ingestion.cases import SERIES, Case
from bench.ingestion.summary import check

__all__ = ["MIB", "best", "print_table", "print_targets"]

MIB = 1024 * 1024


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
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
            check(case, r),
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


def print_table(case: Case, results: dict[str, dict[str, Any]], repeat: int) -> None:
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


def print_targets(case: Case, results: dict[str, dict[str, Any]]) -> None:
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
