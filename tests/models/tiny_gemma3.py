"""The tiny random-weight Gemma3 checkpoint: ``Gemma3ForConditionalGeneration`` as in MedGemma 4B
(SigLIP vision tower, average-pool projector, Gemma3 text decoder with sliding and global layers).

Its tokenizer is a BPE with byte fallback, a "▁" space normalizer and ``<0xNN>`` byte tokens,
because ``GemmaTokenizer`` in transformers 5 rebuilds exactly that pipeline from the vocabulary
whatever ``tokenizer.json`` says. ``mm_tokens_per_image`` is a perfect square dividing the patch
grid and equals the processor's ``image_seq_length``.
"""

from __future__ import annotations

import json
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

__all__ = ["GEMMA3_CHAT_TEMPLATE", "GEMMA3_SPECIAL_TOKENS", "build_tiny_gemma3"]

# Special tokens in the order their ids are assigned (0, 1, 2, ...), as in the real vocabulary.
GEMMA3_SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unk>",
    "<mask>",
    "<start_of_turn>",
    "<end_of_turn>",
    "<start_of_image>",
    "<end_of_image>",
    "<image_soft_token>",
)

# Same turn structure as Gemma 3's own template: bos, optional system text folded into the first
# user turn, "model" for the assistant role, <start_of_image> where an image goes.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{%- set prefix = messages[0]['content'][0]['text'] + '\n\n' -%}"
    "{%- endif -%}"
    "{%- set turns = messages[1:] -%}"
    "{%- else -%}"
    "{%- set prefix = '' -%}"
    "{%- set turns = messages -%}"
    "{%- endif -%}"
    "{%- for message in turns -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

# 64 px images in 8 px patches: an 8x8 grid pooled 2x2 into 16 = 4x4 soft tokens per image.
_IMAGE_SIZE, _PATCH_SIZE, _MM_TOKENS_PER_IMAGE = 64, 8, 16


def build_tiny_gemma3(path: str | Path) -> Path:
    """Write a tiny random MedGemma-like ``Gemma3ForConditionalGeneration`` to ``path``."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer()
    ids = special_ids(tokenizer, GEMMA3_SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    byte_ids = [tokenizer.token_to_id(f"<0x{b:02X}>") for b in range(256)]
    _write_model(folder, ids, [i for i in byte_ids if i is not None])
    _write_tokenizer_config(folder, ids)
    _write_processor_configs(folder)
    write_json(folder / "chat_template.json", {"chat_template": GEMMA3_CHAT_TEMPLATE})
    return folder


def _train_tokenizer() -> Any:
    """A Gemma-style BPE: "▁" for spaces, byte fallback, specials first, then <0x00>..<0xFF>."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.processors import TemplateProcessing

    # Serve the learned pieces through the pipeline GemmaTokenizer builds (no pre-split, spaces
    # normalized to "▁").
    vocab, merges = _learn_vocabulary()
    tokenizer = Tokenizer(
        BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True)
    )
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in GEMMA3_SPECIAL_TOKENS]
    )
    tokenizer.post_processor = TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return tokenizer


def _learn_vocabulary() -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """Pieces learned within words ("▁heart"), as SentencePiece does: the vocabulary (specials
    keep ids 0..9, byte tokens follow, then the learned pieces in their order) and merges."""
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    trainer_tokenizer = Tokenizer(BPE(unk_token="<unk>"))
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    byte_tokens = [f"<0x{value:02X}>" for value in range(256)]
    budget = MODEL_VOCAB - 64 - len(byte_tokens)
    trainer = BpeTrainer(
        vocab_size=budget, special_tokens=list(GEMMA3_SPECIAL_TOKENS), show_progress=False
    )
    trainer_tokenizer.train_from_iterator(corpus(), trainer)
    trained = json.loads(trainer_tokenizer.to_str())["model"]

    vocab: dict[str, int] = {token: i for i, token in enumerate(GEMMA3_SPECIAL_TOKENS)}
    for token in byte_tokens:
        vocab[token] = len(vocab)
    for token, _ in sorted(trained["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(merge) for merge in trained["merges"]]
    return vocab, merges


def _config(ids: dict[str, int]) -> Any:
    from transformers import Gemma3Config

    return Gemma3Config(
        text_config={
            "vocab_size": MODEL_VOCAB,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 32,
            "query_pre_attn_scalar": 32,
            "sliding_window": 16,
            "layer_types": ["sliding_attention", "full_attention"],
            "max_position_embeddings": 4096,
            "rope_scaling": {"rope_type": "linear", "factor": 8.0},
            "pad_token_id": ids["<pad>"],
            "eos_token_id": ids["<eos>"],
            "bos_token_id": ids["<bos>"],
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": _IMAGE_SIZE,
            "patch_size": _PATCH_SIZE,
            "vision_use_head": False,
        },
        mm_tokens_per_image=_MM_TOKENS_PER_IMAGE,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
    )


def _write_model(folder: Path, ids: dict[str, int], byte_ids: list[int]) -> None:
    """The seeded random weights, config and generation config.

    The generation config suppresses the ``<0xNN>`` byte-fallback tokens: random weights pick
    them in orders no text has (a lone UTF-8 continuation byte), and ``transformers serve``'s
    streaming decoder (tokenizers' ``DecodeStream``) then fails the request with "Invalid
    prefix encountered while decoding stream". A trained model writes bytes only as whole
    characters; the test model is kept to whole tokens instead."""
    import torch
    from transformers import Gemma3ForConditionalGeneration, GenerationConfig

    config = _config(ids)
    torch.manual_seed(SEED)
    model = Gemma3ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
        pad_token_id=ids["<pad>"],
        do_sample=True,
        top_k=64,
        top_p=0.95,
        suppress_tokens=byte_ids,
    )
    model.save_pretrained(folder)


def _write_tokenizer_config(folder: Path, ids: dict[str, int]) -> None:
    write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "GemmaTokenizer",
            "processor_class": "Gemma3Processor",
            "add_bos_token": True,
            "add_eos_token": False,
            "bos_token": "<bos>",
            "eos_token": "<eos>",
            "pad_token": "<pad>",
            "unk_token": "<unk>",
            "mask_token": "<mask>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
            "image_token": "<image_soft_token>",
            "clean_up_tokenization_spaces": False,
            "spaces_between_special_tokens": False,
            "model_max_length": 1_000_000,
            "added_tokens_decoder": added_tokens_decoder(ids),
        },
    )


def _write_processor_configs(folder: Path) -> None:
    """The image processor's config (the real one's keys) and the processor's."""
    write_json(
        folder / "preprocessor_config.json",
        {
            "image_processor_type": "Gemma3ImageProcessor",
            "processor_class": "Gemma3Processor",
            "do_convert_rgb": None,
            "do_normalize": True,
            "do_pan_and_scan": None,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "image_seq_length": _MM_TOKENS_PER_IMAGE,
            "pan_and_scan_max_num_crops": None,
            "pan_and_scan_min_crop_size": None,
            "pan_and_scan_min_ratio_to_activate": None,
            "resample": 2,
            "rescale_factor": 1 / 255,
            "size": {"height": _IMAGE_SIZE, "width": _IMAGE_SIZE},
        },
    )
    write_json(
        folder / "processor_config.json",
        {"image_seq_length": _MM_TOKENS_PER_IMAGE, "processor_class": "Gemma3Processor"},
    )
