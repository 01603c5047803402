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

``--remote``: requests in flight against a real OpenAI-compatible server (issue: remote engines
batch concurrent requests). The same batch, ``radlens report <folder> --model remote`` over
``--studies`` copies of the demo radiograph, runs twice in one process, first with
``--concurrency 1`` and then with ``--concurrency N`` (``--in-flight``, default 8), and prints
studies and generations per minute for each and their ratio, with the most generations that
were in flight at once. Without ``--url`` it starts ``transformers serve`` on 127.0.0.1 with the
tiny Gemma3 (tests/models/serving.py); ``--url`` with ``--served-model`` and ``--family`` points
at a running vLLM or SGLang instead:

    python bench/load.py --remote                      # transformers serve, tiny Gemma3, CPU
    python bench/load.py --remote --url http://127.0.0.1:8000/v1 \
        --served-model google/medgemma-1.5-4b-it --family gemma3 --studies 32 --in-flight 16

transformers serve runs continuous batching for text-only models alone ("Only LLMs support
continuous batching", transformers/cli/serving/utils.py ``use_continuous_batching``): an image
model generates one request after another, so against it the ratio shows what overlapping the
rest of the work gains, not batching. The target (at least 4x with 8 in flight) is for a server
that batches (vLLM, SGLang).
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
    remote = parser.add_argument_group("--remote: requests in flight against a server")
    remote.add_argument("--remote", action="store_true", help="measure 1 vs N in flight")
    remote.add_argument("--in-flight", type=int, default=8, help="N (8)")
    remote.add_argument("--studies", type=int, default=16, help="studies in the batch (16)")
    remote.add_argument("--url", default=None, help="a running server (default: start one)")
    remote.add_argument("--served-model", default=None, help="with --url: its model name")
    remote.add_argument("--family", default="gemma3", help="with --url: RADLENS_REMOTE_FAMILY")
    args = parser.parse_args(argv)
    if args.remote and (args.in_flight < 2 or args.studies < args.in_flight):
        parser.error("--remote needs --in-flight >= 2 and --studies >= --in-flight")
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


def _batch_once(folder: Path, out: Path, in_flight: int, max_new_tokens: int) -> float:
    """``radlens report`` over ``folder`` with ``in_flight`` studies at once: its wall time."""
    import contextlib
    import io

    from app.cli import main as radlens

    command = ["report", str(folder), "--model", "remote", "--out", str(out)]
    command += ["--format", ".json", "--concurrency", str(in_flight)]
    command += ["--max-new-tokens", str(max_new_tokens)]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = radlens(command)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"radlens report exited {code}:\n{printed.getvalue()}")
    return wall


def run_remote(args: argparse.Namespace, work: Path) -> int:
    """1 vs N requests in flight through ``radlens report`` against one server."""
    import contextlib
    import shutil

    import models.backends.engine as engine
    from app.server import DEMO_STUDY
    from tests.app.clients import GenerationCounter

    os.environ["RADLENS_AUDIT_LOG"] = str(work / "audit.jsonl")
    folder = work / "studies"
    for index in range(args.studies):
        (folder / f"study{index:03d}").mkdir(parents=True)
        shutil.copyfile(DEMO_STUDY, folder / f"study{index:03d}" / DEMO_STUDY.name)
    with contextlib.ExitStack() as stack:
        if args.url:
            url, served, family = args.url, args.served_model, args.family
            what = f"{url} ({served or 'its first model'}, family {family})"
        else:
            from tests.models import serving
            from tests.models.tiny import TINY_BUILDERS

            tiny = TINY_BUILDERS["gemma3"](work / TINY)
            serve = contextlib.contextmanager(serving.serve)
            server = stack.enter_context(serve({"gemma3": tiny}, work))
            url, served, family = f"{server.url}/v1", str(tiny), "gemma3"
            what = f"transformers serve on 127.0.0.1 (tiny Gemma3, CPU, {served})"
        os.environ.update(RADLENS_REMOTE_URL=url, RADLENS_REMOTE_FAMILY=family)
        if served:
            os.environ["RADLENS_REMOTE_MODEL"] = served
        print(f"server: {what}")
        counters = {}
        opened = engine.open_backend
        try:
            _batch_once(folder, work / "warm-up", 1, args.max_new_tokens)  # not counted
            for in_flight in (1, args.in_flight):
                counter = GenerationCounter()
                engine.open_backend = counter.wrap(opened)
                wall = _batch_once(
                    folder, work / f"out-{in_flight}", in_flight, args.max_new_tokens
                )
                counters[in_flight] = (counter, wall)
        finally:
            engine.open_backend = opened
    rates = {}
    print(
        f"{'in flight':>9}  {'studies':>7}  {'generations':>11}  {'wall s':>7}  "
        f"{'studies/min':>11}  {'requests/min':>12}  {'most at once':>12}"
    )
    for in_flight, (counter, wall) in counters.items():
        rates[in_flight] = counter.started / wall * 60
        print(
            f"{in_flight:>9}  {args.studies:>7}  {counter.started:>11}  {wall:>7.2f}  "
            f"{args.studies / wall * 60:>11.1f}  {rates[in_flight]:>12.1f}  {counter.peak:>12}"
        )
    ratio = rates[args.in_flight] / rates[1]
    print(
        f"requests/minute at {args.in_flight} in flight / at 1: {ratio:.2f}x "
        f"(target >= 4x where the server batches)"
    )
    failed = []
    if counters[args.in_flight][0].peak < 2:
        failed.append(f"at most {counters[args.in_flight][0].peak} request(s) were in flight")
    if counters[1][0].peak != 1:
        failed.append(f"{counters[1][0].peak} requests in flight with --concurrency 1")
    for line in failed:
        print(f"FAIL {line}")
    print(f"checks: {'FAIL' if failed else 'PASS'} (1 in flight, then several)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.remote:
        what = (
            f"radlens report batches of {args.studies} studies at 1 and {args.in_flight} in flight"
        )
    else:
        what = (
            f"model {args.model} ({args.precision or 'auto'}, {args.device or 'default device'}); "
            f"{args.clients} clients x {args.requests_per_client} calls"
        )
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {what}, max_new_tokens "
        f"{args.max_new_tokens}"
    )
    with tempfile.TemporaryDirectory(prefix="radlens-load-", dir=args.workdir) as tmp:
        return (run_remote if args.remote else run)(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
