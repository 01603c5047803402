"""Model families: how each architecture wants its images and how many tokens they cost.

Facts from the model cards and processors: Gemma3 (MedGemma) encodes every image as 256 tokens
at 896x896; Qwen2.5-VL (and Lingshu) cuts images into 14 px patches merged 2x2, so one token per
28x28 pixels, with sides resized to multiples of 28 between ``min_pixels`` and ``max_pixels``.
"""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = [
    "GEMMA3_IMAGE_SIZE",
    "GEMMA3_TOKENS_PER_IMAGE",
    "QWEN_FACTOR",
    "QWEN_MAX_PIXELS",
    "QWEN_MIN_PIXELS",
    "Family",
    "qwen_resized_size",
]


class Family(StrEnum):
    GEMMA3 = "gemma3"
    QWEN2_5_VL = "qwen2_5_vl"
    REMOTE = "remote"  # whatever an OpenAI-compatible server runs


GEMMA3_IMAGE_SIZE = 896
GEMMA3_TOKENS_PER_IMAGE = 256
QWEN_FACTOR = 28  # 14 px patches merged 2x2
QWEN_MIN_PIXELS = 4 * QWEN_FACTOR * QWEN_FACTOR
QWEN_MAX_PIXELS = 1280 * QWEN_FACTOR * QWEN_FACTOR  # the cap Qwen recommends for memory


def qwen_resized_size(
    width: int,
    height: int,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
    factor: int = QWEN_FACTOR,
) -> tuple[int, int]:
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
