"""OpenAIBackend against a real ``transformers serve`` and against misbehaving HTTP servers.

One ``transformers serve`` process runs for this module, fully offline (``HF_HUB_OFFLINE=1``), on
a free port of 127.0.0.1, serving both tiny checkpoints by folder path (requests name the folder
as their ``model``; both are loaded through its ``/load_model`` route before the tests), and is
killed at the end. One process rather than one per model, pinned with ``FORCE_MODEL``: importing
the CLI alone takes seconds of CPU.

What ``transformers serve`` needs here:

- The ``serving`` extra: fastapi, uvicorn, pydantic, starlette, rich (all there with gradio) and
  ``openai`` (for its request/response types); without openai the CLI refuses to start.
- Its processor is ``AutoProcessor.from_pretrained(folder)``. For Qwen2.5-VL that is the stock
  ``Qwen2_5_VLProcessor``, whose video processor needs torchvision, which does not work beside
  a CPU-only torch. So the server is started by a launcher that registers RadLens' image-only
  processor with AutoProcessor and then runs the CLI's own entry point
  (``transformers.cli.transformers.main``), and the Qwen folder is served from a copy whose
  ``preprocessor_config.json`` does not name the stock class (a named class wins over the
  registry). The Gemma3 folder is served as it is.
- ``HF_HUB_DISABLE_UPDATE_CHECK=1``: the CLI otherwise asks PyPI for a newer transformers.
- Random weights end whenever they like, and the OpenAI API has no minimum length; the server
  takes a ``generation_config`` JSON string (its extension), sent through ``extra_body``.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from models.backends.base import CancelToken, GenerationRequest, GenerationSettings, Result, drain
from models.backends.loading import load_model
from models.backends.local import TransformersBackend
from models.backends.remote import OpenAIBackend
from models.errors import RemoteServerError, RemoteTimeoutError
from models.inputs.messages import ImagePart, Message, TextPart, to_transformers
from tests.models.serving import Server, free_port
from tests.models.tiny import tiny_checkpoint
from tests.network import serving

pytestmark = pytest.mark.timeout(120)

FAMILIES = ("gemma3", "qwen2_5_vl")


@pytest.fixture(scope="module")
def server(transformers_server: Server) -> Server:
    return transformers_server


@pytest.fixture(scope="module")
def local_fp32(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The same checkpoints in this process, fp32 like the server, to compare answers with."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {
        family: TransformersBackend(
            load_model(tiny_checkpoint(family, tmp_path_factory), "fp32", device="cpu"), family
        )
        for family in FAMILIES
    }
    torch.set_num_threads(threads)


def _pixels(height: int = 84, width: int = 112) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _request(text: str = "Describe the image.", *, image: bool = True, **settings: Any) -> Any:
    parts: tuple[ImagePart | TextPart, ...] = (TextPart(text),)
    if image:
        parts = (ImagePart(_pixels(), 0), *parts)
    return GenerationRequest([Message("user", parts)], GenerationSettings(**settings))


def _exactly(n: int) -> dict[str, str]:
    """transformers serve's extension forcing n new tokens (random weights end at random)."""
    return {"generation_config": json.dumps({"max_new_tokens": n, "min_new_tokens": n})}


def _without(text: str, tokenizer: Any) -> str:
    """``text`` without the tokenizer's special tokens."""
    for token in tokenizer.all_special_tokens:
        text = text.replace(token, "")
    return text


def _local_prompt_tokens(backend: TransformersBackend, request: GenerationRequest) -> int:
    inputs = backend.loaded.processor.apply_chat_template(
        to_transformers(request.messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    return int(inputs["input_ids"].shape[-1])


@pytest.mark.parametrize("family", FAMILIES)
def test_streamed_answer_has_n_tokens_and_matches_local(
    server: Server, local_fp32: dict[str, TransformersBackend], family: str
) -> None:
    request = _request(max_new_tokens=12, min_new_tokens=12)
    deltas, result = drain(server.backend(family, extra_body=_exactly(12)).stream(request))
    local = local_fp32[family].generate(request)
    assert (result.completion_tokens, result.finish_reason) == (12, "length")
    assert (
        result.prompt_tokens
        == local.prompt_tokens
        == _local_prompt_tokens(local_fp32[family], request)
    )
    assert deltas
    assert all(deltas)
    assert "".join(deltas) == result.text
    # The same fp32 greedy tokens, decoded by another streamer. Two known differences: a
    # trailing incomplete UTF-8 sequence (the server's DecodeStream holds it back,
    # TextIteratorStreamer shows U+FFFD), and, for Qwen, special tokens the model emits (the
    # server's Qwen response parser streams them, e.g. a random <|image_pad|>).
    tokenizer = local_fp32[family].loaded.processor.tokenizer
    assert _without(result.text, tokenizer) == local.text.rstrip("\ufffd")
    assert result.model_id == str(server.folders[family])
    assert 0 < result.first_token_seconds <= result.seconds  # type: ignore[operator]


@pytest.mark.parametrize("family", FAMILIES)
def test_server_counts_image_tokens_like_the_local_processor(
    server: Server, local_fp32: dict[str, TransformersBackend], family: str
) -> None:
    backend = server.backend(family)
    with_image, without = _request(max_new_tokens=1), _request(image=False, max_new_tokens=1)
    remote_with = backend.generate(with_image).prompt_tokens
    remote_without = backend.generate(without).prompt_tokens
    assert remote_with == _local_prompt_tokens(local_fp32[family], with_image)
    assert remote_without == _local_prompt_tokens(local_fp32[family], without)
    assert remote_with is not None
    assert remote_without is not None
    # 84x112 px: 16 Gemma3 soft tokens; 12 Qwen pads (a 6x8 patch grid merged 2x2); + markers.
    assert remote_with - remote_without >= {"gemma3": 16, "qwen2_5_vl": 12}[family] + 2


def test_non_streamed_json_answer_is_read(server: Server) -> None:
    request = _request(max_new_tokens=6, min_new_tokens=6)
    streamed = server.backend("gemma3", extra_body=_exactly(6)).generate(request)
    plain = server.backend("gemma3", extra_body={**_exactly(6), "stream": False}).generate(request)
    assert (plain.completion_tokens, plain.finish_reason) == (6, "length")
    assert plain.prompt_tokens == streamed.prompt_tokens
    # The JSON answer decodes all tokens at once, so a trailing partial character shows as
    # U+FFFD where the stream held it back.
    assert plain.text.rstrip("\ufffd") == streamed.text.rstrip("\ufffd")
    assert plain.text


def test_seed_reproduces_a_sampled_answer(server: Server) -> None:
    # Qwen, because on sampled random Gemma tokens the server's DecodeStream can fail ("Invalid
    # prefix encountered while decoding stream"; the client reports it as it should). Qwen's
    # generation_config says top_k=1, which the OpenAI API cannot override and which makes any
    # temperature greedy: the server's generation_config extension switches it off.
    config = {"max_new_tokens": 10, "min_new_tokens": 10, "top_k": 0}
    backend = server.backend("qwen2_5_vl", extra_body={"generation_config": json.dumps(config)})

    def sample(seed: int) -> str:
        settings = {"max_new_tokens": 10, "min_new_tokens": 10, "temperature": 1.0, "seed": seed}
        return backend.generate(_request(**settings)).text

    assert sample(3) == sample(3) != sample(4)


def test_unknown_model_returns_the_servers_error(server: Server) -> None:
    """Offline, the server fails to load it; FastAPI answers 500 with its stock text."""
    backend = OpenAIBackend(server.url, "radlens-test/no-such-model")
    with pytest.raises(RemoteServerError, match=r"HTTP 500: Internal Server Error") as info:
        backend.generate(_request(max_new_tokens=2))
    assert info.value.status_code == 500
    assert f"{server.url}/v1/chat/completions" in str(info.value)


def test_field_the_server_rejects_returns_its_error_text(server: Server) -> None:
    backend = server.backend("gemma3", extra_body={"bogus_option": 1})
    with pytest.raises(RemoteServerError, match=r"HTTP 422: Unexpected fields .*bogus_option"):
        backend.generate(_request(max_new_tokens=2))


def test_cancel_closes_the_stream_and_server_serves_the_next(server: Server) -> None:
    backend = server.backend("qwen2_5_vl", extra_body=_exactly(400))
    cancel = CancelToken()
    stream = backend.stream(_request(max_new_tokens=400, min_new_tokens=400), cancel)
    deltas: list[str] = []
    while True:
        try:
            deltas.append(next(stream))
        except StopIteration as stop:
            result: Result = stop.value
            break
        if len(deltas) == 2:
            cancel.cancel()
    assert (result.finish_reason, result.text) == ("cancelled", "".join(deltas))
    assert len(deltas) == 2
    follow_up = server.backend("qwen2_5_vl", extra_body=_exactly(3))
    assert follow_up.generate(_request(max_new_tokens=3)).completion_tokens == 3


# --------------------------------------------------------------------------- fault servers


class _FakeHandler(BaseHTTPRequestHandler):
    """Behaves as the first path segment says: /ok/v1/chat/completions, /hang/..., etc."""

    server: _FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.requests.append((self.path, dict(self.headers), json.loads(body)))
        behaviour = self.path.strip("/").split("/")[0]
        getattr(self, f"_{behaviour}")()

    def _head(self, status: int, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Connection", "close")
        self.end_headers()

    def _events(self, *lines: str) -> None:
        self._head(200, "text/event-stream; charset=utf-8")
        for line in lines:
            self.wfile.write(f"{line}\n\n".encode())
            self.wfile.flush()

    @staticmethod
    def _chunk(content: str | None = None, finish: str | None = None) -> str:
        choice: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": finish}
        if content is not None:
            choice["delta"]["content"] = content
        return "data: " + json.dumps({"object": "chat.completion.chunk", "choices": [choice]})

    def _ok(self) -> None:
        usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
        self._events(
            self._chunk(""),
            ": keep-alive",
            self._chunk("Hello"),
            "event: message\ndata: " + self._chunk(" world")[6:],
            self._chunk("!", finish="stop"),
            "data: " + json.dumps({"choices": [], "usage": usage}),
            "data: [DONE]",
        )

    def _hang(self) -> None:
        self.server.release.wait(30)

    def _hang_mid(self) -> None:
        self._events(self._chunk("partial"))
        self.server.release.wait(30)

    def _drop(self) -> None:
        self.close_connection = True  # say nothing, hang up

    def _drop_mid(self) -> None:
        self._events(self._chunk("The lungs"), self._chunk(" are"))

    def _error500(self) -> None:
        body = {"error": {"message": "CUDA out of memory on the server", "type": "server_error"}}
        self._head(500, "application/json")
        self.wfile.write(json.dumps(body).encode())

    def _error503(self) -> None:
        self._head(503, "text/plain")
        self.wfile.write(b"overloaded,\n try later")

    def _html(self) -> None:
        self._head(200, "text/html")
        self.wfile.write(b"<html><body>Welcome to nginx!</body></html>")

    def _badjson(self) -> None:
        self._events(self._chunk("ok"), "data: not json {")

    def _errevent(self) -> None:
        self._events(self._chunk("ok"), 'data: {"error": "generation crashed: boom"}')


class _FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.release = threading.Event()

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{behaviour}"


@pytest.fixture(scope="module")
def fake() -> Iterator[_FakeServer]:
    server = _FakeServer()
    with serving(server, lambda: server.release.set()):
        yield server


def test_request_body_and_stream_parsing(fake: _FakeServer) -> None:
    backend = OpenAIBackend(fake.url("ok"), "medgemma-4b", api_key="secret-key")
    settings = {"max_new_tokens": 64, "temperature": 0.5, "top_p": 0.9, "seed": 5}
    deltas, result = drain(backend.stream(_request("Where?", **settings)))
    assert deltas == ["Hello", " world", "!"]
    assert (result.text, result.finish_reason) == ("Hello world!", "stop")
    assert (result.prompt_tokens, result.completion_tokens) == (11, 3)
    assert result.model_id == "medgemma-4b"
    path, headers, body = fake.requests[-1]
    assert path == "/ok/v1/chat/completions"
    assert headers["Authorization"] == "Bearer secret-key"
    assert "secret-key" not in repr(backend)
    expected = {
        "model": "medgemma-4b",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
        "temperature": 0.5,
        "top_p": 0.9,
        "seed": 5,
    }
    assert {k: body[k] for k in expected} == expected
    (message,) = body["messages"]
    image, text = message["content"]
    assert (message["role"], text) == ("user", {"type": "text", "text": "Where?"})
    prefix = "data:image/png;base64,"
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith(prefix)
    png = base64.b64decode(image["image_url"]["url"][len(prefix) :])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), _pixels())


@pytest.mark.parametrize(
    ("base", "path"),
    [("{url}", "/ok/v1/chat/completions"), ("{url}/v1/", "/ok/v1/chat/completions")],
    ids=["root", "v1"],
)
def test_base_url_with_or_without_v1(fake: _FakeServer, base: str, path: str) -> None:
    backend = OpenAIBackend(base.format(url=fake.url("ok")), "m")
    assert backend.generate(_request(image=False)).text == "Hello world!"
    assert fake.requests[-1][0] == path


def test_hung_server_times_out_quickly(fake: _FakeServer) -> None:
    backend = OpenAIBackend(fake.url("hang"), "m", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(RemoteTimeoutError, match=r"sent nothing for 0.5 s \(timeout\)") as info:
        backend.generate(_request(image=False))
    assert time.monotonic() - start < 5
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, RemoteServerError)


def test_server_hanging_mid_stream_times_out(fake: _FakeServer) -> None:
    backend = OpenAIBackend(fake.url("hang_mid"), "m", timeout=0.5)
    stream = backend.stream(_request(image=False))
    assert next(stream) == "partial"
    with pytest.raises(RemoteTimeoutError, match="hung or overloaded"):
        next(stream)


def test_cancel_ends_a_silent_stream_at_once(fake: _FakeServer) -> None:
    """A Stop while the server sends nothing does not wait for the (long) read timeout."""
    backend = OpenAIBackend(fake.url("hang_mid"), "m", timeout=30)
    cancel = CancelToken()
    timer = threading.Timer(0.3, cancel.cancel)
    start = time.monotonic()
    timer.start()
    result = backend.generate(_request(image=False), cancel)
    assert time.monotonic() - start < 5
    assert (result.finish_reason, result.text) == ("cancelled", "partial")


def test_dropped_connection_is_reported(fake: _FakeServer) -> None:
    with pytest.raises(RemoteServerError, match="dropped before the answer was complete"):
        OpenAIBackend(fake.url("drop"), "m").generate(_request(image=False))


def test_stream_cut_short_is_reported(fake: _FakeServer) -> None:
    stream = OpenAIBackend(fake.url("drop_mid"), "m").stream(_request(image=False))
    assert next(stream) + next(stream) == "The lungs are"
    with pytest.raises(
        RemoteServerError, match="closed the stream before the answer was complete"
    ):
        next(stream)


@pytest.mark.parametrize(
    ("behaviour", "status", "message"),
    [
        ("error500", 500, "HTTP 500: CUDA out of memory on the server"),
        ("error503", 503, "HTTP 503: overloaded, try later"),
    ],
    ids=["json-500", "text-503"],
)
def test_error_status_carries_the_servers_text(
    fake: _FakeServer, behaviour: str, status: int, message: str
) -> None:
    backend = OpenAIBackend(fake.url(behaviour), "m")
    with pytest.raises(RemoteServerError, match=message) as info:
        backend.generate(_request(image=False))
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("html", "sent text/html instead of an event stream.*Welcome to nginx"),
        ("badjson", "not a JSON object: 'not json {'"),
        ("errevent", "reported an error while generating: generation crashed: boom"),
    ],
    ids=["html", "bad-json", "error-event"],
)
def test_garbage_is_reported(fake: _FakeServer, behaviour: str, message: str) -> None:
    with pytest.raises(RemoteServerError, match=message):
        OpenAIBackend(fake.url(behaviour), "m").generate(_request(image=False))


def test_refused_connection_is_reported() -> None:
    backend = OpenAIBackend(f"http://127.0.0.1:{free_port()}", "m", connect_timeout=2)
    with pytest.raises(RemoteServerError, match=r"Cannot connect to .* Is the server running"):
        backend.generate(_request(image=False))


def test_min_new_tokens_needs_a_server_field() -> None:
    backend = OpenAIBackend("http://127.0.0.1:9", "m")
    with pytest.raises(ValueError, match=r"cannot enforce min_new_tokens=4.*extra_body"):
        backend.generate(_request(max_new_tokens=8, min_new_tokens=4))


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8000", "ftp://host/v1", ""], ids=["bare", "ftp", "empty"]
)
def test_bad_base_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="'base_url' must be an http"):
        OpenAIBackend(url, "m")


# --------------------------------------------------------------------------- the served family
#
# Issue 16 item 9: the remote entry declares the served model's family (RADLENS_REMOTE_FAMILY),
# so a served MedGemma gets MedGemma's recipe (square padding, the three CT windows) and a
# served Qwen its smart resize, within the server's own max_pixels (RADLENS_REMOTE_MAX_PIXELS):
# the Qwen2-VL / Qwen2.5-VL image processor's default is 28 * 28 * 1280 (transformers 5.24.0,
# models/qwen2_vl/image_processing_qwen2_vl.py, ``size``), and smart_resize leaves an image
# alone when its sides are multiples of 28 and its area is within min/max_pixels, so an image
# resized here within the server's limit keeps the frame its bbox_2d pixels refer to.


def _remote_env(**values: str) -> dict[str, str]:
    return {f"RADLENS_REMOTE_{key}": value for key, value in values.items()}


def _ct_series(tmp_path: Any, rows: int, columns: int, slices: int = 1) -> Any:
    from dicom_io.loader import load_study
    from tests.synthetic import write_ct_series

    written = write_ct_series(tmp_path / "ct", slices=slices, rows=rows, columns=columns)
    return load_study(list(written.paths)).default_series


@pytest.mark.parametrize(
    ("declared", "family", "grounding"),
    [
        ("gemma3", "gemma3", "gemma_box_2d"),
        ("qwen2_5_vl", "qwen2_5_vl", "qwen_abs"),
        ("Qwen3_VL", "qwen3_vl", "qwen_norm_1000"),
        ("unknown", "remote", "qwen_norm_1000"),
        ("", "remote", "qwen_norm_1000"),
    ],
    ids=["medgemma", "qwen2.5-vl", "qwen3-vl", "unknown", "not-declared"],
)
def test_the_remote_entry_takes_the_declared_familys_box_convention(
    declared: str, family: str, grounding: str
) -> None:
    from models.registry.remote_entry import remote_spec

    spec = remote_spec(_remote_env(FAMILY=declared, URL="http://gpu-box:8000/v1"))
    assert (spec.id, spec.family.value, spec.grounding) == ("remote", family, grounding)
    assert spec.is_remote
    assert (spec.hub_id, spec.local_folder, spec.memory_gb("bf16")) == (None, None, 0.0)
    assert spec.max_pixels == 28 * 28 * 1280


def test_a_declared_grounding_wins_over_the_familys() -> None:
    from models.registry.remote_entry import remote_spec

    env = _remote_env(FAMILY="qwen3_vl", GROUNDING="qwen_abs")
    assert remote_spec(env).grounding == "qwen_abs"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "FAMILY",
            "llava",
            r"RADLENS_REMOTE_FAMILY must be one of gemma3, qwen2_5_vl, qwen3_vl or unknown, "
            r"not 'llava'\.",
        ),
        ("MAX_PIXELS", "lots", r"RADLENS_REMOTE_MAX_PIXELS must be a whole number such as"),
        ("MAX_PIXELS", "100", r"at least 784 \(one 28 x 28 patch\), not 100\."),
        ("CONCURRENCY", "0", r"RADLENS_REMOTE_CONCURRENCY must be within 1\.\.256, not 0\."),
        ("CONCURRENCY", "many", r"a whole number such as 8, not 'many'\."),
    ],
)
def test_bad_remote_settings_are_refused_in_one_line(name: str, value: str, message: str) -> None:
    from dicom_io.errors import InvalidArgumentError
    from models.registry.remote_entry import remote_settings

    with pytest.raises(InvalidArgumentError, match=message):
        remote_settings(_remote_env(**{name: value}))


@pytest.mark.parametrize(
    ("declared", "local_id"), [("gemma3", "medgemma-1.5-4b"), ("qwen2_5_vl", "qwen2.5-vl-7b")]
)
def test_a_served_model_gets_the_images_its_local_twin_gets(
    tmp_path: Any, declared: str, local_id: str
) -> None:
    """Same pixels and mappings as the registry's local model of the family, for a non-square
    CT slice: MedGemma's square padding (half the difference before: 64 - 40 = 24 -> 12 rows on
    top) and three HU windows; Qwen's unpadded smart resize: 40 x 64 = 2,560 pixels is under the
    processor's min_pixels 3,136 (56 x 56), so both sides grow by sqrt(3136 / 2560) and round
    up to multiples of 28: 44.3 -> 56 rows, 70.8 -> 84 columns."""
    from models.inputs.model_inputs import InputOptions
    from models.registry.lookup import get_spec
    from models.registry.remote_entry import remote_spec
    from models.tasks.prepare import prepare

    series = _ct_series(tmp_path, rows=40, columns=64)
    options = InputOptions(mode="current")
    remote = prepare(series, remote_spec(_remote_env(FAMILY=declared)), "report", options=options)
    local = prepare(series, get_spec(local_id), "report", options=options)
    assert len(remote.inputs.images) == len(local.inputs.images) == 1
    assert np.array_equal(remote.inputs.images[0], local.inputs.images[0])
    assert remote.inputs.mappings == local.inputs.mappings
    mapping = remote.inputs.mappings[0]
    if declared == "gemma3":
        assert (mapping.pad, mapping.model_size) == ((0, 12, 0, 12), (896, 896))
    else:
        assert (mapping.pad, mapping.model_size) == ((0, 0, 0, 0), (84, 56))
    unknown = prepare(series, remote_spec({}), "report", options=options)
    assert unknown.inputs.mappings[0].pad == (0, 0, 0, 0)  # no MedGemma padding when unknown


def test_qwen_images_are_resized_within_the_servers_max_pixels(tmp_path: Any) -> None:
    """A 224 x 224 slice and a server keeping at most 112 x 112 = 12,544 pixels: sent at
    112 x 112, so the bbox_2d [28, 56, 56, 84] it writes is source pixels [56, 112, 112, 168]
    (x 2). Without the setting the slice goes at 224 x 224, and a box in the server's 112 frame
    would land at half its size."""
    from models.grounding.placement import parse_boxes
    from models.inputs.model_inputs import InputOptions
    from models.registry.remote_entry import remote_spec
    from models.tasks.prepare import prepare

    series = _ct_series(tmp_path, rows=224, columns=224)
    options = InputOptions(mode="current")
    capped = remote_spec(_remote_env(FAMILY="qwen2_5_vl", MAX_PIXELS=str(112 * 112)))
    prepared = prepare(series, capped, "ask", question="Where?", options=options)
    assert prepared.inputs.images[0].shape == (112, 112, 3)
    answer = '```json\n[{"bbox_2d": [28, 56, 56, 84], "label": "nodule"}]\n```'
    (box,) = parse_boxes(answer, capped.grounding, prepared.mappings).boxes
    assert (box.x0, box.y0, box.x1, box.y1) == (56, 112, 112, 168)
    default = prepare(series, remote_spec(_remote_env(FAMILY="qwen2_5_vl")), "ask",
                      question="Where?", options=options)  # fmt: skip
    assert default.inputs.images[0].shape == (224, 224, 3)


def _prompt_tokens(backend: OpenAIBackend, messages: list[Message]) -> int:
    result = backend.generate(GenerationRequest(messages, GenerationSettings(max_new_tokens=1)))
    assert result.prompt_tokens is not None
    return result.prompt_tokens


def _without_images(messages: list[Message]) -> list[Message]:
    return [
        Message(m.role, tuple(p for p in m.parts if not isinstance(p, ImagePart)))
        for m in messages
    ]


def test_a_real_server_keeps_the_image_it_is_sent_within_its_max_pixels(
    server: Server, tmp_path: Any
) -> None:
    """transformers serve with the tiny Qwen2.5-VL, whose processor keeps at most 28 * 28 * 16
    = 12,544 pixels (tests/models/tiny_qwen2_5_vl.py). Declared, the 224 x 224 slice goes at
    112 x 112 and the server counts exactly the image tokens estimated here ((112 / 28)^2 = 16
    and the two vision markers); undeclared (the default cap), it goes at 224 x 224 (66 tokens
    estimated) and the server shrinks it to the same 18: boxes would be in a frame the mapping
    does not record."""
    from models.families import adapter
    from models.inputs.model_inputs import InputOptions
    from models.registry.remote_entry import remote_spec
    from models.tasks.prepare import prepare

    series = _ct_series(tmp_path, rows=224, columns=224)
    options = InputOptions(mode="current")
    backend = server.backend("qwen2_5_vl")
    qwen = adapter("qwen2_5_vl")
    seen = {}
    for pixels in (str(28 * 28 * 16), ""):
        spec = remote_spec(_remote_env(FAMILY="qwen2_5_vl", MAX_PIXELS=pixels))
        prepared = prepare(series, spec, "ask", question="Any nodule?", options=options)
        sent = prepared.inputs.mappings[0].model_size
        counted = _prompt_tokens(backend, prepared.messages) - _prompt_tokens(
            backend, _without_images(prepared.messages)
        )
        seen[pixels] = (sent, qwen.image_tokens(sent), counted)
    assert seen[str(28 * 28 * 16)] == ((112, 112), 18, 18)
    assert seen[""] == ((224, 224), 66, 18)


def _layout(messages: Any) -> list[tuple[str, list[str]]]:
    """Each message's role and parts in order, an image as "<image>"."""
    return [(m.role, [getattr(part, "text", "<image>") for part in m.parts]) for m in messages]


@pytest.mark.parametrize(
    ("declared", "served", "local_id"),
    [
        ("gemma3", "google/medgemma-1.5-4b-it", "medgemma-1.5-4b"),
        ("gemma3", "google/medgemma-4b-it", "medgemma-4b"),
        ("gemma3", "medgemma-27b", "medgemma-27b"),
    ],
)
def test_a_served_known_model_gets_its_makers_prompts(
    declared: str, served: str, local_id: str
) -> None:
    """A server declared to run a registry model (RADLENS_REMOTE_MODEL its hub id or id) gets
    the prompts, layout and system prompt its makers use, exactly as the local entry: for
    MedGemma 1.5 the localization notebook's instruction block with no system message
    (prompts/templates/grounding.json, grounding_medgemma_1_5), for MedGemma 1 the card's
    "You are an expert radiologist." alone, text before the image."""
    from dicom_io.loader import load_study
    from models.registry.lookup import get_spec
    from models.tasks.prepare import prepare
    from tests.files import REPO

    series = load_study(REPO / "assets" / "demo" / "chest_pa_cr.dcm").default_series
    remote = get_spec("remote", environ=_remote_env(FAMILY=declared, MODEL=served))
    local = get_spec(local_id)
    assert (remote.recipe, remote.system_prompt) == (local.id, local.system_prompt)
    for task, fields in (("grounding", {"target": "right clavicle"}), ("report", None)):
        sent = prepare(series, remote, task, fields=fields)
        own = prepare(series, local, task, fields=fields)
        assert sent.prompt == own.prompt, task
        assert _layout(sent.messages) == _layout(own.messages), task
    unknown = get_spec("remote", environ=_remote_env(FAMILY=declared, MODEL="my-own-finetune"))
    assert unknown.recipe == ""
    generic = prepare(series, unknown, "grounding", fields={"target": "right clavicle"})
    assert (
        generic.prompt.template_id
        != prepare(
            series, get_spec("medgemma-1.5-4b"), "grounding", fields={"target": "right clavicle"}
        ).prompt.template_id
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_report_and_comparison_through_transformers_serve(server: Server, family: str) -> None:
    """The remote entry declared as the served family drafts a report and a comparison through
    the real server (the tasks' own path: prepare, stream, parse), each request answered."""
    from tests.models.serving import report_and_compare_through

    report_and_compare_through(server, family)
