"""The tiny random-weight Qwen3-VL checkpoint: ``Qwen3VLForConditionalGeneration`` as in
Qwen3-VL-2B/4B/8B-Instruct (ViT on 16 px patches with 2x2 merger and DeepStack mergers,
interleaved M-RoPE Qwen3 text decoder).

What follows the real checkpoints (transformers 5.24 ``models/qwen3_vl/configuration_qwen3_vl.py``
and the Instruct repositories' ``config.json``, ``generation_config.json``,
``preprocessor_config.json`` and chat template, as cited in :mod:`models.families.qwen3_vl`):
patch 16, merge 2, temporal patch 2; ``mrope_section`` summing to ``head_dim / 2`` with
``mrope_interleaved``; DeepStack on some vision layers; the image processor's
``shortest_edge`` 65536 / ``longest_edge`` 16777216 and mean/std 0.5 (the real values, so the
token counts tested are the real ones); end tokens ``<|im_end|>`` then ``<|endoftext|>``; the
Instruct chat template's turn layout (no default system turn). The tokenizer is a byte-level
BPE with Qwen2's pre-tokenizer regex (Qwen3 keeps Qwen2's tokenizer), trained in memory, with
the real special tokens after its vocabulary. Sizes: every Linear bitsandbytes quantizes (the
text decoder's) has an input width that is a multiple of 64.
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

__all__ = [
    "QWEN3_VL_CHAT_TEMPLATE",
    "QWEN3_VL_SPECIAL_TOKENS",
    "QWEN3_VL_TEXT_TOKENS",
    "build_tiny_qwen3_vl",
]

# Appended after the regular vocabulary in this order, as in Qwen3's (151643 .. 151656).
QWEN3_VL_SPECIAL_TOKENS = (
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
# Added but not special in Qwen3's tokenizer (151667, 151668): decoded as text.
QWEN3_VL_TEXT_TOKENS = ("<think>", "</think>")

# The Instruct template's layout, images and text only (its tool and video branches left out):
# a system turn only when the messages start with one, <|im_start|>role\n ... <|im_end|>\n per
# turn, <|vision_start|><|image_pad|><|vision_end|> per image ("Picture k: " before it with
# add_vision_id), and "<|im_start|>assistant\n" as the generation prompt.
QWEN3_VL_CHAT_TEMPLATE = (
    "{%- set image_count = namespace(value=0) -%}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{%- if message['role'] == 'system' -%}"
    "{{ raise_exception('System message cannot contain images.') }}"
    "{%- endif -%}"
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


def build_tiny_qwen3_vl(path: str | Path) -> Path:
    """Write a tiny random Qwen3-VL-Instruct-like ``Qwen3VLForConditionalGeneration`` to
    ``path``."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    ids = special_ids(tokenizer, QWEN3_VL_SPECIAL_TOKENS + QWEN3_VL_TEXT_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    _write_model(folder, ids)
    _write_tokenizer_config(folder, ids)
    _write_processor_config(folder)
    write_json(folder / "chat_template.json", {"chat_template": QWEN3_VL_CHAT_TEMPLATE})
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
    added = len(QWEN3_VL_SPECIAL_TOKENS) + len(QWEN3_VL_TEXT_TOKENS)
    trainer = BpeTrainer(
        vocab_size=MODEL_VOCAB - 64 - added,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer)
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in QWEN3_VL_SPECIAL_TOKENS]
    )
    tokenizer.add_tokens(
        [AddedToken(token, special=False, normalized=False) for token in QWEN3_VL_TEXT_TOKENS]
    )
    return tokenizer


def _config(ids: dict[str, int]) -> Any:
    from transformers import Qwen3VLConfig

    hidden, heads, head_dim = 64, 2, 32
    # temporal, height, width: sums to head_dim / 2 (real: 24, 20, 20 for head_dim 128).
    mrope_section = [6, 5, 5]
    if sum(mrope_section) != head_dim // 2:
        raise RuntimeError("mrope_section must sum to head_dim / 2")
    return Qwen3VLConfig(
        text_config={
            "vocab_size": MODEL_VOCAB,
            "hidden_size": hidden,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": heads,
            "num_key_value_heads": 1,
            "head_dim": head_dim,
            "max_position_embeddings": 8192,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": mrope_section,
                "mrope_interleaved": True,
            },
            "tie_word_embeddings": True,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": hidden,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,  # as the 2B and 4B Instruct checkpoints
    )


def _write_model(folder: Path, ids: dict[str, int]) -> None:
    """The seeded random weights, config and generation config (the Instruct repositories')."""
    import torch
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    config = _config(ids)
    torch.manual_seed(SEED)
    model = Qwen3VLForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"],
        do_sample=True,
        temperature=0.7,
        top_k=20,
        top_p=0.8,
    )
    model.save_pretrained(folder)


def _write_tokenizer_config(folder: Path, ids: dict[str, int]) -> None:
    specials = {token: ids[token] for token in QWEN3_VL_SPECIAL_TOKENS}
    decoder = added_tokens_decoder(specials)
    for token in QWEN3_VL_TEXT_TOKENS:
        decoder[str(ids[token])] = {**added_tokens_decoder({token: ids[token]})[str(ids[token])]}
        decoder[str(ids[token])]["special"] = False
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
            "model_max_length": 262_144,
            "extra_special_tokens": [
                token for token in QWEN3_VL_SPECIAL_TOKENS if token != "<|endoftext|>"
            ],
            "added_tokens_decoder": decoder,
        },
    )


def _write_processor_config(folder: Path) -> None:
    # The real image processor config of the Qwen3-VL Instruct repositories.
    write_json(
        folder / "preprocessor_config.json",
        {
            "image_processor_type": "Qwen2VLImageProcessorFast",
            "processor_class": "Qwen3VLProcessor",
            "size": {"shortest_edge": 65_536, "longest_edge": 16_777_216},
            "patch_size": 16,
            "temporal_patch_size": 2,
            "merge_size": 2,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
        },
    )
