"""A real ``transformers serve`` for tests: offline, on 127.0.0.1, serving both tiny checkpoints.

See tests/models/test_remote.py for what the server needs and why it is launched this way.
One process serves the whole test session (importing the CLI alone costs seconds of CPU).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.backends.remote import OpenAIBackend
from tests.models.tiny import tiny_checkpoint
from tests.network import free_port

FAMILIES = ("gemma3", "qwen2_5_vl")
REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "OMP_NUM_THREADS": "1",  # tiny models; two threads on a busy 2-core machine crawl
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONPATH": str(REPO_ROOT),
}
# `transformers serve ...` with RadLens' image-only processors registered (see the file).
LAUNCHER = Path(__file__).with_name("serve_launcher.py")
READY_SECONDS = 90


# --------------------------------------------------------------------------- the real server


@dataclass
class Server:
    url: str
    folders: dict[str, Path]
    process: subprocess.Popen[bytes]
    log: Path

    def backend(self, family: str, **kwargs: Any) -> OpenAIBackend:
        return OpenAIBackend(self.url, str(self.folders[family]), **kwargs)

    def fail(self, what: str) -> None:
        tail = self.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"transformers serve {what}:\n{tail}")


def servable_copy(folder: Path, tmp: Path) -> Path:
    """A copy of a Qwen checkpoint whose preprocessor_config.json names no processor class, so
    AutoProcessor picks the image-only class RadLens registers (a named class would win)."""
    copy = tmp / f"{folder.name}-serve"
    shutil.copytree(folder, copy)
    config_path = copy / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    del config["processor_class"]
    config_path.write_text(json.dumps(config))
    return copy


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            server.fail(f"exited early with status {server.process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    server.fail(f"did not answer /health within {READY_SECONDS} s")


def _preload(server: Server) -> None:
    """Load every model now (the route streams progress events, then ready or error)."""
    for folder in server.folders.values():
        with httpx.stream(
            "POST", f"{server.url}/load_model", json={"model": str(folder)}, timeout=60
        ) as response:
            events = [line for line in response.iter_lines() if line.startswith("data:")]
        if not events or json.loads(events[-1][5:]).get("status") != "ready":
            server.fail(f"could not load {folder}: {events[-1:] or response.status_code}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def serve(folders: dict[str, Path], tmp: Path) -> Iterator[Server]:
    """Start ``transformers serve`` on a free port with ``folders`` loaded, yield it, stop it."""
    port = free_port()
    command = [sys.executable, str(LAUNCHER), "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--device", "cpu", "--dtype", "float32"]
    log = tmp / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **SERVE_ENV},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    served = Server(f"http://127.0.0.1:{port}", folders, process, log)
    try:
        _wait_ready(served)
        _preload(served)
        yield served
    finally:
        _stop(process)


def skip_without_openai() -> None:
    if importlib.util.find_spec("openai") is None:
        pytest.skip("transformers serve needs the openai package: pip install -e '.[test]'")


def serve_tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start the server with both tiny checkpoints, yield it, stop it (use from a
    session-scoped fixture)."""
    skip_without_openai()
    tmp = tmp_path_factory.mktemp("serve")
    folders = {family: tiny_checkpoint(family, tmp_path_factory) for family in FAMILIES}
    folders["qwen2_5_vl"] = servable_copy(folders["qwen2_5_vl"], tmp)
    yield from serve(folders, tmp)


def report_and_compare_through(server: Server, family: str) -> None:
    """Draft a report and a comparison of the demo radiograph through ``server`` with the
    remote entry declared as ``family`` (the tasks' own path: prepare, stream, parse)."""
    from dicom_io.loader import load_study
    from models.backends.base import GenerationSettings
    from models.registry.lookup import get_spec
    from models.tasks.compare import compare
    from models.tasks.names import TaskName
    from models.tasks.report import draft_report

    series = load_study(REPO_ROOT / "assets" / "demo" / "chest_pa_cr.dcm").default_series
    folder = str(server.folders[family])
    environ = {
        "RADLENS_REMOTE_URL": server.url,
        "RADLENS_REMOTE_FAMILY": family,
        "RADLENS_REMOTE_MODEL": folder,
    }
    spec = get_spec("remote", environ=environ)
    backend = server.backend(family)
    settings = GenerationSettings(max_new_tokens=6)
    report = draft_report(series, backend, spec, settings=settings, ground=False)
    assert (report.kind, report.model_id) == (TaskName.REPORT, folder)
    assert report.findings
    assert report.raw
    compared = compare(series, series, backend, spec, settings=settings)
    assert (compared.kind, compared.model_id) == (TaskName.COMPARE, folder)
    assert compared.findings
    assert compared.raw
