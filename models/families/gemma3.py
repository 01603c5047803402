"""Gemma3: MedGemma 1 and 1.5. Every fact RadLens uses about this family lives here.

- Images: padded to a square with zeros split evenly (``diff // 2`` before, the rest after, as
  MedGemma was trained), then resized to 896x896; each costs 256 soft tokens, plus 4 around
  them ("\\n\\n<start_of_image>" ... "<end_of_image>\\n\\n").
- Volumes: MedGemma's CT recipe sends up to 85 slices (85 x 256 = 21,760 image tokens, within
  its 128k context), each followed by its label "SLICE n", n = 1..85 (its CT notebook).
- Image encoding: MedGemma's (``ImageEncoding.MEDGEMMA``): every CT image, a single slice
  too, as three HU windows in RGB, and MR min-max over the images sent, as its serving code
  does (Google-Health/medgemma python/data_accessors/local_file_handlers/
  generic_dicom_handler.py, commit 04b60aca: ``_default_ct_volume_window_op`` for every CT
  image, ``_process_buffered_mri_volume``).
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

from models.families.base import (
    Family,
    ImageEncoding,
    Pad,
    Size,
    digit_label_tokens,
    estimate_text_tokens,
)

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


# bitsandbytes LLM.int8 computes in float16, and Gemma3 in float16 gives empty or garbled text.
_INT8_PROBLEM = (
    "bitsandbytes 8-bit MedGemma has given gibberish (Google-Health/medgemma#5) and 8-bit "
    "Gemma3 4B empty output, which its maintainers trace to float16 compute, the LLM.int8 "
    "default (bitsandbytes-foundation/bitsandbytes#1572)"
)


def square_pad(width: int, height: int) -> Pad:
    """``(left, top, right, bottom)`` zeros that make the image square, split evenly."""
    side = max(width, height)
    dx, dy = side - width, side - height
    return (dx // 2, dy // 2, dx - dx // 2, dy - dy // 2)


# Gemma 3 itself was not trained for boxes; a local MedGemma 1.5 folder cannot be told apart
# from MedGemma 1 or Gemma 3 by its config, so a local or served gemma3 model gets none.
_DEFAULT_CAPABILITIES: Mapping[str, Any] = MappingProxyType(
    {
        "no_localization": (
            "a local or served Gemma 3 model is not known to be trained for boxes (use the "
            "registry id medgemma-1.5-4b for chest X-ray localization)"
        ),
    }
)


@dataclass(frozen=True)
class Gemma3Adapter:
    """The Gemma3 family (see the module docstring for the facts)."""

    family: Family = Family.GEMMA3
    model_types: tuple[str, ...] = ("gemma3",)
    model_names: str = "MedGemma"
    box_format: str = "gemma_box_2d"
    default_max_slices: int = 85
    image_encoding: ImageEncoding = ImageEncoding.MEDGEMMA
    image_tokens_note: str = f"{TOKENS_PER_IMAGE} per image (resized to {IMAGE_SIZE}x{IMAGE_SIZE})"
    unquantized_modules: tuple[str, ...] = (
        "model.vision_tower",
        "model.multi_modal_projector",
        "lm_head",
    )
    # The Gemma3 chat template ends each turn with <end_of_turn>; MedGemma's
    # generation_config.json lists eos_token_id [1, 106] = <eos>, <end_of_turn>.
    stop_tokens: tuple[str, ...] = ("<end_of_turn>", "<eos>")
    int8_problem: str = _INT8_PROBLEM
    # MedGemma 1.5 may think before answering, unprompted, between <unused94> and <unused95>
    # (Google-Health/medgemma notebooks/cxr_anatomy_localization_with_hugging_face.ipynb, cell
    # WqRPOJe9pr0W, splits its answer at "<unused95>"). Those tokens are not special in the
    # Gemma3 tokenizer, so they survive skip_special_tokens=True decoding, as the notebook needs.
    reasoning_markers: tuple[str, str] | None = ("<unused94>", "<unused95>")

    @property
    def config_defaults(self) -> Mapping[str, Any]:
        return _CONFIG_DEFAULTS

    @property
    def default_capabilities(self) -> Mapping[str, Any]:
        return _DEFAULT_CAPABILITIES

    def geometry(
        self, width: int, height: int, *, min_pixels: int, max_pixels: int
    ) -> tuple[Pad, Size]:
        return square_pad(width, height), (IMAGE_SIZE, IMAGE_SIZE)

    def image_tokens(self, model_size: Size) -> int:
        return TOKENS_PER_IMAGE + WRAPPER_TOKENS

    def label_tokens(self, label: str) -> int:
        return digit_label_tokens(label)

    def text_tokens(self, text: str) -> int:
        return estimate_text_tokens(text)

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
