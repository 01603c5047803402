"""Qwen3-VL: Qwen3-VL-2B/4B/8B-Instruct. Every fact RadLens uses about this family lives here.

- Images: cut into 16 px patches merged 2x2, so one token per 32x32 pixels, with sides resized
  to multiples of 32 (:func:`qwen3_resized_size`, the same ``smart_resize`` arithmetic as
  Qwen2.5-VL's processor with ``factor = patch_size * merge_size = 32``). Sources, transformers
  5.24: ``models/qwen3_vl/configuration_qwen3_vl.py`` (``patch_size`` 16,
  ``spatial_merge_size`` 2); ``models/qwen2_vl/image_processing_pil_qwen2_vl.py``
  (``smart_resize``, its factor, and ``grid_h * grid_w`` patches);
  ``models/qwen3_vl/processing_qwen3_vl.py`` (patches / ``merge_size**2`` ``<|image_pad|>``
  tokens between ``<|vision_start|>`` and ``<|vision_end|>``). The checkpoints'
  ``preprocessor_config.json``: ``size`` ``shortest_edge`` 65536, ``longest_edge`` 16777216
  (64 to 16,384 tokens).
- The area bounds: RadLens' ``qwen_max_pixels`` caps each image (default 1,003,520 px, at most
  980 Qwen3-VL tokens, inside the 256-1280 tokens QwenLM/Qwen3-VL's README, "Pixel Control via
  Official Processor", suggests for ``processor.image_processor.size``), and the floor is never
  below the processor's own 65,536 px: below it the processor would upscale RadLens' image
  again and the token count (and the image the boxes refer to) would no longer be the one
  planned here. A 512x512 slice stays 512x512: 256 tokens, plus 2 around it.
- Volumes: 16 slices by default (~4,200 tokens for 512x512 slices; the same memory-driven choice
  as Qwen2.5-VL, whose slices cost more).
- Boxes: ``qwen_norm_1000`` (``bbox_2d`` as ``[x1, y1, x2, y2]`` on a 0-1000 grid over the image
  the model saw): QwenLM/Qwen3-VL ``cookbooks/2d_grounding.ipynb`` cell ``e6ad3b52`` ("changed
  from the absolute coordinates used in Qwen2.5-VL to relative coordinates ranging from 0 to
  1000") and its ``plot_bounding_boxes`` in cell ``07044e07`` (value / 1000 * width); read in
  the copy Firefly-llm/Qwen3-VL at d8cc2c173563f9fe5b35d29299e532b533fd2c7d, as the QwenLM
  snapshot (96588727e44c78b25ba03ea03b8e12f7e64fd0da) lacks that file's contents.
- Quantization keeps the vision transformer (patch merger and DeepStack mergers included, all
  under ``model.visual``) and ``lm_head`` in bf16.
- Processor quirk: the stock ``Qwen3VLProcessor`` always builds a video processor, which needs
  torchvision; an image-only subclass is loaded instead
  (:mod:`models.families.qwen3_vl_processor`).
- Chat template (the Instruct checkpoints'): no system turn unless one is given (Qwen2.5-VL's
  template adds "You are a helpful assistant."), ``<|im_start|>role ... <|im_end|>`` turns; the
  turn ends with ``<|im_end|>`` (``generation_config.json`` ``eos_token_id`` [151645, 151643]).
- Decoding: the README's "Generation Hyperparameters" for Instruct models sample (top_p 0.8,
  top_k 20, temperature 0.7, presence_penalty 1.5, as for its benchmarks); RadLens decodes
  greedily (:mod:`models.tasks.decoding`), so drafts are reproducible; a user who sets a
  temperature gets sampling.
- Grey CT and MR images go as the viewer shows them (``ImageEncoding.VIEWER``): Qwen publishes
  no medical windowing recipe. No sliding-window layers.
"""

from __future__ import annotations

import math
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
from models.families.qwen2_5_vl import ADAPTER as QWEN2_5_VL
from models.families.qwen2_5_vl import MAX_PIXELS as SHARED_MAX_PIXELS

__all__ = [
    "ADAPTER",
    "FACTOR",
    "PROCESSOR_MAX_PIXELS",
    "PROCESSOR_MIN_PIXELS",
    "Qwen3VLAdapter",
    "area_bounds",
    "qwen3_image_tokens",
    "qwen3_resized_size",
]

PATCH_SIZE = 16
MERGE_SIZE = 2
FACTOR = PATCH_SIZE * MERGE_SIZE  # 32 px per image token side
# The checkpoints' preprocessor_config.json "size": shortest_edge / longest_edge (pixels).
PROCESSOR_MIN_PIXELS = 65_536
PROCESSOR_MAX_PIXELS = 16_777_216
WRAPPER_TOKENS = 2  # <|vision_start|> and <|vision_end|>
# transformers' Qwen3VLConfig defaults for keys a config.json may leave out: untied embeddings
# (the 2B and 4B configs tie them explicitly) and head_dim 128, which is not hidden / heads for
# the 4B (2560 / 32 = 80).
_CONFIG_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"tie_word_embeddings": False, "head_dim": 128}
)


def area_bounds(min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The area bounds RadLens resizes within, from the input options' ``min_pixels`` and
    ``max_pixels``: never below the processor's floor nor above its ceiling (see the module
    docstring); a cap below the floor gives way to the floor."""
    low = max(min_pixels, PROCESSOR_MIN_PIXELS)
    high = max(min(max_pixels, PROCESSOR_MAX_PIXELS), low)
    return low, high


def qwen3_resized_size(
    width: int,
    height: int,
    min_pixels: int = PROCESSOR_MIN_PIXELS,
    max_pixels: int = SHARED_MAX_PIXELS,
) -> Size:
    """``(width, height)`` Qwen3-VL's processor resizes an image to, within the area bounds.

    Sides become multiples of 32 close to the original aspect ratio, with the area brought
    within ``[min_pixels, max_pixels]`` (``smart_resize`` with ``factor`` 32).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"Image size must be positive, not {width}x{height}.")
    if max(width, height) / min(width, height) > 200:
        raise ValueError(f"Aspect ratio of {width}x{height} is beyond 200, which Qwen refuses.")
    h = round(height / FACTOR) * FACTOR
    w = round(width / FACTOR) * FACTOR
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(FACTOR, math.floor(height / beta / FACTOR) * FACTOR)
        w = max(FACTOR, math.floor(width / beta / FACTOR) * FACTOR)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / FACTOR) * FACTOR
        w = math.ceil(width * beta / FACTOR) * FACTOR
    return w, h


def qwen3_image_tokens(model_size: Size) -> int:
    """The ``<|image_pad|>`` tokens of one image already resized to ``model_size``: one per
    32x32 px (16 px patches, 2x2 merged)."""
    width, height = model_size
    return (width // FACTOR) * (height // FACTOR)


_DEFAULT_LOW, _DEFAULT_HIGH = area_bounds(PROCESSOR_MIN_PIXELS, SHARED_MAX_PIXELS)


@dataclass(frozen=True)
class Qwen3VLAdapter:
    """The Qwen3-VL family (see the module docstring for the facts)."""

    family: Family = Family.QWEN3_VL
    model_types: tuple[str, ...] = ("qwen3_vl",)
    model_names: str = "Qwen3-VL"
    box_format: str = "qwen_norm_1000"
    default_max_slices: int = 16
    # Qwen publishes no CT/MR recipe (its cookbooks send photos, documents and screenshots as
    # they are), so grey images go as the viewer shows them.
    image_encoding: ImageEncoding = ImageEncoding.VIEWER
    image_tokens_note: str = (
        f"1 per {FACTOR}x{FACTOR} px of the resized image "
        f"({_DEFAULT_LOW // FACTOR**2}-{_DEFAULT_HIGH // FACTOR**2} per image; "
        "512x512 -> 256)"
    )
    unquantized_modules: tuple[str, ...] = ("model.visual", "lm_head")
    # The Instruct checkpoints' generation_config.json: eos_token_id [151645, 151643].
    stop_tokens: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")
    int8_problem: str = ""  # no report of bad 8-bit output for Qwen3-VL
    # The Instruct chat template neither opens nor handles a <think> trace (the Thinking
    # checkpoints, not registered here, would write <think> ... </think>).
    reasoning_markers: tuple[str, str] | None = None

    @property
    def config_defaults(self) -> Mapping[str, Any]:
        return _CONFIG_DEFAULTS

    @property
    def default_capabilities(self) -> Mapping[str, Any]:
        return QWEN2_5_VL.default_capabilities  # the same grounding training (its card)

    def geometry(
        self, width: int, height: int, *, min_pixels: int, max_pixels: int
    ) -> tuple[Pad, Size]:
        low, high = area_bounds(min_pixels, max_pixels)
        return (0, 0, 0, 0), qwen3_resized_size(width, height, low, high)

    def image_tokens(self, model_size: Size) -> int:
        return qwen3_image_tokens(model_size) + WRAPPER_TOKENS

    def label_tokens(self, label: str) -> int:
        # Qwen3-VL keeps Qwen2's tokenizer, which splits numbers into single digits.
        return digit_label_tokens(label)

    def text_tokens(self, text: str) -> int:
        return estimate_text_tokens(text)

    def tokens_per_image(self, width: int, height: int) -> int | None:
        return qwen3_image_tokens(qwen3_resized_size(width, height, _DEFAULT_LOW, _DEFAULT_HIGH))

    def overflow_advice(self) -> str:
        return "lower qwen_max_pixels"

    def sliding_attention(
        self, text_config: Mapping[str, Any], layers: int
    ) -> tuple[int, int | None]:
        return 0, None

    def processor_override(self) -> tuple[type[Any], type[Any]] | None:
        from transformers import Qwen3VLConfig

        from models.families.qwen3_vl_processor import Qwen3VLImageOnlyProcessor

        return Qwen3VLConfig, Qwen3VLImageOnlyProcessor


ADAPTER = Qwen3VLAdapter()
