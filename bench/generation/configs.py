"""The full-size architectures of the registry's local models, as transformers configs.

One config per architecture; registry ids that share one map to the same dict (``FULL_CONFIGS``).
Every value below is a config.json value (or the transformers default that config.json leaves
out), read with the search tool (docs and code corpora, which hold copies of hub pages and other
projects' copies of these configs; Google's and Qwen's own hub repositories are not among them).
The parameter count of each, on the meta device, equals the registry's ``Architecture.params``
(tests/bench/test_generate_smoke.py checks every id).

Gemma3 (``Gemma3ForConditionalGeneration``; SigLIP tower 27 x 1152, 896 px, patch 14, no head;
256 soft tokens per image; image/boi/eoi ids 262144/255999/256000; eos [1, 106]; five sliding
layers of 1024 tokens, then one global, written as ``layer_types``):

- Gemma3 4B = MedGemma 4B and 1.5 4B: google/gemma-3-4b-it's config.json as copied verbatim by
  https://huggingface.co/mlx-community/gemma-3-4b-it-bf16/blob/main/config.json: text hidden 2560,
  intermediate 10240, 34 layers, sliding_window 1024, rope_scaling linear factor 8; the keys it
  leaves to defaults as serialized in full by
  https://huggingface.co/unsloth/gemma-3-4b-pt/blame/main/config.json: 8 heads, 4 KV heads,
  head_dim 256, query_pre_attn_scalar 256, vocab 262208, rope_theta 1e6 (global) and
  rope_local_base_freq 1e4 (local), sliding_window_pattern 6, 131072 positions, rms_norm_eps
  1e-6, gelu_pytorch_tanh. MedGemma keeps it: a fine-tuned MedGemma-4B config.json
  (https://huggingface.co/Aakash010/TRIAL3, commit d0c0165) and a clone of google/medgemma-4b-it
  (https://huggingface.co/AnteriorAI/medgemma-4b-it/blob/main/processor_config.json,
  image_seq_length 256); medgemma-1.5-4b-it's config.json is not in the corpus, its F16 size
  (8.6 GB, https://ollama.com/dcarrascosa/medgemma-1.5-4b-it/tags) agrees.
- Gemma3 27B = MedGemma 27B: google/gemma-3-27b-it's config as copied in TensorRT-LLM's Gemma3
  tests (search index file ids 18147872047 and 926331895, ``GEMMA3_27B_MINI_CONFIG`` /
  ``GEMMA3_27B_CONFIG``, which cut the layers for testing; 62 layers in file id 62559293678's
  copy of the text config, and the same numbers in another project's cached HF configs, file id
  53983210377, under "google/medgemma-27b"): text hidden 5376, intermediate 21504, 62 layers,
  32 heads, 16 KV heads, head_dim 128,
  query_pre_attn_scalar 168 (5376 / 32; the only Gemma 3 size where it differs from head_dim),
  rope_scaling linear factor 8, sliding_window 1024, pattern 6 (52 sliding, 10 global); the same
  vision tower and token ids as the 4B. vocab 262208 as the 4B's (the registry's; some copies
  carry 262144, the tokenizer's size without the 64 image-token rows, which would be 344 K
  parameters fewer).

Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``; the vision tower's config.json names only
hidden_size 1280, spatial_patch_size 14, tokens_per_second 2 and out_hidden_size; the rest are
transformers 5.24's ``Qwen2_5_VLVisionConfig`` defaults: depth 32, intermediate 3420, 16 heads,
window 112, full attention in blocks 7/15/23/31, patch 14, merge 2, temporal patch 2, the shapes
the module printout of GitHub acproject/duorou docs/qwen2.5vl_graph.md shows; image/video ids
151655/151656, vision start/end 151652/151653, bos/eos 151643/151645; mrope_section
[16, 24, 24], rope_theta 1e6, rms_norm_eps 1e-6):

- Qwen2.5-VL-7B = Lingshu-7B: Qwen's own AWQ export of Qwen/Qwen2.5-VL-7B-Instruct
  (https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct-AWQ/blame/main/config.json; same in
  https://huggingface.co/unsloth/Qwen2.5-VL-7B-Instruct/blob/main/config.json): hidden 3584,
  intermediate 18944, 28 layers, 28 heads, 4 KV heads, vocab 152064, untied, 128000 positions,
  merger to 3584. Lingshu-7B is that model trained further (its card; its config.json is not in
  the corpus).
- Qwen2.5-VL-3B: https://huggingface.co/unsloth/Qwen2.5-VL-3B-Instruct-unsloth-bnb-4bit/blame/main/config.json
  ("_name_or_path": "Qwen/Qwen2.5-VL-3B-Instruct"; the same numbers in
  https://huggingface.co/zyoNoob/Qwen2.5-VL-3B-Instruct-AWQ/blob/main/config.json, made from the
  hub snapshot b318d097): hidden 2048, intermediate 11008, 36 layers, 16 heads, 2 KV heads, vocab
  151936, tied embeddings, merger out_hidden_size 2048.
- Qwen2.5-VL-32B = Lingshu-32B (built on Qwen2.5-VL, its card; neither config.json is in the
  corpus): the Qwen2.5-32B-Instruct text model of
  https://huggingface.co/ehristoforu/qwen2.5-test-32b-it/blob/6bcc8f1cedfe72471276d0159d1646be6ac50e40/config.json
  ("_name_or_path": "Qwen/Qwen2.5-32B-Instruct"): hidden 5120, intermediate 27648, 64 layers,
  40 heads, 8 KV heads, vocab 152064, untied; the same vision tower with its merger to 5120 (the
  merger's output must be the text width).

Qwen3-VL (``Qwen3VLForConditionalGeneration``; ViT on 16 px patches, merge 2, temporal patch 2,
2304 learned position embeddings, gelu_pytorch_tanh, DeepStack mergers on three vision layers;
Qwen3 text with q/k norms, head_dim 128, vocab 151936, 262144 positions, rope_theta 5e6,
interleaved mrope_section [24, 20, 20]; token ids as Qwen2.5-VL's):

- Qwen3-VL-8B: https://huggingface.co/Steinate/Cortex/blame/main/config.json (a Qwen3-VL-8B
  fine-tune; the same text numbers in
  https://huggingface.co/Balfiky/mobthing2/blob/main/config.json and
  https://huggingface.co/mlx-community/chandra-3bit/blob/main/config.json, whose
  "base_model_name_or_path" is "Qwen/Qwen3-VL-8B-Instruct"): hidden 4096, intermediate 12288,
  36 layers, 32 heads, 8 KV heads, untied; vision from Ollama's GGUF metadata of
  qwen3-vl:8b-instruct (https://ollama.com/library/qwen3-vl:8b-instruct-q8_0/blobs/4768dcaebbaf):
  27 blocks, width 1152, 16 heads, DeepStack [8, 16, 24], which are transformers'
  ``Qwen3VLVisionConfig`` defaults (intermediate 4304); merger to 4096.
- Qwen3-VL-4B: https://huggingface.co/amburger66/robometer-4b-lora-robotsmith-task03/blob/main/config.json
  ("model_name": "unsloth/Qwen3-VL-4B-Instruct"): hidden 2560, intermediate 9728, 36 layers, 32
  heads, 8 KV heads, tied; vision depth 24, width 1024, intermediate 4096, 16 heads, DeepStack
  [5, 11, 17], merger to 2560. (That copy's vocab_size 151674 is unsloth's trimmed table; the
  Instruct models' is 151936, as in every other copy, and the registry's count uses it.)
- Qwen3-VL-2B: the Qwen3-VL-2B config.json copied whole in another project's import test (search
  index file id 71252865321): text hidden 2048, intermediate 6144, 28 layers, 16 heads, 8 KV
  heads, tied; vision depth 24, width 1024, intermediate 4096, 16 heads, DeepStack [5, 11, 17],
  merger to 2048 (the same vision values are sgl-jax's ``Qwen3VLVisionConfig`` defaults). The
  2B's 4.26 GB model.safetensors (2.13 B x 2 bytes) agrees with the count.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "FULL_CONFIGS",
    "GEMMA3_4B",
    "GEMMA3_27B",
    "QWEN2_5_VL_3B",
    "QWEN2_5_VL_7B",
    "QWEN2_5_VL_32B",
    "QWEN3_VL_2B",
    "QWEN3_VL_4B",
    "QWEN3_VL_8B",
    "meta_param_counts",
    "model_class",
    "model_config",
    "param_counts",
]

# --------------------------------------------------------------------------- Gemma3


def _gemma3_layer_types(layers: int) -> list[str]:
    """``sliding_window_pattern`` 6 (five local layers, then one global) as transformers 5
    stores it."""
    return ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(layers)]


def _gemma3(
    *,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    query_pre_attn_scalar: int,
) -> dict[str, Any]:
    """A Gemma3 multimodal config: the text sizes given, the rest shared by 4B and 27B."""
    return {
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
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "query_pre_attn_scalar": query_pre_attn_scalar,
            "sliding_window": 1024,
            "layer_types": _gemma3_layer_types(layers),
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


GEMMA3_4B = _gemma3(
    hidden=2560,
    intermediate=10240,
    layers=34,
    heads=8,
    kv_heads=4,
    head_dim=256,
    query_pre_attn_scalar=256,
)
GEMMA3_27B = _gemma3(
    hidden=5376,
    intermediate=21504,
    layers=62,
    heads=32,
    kv_heads=16,
    head_dim=128,
    query_pre_attn_scalar=168,
)

# --------------------------------------------------------------------------- Qwen2.5-VL


def _qwen2_5_vl(
    *,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    vocab: int,
    tied: bool,
) -> dict[str, Any]:
    """A Qwen2.5-VL config: the text sizes given, the vision tower shared by 3B, 7B and 32B."""
    return {
        "model_type": "qwen2_5_vl",
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "tie_word_embeddings": tied,
        "text_config": {
            "model_type": "qwen2_5_vl_text",
            "vocab_size": vocab,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "max_position_embeddings": 128_000,
            "max_window_layers": layers,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "rope_theta": 1_000_000.0,
            "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "tie_word_embeddings": tied,
        },
        "vision_config": {
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "out_hidden_size": hidden,
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


QWEN2_5_VL_3B = _qwen2_5_vl(
    hidden=2048, intermediate=11008, layers=36, heads=16, kv_heads=2, vocab=151_936, tied=True
)
QWEN2_5_VL_7B = _qwen2_5_vl(
    hidden=3584, intermediate=18944, layers=28, heads=28, kv_heads=4, vocab=152_064, tied=False
)
QWEN2_5_VL_32B = _qwen2_5_vl(
    hidden=5120, intermediate=27648, layers=64, heads=40, kv_heads=8, vocab=152_064, tied=False
)

# --------------------------------------------------------------------------- Qwen3-VL


def _qwen3_vl(
    *,
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    tied: bool,
    vision_depth: int,
    vision_hidden: int,
    vision_intermediate: int,
    deepstack: list[int],
) -> dict[str, Any]:
    """A Qwen3-VL config: the sizes given, the rest shared by 2B, 4B and 8B."""
    return {
        "model_type": "qwen3_vl",
        "architectures": ["Qwen3VLForConditionalGeneration"],
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "tie_word_embeddings": tied,
        "text_config": {
            "model_type": "qwen3_vl_text",
            "vocab_size": 151_936,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "max_position_embeddings": 262_144,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "tie_word_embeddings": tied,
        },
        "vision_config": {
            "depth": vision_depth,
            "hidden_size": vision_hidden,
            "intermediate_size": vision_intermediate,
            "num_heads": 16,
            "out_hidden_size": hidden,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": deepstack,
            "in_channels": 3,
            "hidden_act": "gelu_pytorch_tanh",
        },
    }


_QWEN3_VL_SMALL_VISION: dict[str, Any] = {
    "vision_depth": 24,
    "vision_hidden": 1024,
    "vision_intermediate": 4096,
    "deepstack": [5, 11, 17],
}
QWEN3_VL_2B = _qwen3_vl(
    hidden=2048, intermediate=6144, layers=28, heads=16, tied=True, **_QWEN3_VL_SMALL_VISION
)
QWEN3_VL_4B = _qwen3_vl(
    hidden=2560, intermediate=9728, layers=36, heads=32, tied=True, **_QWEN3_VL_SMALL_VISION
)
QWEN3_VL_8B = _qwen3_vl(
    hidden=4096,
    intermediate=12288,
    layers=36,
    heads=32,
    tied=False,
    vision_depth=27,
    vision_hidden=1152,
    vision_intermediate=4304,
    deepstack=[8, 16, 24],
)

# Registry id -> full-size config; ids that share an architecture share the dict.
FULL_CONFIGS: dict[str, dict[str, Any]] = {
    "medgemma-1.5-4b": GEMMA3_4B,
    "medgemma-4b": GEMMA3_4B,
    "medgemma-27b": GEMMA3_27B,
    "qwen2.5-vl-3b": QWEN2_5_VL_3B,
    "qwen2.5-vl-7b": QWEN2_5_VL_7B,
    "lingshu-7b": QWEN2_5_VL_7B,
    "lingshu-32b": QWEN2_5_VL_32B,
    "qwen3-vl-2b": QWEN3_VL_2B,
    "qwen3-vl-4b": QWEN3_VL_4B,
    "qwen3-vl-8b": QWEN3_VL_8B,
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
    if "fullatt_block_indexes" in vision:  # Qwen2.5-VL
        vision["depth"] = layers
        vision["fullatt_block_indexes"] = [layers - 1]
    elif "deepstack_visual_indexes" in vision:  # Qwen3-VL: DeepStack needs len <= text layers
        vision["depth"] = layers
        vision["deepstack_visual_indexes"] = [layers - 1]
    else:
        vision["num_hidden_layers"] = layers


def model_class(config: Any) -> Any:
    from transformers import (
        Gemma3ForConditionalGeneration,
        Qwen2_5_VLForConditionalGeneration,
        Qwen3VLForConditionalGeneration,
    )

    classes = {
        "gemma3": Gemma3ForConditionalGeneration,
        "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
        "qwen3_vl": Qwen3VLForConditionalGeneration,
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
