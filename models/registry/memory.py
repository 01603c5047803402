"""How much GPU memory a model needs: the size facts of a checkpoint and the estimate from them.

:class:`Architecture` holds the parameter counts by role and the shape of the KV cache;
:meth:`models.registry.spec.ModelSpec.memory_gb` adds them up (GB = 10^9 bytes) for precision
``p``::

    quantized weights   (all parameters - kept) * bytes(p)
  + kept weights        (vision tower + projector + token embeddings [+ untied lm_head]) * 2
  + KV cache            2 (K, V) * kv_heads * head_dim * 2 bytes per layer and token, for
                        KV_TOKENS tokens (sliding-window layers hold at most their window)
  + RUNTIME_OVERHEAD_GB CUDA context, activations, allocator slack

``bytes(p)``: nf4 0.516 (4-bit NormalFloat in blocks of 64 with double-quantized absmax: 4.127
bits, as measured with bitsandbytes 0.50), int8 1.0016 (int8 plus one fp32 scale per row), bf16
2. bitsandbytes quantizes only ``nn.Linear`` layers and RadLens keeps the vision side and
``lm_head`` unquantized (see :mod:`models.backends.loading`), hence the kept weights. fp32 counts
4 bytes for every parameter and the cache. Check against known numbers: MedGemma 4B bf16 weights
are
8.60 GB (4.30 B x 2, the size of its safetensors and of Ollama's F16 build), Qwen2.5-VL-7B's
16.58 GB. Resulting estimates (nf4 / int8 / bf16): MedGemma 5.1 / 6.7 / 9.9 GB, Qwen2.5-VL-3B
4.7 / 6.0 / 8.8 GB, Lingshu-7B and Qwen2.5-VL-7B 8.4 / 11.5 / 18.1 GB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from models.backends.loading import Precision

__all__ = ["BYTES_PER_PARAM", "KV_TOKENS", "RUNTIME_OVERHEAD_GB", "Architecture"]

KV_TOKENS = 8192  # a radiograph or a few slices, a prior, and a long report
RUNTIME_OVERHEAD_GB = 1.0
BYTES_PER_PARAM: Mapping[Precision, float] = {
    Precision.NF4: 4.127 / 8,
    Precision.INT8: 1.0016,
    Precision.BF16: 2.0,
    Precision.FP32: 4.0,
}
_GB = 1e9


@dataclass(frozen=True)
class Architecture:
    """Size facts of a checkpoint: parameter counts by role and the shape of its KV cache."""

    params: int  # all parameters
    vision_params: int  # vision tower and projector
    layers: int
    hidden_size: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    sliding_layers: int = 0  # layers whose cache holds at most ``sliding_window`` tokens
    sliding_window: int | None = None

    def __post_init__(self) -> None:
        for name in ("params", "layers", "hidden_size", "kv_heads", "head_dim", "vocab_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Architecture.{name} must be > 0, not {getattr(self, name)}.")
        if not 0 <= self.sliding_layers <= self.layers:
            raise ValueError(
                f"Architecture.sliding_layers must be in 0..{self.layers}, "
                f"not {self.sliding_layers}."
            )
        if self.sliding_layers and not self.sliding_window:
            raise ValueError("Architecture.sliding_window is needed when sliding_layers > 0.")
        if self.vision_params < 0 or self.vision_params + self.embedding_params >= self.params:
            raise ValueError(
                f"Architecture: vision ({self.vision_params}) and embedding "
                f"({self.embedding_params}) parameters must leave a decoder in {self.params}."
            )

    @property
    def params_b(self) -> float:
        """All parameters, in billions."""
        return self.params / 1e9

    @property
    def embedding_params(self) -> int:
        """Token embeddings, plus ``lm_head`` when it is not tied to them."""
        return self.vocab_size * self.hidden_size * (1 if self.tied_embeddings else 2)

    @property
    def kept_params(self) -> int:
        """Parameters bitsandbytes leaves in bf16: vision side, embeddings and ``lm_head``."""
        return self.vision_params + self.embedding_params

    def weights_gb(self, precision: Precision) -> float:
        """Weights in memory at ``precision`` (quantized decoder, bf16 for the rest)."""
        size = BYTES_PER_PARAM[precision]
        if not precision.is_quantized:
            return self.params * size / _GB
        return ((self.params - self.kept_params) * size + self.kept_params * 2.0) / _GB

    def kv_cache_gb(self, tokens: int, bytes_per_value: float = 2.0) -> float:
        """Keys and values for ``tokens`` tokens in every layer."""
        full = self.layers - self.sliding_layers
        held = full * tokens + self.sliding_layers * min(tokens, self.sliding_window or tokens)
        return 2 * self.kv_heads * self.head_dim * bytes_per_value * held / _GB
