"""The vocabulary of model families (:class:`Family`) and the one shape every family has
(:class:`FamilyAdapter`).

A family module (:mod:`models.families.gemma3`, :mod:`.qwen2_5_vl`, :mod:`.remote`) holds every
fact about one architecture and exposes it as ``ADAPTER``; :mod:`models.families.lookup` finds
it. Callers ask the adapter instead of branching on :class:`Family`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["Family", "FamilyAdapter", "Pad", "Size", "digit_label_tokens"]

Pad = tuple[int, int, int, int]  # (left, top, right, bottom) zeros added to a source slice
Size = tuple[int, int]  # (width, height) in pixels


class Family(StrEnum):
    GEMMA3 = "gemma3"
    QWEN2_5_VL = "qwen2_5_vl"
    REMOTE = "remote"  # whatever an OpenAI-compatible server runs


class FamilyAdapter(Protocol):
    """Everything RadLens needs to know about one model family.

    Attributes:
        family: the family's :class:`Family` member.
        model_types: ``config.json`` ``model_type`` values of local folders of this family.
        model_names: the models it covers, for messages (``"MedGemma"``).
        box_format: the native box convention (a ``models.grounding.conventions.Convention``
            value, also the prompts' box format id).
        default_max_slices: images sent for a volume when the user does not say.
        image_tokens_note: what an image costs, in words (``radlens models``).
        unquantized_modules: full module-name prefixes bitsandbytes must leave in bf16.
        config_defaults: transformers' defaults for text-config keys a ``config.json`` may
            leave out (for the memory estimate of a local folder).
    """

    @property
    def family(self) -> Family: ...
    @property
    def model_types(self) -> tuple[str, ...]: ...
    @property
    def model_names(self) -> str: ...
    @property
    def box_format(self) -> str: ...
    @property
    def default_max_slices(self) -> int: ...
    @property
    def image_tokens_note(self) -> str: ...
    @property
    def unquantized_modules(self) -> tuple[str, ...]: ...
    @property
    def config_defaults(self) -> Mapping[str, Any]: ...

    def geometry(
        self, width: int, height: int, *, min_pixels: int, max_pixels: int
    ) -> tuple[Pad, Size]:
        """``(pad, model_size)`` for a ``width`` x ``height`` source slice, within the area
        bounds the input options allow (a fixed-size family ignores them)."""
        ...

    def image_tokens(self, model_size: Size) -> int:
        """Prompt tokens of one image of ``model_size``, its delimiters included."""
        ...

    def label_tokens(self, label: str) -> int:
        """Approximate prompt tokens of the text label sent before an image."""
        ...

    def tokens_per_image(self, width: int, height: int) -> int | None:
        """The image's own tokens for a ``width`` x ``height`` source at the default geometry;
        None when a server decides."""
        ...

    def overflow_advice(self) -> str:
        """What to change when a single image does not fit the context."""
        ...

    def sliding_attention(
        self, text_config: Mapping[str, Any], layers: int
    ) -> tuple[int, int | None]:
        """``(sliding layers, window)`` of a checkpoint from its text config."""
        ...

    def processor_override(self) -> tuple[type[Any], type[Any]] | None:
        """``(config class, processor class)`` to load instead of the stock processor, or None.

        Imports transformers: call it only when loading a model.
        """
        ...


def digit_label_tokens(label: str) -> int:
    """Approximate tokens of a label: ``"SLICE"`` and the space ~3, then one per digit.

    For tokenizers that split numbers into single digits (Gemma3 and Qwen2.5-VL both do).
    """
    return 3 + sum(ch.isdigit() for ch in label) if label else 0
