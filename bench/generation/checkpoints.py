"""Random-weight checkpoints for the generation benchmark: the tiny ones of
tests/models/tiny.py, or a registry model's full-size architecture.

The full-size model is instantiated on the meta device in bfloat16, materialized on the target
device (``to_empty``), filled with random values there (normal(0, 0.02) matrices, neutral norms),
saved as safetensors, and freed. Its tokenizer, chat template and processor files are the tiny
checkpoint's, with the processor set to the real image geometry, and the special-token ids in
the config are set to that tokenizer's ids (see bench/generate.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.generation.configs import model_class, model_config, param_counts
from bench.generation.memory import release_memory
from models.families.base import Family
from models.registry.spec import ModelSpec

__all__ = [
    "checkpoint_params",
    "randomize_",
    "tiny_family",
    "write_full_checkpoint",
    "write_tiny_checkpoint",
]

# The real processors' image geometry, written over the tiny checkpoint's.
_PROCESSOR_GEOMETRY: dict[str, dict[str, Any]] = {
    "gemma3": {"size": {"height": 896, "width": 896}, "image_seq_length": 256},
    "qwen2_5_vl": {"min_pixels": 3136, "max_pixels": 12_845_056},
    # Qwen3-VL Instruct preprocessor_config.json (tests/models/tiny_qwen3_vl.py already writes
    # these values; restated so the full-size folder never depends on the tiny one's sizes).
    "qwen3_vl": {
        "size": {"shortest_edge": 65_536, "longest_edge": 16_777_216},
        "patch_size": 16,
        "merge_size": 2,
        "temporal_patch_size": 2,
    },
}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.json")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def tiny_family(spec: ModelSpec) -> str:
    if spec.family not in (Family.GEMMA3, Family.QWEN2_5_VL, Family.QWEN3_VL):
        raise SystemExit(f"Model {spec.id!r} is not a local architecture (family {spec.family}).")
    return spec.family.value


def write_tiny_checkpoint(spec: ModelSpec, folder: Path) -> Path:
    from tests.models.tiny import TINY_BUILDERS

    return TINY_BUILDERS[tiny_family(spec)](folder)


def _token_ids(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k.endswith(("_token_id", "_token_index"))}


def write_full_checkpoint(
    spec: ModelSpec,
    folder: Path,
    device: str,
    *,
    layers: int | None = None,
    config: Any = None,
    seed: int = 0,
) -> tuple[int, int]:
    """Write ``spec``'s full-size random-weight checkpoint to ``folder``; its param counts.

    The tokenizer, chat template and processor files come from the tiny checkpoint of the same
    family (written beside it, then removed), and the config's special-token ids are set to
    that tokenizer's. ``config`` replaces :func:`model_config`'s (tests shrink it).
    """
    donor = write_tiny_checkpoint(spec, folder.parent / f"{folder.name}-tokenizer")
    donor_config = json.loads((donor / "config.json").read_text(encoding="utf-8"))
    if config is None:
        config = model_config(spec.id, layers=layers)
    _take_token_ids(config, donor_config)
    counts = _write_random_weights(config, folder, device, seed)
    _copy_processor_files(donor, folder, donor_config["model_type"])
    shutil.rmtree(donor)
    return counts


def _take_token_ids(config: Any, donor_config: dict[str, Any]) -> None:
    """Set the special-token ids of ``config`` and its text config to the donor's."""
    for key, value in _token_ids(donor_config).items():
        setattr(config, key, value)
    for key, value in _token_ids(donor_config.get("text_config", {})).items():
        setattr(config.text_config, key, value)


def _write_random_weights(config: Any, folder: Path, device: str, seed: int) -> tuple[int, int]:
    """Build ``config``'s model on ``device``, randomize, save and free it; its param counts."""
    import torch

    with torch.device("meta"):
        model = model_class(config)._from_config(config, dtype=torch.bfloat16)
    model.to_empty(device=device)
    model.tie_weights()  # to_empty gives every parameter new storage: tie lm_head again
    randomize_(model, seed)
    counts = param_counts(model)
    model.save_pretrained(folder)
    del model
    release_memory()
    return counts


def _copy_processor_files(donor: Path, folder: Path, model_type: str) -> None:
    """The donor's tokenizer, chat template, generation and processor files, the processor's
    with the real image geometry."""
    for name in (*_TOKENIZER_FILES, "generation_config.json", "processor_config.json"):
        if (donor / name).exists():
            shutil.copyfile(donor / name, folder / name)
    geometry = _PROCESSOR_GEOMETRY[model_type]
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = donor / name
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            data.update({k: v for k, v in geometry.items() if k in data})
            _write_json(folder / name, data)


def randomize_(model: Any, seed: int) -> None:
    """Fill every parameter in place: normal(0, 0.02) matrices, zero biases, neutral norms.

    Gemma's RMSNorm scales by ``1 + weight`` (neutral at 0); LayerNorm and Qwen's RMSNorm by
    ``weight`` (neutral at 1).
    """
    import torch

    first = next(model.parameters())
    generator = torch.Generator(device=first.device).manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            offset_norm = (
                type(module).__name__.startswith("Gemma") and "Norm" in type(module).__name__
            )
            for name, param in module.named_parameters(recurse=False):
                if param.dim() >= 2:
                    param.normal_(0.0, 0.02, generator=generator)
                elif name == "bias" or offset_norm:
                    param.zero_()
                else:
                    param.fill_(1.0)


def checkpoint_params(folder: Path) -> int:
    """Parameters stored in the folder's safetensors files (their headers)."""
    from models.registry.local_folder import spec_from_folder

    architecture = spec_from_folder(folder).architecture
    assert architecture is not None
    return architecture.params
