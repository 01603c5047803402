"""A spec for a local model folder: family from ``config.json``, size from the weight files."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from models.errors import ModelNotFoundError, UnsupportedModelError
from models.families.base import Family
from models.registry.known_models import GEMMA3_TOKENS, QWEN_TOKENS
from models.registry.memory import Architecture
from models.registry.spec import ModelSpec

__all__ = ["spec_from_folder"]

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
        image_tokens=GEMMA3_TOKENS if family is Family.GEMMA3 else QWEN_TOKENS,
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
