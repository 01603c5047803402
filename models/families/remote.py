"""The remote family: whatever model an OpenAI-compatible server runs.

Its processor is unknown, so images get the Qwen2.5-VL geometry (multiples of 28, unpadded: a
size any server accepts) and token counts are Qwen's, as an estimate; the registry says the
served model decides (:meth:`RemoteAdapter.tokens_per_image` is None). 16 slices by default;
grey images as the viewer shows them (``ImageEncoding.VIEWER``: an unknown model was trained on
no particular CT encoding).
This is the family of a server whose model was not declared (RADLENS_REMOTE_FAMILY unset or
``unknown``); a declared one gets its own family's adapter (:mod:`models.registry.remote_entry`).

Boxes: ``qwen_norm_1000`` (``bbox_2d`` on a 0-1000 grid, x first, as Qwen2-VL and Qwen3-VL
write them) unless RADLENS_REMOTE_GROUNDING names another convention. A relative grid stays
right whatever size the server resizes an image to; absolute pixels (``qwen_abs``) are only
right in the frame of a processor RadLens knows, so an unknown model is never read that way by
default. Nothing is loaded here, so nothing is quantized and no processor is chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from models.families import qwen2_5_vl
from models.families.base import (
    Family,
    ImageEncoding,
    Pad,
    Size,
    digit_label_tokens,
    estimate_text_tokens,
)

__all__ = ["ADAPTER", "RemoteAdapter"]


_DEFAULT_CAPABILITIES: Mapping[str, Any] = MappingProxyType(
    {"no_localization": "the served model is unknown (set RADLENS_REMOTE_FAMILY)"}
)


@dataclass(frozen=True)
class RemoteAdapter:
    """The remote family (see the module docstring for the facts)."""

    family: Family = Family.REMOTE
    model_types: tuple[str, ...] = ()
    model_names: str = "a model behind an OpenAI-compatible server"
    box_format: str = "qwen_norm_1000"  # relative: see the module docstring
    default_max_slices: int = 16
    image_encoding: ImageEncoding = ImageEncoding.VIEWER
    image_tokens_note: str = "decided by the served model"
    unquantized_modules: tuple[str, ...] = ()
    stop_tokens: tuple[str, ...] = ()  # the server stops on its model's own end tokens
    int8_problem: str = ""  # nothing is loaded here
    reasoning_markers: tuple[str, str] | None = None  # the served family's, via spec.family

    @property
    def config_defaults(self) -> Mapping[str, Any]:
        return MappingProxyType({})

    @property
    def default_capabilities(self) -> Mapping[str, Any]:
        return _DEFAULT_CAPABILITIES

    def geometry(
        self, width: int, height: int, *, min_pixels: int, max_pixels: int
    ) -> tuple[Pad, Size]:
        return qwen2_5_vl.ADAPTER.geometry(
            width, height, min_pixels=min_pixels, max_pixels=max_pixels
        )

    def image_tokens(self, model_size: Size) -> int:
        return qwen2_5_vl.ADAPTER.image_tokens(model_size)

    def label_tokens(self, label: str) -> int:
        return digit_label_tokens(label)

    def text_tokens(self, text: str) -> int:
        return estimate_text_tokens(text)

    def tokens_per_image(self, width: int, height: int) -> int | None:
        return None

    def overflow_advice(self) -> str:
        return qwen2_5_vl.ADAPTER.overflow_advice()

    def sliding_attention(
        self, text_config: Mapping[str, Any], layers: int
    ) -> tuple[int, int | None]:
        return 0, None

    def processor_override(self) -> tuple[type[Any], type[Any]] | None:
        return None


ADAPTER = RemoteAdapter()
