"""How long `radlens serve` takes to answer HTTP, against a bare Gradio app of the same kind.

Each run starts a fresh process on a free 127.0.0.1 port and polls ``/`` until it answers 200;
the time from process start to that answer is the start-up time. The peer is a bare Gradio app
with the same component types (file upload, dropdown, image, slider, radio, number, checkbox,
button, chatbot, textbox) and no RadLens code, started the same way: the ratio shows what
RadLens adds on top of Gradio itself (torch, transformers and MONAI must not be imported until a
model is used). Target on this 2-core machine: RadLens answers within 5 s.

    python bench/startup.py              # best of 3 each, round robin
    python bench/startup.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BARE_APP = """
import gradio as gr
with gr.Blocks(title="bare") as demo:
    with gr.Row():
        with gr.Column():
            gr.File(file_count="multiple")
            gr.Dropdown(choices=["a", "b"])
            gr.Markdown("info")
        with gr.Column():
            gr.Image(type="numpy", interactive=False)
            gr.Slider(0, 10, step=1)
            gr.Radio(["acquired", "axial"])
            gr.Number()
            gr.Checkbox()
            gr.Button("Reset")
            gr.Chatbot()
            gr.Textbox()
demo.queue().launch(server_name="127.0.0.1", server_port={port}, quiet=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _time_to_http(command: list[str], port: int, timeout: float) -> float:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - start < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:3]} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise RuntimeError(f"no HTTP answer within {timeout} s")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _radlens(port: int) -> list[str]:
    script = Path(sys.executable).with_name("radlens")
    return [str(script), "serve", "--port", str(port)]


def _bare(port: int, folder: Path) -> list[str]:
    app = folder / "bare_app.py"
    app.write_text(BARE_APP.replace("{port}", str(port)), encoding="utf-8")
    return [sys.executable, str(app)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"radlens serve": [], "bare gradio": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeat):
            for name in times:
                port = _free_port()
                command = _radlens(port) if name == "radlens serve" else _bare(port, Path(tmp))
                times[name].append(_time_to_http(command, port, args.timeout))
    best = {name: min(values) for name, values in times.items()}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; best of {args.repeat}")
    print(f"{'app':<16}{'best s':>8}{'median s':>10}{'vs bare':>9}")
    for name, values in times.items():
        median = sorted(values)[len(values) // 2]
        print(
            f"{name:<16}{best[name]:>8.2f}{median:>10.2f}{best[name] / best['bare gradio']:>9.2f}"
        )
    verdict = "PASS" if best["radlens serve"] <= 5.0 else "FAIL"
    print(
        f"target: radlens serve answers HTTP within 5 s: {verdict} ({best['radlens serve']:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
