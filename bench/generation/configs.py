"""The full-size architectures of the registry's local models, as transformers configs.

Config facts and where they come from (found with the search tool, docs and code corpora, which
hold copies of the hub pages; Google's own MedGemma repositories are gated and not among them):

- Gemma3 4B / MedGemma 4B, the values of google/gemma-3-4b-it's config.json as copied verbatim by
  https://huggingface.co/mlx-community/gemma-3-4b-it-bf16/blob/main/config.json (also
  mlx-community/gemma-3-4b-pt-4bit): Gemma3ForConditionalGeneration; text hidden_size 2560,
  intermediate_size 10240, num_hidden_layers 34, sliding_window 1024, rope_scaling linear factor
  8; vision (siglip_vision_model) hidden_size 1152, intermediate_size 4304, num_hidden_layers 27,
  num_attention_heads 16, image_size 896, patch_size 14, vision_use_head false;
  mm_tokens_per_image 256; image_token_index 262144, boi_token_index 255999, eoi_token_index
  256000; eos_token_id [1, 106].
- The text keys that config leaves to transformers' defaults, as serialized in full by
  https://huggingface.co/unsloth/gemma-3-4b-pt/blame/main/config.json: num_attention_heads 8,
  num_key_value_heads 4, head_dim 256, query_pre_attn_scalar 256, vocab_size 262208, rope_theta
  1e6 (global layers), rope_local_base_freq 1e4 (local layers), sliding_window_pattern 6 (five
  local layers, then one global: 29 local and 5 global of 34), max_position_embeddings 131072,
  rms_norm_eps 1e-6, hidden_activation gelu_pytorch_tanh, no logit soft-capping.
- MedGemma keeps that architecture: a fine-tuned MedGemma-4B config.json
  (https://huggingface.co/Aakash010/TRIAL3, commit d0c0165: Gemma3ForConditionalGeneration,
  the same image/boi/eoi ids and 256 tokens per image) and a clone of google/medgemma-4b-it
  (https://huggingface.co/AnteriorAI/medgemma-4b-it/blob/main/processor_config.json:
  image_seq_length 256). google/medgemma-1.5-4b-it's config.json is not in the corpus; its size
  (F16 8.6 GB, https://ollama.com/dcarrascosa/medgemma-1.5-4b-it/tags) and the registry's 4.30 B
  agree with this architecture, whose parameter count matches the registry's exactly.
- Qwen2.5-VL-7B, the values of Qwen/Qwen2.5-VL-7B-Instruct's config.json as carried by Qwen's own
  AWQ export (https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct-AWQ/blame/main/config.json,
  "_name_or_path": "Qwen/Qwen2.5-VL-7B-Instruct"; same in
  https://huggingface.co/unsloth/Qwen2.5-VL-7B-Instruct/blob/main/config.json): hidden_size 3584,
  intermediate_size 18944, num_hidden_layers 28, num_attention_heads 28, num_key_value_heads 4,
  vocab_size 152064, max_position_embeddings 128000, rope_theta 1e6, mrope_section [16, 24, 24],
  rms_norm_eps 1e-6, tie_word_embeddings false, image/video token ids 151655/151656, vision
  start/end 151652/151653, bos/eos 151643/151645; its vision_config names only hidden_size 1280,
  spatial_patch_size 14, tokens_per_second 2.
- The vision keys it leaves to defaults (transformers 5.24's Qwen2_5_VLVisionConfig): depth 32,
  intermediate_size 3420, num_heads 16, out_hidden_size 3584, fullatt_block_indexes
  [7, 15, 23, 31], window_size 112, patch_size 14, spatial_merge_size 2, temporal_patch_size 2;
  the same shapes appear in the module printout of the 7B model in GitHub acproject/duorou,
  docs/qwen2.5vl_graph.md (32 blocks, qkv 1280 -> 3840, MLP 3420, merger 5120 -> 3584).
- Lingshu-7B is Qwen2.5-VL-7B-Instruct trained further (its card); its config.json is not in the
  corpus, and the registry gives it the same architecture (8.29 B).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "FULL_CONFIGS",
    "GEMMA3_4B",
    "QWEN2_5_VL_7B",
    "meta_param_counts",
    "model_class",
    "model_config",
    "param_counts",
]

# config.json values (sources in the module docstring). Gemma3's "sliding_window_pattern": 6 is
# written out as layer_types, which is how transformers 5 stores it.
_GEMMA3_LAYERS = 34
GEMMA3_4B: dict[str, Any] = {
    "model_type": "gemma3",
    "architectures": ["Gemma3ForConditionalGeneration"],
    "boi_token_index": 255999,
    "eoi_token_index": 256000,
    "image_token_index": 262144,
    "eos_token_id": [1, 106],
    "mm_tokens_per_image": 256,
    "tie_word_embeddings": True,
    "text_config": {
        "model_type": "gemma3_text",
        "vocab_size": 262208,
        "hidden_size": 2560,
        "intermediate_size": 10240,
        "num_hidden_layers": _GEMMA3_LAYERS,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "sliding_window": 1024,
        "layer_types": [
            "full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
            for i in range(_GEMMA3_LAYERS)
        ],
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "rope_scaling": {"rope_type": "linear", "factor": 8.0},
        "max_position_embeddings": 131_072,
        "rms_norm_eps": 1e-6,
        "hidden_activation": "gelu_pytorch_tanh",
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
        "tie_word_embeddings": True,
    },
    "vision_config": {
        "model_type": "siglip_vision_model",
        "hidden_size": 1152,
        "intermediate_size": 4304,
        "num_hidden_layers": 27,
        "num_attention_heads": 16,
        "image_size": 896,
        "patch_size": 14,
        "vision_use_head": False,
    },
}

QWEN2_5_VL_7B: dict[str, Any] = {
    "model_type": "qwen2_5_vl",
    "architectures": ["Qwen2_5_VLForConditionalGeneration"],
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
    "tie_word_embeddings": False,
    "text_config": {
        "model_type": "qwen2_5_vl_text",
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 128_000,
        "max_window_layers": 28,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "rope_theta": 1_000_000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "tie_word_embeddings": False,
    },
    "vision_config": {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "tokens_per_second": 2,
        "in_channels": 3,
        "hidden_act": "silu",
    },
}

# Registry id -> full-size config. MedGemma 1 and 1.5 share the architecture, as do Lingshu-7B
# and Qwen2.5-VL-7B.
FULL_CONFIGS: dict[str, dict[str, Any]] = {
    "medgemma-1.5-4b": GEMMA3_4B,
    "medgemma-4b": GEMMA3_4B,
    "qwen2.5-vl-7b": QWEN2_5_VL_7B,
    "lingshu-7b": QWEN2_5_VL_7B,
}


def model_config(model_id: str, *, layers: int | None = None) -> Any:
    """The transformers config of ``model_id``'s full-size architecture.

    ``layers`` keeps every width but uses that many text and vision layers (debugging only).
    """
    from transformers import AutoConfig

    if model_id not in FULL_CONFIGS:
        raise SystemExit(
            f"No full-size config for {model_id!r}: use one of {', '.join(FULL_CONFIGS)}."
        )
    data = copy.deepcopy(FULL_CONFIGS[model_id])
    if layers is not None:
        _shrink(data, layers)
    return AutoConfig.for_model(data.pop("model_type"), **data)


def _shrink(data: dict[str, Any], layers: int) -> None:
    if layers < 1:
        raise SystemExit("--layers must be >= 1.")
    text, vision = data["text_config"], data["vision_config"]
    text["num_hidden_layers"] = layers
    if "layer_types" in text:  # Gemma3: keep the pattern, with at least one global layer
        kinds = text["layer_types"][:layers]
        kinds[-1] = "full_attention"
        text["layer_types"] = kinds
    if "max_window_layers" in text:
        text["max_window_layers"] = layers
    if "depth" in vision:  # Qwen2.5-VL
        vision["depth"] = layers
        vision["fullatt_block_indexes"] = [layers - 1]
    else:
        vision["num_hidden_layers"] = layers


def model_class(config: Any) -> Any:
    from transformers import Gemma3ForConditionalGeneration, Qwen2_5_VLForConditionalGeneration

    classes = {
        "gemma3": Gemma3ForConditionalGeneration,
        "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
    }
    return classes[config.model_type]


def meta_param_counts(model_id: str) -> tuple[int, int]:
    """(all, vision tower + projector) parameters of the full-size model, on the meta device."""
    import torch

    config = model_config(model_id)
    with torch.device("meta"):
        model = model_class(config)._from_config(config, dtype=torch.bfloat16)
    return param_counts(model)


def param_counts(model: Any) -> tuple[int, int]:
    """(all, vision tower + projector) parameters of ``model``."""
    vision_prefixes = ("model.vision_tower.", "model.multi_modal_projector.", "model.visual.")
    total = vision = 0
    for name, param in model.named_parameters():  # shared (tied) tensors once
        total += param.numel()
        if name.startswith(vision_prefixes):
            vision += param.numel()
    return total, vision
