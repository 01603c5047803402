"""Gemma3: MedGemma 1 and 1.5. Every fact RadLens uses about this family lives here.

- Images: padded to a square with zeros split evenly (``diff // 2`` before, the rest after, as
  MedGemma was trained), then resized to 896x896; each costs 256 soft tokens, plus 4 around
  them ("\\n\\n<start_of_image>" ... "<end_of_image>\\n\\n").
- Volumes: MedGemma's CT recipe sends up to 85 slices (85 x 256 = 21,760 image tokens, within
  its 128k context), each preceded by the label "SLICE k" (its CT notebook).
- Boxes: ``gemma_box_2d`` (``box_2d`` as [y0, x0, y1, x1] on 0-1000, reasoning then
  "Final Answer:", as in MedGemma 1.5's localization notebook).
- Quantization keeps the SigLIP tower, the projector and ``lm_head`` in bf16.
- 5 of every 6 layers use sliding-window attention (``layer_types``; window from the config).
- The stock processor works; no decoding defaults beyond the shared ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from models.families.base import Family, Pad, Size, digit_label_tokens

__all__ = ["ADAPTER", "IMAGE_SIZE", "TOKENS_PER_IMAGE", "Gemma3Adapter", "square_pad"]

IMAGE_SIZE = 896
TOKENS_PER_IMAGE = 256
WRAPPER_TOKENS = 4
# transformers' Gemma3TextConfig defaults for keys a config.json may leave out.
_CONFIG_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "vocab_size": 262_208,
        "tie_word_embeddings": True,
        "sliding_window": 4096,
    }
)


def square_pad(width: int, height: int) -> Pad:
    """``(left, top, right, bottom)`` zeros that make the image square, split evenly."""
    side = max(width, height)
    dx, dy = side - width, side - height
    return (dx // 2, dy // 2, dx - dx // 2, dy - dy // 2)


@dataclass(frozen=True)
class Gemma3Adapter:
    """The Gemma3 family (see the module docstring for the facts)."""

    family: Family = Family.GEMMA3
    model_types: tuple[str, ...] = ("gemma3",)
    model_names: str = "MedGemma"
    box_format: str = "gemma_box_2d"
    default_max_slices: int = 85
    image_tokens_note: str = f"{TOKENS_PER_IMAGE} per image (resized to {IMAGE_SIZE}x{IMAGE_SIZE})"
    unquantized_modules: tuple[str, ...] = (
        "model.vision_tower",
        "model.multi_modal_projector",
        "lm_head",
    )

    @property
    def config_defaults(self) -> Mapping[str, Any]:
        return _CONFIG_DEFAULTS

    def geometry(
        self, width: int, height: int, *, min_pixels: int, max_pixels: int
    ) -> tuple[Pad, Size]:
        return square_pad(width, height), (IMAGE_SIZE, IMAGE_SIZE)

    def image_tokens(self, model_size: Size) -> int:
        return TOKENS_PER_IMAGE + WRAPPER_TOKENS

    def label_tokens(self, label: str) -> int:
        return digit_label_tokens(label)

    def tokens_per_image(self, width: int, height: int) -> int | None:
        return TOKENS_PER_IMAGE

    def overflow_advice(self) -> str:
        return "use a model with a longer context"

    def sliding_attention(
        self, text_config: Mapping[str, Any], layers: int
    ) -> tuple[int, int | None]:
        kinds = text_config.get("layer_types") or [
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)
        ]
        sliding = sum(k == "sliding_attention" for k in kinds)
        return sliding, int(text_config["sliding_window"])

    def processor_override(self) -> tuple[type[Any], type[Any]] | None:
        return None


ADAPTER = Gemma3Adapter()
