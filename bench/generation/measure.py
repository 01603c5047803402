"""First-token and decode timings, prompt and image tokens and peak memory of one case.

Per case: one warm-up generation (2 tokens, untimed); first token = best of ``repeat``
generations with ``max_new_tokens=1`` (building the inputs, prefill and one token: what a user
waits for); decode = ``(N - 1) / (t_N - t_1)`` with ``t_N`` one generation of exactly N tokens
(``min_new_tokens = max_new_tokens = N``) and ``t_1`` the best first token time.
"""

from __future__ import annotations

import math
from typing import Any

from bench.generation.cases import Case
from bench.generation.memory import Memory

__all__ = ["count_image_tokens", "measure_case"]


def count_image_tokens(loaded: Any, messages: list[Any]) -> int:
    """Image soft tokens in the prompt the processor builds for ``messages``."""
    from models.inputs.messages import to_transformers

    inputs = loaded.processor.apply_chat_template(
        to_transformers(messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    config = loaded.model.config
    image_id = getattr(config, "image_token_id", None)
    if image_id is None:
        image_id = config.image_token_index
    return int((inputs["input_ids"] == image_id).sum())


def measure_case(
    backend: Any, case: Case, memory: Memory, *, new_tokens: int, repeat: int
) -> dict[str, Any]:
    """First-token and decode timings and peak memory of one case on a loaded model."""
    from models.backends.base import GenerationRequest, GenerationSettings

    def generate(n: int) -> Any:
        settings = GenerationSettings(max_new_tokens=n, min_new_tokens=n)
        return backend.generate(GenerationRequest(case.messages, settings))

    memory.start_case()
    image_tokens = count_image_tokens(backend.loaded, case.messages)
    generate(2)  # warm-up: kernels, allocator, cuBLAS / bitsandbytes workspaces
    firsts = [generate(1) for _ in range(repeat)]
    first = min(r.seconds for r in firsts)
    long = generate(new_tokens)
    if long.completion_tokens != new_tokens:
        print(f"  warning: asked for {new_tokens} tokens, got {long.completion_tokens}")
    span = long.seconds - first
    decode = (long.completion_tokens - 1) / span if span > 0 else math.nan
    peak, dev = memory.end_case()
    return {
        "image_tokens": image_tokens,
        "prompt_tokens": int(firsts[0].prompt_tokens or 0),
        "peak_gb": peak,
        "dev_gb": dev,
        "first_token_s": first,
        "decode_tok_s": decode,
        "new_tokens": int(long.completion_tokens or 0),
    }
