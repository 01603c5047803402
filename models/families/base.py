"""The vocabulary of model families (:class:`Family`) and the one shape every family has
(:class:`FamilyAdapter`).

A family module (:mod:`models.families.gemma3`, :mod:`.qwen2_5_vl`, :mod:`.qwen3_vl`,
:mod:`.remote`) holds every fact about one architecture and exposes it as ``ADAPTER``;
:mod:`models.families.lookup` finds it. Callers ask the adapter instead of branching on
:class:`Family`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "PLANAR_2D",
    "Family",
    "FamilyAdapter",
    "ImageEncoding",
    "Pad",
    "Size",
    "digit_label_tokens",
    "estimate_text_tokens",
]

Pad = tuple[int, int, int, int]  # (left, top, right, bottom) zeros added to a source slice
Size = tuple[int, int]  # (width, height) in pixels


class Family(StrEnum):
    GEMMA3 = "gemma3"
    QWEN2_5_VL = "qwen2_5_vl"
    QWEN3_VL = "qwen3_vl"
    REMOTE = "remote"  # whatever an OpenAI-compatible server runs


# 2D images that are not slices of a cross-sectional stack: radiographs, mammograms,
# fluoroscopy/angiography, ultrasound, photographs, endoscopy, microscopy, plain images (DICOM
# modality codes; a plain PNG/JPEG is OT).
PLANAR_2D = frozenset(
    {"CR", "DX", "MG", "RF", "XA", "US", "IO", "PX", "OT", "XC", "ES", "GM", "SM", "OP", "DG"}
)


class ImageEncoding(StrEnum):
    """How a family's makers turn grey CT and MR values into the pixels their model saw.

    ``MEDGEMMA``: every CT image (a single slice too) as three HU windows, one per RGB
    channel, and an MR acquisition scaled min-max over the images sent (Google-Health/medgemma
    python/data_accessors/local_file_handlers/generic_dicom_handler.py, ``RGBWindow`` and
    ``_process_buffered_mri_volume``; notebooks/high_dimensional_ct_hugging_face.ipynb).
    ``VIEWER``: every grey image in grey, as the viewer shows it (its window): for makers who
    publish no CT or MR recipe.
    """

    MEDGEMMA = "medgemma"
    VIEWER = "viewer"


class FamilyAdapter(Protocol):
    """Everything RadLens needs to know about one model family.

    Attributes:
        family: the family's :class:`Family` member.
        model_types: ``config.json`` ``model_type`` values of local folders of this family.
        model_names: the models it covers, for messages (``"MedGemma"``).
        box_format: the native box convention (a ``models.grounding.conventions.Convention``
            value, also the prompts' box format id).
        default_max_slices: images sent for a volume when the user does not say.
        image_encoding: how grey CT and MR values become pixels (:class:`ImageEncoding`).
        image_tokens_note: what an image costs, in words (``radlens models``).
        unquantized_modules: full module-name prefixes bitsandbytes must leave in bf16.
        stop_tokens: the tokens that end an answer, first the end of the turn; the local
            backend resolves them through the tokenizer and stops on them, so stopping does not
            depend on a ``generation_config.json`` in the model folder. () where a server decides.
        int8_problem: why bitsandbytes 8-bit is refused for this family, with its source; ""
            when 8-bit works.
        reasoning_markers: ``(open, close)`` around a thinking trace the family may write before
            its answer (taken out of answers and reports, kept in ``raw``); None if it has none.
        config_defaults: transformers' defaults for text-config keys a ``config.json`` may
            leave out (for the memory estimate of a local folder).
        default_capabilities: keyword arguments of ``models.registry.capabilities.Capabilities``
            for entries of this family that declare none (a local folder, the remote entry):
            the conservative default, what every model of the family can be trusted to do.
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
    def image_encoding(self) -> ImageEncoding: ...
    @property
    def image_tokens_note(self) -> str: ...
    @property
    def unquantized_modules(self) -> tuple[str, ...]: ...
    @property
    def stop_tokens(self) -> tuple[str, ...]: ...
    @property
    def int8_problem(self) -> str: ...
    @property
    def reasoning_markers(self) -> tuple[str, str] | None: ...
    @property
    def config_defaults(self) -> Mapping[str, Any]: ...
    @property
    def default_capabilities(self) -> Mapping[str, Any]: ...

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
        """Approximate prompt tokens of the text label sent after an image."""
        ...

    def text_tokens(self, text: str) -> int:
        """Approximate prompt tokens of one text part (an over- rather than an under-estimate)."""
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
    """Approximate tokens of a label such as ``"SLICE 12"`` or ``"PRIOR SLICE 3"``: ~2 per
    word (``"SLICE"``, ``"PRIOR"``), 1 for the spacing, then one per digit.

    For tokenizers that split numbers into single digits (Gemma3 and Qwen2.5-VL both do).
    """
    if not label:
        return 0
    words = sum(1 for word in label.split() if word.isalpha())
    return 2 * words + 1 + sum(ch.isdigit() for ch in label)


def estimate_text_tokens(text: str) -> int:
    """Approximate tokens of a text: one per 3 characters, rounded up, plus one.

    English prose takes about 4 characters a token with Gemma3's and Qwen2.5-VL's tokenizers,
    medical terms and numbers more: 3 keeps the estimate on the safe side of the context limit.
    """
    return -(-len(text) // 3) + 1 if text else 0
