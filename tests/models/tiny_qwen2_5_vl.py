"""The tiny random-weight Qwen2.5-VL checkpoint: ``Qwen2_5_VLForConditionalGeneration`` as in
Lingshu-7B and Qwen2.5-VL (windowed ViT with 2x2 patch merger, M-RoPE text decoder).

Its tokenizer is a byte-level BPE with Qwen2's pre-tokenizer regex. ``mrope_section`` sums to
``head_dim / 2``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.models.tiny_common import (
    MODEL_VOCAB,
    SEED,
    added_tokens_decoder,
    corpus,
    special_ids,
    write_json,
)

__all__ = ["QWEN2_5_VL_CHAT_TEMPLATE", "QWEN2_5_VL_SPECIAL_TOKENS", "build_tiny_qwen2_5_vl"]

# Appended after the regular vocabulary, as in Qwen2's (<|endoftext|> is 151643 there).
QWEN2_5_VL_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Same turn structure as Qwen2.5-VL's own template, images only: a default system turn,
# <|im_start|>role ... <|im_end|>, and <|vision_start|><|image_pad|><|vision_end|> per image.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{%- endif -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{%- set image_count.value = image_count.value + 1 -%}"
    "{%- if add_vision_id -%}{{ 'Picture ' ~ image_count.value ~ ': ' }}{%- endif -%}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif 'text' in part -%}{{ part['text'] }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)


def build_tiny_qwen2_5_vl(path: str | Path) -> Path:
    """Write a tiny random Lingshu-like ``Qwen2_5_VLForConditionalGeneration`` to ``path``."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    ids = special_ids(tokenizer, QWEN2_5_VL_SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    _write_model(folder, ids)
    _write_tokenizer_config(folder, ids)
    _write_processor_config(folder)
    write_json(folder / "chat_template.json", {"chat_template": QWEN2_5_VL_CHAT_TEMPLATE})
    return folder


def _train_tokenizer() -> Any:
    """A Qwen2-style byte-level BPE with the chat and vision specials after the vocabulary."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tokenizer = Tokenizer(BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = BpeTrainer(
        vocab_size=MODEL_VOCAB - 64 - len(QWEN2_5_VL_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer)
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in QWEN2_5_VL_SPECIAL_TOKENS]
    )
    return tokenizer


def _config(ids: dict[str, int]) -> Any:
    from transformers import Qwen2_5_VLConfig

    hidden, heads = 64, 2
    head_dim = hidden // heads
    mrope_section = [4, 6, 6]  # temporal, height, width: sums to head_dim / 2 (real: 16, 24, 24)
    if sum(mrope_section) != head_dim // 2:
        raise RuntimeError("mrope_section must sum to head_dim / 2")
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": MODEL_VOCAB,
            "hidden_size": hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": 1,
            "max_position_embeddings": 4096,
            "max_window_layers": 2,
            "rope_scaling": {"type": "mrope", "mrope_section": mrope_section},
            "rope_theta": 1_000_000.0,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [1],
            "tokens_per_second": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def _write_model(folder: Path, ids: dict[str, int]) -> None:
    """The seeded random weights, config and generation config."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    config = _config(ids)
    torch.manual_seed(SEED)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=True,
        repetition_penalty=1.05,
        temperature=0.1,
        top_k=1,
        top_p=0.001,
    )
    model.save_pretrained(folder)


def _write_tokenizer_config(folder: Path, ids: dict[str, int]) -> None:
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "Qwen2Tokenizer",
            "add_prefix_space": False,
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "unk_token": None,
            "errors": "replace",
            "split_special_tokens": False,
            "clean_up_tokenization_spaces": False,
            "model_max_length": 131_072,
            "extra_special_tokens": [
                token for token in QWEN2_5_VL_SPECIAL_TOKENS if token != "<|endoftext|>"
            ],
            "added_tokens_decoder": added_tokens_decoder(ids),
        },
    )


def _write_processor_config(folder: Path) -> None:
    # Small max_pixels so test images cost a handful of tokens (the real one is 12845056).
    write_json(
        folder / "preprocessor_config.json",
        {
            "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": "Qwen2_5_VLProcessor",
            "min_pixels": 56 * 56,
            "max_pixels": 28 * 28 * 16,
            "patch_size": 14,
            "temporal_patch_size": 2,
            "merge_size": 2,
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711],
        },
    )
