"""A spec for a local model folder: family from ``config.json``'s ``model_type`` (the family
adapters say which types they run), size from the weight files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from models.errors import ModelNotFoundError, UnsupportedModelError
from models.families import FamilyAdapter, adapter_for_model_type
from models.families.lookup import local_model_types
from models.registry.memory import Architecture
from models.registry.spec import ModelSpec

__all__ = ["spec_from_folder"]

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
    family = adapter_for_model_type(model_type)
    if family is None:
        raise UnsupportedModelError(
            f"Model folder {path.name}: model_type {model_type!r} is not supported; RadLens runs "
            f"{local_model_types()} models."
        )
    architecture = _folder_architecture(path, config, family)
    text = {**config, **config.get("text_config", {})}
    slug = re.sub(r"[^a-z0-9.]+", "-", path.name.lower()).strip("-.") or "local-model"
    return ModelSpec(
        id=slug,
        name=path.name,
        source=str(path),
        family=family.family,
        architecture=architecture,
        context_length=text.get("max_position_embeddings"),
        license="see the folder's model card",
        gated=False,
        card_url="",
        # No card to read: the family's conservative capabilities (no boxes from a gemma3
        # folder, which could be Gemma 3 or MedGemma 1; 2D general grounding from a Qwen one).
        notes=(
            f"Local folder ({model_type}). Its card is unknown, so it gets the {model_type} "
            "family's conservative capabilities."
        ),
    )


def _folder_architecture(
    folder: Path, config: dict[str, Any], family: FamilyAdapter
) -> Architecture:
    text = {**family.config_defaults, **config, **config.get("text_config", {})}
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
    sliding, window = family.sliding_attention(text, layers)
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
