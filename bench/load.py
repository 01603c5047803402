"""Many clients at once: throughput and latency of the scripting API under load.

Starts a RadLens server in this process (``build_ui(Services(..., api=True))`` launched with
RadLens' queue settings on a free 127.0.0.1 port, Gradio's temporary files and the audit log in
a private temporary folder), writes one small synthetic CT study per client, then runs
``--clients`` ``gradio_client`` clients in threads at once. Each uploads its own study with
``handle_file`` and calls ``/ask`` and ``/draft_report`` in turn, ``--requests-per-client``
calls in all. The clients, the studies and the checks are ``tests/app/clients.py``, which the
load test (``tests/app/test_load.py``) runs at a smaller size.

Prints the requests, errors, wall time, requests per minute, nearest-rank p50 / p95 latency per
request (client side: upload, queueing, preparation, generation and the answer), the most
requests in flight and the most generations that ran at once (counted around the backend the
server opened; the queue runs one model task at a time, so it must be 1), the time the model
was busy, and this process's peak RSS while the clients ran (server and client threads).

Checks (exit 1 when one fails): every call answered; every answer's technique and every
report's study key are those of the client's own study, and the answer repeats the client's
question (the report its indication); at most one generation at once; one audit line per call
with the right study key and task.

    python bench/load.py                               # 8 clients x 3 calls, tiny Gemma3, CPU
    python bench/load.py --clients 16 --requests-per-client 5 --max-new-tokens 16
    python bench/load.py --model /models/medgemma-1.5-4b-it --precision nf4 --device cuda

``--model tiny-gemma3`` (the default) builds the tiny random-weight Gemma3 of
``tests/models/tiny.py`` in the temporary folder and runs it in fp32 on the CPU: its latency is
RadLens' and Gradio's plumbing and the queue, not a real model's speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from tests.memory import peak_bytes, reset_peak  # noqa: E402 - needs ROOT on the path

TINY = "tiny-gemma3"
MIB = 1024 * 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--clients", type=int, default=8, help="clients at once (8)")
    parser.add_argument("--requests-per-client", type=int, default=3, help="calls each (3)")
    parser.add_argument("--max-new-tokens", type=int, default=8, help="per answer (8)")
    parser.add_argument("--model", default=TINY, help=f"{TINY} or a checkpoint folder")
    parser.add_argument("--precision", default=None, help="default: fp32 for tiny, else auto")
    parser.add_argument("--device", default=None, help="default: cpu for tiny, else the GPU")
    parser.add_argument("--size", type=int, default=32, help="CT rows = columns of study 0")
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.requests_per_client < 1 or args.max_new_tokens < 1:
        parser.error("--clients, --requests-per-client and --max-new-tokens must be >= 1")
    if args.model != TINY and not Path(args.model).is_dir():
        parser.error(f"--model must be {TINY} or a checkpoint folder, not {args.model!r}")
    if args.model == TINY:
        args.precision = args.precision or "fp32"
        args.device = args.device or "cpu"
    return args


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(args: argparse.Namespace, work: Path) -> int:
    """Serve, load and report; returns the exit code."""
    gradio_temp = work / "gradio"
    gradio_temp.mkdir(mode=0o700)
    os.environ["GRADIO_TEMP_DIR"] = str(gradio_temp)
    audit = work / "audit.jsonl"
    os.environ["RADLENS_AUDIT_LOG"] = str(audit)

    from gradio_client import Client, handle_file

    from app.server import DEMO_STUDY
    from app.services import Services
    from app.ui_events import GPU
    from models.backends.engine import open_backend
    from tests.app import clients as load

    start = time.perf_counter()
    model = Path(args.model)
    if args.model == TINY:
        from tests.models.tiny import TINY_BUILDERS

        model = TINY_BUILDERS["gemma3"](work / TINY)
    studies = load.write_studies(work / "studies", args.clients, size=args.size)
    counter = load.GenerationCounter()
    services = Services(
        initial_study=DEMO_STUDY,
        model_id=str(model),
        precision=args.precision or "auto",
        device=args.device,
        api=True,
        open_backend=counter.wrap(open_backend),
    )
    url, blocks = load.start_server(services)
    try:
        print(f"set-up (checkpoint, studies, server): {time.perf_counter() - start:.1f} s")
        warm = time.perf_counter()
        files = [handle_file(str(p)) for p in studies[0].paths]
        client = Client(url, verbose=False, download_files=False)
        client.predict(files, "Warm-up.", args.max_new_tokens, api_name="/ask")
        print(f"warm-up /ask (model load and first answer): {time.perf_counter() - warm:.1f} s")
        before = len(_audit_lines(audit))
        reset_peak()
        calls = load.run_clients(url, studies, args.requests_per_client, args.max_new_tokens)
        peak = peak_bytes()
    finally:
        blocks.close()

    figures = load.figures(calls)
    limit = int(GPU["concurrency_limit"])
    for line in figures.lines():
        print(line)
    print(f"most requests in flight (client side): {load.most_in_flight(calls)}")
    print(f"most generations at once: {counter.peak} (queue limit {limit})")
    print(
        f"backend generating: {counter.busy_s:.2f} s of {figures.wall_s:.2f} s wall "
        f"({100 * counter.busy_s / figures.wall_s:.0f} %)"
    )
    print(
        f"peak RSS while the clients ran: {peak / MIB:.0f} MiB (server and clients, one process)"
    )

    failed = load.problems(calls, args.max_new_tokens)
    failed += load.audit_problems(_audit_lines(audit)[before:], calls)
    if counter.peak > limit:
        failed.append(f"{counter.peak} generations ran at once; the queue allows {limit}")
    if counter.started != len(calls) + 1:  # the warm-up too
        failed.append(f"{counter.started} generations for {len(calls) + 1} calls")
    for line in failed:
        print(f"FAIL {line}")
    print(f"checks: {'FAIL' if failed else 'PASS'} (own study, one at a time, audit lines)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; model {args.model} "
        f"({args.precision or 'auto'}, {args.device or 'default device'}); {args.clients} "
        f"clients x {args.requests_per_client} calls, max_new_tokens {args.max_new_tokens}"
    )
    with tempfile.TemporaryDirectory(prefix="radlens-load-", dir=args.workdir) as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
