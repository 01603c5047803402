"""The models RadLens knows: where each comes from, how it sees images and what it needs to run.

A :class:`ModelSpec` is data: an id (``medgemma-1.5-4b``), a source (hub id, local folder or
server URL), the architecture family, the name of its native box convention (the values of
``models.grounding.Convention``), what an image costs in tokens, licence and gating, the system
prompt its card uses, and the size facts behind a memory estimate. :func:`get_spec` finds one by
id, by hub id, or builds one from a local model folder (family from its ``config.json``).

Registry (facts from each model card and ``config.json``; parameters counted by instantiating the
architecture from that config on the meta device with transformers 5.24):

===============  ===============================  ==========  ======  =======  ===============
id               source                           family      params  context  licence
===============  ===============================  ==========  ======  =======  ===============
medgemma-1.5-4b  google/medgemma-1.5-4b-it        gemma3      4.30 B  128K     HAI-DEF, gated
medgemma-4b      google/medgemma-4b-it            gemma3      4.30 B  128K     HAI-DEF, gated
lingshu-7b       lingshu-medical-mllm/Lingshu-7B  qwen2_5_vl  8.29 B  32K      MIT
qwen2.5-vl-3b    Qwen/Qwen2.5-VL-3B-Instruct      qwen2_5_vl  3.75 B  32K      Qwen Research
qwen2.5-vl-7b    Qwen/Qwen2.5-VL-7B-Instruct      qwen2_5_vl  8.29 B  32K      Apache-2.0
remote           RADLENS_REMOTE_URL               remote      -       -        served model's
===============  ===============================  ==========  ======  =======  ===============

The default is ``medgemma-1.5-4b`` (:data:`DEFAULT_MODEL_ID`). Boxes: ``gemma_box_2d`` for the
Gemma3 family, ``qwen_abs`` for Qwen2.5-VL and Lingshu. System prompt: MedGemma 4B's card uses
"You are an expert radiologist."; the other cards' examples send none.

Memory estimate (:meth:`ModelSpec.memory_gb`, GB = 10^9 bytes) for precision ``p``::

    quantized weights   (all parameters - kept) * bytes(p)
  + kept weights        (vision tower + projector + token embeddings [+ untied lm_head]) * 2
  + KV cache            2 (K, V) * kv_heads * head_dim * 2 bytes per layer and token, for
                        KV_TOKENS tokens (sliding-window layers hold at most their window)
  + RUNTIME_OVERHEAD_GB CUDA context, activations, allocator slack

``bytes(p)``: nf4 0.516 (4-bit NormalFloat in blocks of 64 with double-quantized absmax: 4.127
bits, as measured with bitsandbytes 0.50), int8 1.0016 (int8 plus one fp32 scale per row), bf16
2. bitsandbytes quantizes only ``nn.Linear`` layers and RadLens keeps the vision side and
``lm_head`` unquantized (see :mod:`models.loading`), hence the kept weights. fp32 counts 4 bytes
for every parameter and the cache. Check against known numbers: MedGemma 4B bf16 weights are
8.60 GB (4.30 B x 2, the size of its safetensors and of Ollama's F16 build), Qwen2.5-VL-7B's
16.58 GB. Resulting estimates (nf4 / int8 / bf16): MedGemma 5.1 / 6.7 / 9.9 GB, Qwen2.5-VL-3B
4.7 / 6.0 / 8.8 GB, Lingshu-7B and Qwen2.5-VL-7B 8.4 / 11.5 / 18.1 GB.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dicom_io.errors import InvalidArgumentError
from models.errors import (
    ModelNotFoundError,
    UnknownModelError,
    UnsupportedModelError,
    UnsupportedPrecisionError,
)
from models.family import (
    GEMMA3_IMAGE_SIZE,
    GEMMA3_TOKENS_PER_IMAGE,
    QWEN_FACTOR,
    QWEN_MAX_PIXELS,
    QWEN_MIN_PIXELS,
    Family,
    qwen_resized_size,
)
from models.loading import Precision

__all__ = [
    "BYTES_PER_PARAM",
    "DEFAULT_MODEL_ID",
    "KV_TOKENS",
    "REMOTE_ID",
    "RUNTIME_OVERHEAD_GB",
    "Architecture",
    "ModelSpec",
    "RemoteSettings",
    "default_spec",
    "get_spec",
    "known_ids",
    "list_specs",
    "remote_settings",
    "spec_from_folder",
]

DEFAULT_MODEL_ID = "medgemma-1.5-4b"
REMOTE_ID = "remote"

KV_TOKENS = 8192  # a radiograph or a few slices, a prior, and a long report
RUNTIME_OVERHEAD_GB = 1.0
BYTES_PER_PARAM: Mapping[Precision, float] = {
    Precision.NF4: 4.127 / 8,
    Precision.INT8: 1.0016,
    Precision.BF16: 2.0,
    Precision.FP32: 4.0,
}
_GB = 1e9

_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
_CONVENTION = re.compile(r"^[a-z][a-z0-9_]*$")


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


@dataclass(frozen=True)
class ModelSpec:
    """One model RadLens can run, as data. See the module docstring for the memory formula."""

    id: str
    name: str
    source: str  # hub id, local folder, or the server URL of the remote entry
    family: Family
    grounding: str  # a models.grounding.Convention value
    image_tokens: str
    architecture: Architecture | None  # None only for the remote entry
    context_length: int | None
    license: str
    gated: bool
    card_url: str
    default_precision: Precision = Precision.AUTO
    system_prompt: str | None = None  # as the model card's example uses it; None: none given
    notes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.family))
        object.__setattr__(self, "default_precision", Precision.parse(self.default_precision))
        if not _ID.match(self.id):
            raise ValueError(
                f"ModelSpec.id must be lowercase letters, digits, '.', '-': {self.id!r}"
            )
        if not self.name.strip() or not self.source.strip() or not self.license.strip():
            raise ValueError(f"ModelSpec {self.id!r}: name, source and license must not be empty.")
        if not _CONVENTION.match(self.grounding):
            raise ValueError(
                f"ModelSpec {self.id!r}: bad grounding convention {self.grounding!r}."
            )
        if (self.architecture is None) != (self.family is Family.REMOTE):
            raise ValueError(f"ModelSpec {self.id!r}: only a remote model has no architecture.")
        if self.context_length is not None and self.context_length <= 0:
            raise ValueError(f"ModelSpec {self.id!r}: context_length must be > 0.")
        if self.card_url and not self.card_url.startswith("https://"):
            raise ValueError(
                f"ModelSpec {self.id!r}: card_url must be https, not {self.card_url!r}."
            )
        if self.system_prompt is not None and not self.system_prompt.strip():
            raise ValueError(f"ModelSpec {self.id!r}: system_prompt is None or non-empty text.")

    @property
    def is_remote(self) -> bool:
        return self.family is Family.REMOTE

    @property
    def local_folder(self) -> Path | None:
        """The folder the model was given as, when it is a local folder rather than a hub id."""
        if self.is_remote or not _looks_like_path(self.source):
            return None
        return Path(self.source)

    @property
    def hub_id(self) -> str | None:
        """The Hugging Face hub id, when the model comes from the hub."""
        if self.is_remote or self.local_folder is not None:
            return None
        return self.source

    @property
    def params_b(self) -> float | None:
        return None if self.architecture is None else self.architecture.params_b

    def memory_gb(self, precision: Precision | str, *, tokens: int = KV_TOKENS) -> float:
        """Estimated GPU memory (GB) to run at ``precision`` with ``tokens`` in context.

        0.0 for the remote entry: the model runs on the server.
        """
        chosen = Precision.parse(precision)
        if chosen is Precision.AUTO:
            raise UnsupportedPrecisionError(
                "A memory estimate needs a precision (nf4, int8, bf16, fp32), not 'auto'."
            )
        if self.architecture is None:
            return 0.0
        cache = self.architecture.kv_cache_gb(tokens, 4.0 if chosen is Precision.FP32 else 2.0)
        return self.architecture.weights_gb(chosen) + cache + RUNTIME_OVERHEAD_GB

    def tokens_per_image(self, width: int, height: int) -> int | None:
        """Image tokens one ``width`` x ``height`` image costs; None when the server decides."""
        if self.family is Family.GEMMA3:
            return GEMMA3_TOKENS_PER_IMAGE
        if self.family is Family.QWEN2_5_VL:
            w, h = qwen_resized_size(width, height)
            return (w // QWEN_FACTOR) * (h // QWEN_FACTOR)
        return None

    @property
    def gated_note(self) -> str:
        """How to get access, for gated models; empty otherwise."""
        if not self.gated:
            return ""
        return (
            f"Gated: accept the {self.license} on {self.card_url} while logged in to Hugging "
            "Face, then give a token (HF_TOKEN or `hf auth login`) to "
            f"`radlens models pull {self.id}`."
        )


@dataclass(frozen=True)
class RemoteSettings:
    """The OpenAI-compatible server of the ``remote`` entry, from the environment."""

    url: str
    model: str | None
    api_key: str | None = field(default=None, repr=False)
    grounding: str = "qwen_abs"

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_URL must be an http(s) URL such as {_REMOTE_DEFAULT_URL}, "
                f"not {self.url!r}."
            )
        if not _CONVENTION.match(self.grounding):
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_GROUNDING must be a convention name such as 'qwen_abs', "
                f"not {self.grounding!r}."
            )


_REMOTE_DEFAULT_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` listens by default


def remote_settings(environ: Mapping[str, str] | None = None) -> RemoteSettings:
    """Read RADLENS_REMOTE_URL, _MODEL, _API_KEY and _GROUNDING (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    return RemoteSettings(
        url=env.get("RADLENS_REMOTE_URL", "").strip() or _REMOTE_DEFAULT_URL,
        model=env.get("RADLENS_REMOTE_MODEL", "").strip() or None,
        api_key=env.get("RADLENS_REMOTE_API_KEY") or None,
        grounding=env.get("RADLENS_REMOTE_GROUNDING", "").strip() or "qwen_abs",
    )


# --------------------------------------------------------------------------- the registry

# Counted from each config.json on the meta device (transformers 5.24); totals match the hub's
# 4.30 B, 8.29 B and 3.75 B. Gemma3 4B: 29 of 34 layers use a 1024-token sliding window.
_GEMMA3_4B = Architecture(
    params=4_300_079_472,
    vision_params=419_816_304,
    layers=34,
    hidden_size=2560,
    kv_heads=4,
    head_dim=256,
    vocab_size=262_208,
    tied_embeddings=True,
    sliding_layers=29,
    sliding_window=1024,
)
_QWEN2_5_VL_7B = Architecture(
    params=8_292_166_656,
    vision_params=676_550_144,
    layers=28,
    hidden_size=3584,
    kv_heads=4,
    head_dim=128,
    vocab_size=152_064,
    tied_embeddings=False,
)
_QWEN2_5_VL_3B = Architecture(
    params=3_754_622_976,
    vision_params=668_684_288,
    layers=36,
    hidden_size=2048,
    kv_heads=2,
    head_dim=128,
    vocab_size=151_936,
    tied_embeddings=True,
)

_GEMMA3_TOKENS = (
    f"{GEMMA3_TOKENS_PER_IMAGE} per image (resized to {GEMMA3_IMAGE_SIZE}x{GEMMA3_IMAGE_SIZE})"
)
_QWEN_TOKENS = (
    f"1 per {QWEN_FACTOR}x{QWEN_FACTOR} px of the resized image "
    f"({QWEN_MIN_PIXELS // QWEN_FACTOR**2}-{QWEN_MAX_PIXELS // QWEN_FACTOR**2} per image; "
    "512x512 -> 324)"
)
_HAI_DEF = "Health AI Developer Foundations terms of use"
_QWEN_TEMPLATE = "Without a system message the chat template adds 'You are a helpful assistant.'"

_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="medgemma-1.5-4b",
        name="MedGemma 1.5 4B-it",
        source="google/medgemma-1.5-4b-it",
        family=Family.GEMMA3,
        grounding="gemma_box_2d",
        image_tokens=_GEMMA3_TOKENS,
        architecture=_GEMMA3_4B,
        context_length=131_072,
        license=_HAI_DEF,
        gated=True,
        card_url="https://huggingface.co/google/medgemma-1.5-4b-it",
        system_prompt=None,
        notes=(
            "Default. Adds CT/MRI volumes as slices, longitudinal chest X-rays and chest X-ray "
            "anatomical localization with boxes. The card's example sends no system message; it "
            "warns MedGemma is more prompt-sensitive than Gemma 3 and not evaluated multi-turn."
        ),
    ),
    ModelSpec(
        id="medgemma-4b",
        name="MedGemma 4B-it",
        source="google/medgemma-4b-it",
        family=Family.GEMMA3,
        grounding="gemma_box_2d",
        image_tokens=_GEMMA3_TOKENS,
        architecture=_GEMMA3_4B,
        context_length=131_072,
        license=_HAI_DEF,
        gated=True,
        card_url="https://huggingface.co/google/medgemma-4b-it",
        system_prompt="You are an expert radiologist.",
        notes=(
            "MedGemma 1. Not trained for box localization. Instruction-tuned reports differ in "
            "style from MIMIC-CXR (RadGraph F1 21.9 it vs 29.5 pt)."
        ),
    ),
    ModelSpec(
        id="lingshu-7b",
        name="Lingshu-7B",
        source="lingshu-medical-mllm/Lingshu-7B",
        family=Family.QWEN2_5_VL,
        grounding="qwen_abs",
        image_tokens=_QWEN_TOKENS,
        architecture=_QWEN2_5_VL_7B,
        context_length=32_768,
        license="MIT",
        gated=False,
        card_url="https://huggingface.co/lingshu-medical-mllm/Lingshu-7B",
        system_prompt=None,
        notes=(
            "Qwen2.5-VL-7B trained on medical data; VQA-RAD 67.9, SLAKE 83.1 (its card). "
            f"The card gives no system prompt. {_QWEN_TEMPLATE}"
        ),
    ),
    ModelSpec(
        id="qwen2.5-vl-3b",
        name="Qwen2.5-VL-3B-Instruct",
        source="Qwen/Qwen2.5-VL-3B-Instruct",
        family=Family.QWEN2_5_VL,
        grounding="qwen_abs",
        image_tokens=_QWEN_TOKENS,
        architecture=_QWEN2_5_VL_3B,
        context_length=32_768,
        license="Qwen Research License (non-commercial)",
        gated=False,
        card_url="https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct",
        system_prompt=None,
        notes=f"General model with strong grounding; not medical. {_QWEN_TEMPLATE}",
    ),
    ModelSpec(
        id="qwen2.5-vl-7b",
        name="Qwen2.5-VL-7B-Instruct",
        source="Qwen/Qwen2.5-VL-7B-Instruct",
        family=Family.QWEN2_5_VL,
        grounding="qwen_abs",
        image_tokens=_QWEN_TOKENS,
        architecture=_QWEN2_5_VL_7B,
        context_length=32_768,
        license="Apache-2.0",
        gated=False,
        card_url="https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct",
        system_prompt=None,
        notes=f"General model with strong grounding; not medical. {_QWEN_TEMPLATE}",
    ),
)


def _remote_spec(environ: Mapping[str, str] | None) -> ModelSpec:
    settings = remote_settings(environ)
    served = settings.model or "the server's first model"
    return ModelSpec(
        id=REMOTE_ID,
        name=f"Remote: {served}",
        source=settings.url,
        family=Family.REMOTE,
        grounding=settings.grounding,
        image_tokens="decided by the served model",
        architecture=None,
        context_length=None,
        license="that of the served model",
        gated=False,
        card_url="",
        notes=(
            "Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, transformers serve): "
            "RADLENS_REMOTE_URL, RADLENS_REMOTE_MODEL, RADLENS_REMOTE_API_KEY, "
            "RADLENS_REMOTE_GROUNDING. Images are sent to that server: use one you control."
        ),
    )


def list_specs(environ: Mapping[str, str] | None = None) -> tuple[ModelSpec, ...]:
    """Every registry entry, the default first, the remote one (from ``environ``) last."""
    return (*_SPECS, _remote_spec(environ))


def known_ids() -> tuple[str, ...]:
    return (*(spec.id for spec in _SPECS), REMOTE_ID)


def default_spec() -> ModelSpec:
    return get_spec(DEFAULT_MODEL_ID)


def get_spec(model: str | Path, *, environ: Mapping[str, str] | None = None) -> ModelSpec:
    """The spec for a registry id, a registry hub id, or a local model folder.

    Raises :class:`UnknownModelError` (listing the known ids) for anything else, and
    :class:`ModelNotFoundError` for a path that is not a folder.
    """
    text = str(model).strip()
    if not isinstance(model, Path):
        wanted = text.lower()
        if wanted == REMOTE_ID:
            return _remote_spec(environ)
        for spec in _SPECS:
            if wanted in (spec.id, spec.source.lower()):
                return spec
    path = Path(text).expanduser()
    if text and path.is_dir():
        return spec_from_folder(path)
    if isinstance(model, Path) or _looks_like_path(text):
        raise ModelNotFoundError(f"Model {text!r} not found: no folder at {path.resolve()}.")
    raise UnknownModelError(
        f"Unknown model {text!r}: use one of {', '.join(known_ids())}, "
        "or the path of a local model folder (see `radlens models`)."
    )


def _looks_like_path(text: str) -> bool:
    """A hub id is ``owner/name``; anything else with a separator is meant as a path."""
    return text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1


# --------------------------------------------------------------------------- local folders

# config.json model_type -> family and native box convention.
_FOLDER_FAMILIES: Mapping[str, tuple[Family, str]] = {
    "gemma3": (Family.GEMMA3, "gemma_box_2d"),
    "qwen2_5_vl": (Family.QWEN2_5_VL, "qwen_abs"),
}
# transformers' defaults for keys a config.json may leave out (Gemma3TextConfig, Qwen2.5-VL).
_TEXT_DEFAULTS: Mapping[Family, Mapping[str, Any]] = {
    Family.GEMMA3: {
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "vocab_size": 262_208,
        "tie_word_embeddings": True,
        "sliding_window": 4096,
    },
    Family.QWEN2_5_VL: {"tie_word_embeddings": False},
}
_VISION_PREFIXES = ("visual.", "vision_tower.", "multi_modal_projector.")
_MAX_HEADER_BYTES = 100 * 1024 * 1024


def spec_from_folder(folder: str | Path) -> ModelSpec:
    """A spec for a local model folder, its family read from ``config.json``'s ``model_type``."""
    path = Path(folder).expanduser().resolve()
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelNotFoundError(
            f"Model folder {path}: no config.json, so it is not a model folder."
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UnsupportedModelError(f"{config_file}: not a readable JSON file ({err}).") from err
    model_type = str(config.get("model_type", ""))
    if model_type not in _FOLDER_FAMILIES:
        raise UnsupportedModelError(
            f"Model folder {path.name}: model_type {model_type!r} is not supported; RadLens runs "
            "gemma3 (MedGemma) and qwen2_5_vl (Qwen2.5-VL, Lingshu) models."
        )
    family, grounding = _FOLDER_FAMILIES[model_type]
    architecture = _folder_architecture(path, config, family)
    text = {**config, **config.get("text_config", {})}
    slug = re.sub(r"[^a-z0-9.]+", "-", path.name.lower()).strip("-.") or "local-model"
    return ModelSpec(
        id=slug,
        name=path.name,
        source=str(path),
        family=family,
        grounding=grounding,
        image_tokens=_GEMMA3_TOKENS if family is Family.GEMMA3 else _QWEN_TOKENS,
        architecture=architecture,
        context_length=text.get("max_position_embeddings"),
        license="see the folder's model card",
        gated=False,
        card_url="",
        notes=f"Local folder ({model_type}).",
    )


def _folder_architecture(folder: Path, config: dict[str, Any], family: Family) -> Architecture:
    text = {**_TEXT_DEFAULTS[family], **config, **config.get("text_config", {})}
    if "tie_word_embeddings" in config:
        text["tie_word_embeddings"] = config["tie_word_embeddings"]
    try:
        hidden, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
        heads = int(text["num_attention_heads"])
        kv_heads = int(text.get("num_key_value_heads") or heads)
        head_dim = int(text.get("head_dim") or hidden // heads)
        vocab = int(text["vocab_size"])
    except (KeyError, TypeError, ValueError) as err:
        raise UnsupportedModelError(
            f"Model folder {folder.name}: config.json lacks the text model's size ({err})."
        ) from err
    sliding, window = 0, None
    if family is Family.GEMMA3:
        kinds = text.get("layer_types") or [
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)
        ]
        sliding, window = sum(k == "sliding_attention" for k in kinds), int(text["sliding_window"])
    total, vision = _count_params(folder, config)
    return Architecture(
        params=total,
        vision_params=vision,
        layers=layers,
        hidden_size=hidden,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab_size=vocab,
        tied_embeddings=bool(text["tie_word_embeddings"]),
        sliding_layers=sliding,
        sliding_window=window,
    )


def _count_params(folder: Path, config: dict[str, Any]) -> tuple[int, int]:
    """(all, vision) parameters from the safetensors headers; from file sizes without them."""
    total = vision = 0
    files = sorted(folder.glob("*.safetensors"))
    for file in files:
        for name, count in _safetensors_counts(file):
            total += count
            if name.startswith(_VISION_PREFIXES) or any(f".{p}" in name for p in _VISION_PREFIXES):
                vision += count
    if files:
        return total, vision
    stored = config.get("dtype") or config.get("torch_dtype") or "bfloat16"
    size = sum(p.stat().st_size for p in folder.glob("*.bin"))
    if not size:
        raise ModelNotFoundError(
            f"Model folder {folder.name}: no weight files (*.safetensors); "
            "the download may be incomplete."
        )
    return size // (4 if stored == "float32" else 2), 0


def _safetensors_counts(file: Path) -> list[tuple[str, int]]:
    """(tensor name, element count) for each tensor, from the file's JSON header only."""
    try:
        with file.open("rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if not 0 < length <= min(_MAX_HEADER_BYTES, file.stat().st_size - 8):
                raise ValueError(f"header length {length} does not fit the file")
            header = json.loads(handle.read(length))
        return [
            (name, math.prod(int(n) for n in info["shape"]))
            for name, info in header.items()
            if name != "__metadata__"
        ]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UnsupportedModelError(
            f"{file.name}: not a readable safetensors file ({err})."
        ) from err
