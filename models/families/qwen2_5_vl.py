"""Qwen2.5-VL: Qwen2.5-VL-3B/7B and Lingshu. Every fact RadLens uses about this family lives here.

- Images: cut into 14 px patches merged 2x2, so one token per 28x28 pixels, with sides resized
  to multiples of 28 between ``MIN_PIXELS`` and ``MAX_PIXELS`` (:func:`qwen_resized_size`, the
  processor's ``smart_resize``). RadLens resizes to exactly that size, unpadded, so the
  processor keeps the image as it is; 2 tokens wrap each image ("<|vision_start|>" ...
  "<|vision_end|>"). A 512x512 slice becomes 504x504: 324 tokens.
- Volumes: 16 slices by default (~5,200 tokens for 512x512 slices, which with a 7B model in
  4 bits keeps a 24 GB GPU comfortable; raise it when memory allows).
- Image encoding: the viewer's (``ImageEncoding.VIEWER``): a CT or MR slice is sent in grey,
  in the window the viewer shows. Qwen publishes no CT or MR recipe (its cookbooks feed plain
  RGB photos and documents), nor does Lingshu's evaluation code (MedEvalKit), and neither was
  trained on MedGemma's three-window RGB encoding.
- Boxes: ``qwen_abs`` (``bbox_2d`` in pixels of the resized image, in a json code block).
- Quantization keeps the vision transformer (with its patch merger) and ``lm_head`` in bf16.
- Processor quirk: the stock processor needs torchvision for its video part, so an image-only
  subclass is loaded instead (:mod:`models.families.qwen2_5_vl_processor`).
- No sliding-window layers counted; no decoding defaults beyond the shared ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from models.families.base import (
    PLANAR_2D,
    Family,
    ImageEncoding,
    Pad,
    Size,
    digit_label_tokens,
    estimate_text_tokens,
)

__all__ = [
    "ADAPTER",
    "FACTOR",
    "MAX_PIXELS",
    "MIN_PIXELS",
    "Qwen2_5_VLAdapter",
    "qwen_image_tokens",
    "qwen_resized_size",
]

FACTOR = 28  # 14 px patches merged 2x2
MIN_PIXELS = 4 * FACTOR * FACTOR
MAX_PIXELS = 1280 * FACTOR * FACTOR  # the cap Qwen recommends for memory
WRAPPER_TOKENS = 2
_CONFIG_DEFAULTS: Mapping[str, Any] = MappingProxyType({"tie_word_embeddings": False})


def qwen_resized_size(
    width: int,
    height: int,
    min_pixels: int = MIN_PIXELS,
    max_pixels: int = MAX_PIXELS,
    factor: int = FACTOR,
) -> Size:
    """``(width, height)`` Qwen2.5-VL's processor resizes an image to (its ``smart_resize``).

    Sides become multiples of ``factor`` close to the original aspect ratio, with the area
    brought within ``[min_pixels, max_pixels]``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"Image size must be positive, not {width}x{height}.")
    if max(width, height) / min(width, height) > 200:
        raise ValueError(f"Aspect ratio of {width}x{height} is beyond 200, which Qwen refuses.")
    h = round(height / factor) * factor
    w = round(width / factor) * factor
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return w, h


def qwen_image_tokens(model_size: Size) -> int:
    """The soft tokens of one image already resized to ``model_size``: one per 28x28 px."""
    width, height = model_size
    return (width // FACTOR) * (height // FACTOR)


# Qwen-family grounding: the base models are trained for it on natural images and documents
# (their cards); a fine-tune keeps the architecture's box format, not necessarily the skill, so
# boxes are offered on 2D images only, as for the base models.
_DEFAULT_CAPABILITIES: Mapping[str, Any] = MappingProxyType(
    {
        "localization": PLANAR_2D,
        "localization_scope": (
            "general objects in 2D images (trained on natural images and documents, not medical "
            "images)"
        ),
        "no_localization": "not trained on CT/MR slices",
    }
)


@dataclass(frozen=True)
class Qwen2_5_VLAdapter:
    """The Qwen2.5-VL family (see the module docstring for the facts)."""

    family: Family = Family.QWEN2_5_VL
    model_types: tuple[str, ...] = ("qwen2_5_vl",)
    model_names: str = "Qwen2.5-VL, Lingshu"
    box_format: str = "qwen_abs"
    default_max_slices: int = 16
    image_encoding: ImageEncoding = ImageEncoding.VIEWER
    image_tokens_note: str = (
        f"1 per {FACTOR}x{FACTOR} px of the resized image "
        f"({MIN_PIXELS // FACTOR**2}-{MAX_PIXELS // FACTOR**2} per image; "
        "512x512 -> 324)"
    )
    unquantized_modules: tuple[str, ...] = ("model.visual", "lm_head")
    # Qwen's chat template ends each turn with <|im_end|>; Qwen2.5-VL's generation_config.json
    # lists eos_token_id [151645, 151643] = <|im_end|>, <|endoftext|>.
    stop_tokens: tuple[str, ...] = ("<|im_end|>", "<|endoftext|>")
    int8_problem: str = ""
    reasoning_markers: tuple[str, str] | None = None  # Qwen2.5-VL writes no trace

    @property
    def config_defaults(self) -> Mapping[str, Any]:
        return _CONFIG_DEFAULTS

    @property
    def default_capabilities(self) -> Mapping[str, Any]:
        return _DEFAULT_CAPABILITIES

    def geometry(
        self, width: int, height: int, *, min_pixels: int, max_pixels: int
    ) -> tuple[Pad, Size]:
        return (0, 0, 0, 0), qwen_resized_size(width, height, min_pixels, max_pixels)

    def image_tokens(self, model_size: Size) -> int:
        return qwen_image_tokens(model_size) + WRAPPER_TOKENS

    def label_tokens(self, label: str) -> int:
        return digit_label_tokens(label)

    def text_tokens(self, text: str) -> int:
        return estimate_text_tokens(text)

    def tokens_per_image(self, width: int, height: int) -> int | None:
        return qwen_image_tokens(qwen_resized_size(width, height))

    def overflow_advice(self) -> str:
        return "lower qwen_max_pixels"

    def sliding_attention(
        self, text_config: Mapping[str, Any], layers: int
    ) -> tuple[int, int | None]:
        return 0, None

    def processor_override(self) -> tuple[type[Any], type[Any]] | None:
        from transformers import Qwen2_5_VLConfig

        from models.families.qwen2_5_vl_processor import Qwen2_5_VLImageProcessor

        return Qwen2_5_VLConfig, Qwen2_5_VLImageProcessor


ADAPTER = Qwen2_5_VLAdapter()
