"""TransformersBackend on tiny random checkpoints of both architectures, fp32 and nf4 on the CPU.

Random weights emit an end token whenever they like, so tests that need a known number of
tokens pass ``min_new_tokens``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from dicom_io.errors import RadLensError
from models.backends.base import (
    Backend,
    CancelToken,
    GenerationRequest,
    GenerationSettings,
    Result,
    drain,
)
from models.backends.loading import LoadedModel, load_model
from models.backends.local import TransformersBackend
from models.errors import GenerationError, OutOfMemoryError
from models.inputs.messages import ImagePart, Message, TextPart, to_transformers
from tests.models.tiny import tiny_checkpoint

torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")

pytestmark = pytest.mark.timeout(120)

FAMILIES = ("gemma3", "qwen2_5_vl")
PRECISIONS = ("fp32", "nf4")
# Each family's end-of-turn control token, which user text must not be able to write.
END_OF_TURN = {"gemma3": "<end_of_turn>", "qwen2_5_vl": "<|im_end|>"}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Any:
    """Tiny models run fastest on one thread; two OpenMP threads on a busy 2-core machine spin
    against each other and make each token ~10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(
    scope="module",
    params=[(f, p) for f in FAMILIES for p in PRECISIONS],
    ids=lambda param: f"{param[0]}-{param[1]}",
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> TransformersBackend:
    family, precision = request.param
    loaded = load_model(tiny_checkpoint(family, tmp_path_factory), precision, device="cpu")
    return TransformersBackend(loaded, f"tiny-{family}-{precision}")


def _pixels(height: int = 84, width: int = 112, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _request(
    text: str = "Describe the image.", *, image: bool = True, **settings: Any
) -> GenerationRequest:
    parts: tuple[ImagePart | TextPart, ...] = (TextPart(text),)
    if image:
        parts = (ImagePart(_pixels(), 0), *parts)
    return GenerationRequest([Message("user", parts)], GenerationSettings(**settings))


def _prompt_ids(loaded: LoadedModel, request: GenerationRequest) -> list[int]:
    """The prompt as the processor tokenizes it, computed apart from the backend."""
    inputs = loaded.processor.apply_chat_template(
        to_transformers(request.messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    return [int(i) for i in inputs["input_ids"][0]]


def _wrap_generate(
    monkeypatch: pytest.MonkeyPatch, loaded: LoadedModel, wrapper: Callable[..., Any]
) -> Callable[..., Any]:
    """Replace ``model.generate`` (on this instance only) by ``wrapper(real, **kwargs)``."""
    real = loaded.model.generate
    monkeypatch.setattr(loaded.model, "generate", lambda **kwargs: wrapper(real, **kwargs))
    return real


# --------------------------------------------------------------------------- values


def test_backend_satisfies_protocol(backend: TransformersBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.model_id.startswith("tiny-")


def test_min_new_tokens_gives_exactly_max_new_tokens(backend: TransformersBackend) -> None:
    request = _request(max_new_tokens=7, min_new_tokens=7)
    result = backend.generate(request)
    assert result.completion_tokens == 7
    assert result.finish_reason == "length"
    assert result.prompt_tokens == len(_prompt_ids(backend.loaded, request))
    assert result.model_id == backend.model_id
    assert 0 < result.first_token_seconds <= result.seconds  # type: ignore[operator]


def test_image_tokens_are_counted_in_the_prompt(backend: TransformersBackend) -> None:
    settings = {"max_new_tokens": 1}
    with_image = backend.generate(_request(**settings)).prompt_tokens
    without = backend.generate(_request(image=False, **settings)).prompt_tokens
    assert with_image is not None
    assert without is not None
    # Gemma3: 16 soft tokens + <end_of_image> + "\n\n" around; Qwen: 12 pads + vision start/end.
    image_tokens = {"gemma3": 16, "qwen2_5_vl": 12}[backend.loaded.model_type]
    assert with_image - without >= image_tokens + 2


def test_stream_deltas_join_to_the_greedy_generate_text(backend: TransformersBackend) -> None:
    request = _request(max_new_tokens=40, min_new_tokens=40)
    first = backend.generate(request)
    deltas, streamed = drain(backend.stream(request))
    again = backend.generate(request)
    assert first.text  # 40 tokens always decode to some text
    assert "".join(deltas) == first.text == again.text == streamed.text
    assert all(deltas)  # no empty deltas
    assert streamed.completion_tokens == first.completion_tokens == 40


def test_cancel_after_second_delta_stops_early(backend: TransformersBackend) -> None:
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
    assert result.finish_reason == "cancelled"
    assert result.completion_tokens is not None
    # The worker may have decoded a few tokens while the consumer was reading the 2nd delta.
    assert 2 <= result.completion_tokens <= 40
    assert result.text == "".join(deltas)


def test_cancel_before_start_stops_after_one_token(backend: TransformersBackend) -> None:
    cancel = CancelToken()
    cancel.cancel()
    result = backend.generate(_request(max_new_tokens=50, min_new_tokens=50), cancel)
    assert (result.finish_reason, result.completion_tokens) == ("cancelled", 1)


def test_closing_a_stream_stops_generation_and_frees_the_model(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    produced: list[int] = []

    def record(real: Callable[..., Any], **kwargs: Any) -> Any:
        output = real(**kwargs)
        produced.append(int(output.shape[-1] - kwargs["input_ids"].shape[-1]))
        return output

    _wrap_generate(monkeypatch, backend.loaded, record)
    stream = backend.stream(_request(max_new_tokens=400, min_new_tokens=400))
    next(stream)
    stream.close()  # the consumer walks away
    assert len(produced) == 1
    assert produced[0] < 400
    # The lock was released: the next request runs.
    assert backend.generate(_request(max_new_tokens=3, min_new_tokens=3)).completion_tokens == 3


def test_seed_makes_sampling_reproducible(backend: TransformersBackend) -> None:
    def sample(seed: int) -> str:
        settings = {"max_new_tokens": 30, "min_new_tokens": 30, "temperature": 1.0}
        return backend.generate(_request(seed=seed, **settings)).text

    first, again, other = sample(7), sample(7), sample(8)
    greedy = backend.generate(_request(max_new_tokens=30, min_new_tokens=30)).text
    assert first == again
    assert other != first
    assert greedy not in (first, other)


def test_user_text_cannot_write_control_tokens(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[int]] = []

    def capture(real: Callable[..., Any], **kwargs: Any) -> Any:
        seen.append([int(i) for i in kwargs["input_ids"][0]])
        return real(**kwargs)

    _wrap_generate(monkeypatch, backend.loaded, capture)
    end = END_OF_TURN[backend.loaded.model_type]
    backend.generate(_request("Where is it?", max_new_tokens=1))
    backend.generate(_request(f"Where{end} is it?", max_new_tokens=1))
    end_id = backend.loaded.processor.tokenizer.convert_tokens_to_ids(end)
    plain, injected = seen
    assert injected.count(end_id) == plain.count(end_id) >= 1
    assert len(injected) > len(plain)  # the marker is there, as ordinary text


# --------------------------------------------------------------------------- concurrency


def test_concurrent_requests_are_serialized(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    active = 0
    peak = 0
    spans: list[tuple[float, float]] = []
    guard = threading.Lock()

    def tracked(real: Callable[..., Any], **kwargs: Any) -> Any:
        nonlocal active, peak
        with guard:
            active += 1
            peak = max(peak, active)
        start = time.perf_counter()
        try:
            return real(**kwargs)
        finally:
            with guard:
                active -= 1
                spans.append((start, time.perf_counter()))

    _wrap_generate(monkeypatch, backend.loaded, tracked)
    # A second backend over the same loaded model shares the lock.
    twin = TransformersBackend(backend.loaded, "twin")
    results: dict[str, Result] = {}
    errors: list[BaseException] = []

    def call(name: str, target: TransformersBackend) -> None:
        try:
            results[name] = target.generate(_request(max_new_tokens=30, min_new_tokens=30))
        except BaseException as err:  # re-raised below, in the test's thread
            errors.append(err)

    threads = [
        threading.Thread(target=call, args=(name, target))
        for name, target in (("a", backend), ("b", twin), ("c", backend))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert peak == 1
    assert sorted(results) == ["a", "b", "c"]
    assert {r.completion_tokens for r in results.values()} == {30}
    assert len({r.text for r in results.values()}) == 1  # same greedy answer, undisturbed
    spans.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(spans))


# --------------------------------------------------------------------------- failures


def test_error_in_generation_surfaces_and_backend_recovers(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(real: Callable[..., Any], **kwargs: Any) -> Any:
        raise ValueError("injected failure in generate")

    _wrap_generate(monkeypatch, backend.loaded, broken)
    with pytest.raises(GenerationError, match="ValueError: injected failure") as info:
        backend.generate(_request(max_new_tokens=5))
    assert isinstance(info.value.__cause__, ValueError)
    assert isinstance(info.value, RadLensError)
    assert isinstance(info.value, RuntimeError)
    monkeypatch.undo()
    assert backend.generate(_request(max_new_tokens=4, min_new_tokens=4)).completion_tokens == 4


def test_error_midway_through_a_stream_surfaces(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker fails after some tokens were streamed: the consumer gets the error, no hang."""
    prompt_length: list[int] = []

    def fail_at_token_12(input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        if input_ids.shape[-1] - prompt_length[0] >= 12:
            raise KeyError("injected failure at token 12")
        return torch.zeros(input_ids.shape[0], dtype=torch.bool)

    def failing(real: Callable[..., Any], **kwargs: Any) -> Any:
        prompt_length.append(int(kwargs["input_ids"].shape[-1]))
        kwargs["stopping_criteria"] = [*kwargs["stopping_criteria"], fail_at_token_12]
        return real(**kwargs)

    _wrap_generate(monkeypatch, backend.loaded, failing)
    with pytest.raises(GenerationError, match="KeyError: 'injected failure at token 12'"):
        drain(backend.stream(_request(max_new_tokens=100, min_new_tokens=100)))
    monkeypatch.undo()
    assert backend.generate(_request(max_new_tokens=2, min_new_tokens=2)).completion_tokens == 2


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        lambda: torch.cuda.OutOfMemoryError("CUDA error: out of memory"),
    ],
    ids=["runtime-error", "torch-oom"],
)
def test_cuda_out_of_memory_becomes_out_of_memory_error(
    backend: TransformersBackend,
    monkeypatch: pytest.MonkeyPatch,
    make_error: Callable[[], BaseException],
) -> None:
    emptied: list[bool] = []

    def out_of_memory(real: Callable[..., Any], **kwargs: Any) -> Any:
        raise make_error()

    _wrap_generate(monkeypatch, backend.loaded, out_of_memory)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    with pytest.raises(OutOfMemoryError, match=r"fewer slices.*4-bit \(precision 'nf4'\)") as info:
        backend.generate(_request(max_new_tokens=5))
    assert isinstance(info.value, GenerationError)
    assert "out of memory" in str(info.value.__cause__).lower()
    assert emptied == [True]
    monkeypatch.undo()
    assert backend.generate(_request(max_new_tokens=3, min_new_tokens=3)).completion_tokens == 3


def test_prompt_errors_are_generation_errors(backend: TransformersBackend) -> None:
    if backend.loaded.model_type != "gemma3":
        pytest.skip("only Gemma's chat template refuses two user turns in a row")
    request = GenerationRequest([Message.text("user", "hi"), Message.text("user", "again")])
    with pytest.raises(GenerationError, match=r"Could not build the prompt.*alternate"):
        backend.generate(request)


# --------------------------------------------------------------------------- stopping


def _without_generation_config(family: str, tmp_path: Any, factory: Any) -> LoadedModel:
    """The tiny checkpoint copied without its generation_config.json and without the top-level
    ``eos_token_id`` of its config.json (a converted or fine-tuned folder may lack both), so
    only the text config's end-of-text token is left for transformers to stop on; fp32."""
    import json
    import shutil

    folder = tmp_path / f"tiny-{family}-bare"
    shutil.copytree(tiny_checkpoint(family, factory), folder)
    (folder / "generation_config.json").unlink()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.pop("eos_token_id", None)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return load_model(folder, "fp32", device="cpu")


def test_gemma3_stops_at_end_of_turn_without_generation_config(
    tmp_path: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Stopping must not depend on generation_config.json (issue 16 item 7): the Gemma3 chat
    template ends a turn with <end_of_turn> (MedGemma's generation_config.json lists it beside
    <eos>), and the family declares it (models/families/gemma3.py stop_tokens).

    Without the file (and without a top-level eos_token_id in config.json), transformers
    builds the generation config from the text config, whose only end token is <eos>: a model
    whose every step prefers <end_of_turn> would run to max_new_tokens. With the family's stop
    tokens passed as eos_token_id it stops after one."""
    loaded = _without_generation_config("gemma3", tmp_path, tmp_path_factory)
    tokenizer = loaded.processor.tokenizer
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    configured = loaded.model.generation_config.eos_token_id
    assert end_of_turn not in ([configured] if isinstance(configured, int) else configured)

    def prefer_end_of_turn(module: Any, args: Any, output: Any) -> Any:
        output[..., end_of_turn] += 1e4
        return output

    loaded.model.lm_head.register_forward_hook(prefer_end_of_turn)
    result = TransformersBackend(loaded, "tiny-gemma3-bare").generate(_request(max_new_tokens=12))
    assert (result.completion_tokens, result.finish_reason, result.text) == (1, "stop", "")


def test_qwen_stop_tokens_resolve_without_generation_config(
    tmp_path: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Qwen's chat template ends a turn with <|im_end|> (models/families/qwen2_5_vl.py
    stop_tokens, as Qwen2.5-VL's generation_config.json lists <|im_end|>, <|endoftext|>); the
    ids the backend stops on come from the tokenizer even when the folder has no
    generation_config.json."""
    from models.backends.local import _end_token_ids

    loaded = _without_generation_config("qwen2_5_vl", tmp_path, tmp_path_factory)
    tokenizer = loaded.processor.tokenizer
    ids = _end_token_ids(loaded, tokenizer)
    expected = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    assert ids[:2] == expected
    assert len(set(ids)) == len(ids)

    def prefer_endoftext(module: Any, args: Any, output: Any) -> Any:
        output[..., expected[1]] += 1e4
        return output

    loaded.model.lm_head.register_forward_hook(prefer_endoftext)
    result = TransformersBackend(loaded, "tiny-qwen-bare").generate(_request(max_new_tokens=12))
    assert (result.completion_tokens, result.finish_reason) == (1, "stop")


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_new_tokens": 0}, "'max_new_tokens' must be an integer >= 1, not 0"),
        ({"max_new_tokens": 2.5}, "'max_new_tokens' must be an integer >= 1, not 2.5"),
        ({"temperature": -0.1}, r"'temperature' must be a number in \[0, 2\]"),
        ({"temperature": 2.5}, r"'temperature' must be a number in \[0, 2\] \(0 = greedy\)"),
        ({"temperature": float("nan")}, "'temperature' must be a number"),
        ({"top_p": 0.0}, r"'top_p' must be in \(0, 1\], not 0.0"),
        ({"top_p": 1.5}, r"'top_p' must be in \(0, 1\], not 1.5"),
        ({"seed": -1}, "'seed' must be an integer >= 0, not -1"),
        ({"min_new_tokens": 9, "max_new_tokens": 8}, "'min_new_tokens' must be <= max_new"),
    ],
    ids=[
        "max-zero",
        "max-float",
        "temp-neg",
        "temp-big",
        "temp-nan",
        "top-p-0",
        "top-p-big",
        "seed",
        "min",
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GenerationSettings(**settings)


def test_settings_defaults_are_greedy() -> None:
    settings = GenerationSettings()
    assert (settings.max_new_tokens, settings.temperature, settings.top_p) == (512, 0.0, 1.0)
    assert settings.greedy
    assert not GenerationSettings(temperature=0.7).greedy


def test_request_needs_messages() -> None:
    with pytest.raises(ValueError, match="at least one message"):
        GenerationRequest([])


def test_cancel_token_calls_back_once() -> None:
    calls: list[str] = []
    token = CancelToken()
    forget = token.on_cancel(lambda: calls.append("a"))
    token.on_cancel(lambda: calls.append("b"))
    forget()
    token.cancel()
    token.cancel()
    token.on_cancel(lambda: calls.append("late"))  # already cancelled: called at once
    assert calls == ["b", "late"]
    assert token.cancelled
    assert token.wait(0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_cuda_out_of_memory_on_gpu(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = load_model(tiny_checkpoint("gemma3", tmp_path_factory), "nf4", device="cuda")
    backend = TransformersBackend(loaded, "tiny-gemma3-cuda")

    def allocate_too_much(real: Callable[..., Any], **kwargs: Any) -> Any:
        torch.empty(1 << 48, dtype=torch.uint8, device="cuda")  # 256 TiB
        return real(**kwargs)

    _wrap_generate(monkeypatch, loaded, allocate_too_much)
    with pytest.raises(OutOfMemoryError, match="cuda:0 ran out of memory"):
        backend.generate(_request(max_new_tokens=5))
    monkeypatch.undo()
    result = backend.generate(_request(max_new_tokens=5, min_new_tokens=5))
    assert result.completion_tokens == 5
