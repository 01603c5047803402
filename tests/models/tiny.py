"""Tiny random-weight checkpoints of the real model architectures, built from code.

Each builder writes a folder laid out like the real hub repository (config, safetensors weights,
``tokenizer.json`` + ``tokenizer_config.json``, ``chat_template.json``, the real image processor
config with its ``processor_class``), so tests load it through exactly the production path:

- :func:`build_tiny_gemma3` (tests/models/tiny_gemma3.py): ``Gemma3ForConditionalGeneration``
  as in MedGemma 4B (SigLIP vision tower, average-pool projector, Gemma3 text decoder with
  sliding and global layers).
- :func:`build_tiny_qwen2_5_vl` (tests/models/tiny_qwen2_5_vl.py):
  ``Qwen2_5_VLForConditionalGeneration`` as in Lingshu-7B and Qwen2.5-VL (windowed ViT with 2x2
  patch merger, M-RoPE text decoder).
- :func:`build_tiny_qwen3_vl` (tests/models/tiny_qwen3_vl.py): ``Qwen3VLForConditionalGeneration``
  as in Qwen3-VL-2B/4B/8B-Instruct (16 px patches, DeepStack, interleaved M-RoPE).

Sizes respect what bitsandbytes needs on CPU: every Linear that gets quantized (the text decoder's
projections) has an input width that is a multiple of 64. Tokenizers are trained in memory with
the ``tokenizers`` library on a small radiology corpus (tests/models/tiny_common.py); each
family's module says how its tokenizer and sizes follow the real model's.

Use :func:`tiny_checkpoint` from a session-scoped fixture to build each model once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tests.models.tiny_gemma3 import GEMMA3_SPECIAL_TOKENS, build_tiny_gemma3
from tests.models.tiny_qwen2_5_vl import QWEN2_5_VL_SPECIAL_TOKENS, build_tiny_qwen2_5_vl
from tests.models.tiny_qwen3_vl import QWEN3_VL_SPECIAL_TOKENS, build_tiny_qwen3_vl

if TYPE_CHECKING:
    import pytest

__all__ = [
    "GEMMA3_SPECIAL_TOKENS",
    "QWEN2_5_VL_SPECIAL_TOKENS",
    "QWEN3_VL_SPECIAL_TOKENS",
    "TINY_BUILDERS",
    "build_tiny_gemma3",
    "build_tiny_qwen2_5_vl",
    "build_tiny_qwen3_vl",
    "tiny_checkpoint",
]

TINY_BUILDERS: dict[str, Callable[[str | Path], Path]] = {
    "gemma3": build_tiny_gemma3,
    "qwen2_5_vl": build_tiny_qwen2_5_vl,
    "qwen3_vl": build_tiny_qwen3_vl,
}

_DONE = ".tiny-complete"


def tiny_checkpoint(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny ``family`` checkpoint, built on first use in this pytest session.

    The cache is the session's base temp dir, so call this from session-scoped fixtures::

        @pytest.fixture(scope="session")
        def tiny_gemma3(tmp_path_factory):
            return tiny_checkpoint("gemma3", tmp_path_factory)
    """
    try:
        builder = TINY_BUILDERS[family]
    except KeyError:
        raise ValueError(
            f"No tiny builder for family {family!r}; known: {sorted(TINY_BUILDERS)}."
        ) from None
    folder = tmp_path_factory.getbasetemp() / f"tiny-{family}"
    if not (folder / _DONE).exists():
        builder(folder)
        (folder / _DONE).touch()
    return folder
