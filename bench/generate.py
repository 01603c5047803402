"""Generation benchmark: load time, peak memory, time to first token and decode speed.

    python bench/generate.py --model medgemma-1.5-4b --precisions nf4,bf16,int8 --cases cxr,ct85 \\
        --device cuda --record                   # the full-size run on a GPU (see "Time" below)
    python bench/generate.py --model medgemma-1.5-4b --precisions nf4 --device cuda   # nf4 only
    python bench/generate.py --tiny --model qwen2.5-vl-7b --precisions bf16   # CPU smoke run
    bash bench/gpu_all.sh plan    # every family at full size on one lent GPU (bench/README.md)

What it does:

1. Writes the model's checkpoint with random weights into a temporary folder: with ``--tiny``
   the tiny checkpoints of ``tests/models/tiny.py``; otherwise the full-size architecture of the
   registry entry, from the config values of ``bench/generation/configs.py`` (nothing is
   downloaded). The full-size model is instantiated on the meta device in bfloat16,
   materialized on the target device (``to_empty``), filled with random values there
   (normal(0, 0.02) matrices, neutral norms), saved as safetensors, and freed. Its tokenizer,
   chat template and processor files are the tiny checkpoint's (a small trained BPE with the
   real special tokens), with the processor set to the real image geometry (Gemma3: 896 x 896,
   256 soft tokens; Qwen2.5-VL: min/max pixels 3136/12845056; Qwen3-VL: 16 px patches, merge
   2, shortest/longest edge 65536/16777216 pixels); the special-token ids in the
   config are set to that tokenizer's ids (e.g. Gemma3's image token 262144 becomes 9). Only
   ids change, not shapes or work: an embedding lookup costs the same for any id. Text is
   tokenized into more pieces than the real tokenizers would make, so text-only tokens count a
   little higher; image tokens are exact. Generated ids beyond the small tokenizer decode to
   nothing: tokens are counted, never decoded.
2. Prints the parameter count of the written checkpoint (its safetensors headers) beside the
   registry's ``Architecture.params``; the full-size configs reproduce it exactly.
3. Builds the inputs once through the production path: the demo radiograph
   ``assets/demo/chest_pa_cr.dcm`` and a synthetic CT (``tests/synthetic.py``, 300 x 512 x 512 by
   default) through ``models.tasks.prepare.prepare`` (task ``ask``; the CT with
   ``InputOptions(max_slices=85)``, MedGemma's CT recipe).
4. For each precision: loads the folder with ``models.backends.loading.load_model`` (quantization
happens
   at load, as in production) and generates through ``TransformersBackend`` (chat template,
   processor, ``model.generate`` on its worker thread, streamer). Per case: one warm-up
   generation (2 tokens, untimed); first token = best of ``--repeat`` generations with
   ``max_new_tokens=1`` (building the inputs, prefill and one token: what a user waits for);
   decode = ``(N - 1) / (t_N - t_1)`` with ``t_N`` one generation of exactly N tokens
   (``min_new_tokens = max_new_tokens = N``, ``--new-tokens``, 64) and ``t_1`` the best first
   token time.

Columns: ``images`` sent; ``image tok``: the image soft tokens in the processor's input ids (the
placeholder id counted); ``prompt tok``: the whole prompt; ``load s``: ``load_model`` wall time
(weights, quantization and processor); ``peak GB`` (10^9 bytes): on CUDA
``torch.cuda.max_memory_allocated`` over the case's generations (reset at the case's start, so it
includes the weights); on the CPU the process's peak RSS (``VmHWM``, reset per case) above its RSS
before the model was loaded; ``dev GB``: CUDA only, device memory in use after the case less the
free memory before the load (``torch.cuda.mem_get_info``: the driver's view, independent of
PyTorch's counters and nvidia-smi: allocator cache, cuBLAS and bitsandbytes workspaces included).

Targets (the issue's; one H100, MedGemma 4B architecture, nf4): peak memory <= 5 GB with one
image and <= 12 GB with 85 slices, first token <= 0.5 s with one image, decode >= 30 tokens/s
(checked on every nf4 case). The targets line says PASS/FAIL per check, or why they do not apply
(CPU, ``--tiny``, another architecture, no nf4 row). ``--strict`` makes a FAIL exit with 1.

Time (full-size ``medgemma-1.5-4b``, all three precisions, both cases, one H100; an estimate
from the work involved until a run is recorded in bench/RESULTS.md): ~10-20 s writing and
reading the synthetic CT and importing MONAI, ~5 s building the model on the GPU, ~20-60 s
saving 8.6 GB (disk speed), then per precision a ~10-40 s load and ~30-60 s of generations
(the 85-slice prompt, ~22k tokens, is prefilled 5 times: warm-up, 3 first-token runs, decode;
the CPU image processor takes ~1-3 s of each for 85 images) -- about 3-6 minutes in all, under
2-3 minutes with ``--precisions nf4``. Qwen2.5-VL-7B / Lingshu-7B save 16.6 GB and prefill
~28k tokens: expect 5-9 minutes for three precisions. ``--repeat 2`` or ``--cases cxr`` shorten
it. Elapsed seconds are printed with every step. Every local registry id has a full-size
config (bench/generation/configs.py); ``bench/gpu_all.sh`` runs one model per architecture in
about 8 minutes and says which are left out (the 27B and 32B: their bf16 checkpoints are 55 and
67 GB to write on a 64 GiB disk).

``--record`` appends the table, the device (GPU name), torch / transformers / bitsandbytes
versions, the command and the date to bench/RESULTS.md (``--results`` picks another file).
``--layers N`` (a debugging aid) keeps every width and the vocabulary but uses N text and N
vision layers, to try the full-size path on a CPU; its parameter count does not match.

The config values and their sources are in bench/generation/configs.py; the other parts of the
benchmark are the modules of bench/generation/ (see its ``__init__``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

# The imports below need ROOT on the path and the environment above.
from bench.generation.cases import DEMO_CXR, Case, build_cases  # noqa: E402
from bench.generation.checkpoints import (  # noqa: E402
    checkpoint_params,
    write_full_checkpoint,
    write_tiny_checkpoint,
)
from bench.generation.configs import (  # noqa: E402
    FULL_CONFIGS,
    meta_param_counts,
    model_class,
    model_config,
)
from bench.generation.measure import count_image_tokens, measure_case  # noqa: E402
from bench.generation.memory import GB, Memory, release_memory  # noqa: E402
from bench.generation.report import (  # noqa: E402
    Report,
    Row,
    check_targets,
    device_name,
    format_table,
    record,
)
from models.registry.lookup import get_spec  # noqa: E402
from models.registry.spec import ModelSpec  # noqa: E402

# Used by tests/bench/test_generate_smoke.py through this script's namespace.
__all__ = [
    "DEMO_CXR",
    "FULL_CONFIGS",
    "Report",
    "Row",
    "check_targets",
    "checkpoint_params",
    "count_image_tokens",
    "main",
    "meta_param_counts",
    "model_class",
    "model_config",
    "parse_args",
    "row_label",
    "write_full_checkpoint",
]

RESULTS = ROOT / "bench" / "RESULTS.md"
PRECISIONS = ("nf4", "int8", "bf16", "fp32")
CASES = ("cxr", "ct85")


# --------------------------------------------------------------------------- running


class Clock:
    """Prints each step with the seconds since the run began."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f} s] {message}", flush=True)


def run(options: argparse.Namespace) -> Report:
    """Build the checkpoint and the inputs, then measure every precision x case."""
    import torch

    from models.backends.loading import load_model
    from models.backends.local import TransformersBackend

    clock = Clock()
    spec = get_spec(options.model)
    device = _pick_device(options)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="radlens-bench-", dir=options.workdir) as tmp:
        work = Path(tmp)
        clock.log(f"building inputs: {', '.join(options.cases)}")
        cases = build_cases(spec, options.cases, work, options)
        folder = work / "model"
        report = _write_checkpoint(spec, folder, device, options, clock)
        report.device_name = device_name(device)
        memory = Memory(device)
        for precision in options.precisions:
            memory.start_precision()
            clock.log(f"loading {precision} on {device}")
            loaded = load_model(folder, precision, device)
            backend = TransformersBackend(loaded, spec.id)
            clock.log(f"loaded in {loaded.load_seconds:.1f} s")
            for case in cases:
                row = _measure(
                    spec, backend, case, memory, precision, loaded.load_seconds, options
                )
                report.rows.append(row)
                clock.log(
                    f"{precision} {case.name}: first token {row.first_token_s:.3f} s, "
                    f"decode {row.decode_tok_s:.1f} tok/s, peak {row.peak_gb:.2f} GB"
                )
            del backend, loaded
            release_memory()
    report.targets = check_targets(report, spec)
    report.seconds = time.perf_counter() - clock.start
    return report


def _pick_device(options: argparse.Namespace) -> str:
    """``--device``, else cuda when there is one (not with ``--tiny``); ``cuda`` is ``cuda:0``."""
    import torch

    device: str = options.device or (
        "cuda" if torch.cuda.is_available() and not options.tiny else "cpu"
    )
    if device.startswith("cuda") and ":" not in device:
        device = "cuda:0"
    return device


def _measure(
    spec: ModelSpec,
    backend: Any,
    case: Case,
    memory: Memory,
    precision: str,
    load_s: float,
    options: argparse.Namespace,
) -> Row:
    """The table row of ``case`` on the loaded ``backend``."""
    values = measure_case(
        backend, case, memory, new_tokens=options.new_tokens, repeat=options.repeat
    )
    return Row(
        model=row_label(spec.id, options),
        precision=precision,
        case=case.name,
        images=case.images,
        load_s=load_s,
        device=memory.device,
        **values,
    )


def row_label(model_id: str, options: argparse.Namespace) -> str:
    """The table's model cell: the id, marked when it is not the registry's architecture."""
    if options.tiny:
        return f"{model_id} (tiny)"
    if options.layers is not None:
        return f"{model_id} ({options.layers} layers)"
    return model_id


def _write_checkpoint(
    spec: ModelSpec, folder: Path, device: str, options: argparse.Namespace, clock: Clock
) -> Report:
    registry = spec.architecture.params if spec.architecture else None
    if options.tiny:
        clock.log(f"writing the tiny {spec.family.value} checkpoint")
        write_tiny_checkpoint(spec, folder)
        built = checkpoint_params(folder)
        print(f"params: {built:,} in the tiny checkpoint (registry's full-size: {registry:,})")
    else:
        clock.log(f"building the full-size {spec.id} architecture on {device} (random bf16)")
        in_memory, _vision = write_full_checkpoint(spec, folder, device, layers=options.layers)
        built = checkpoint_params(folder)
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / GB
        clock.log(f"saved {size:.2f} GB of safetensors")
        verdict = "match" if built == registry else "MISMATCH"
        if options.layers is not None:
            verdict = f"not comparable (--layers {options.layers})"
        print(
            f"params: built {built:,} (in memory {in_memory:,}), registry Architecture.params "
            f"{registry:,}: {verdict}"
        )
    return Report(spec.id, options.tiny, device, "", built, registry)


# --------------------------------------------------------------------------- CLI


def _csv(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [v.strip().lower() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise argparse.ArgumentTypeError(
                f"choose from {', '.join(allowed)} (comma-separated), not {text!r}"
            )
        return values

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--model", default="medgemma-1.5-4b", help="registry id")
    parser.add_argument("--precisions", type=_csv(PRECISIONS), default=["nf4", "bf16", "int8"])
    parser.add_argument("--cases", type=_csv(CASES), default=list(CASES))
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: cuda if any)"
    )
    parser.add_argument("--tiny", action="store_true", help="tests/models/tiny.py checkpoints")
    parser.add_argument("--new-tokens", type=int, default=64, help="N for the decode speed")
    parser.add_argument("--repeat", type=int, default=3, help="first-token runs (best kept)")
    parser.add_argument("--ct-slices", type=int, default=300, help="synthetic CT slices")
    parser.add_argument("--ct-size", type=int, default=512, help="synthetic CT rows = columns")
    parser.add_argument("--max-slices", type=int, default=85, help="slices sent for the CT")
    parser.add_argument("--layers", type=int, default=None, help="debug: N layers, real widths")
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file --record appends to")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    options = parser.parse_args(argv)
    if options.new_tokens < 2 or options.repeat < 1:
        parser.error("--new-tokens must be >= 2 and --repeat >= 1")
    return options


def main(argv: Sequence[str] | None = None) -> Report:
    """Run the benchmark, print the table (and record it); returns the report for tests."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(args)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    report = run(options)
    print()
    print(format_table(report))
    print(f"{report.seconds:.0f} s in all")
    if options.record:
        record(report, options.results, args)
        print(f"recorded in {options.results}")
    return report


if __name__ == "__main__":
    result = main()
    sys.exit(1 if result.failed and "--strict" in sys.argv else 0)
