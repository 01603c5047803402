"""The generation benchmark's report: its rows, the targets it is judged by, the printed table
and the record appended to bench/RESULTS.md (columns and targets: see bench/generate.py)."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.families.base import Family
from models.registry.spec import ModelSpec

__all__ = [
    "TARGET_GPU",
    "Report",
    "Row",
    "check_targets",
    "device_name",
    "format_table",
    "record",
    "versions",
]

TARGET_GPU = "H100"


@dataclass
class Row:
    """One line of the table: a precision and case measured on one model."""

    model: str
    precision: str
    case: str
    images: int
    image_tokens: int
    prompt_tokens: int
    load_s: float
    peak_gb: float
    dev_gb: float | None
    first_token_s: float
    decode_tok_s: float
    new_tokens: int
    device: str


@dataclass
class Report:
    """A run: the model, the device, the parameter counts, the rows and the targets' lines."""

    model: str
    tiny: bool
    device: str
    device_name: str
    built_params: int
    registry_params: int | None
    rows: list[Row] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(line.endswith("FAIL") for line in self.targets)


def device_name(device: str) -> str:
    """The GPU's name, or the CPU's model and core count."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {model}, {os.cpu_count()} cores"


# --------------------------------------------------------------------------- targets


def check_targets(report: Report, spec: ModelSpec) -> list[str]:
    """PASS/FAIL lines for the issue's targets, or one line saying why they do not apply."""
    scope = "targets are for one H100, the MedGemma 4B architecture, nf4"
    if not report.device.startswith("cuda"):
        return [f"targets: not applicable on CPU (a smoke run; {scope})"]
    if report.tiny:
        return [f"targets: not applicable to --tiny ({scope})"]
    if spec.family is not Family.GEMMA3:
        return [f"targets: not applicable to {spec.id} ({scope})"]
    rows = [row for row in report.rows if row.precision == "nf4"]
    if not rows:
        return [f"targets: not applicable without an nf4 row ({scope})"]
    lines = []
    if TARGET_GPU not in report.device_name:
        lines.append(f"targets: measured on {report.device_name}; {scope}")
    for row in rows:
        checks: list[tuple[str, float, str, float, str]] = [
            ("decode", row.decode_tok_s, ">=", 30.0, "tok/s")
        ]
        if row.case == "cxr":
            checks += [
                ("peak", row.peak_gb, "<=", 5.0, "GB"),
                ("first token", row.first_token_s, "<=", 0.5, "s"),
            ]
        elif row.images == 85:
            checks.append(("peak", row.peak_gb, "<=", 12.0, "GB"))
        for name, value, op, limit, unit in checks:
            ok = value >= limit if op == ">=" else value <= limit
            verdict = "PASS" if ok else "FAIL"
            lines.append(
                f"target nf4 {row.case} {name}: {value:.2f} {unit} {op} {limit:g} {verdict}"
            )
    return lines


# --------------------------------------------------------------------------- output


_COLUMNS: tuple[tuple[str, int, Callable[[Row], str]], ...] = (
    ("model", 24, lambda r: r.model),
    ("prec", 5, lambda r: r.precision),
    ("case", 5, lambda r: r.case),
    ("images", 6, lambda r: str(r.images)),
    ("image tok", 9, lambda r: f"{r.image_tokens:,}"),
    ("prompt tok", 10, lambda r: f"{r.prompt_tokens:,}"),
    ("load s", 7, lambda r: f"{r.load_s:.2f}"),
    ("peak GB", 7, lambda r: f"{r.peak_gb:.2f}"),
    ("dev GB", 6, lambda r: "-" if r.dev_gb is None else f"{r.dev_gb:.2f}"),
    ("1st tok s", 9, lambda r: f"{r.first_token_s:.3f}"),
    ("decode tok/s", 12, lambda r: f"{r.decode_tok_s:.1f}"),
)


def format_table(report: Report) -> str:
    def line(cells: Sequence[str]) -> str:
        parts = []
        for (name, width, _), cell in zip(_COLUMNS, cells, strict=True):
            parts.append(
                cell.ljust(width) if name in ("model", "prec", "case") else cell.rjust(width)
            )
        return "  ".join(parts).rstrip()

    out = [line([name for name, _, _ in _COLUMNS])]
    out += [line([fmt(row) for _, _, fmt in _COLUMNS]) for row in report.rows]
    new = report.rows[0].new_tokens if report.rows else 0
    if report.device.startswith("cuda"):
        peak = "torch.cuda.max_memory_allocated over the case (weights included)"
        dev = "dev GB: mem_get_info in use after the case less free before the load"
    else:
        peak = "process RSS increase (peak RSS over the RSS before the load; no GPU)"
        dev = "dev GB: CUDA only"
    out.append(f"device: {report.device_name}; peak GB: {peak}; {dev}")
    out.append(
        f"first token: best wall time of a 1-token generation (inputs, prefill, 1 token); "
        f"decode: (N - 1) / (t_N - t_1), N = {new}"
    )
    out.extend(report.targets)
    return "\n".join(out)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    parts = []
    for name in ("torch", "transformers", "bitsandbytes", "accelerate"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} -")
    if torch.version.cuda:
        parts.append(f"CUDA {torch.version.cuda}")
    return ", ".join(parts)


def record(report: Report, path: Path, argv: Sequence[str]) -> None:
    """Append the table with the device, versions, command and date to ``path``."""
    today = datetime.date.today().isoformat()
    kind = "CPU smoke numbers, not targets" if not report.device.startswith("cuda") else ""
    title = f"## {today} - {report.device_name} - {report.model}"
    if report.tiny:
        title += " (tiny)"
    command = "python bench/generate.py " + shlex.join(argv)
    text = [
        "",
        title + (f" ({kind})" if kind else ""),
        "",
        f"{versions()}; {report.seconds:.0f} s in all.",
        "",
        f"`{command}`",
        "",
        "```text",
        format_table(report),
        "```",
        "",
    ]
    with path.open("a", encoding="utf-8") as f:
        f.write("\n".join(text))
