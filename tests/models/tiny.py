"""Tiny random-weight checkpoints of the real model architectures, built from code.

Each builder writes a folder laid out like the real hub repository (config, safetensors weights,
``tokenizer.json`` + ``tokenizer_config.json``, ``chat_template.json``, the real image processor
config with its ``processor_class``), so tests load it through exactly the production path:

- :func:`build_tiny_gemma3`: ``Gemma3ForConditionalGeneration`` as in MedGemma 4B (SigLIP vision
  tower, average-pool projector, Gemma3 text decoder with sliding and global layers).
- :func:`build_tiny_qwen2_5_vl`: ``Qwen2_5_VLForConditionalGeneration`` as in Lingshu-7B and
  Qwen2.5-VL (windowed ViT with 2x2 patch merger, M-RoPE text decoder).

Sizes respect what bitsandbytes needs on CPU: every Linear that gets quantized (the text decoder's
projections) has an input width that is a multiple of 64. Gemma3's ``mm_tokens_per_image`` is a
perfect square dividing the patch grid and equals the processor's ``image_seq_length``;
Qwen2.5-VL's ``mrope_section`` sums to ``head_dim / 2``.

Tokenizers are trained in memory with the ``tokenizers`` library on a small radiology corpus.
Gemma's is a BPE with byte fallback, a "▁" space normalizer and ``<0xNN>`` byte tokens, because
``GemmaTokenizer`` in transformers 5 rebuilds exactly that pipeline from the vocabulary whatever
``tokenizer.json`` says; Qwen's is a byte-level BPE with Qwen2's pre-tokenizer regex.

Use :func:`tiny_checkpoint` from a session-scoped fixture to build each model once per session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

__all__ = [
    "GEMMA3_SPECIAL_TOKENS",
    "QWEN2_5_VL_SPECIAL_TOKENS",
    "TINY_BUILDERS",
    "build_tiny_gemma3",
    "build_tiny_qwen2_5_vl",
    "tiny_checkpoint",
]

# Model vocabulary size for both tiny models; the trained tokenizers stay below it, as the real
# checkpoints' embedding tables are larger than their tokenizers.
_MODEL_VOCAB = 512
_SEED = 0

_SENTENCES = (
    "The chest radiograph shows no focal consolidation, pleural effusion or pneumothorax.",
    "Findings: the heart size is normal. The mediastinal contours are within normal limits.",
    "Impression: no acute cardiopulmonary process.",
    "There is a small left pleural effusion with adjacent atelectasis.",
    "CT of the abdomen shows a hypodense lesion in the right lobe of the liver.",
    "MRI of the brain: no acute infarct, hemorrhage or mass effect.",
    "Describe the image. Where is the nodule? Draft a radiology report for this study.",
    "You are an expert radiologist. Answer the question about the image.",
    "The lungs are clear. Bones are intact. No fracture is seen.",
    "user model assistant system Final Answer: box_2d bbox_2d label json",
    "Compared with the prior study, the opacity in the right lower lobe has improved.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 [ ] { } ( ) , . : ; \" ' - _ / ?",
)

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


def _corpus() -> Iterator[str]:
    for _ in range(4):
        yield from _SENTENCES


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _added_tokens_decoder(tokens: dict[str, int]) -> dict[str, dict[str, Any]]:
    """``added_tokens_decoder`` as transformers writes it in ``tokenizer_config.json``."""
    return {
        str(token_id): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for token, token_id in tokens.items()
    }


# --------------------------------------------------------------------------- tokenizers


def _train_gemma3_tokenizer() -> Any:
    """A Gemma-style BPE: "▁" for spaces, byte fallback, specials first, then <0x00>..<0xFF>."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.processors import TemplateProcessing
    from tokenizers.trainers import BpeTrainer

    # Learn pieces within words ("▁heart"), as SentencePiece does, then serve them through the
    # pipeline GemmaTokenizer builds (no pre-split, spaces normalized to "▁").
    trainer_tokenizer = Tokenizer(BPE(unk_token="<unk>"))
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")
    byte_tokens = [f"<0x{value:02X}>" for value in range(256)]
    budget = _MODEL_VOCAB - 64 - len(byte_tokens)
    trainer = BpeTrainer(
        vocab_size=budget, special_tokens=list(GEMMA3_SPECIAL_TOKENS), show_progress=False
    )
    trainer_tokenizer.train_from_iterator(_corpus(), trainer)
    trained = json.loads(trainer_tokenizer.to_str())["model"]

    # Specials keep ids 0..9, byte tokens follow, then the learned pieces in their order.
    vocab: dict[str, int] = {token: i for i, token in enumerate(GEMMA3_SPECIAL_TOKENS)}
    for token in byte_tokens:
        vocab[token] = len(vocab)
    for token, _ in sorted(trained["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [tuple(merge) for merge in trained["merges"]]

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


def _train_qwen2_5_vl_tokenizer() -> Any:
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
        vocab_size=_MODEL_VOCAB - 64 - len(QWEN2_5_VL_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    tokenizer.add_special_tokens(
        [AddedToken(token, special=True, normalized=False) for token in QWEN2_5_VL_SPECIAL_TOKENS]
    )
    return tokenizer


def _special_ids(tokenizer: Any, tokens: tuple[str, ...]) -> dict[str, int]:
    ids = {token: tokenizer.token_to_id(token) for token in tokens}
    if None in ids.values() or max(ids.values()) >= _MODEL_VOCAB:
        raise RuntimeError(f"tiny tokenizer lost a special token or outgrew the model: {ids}")
    return ids


# --------------------------------------------------------------------------- Gemma3


def build_tiny_gemma3(path: str | Path) -> Path:
    """Write a tiny random MedGemma-like ``Gemma3ForConditionalGeneration`` to ``path``."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GenerationConfig

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_gemma3_tokenizer()
    ids = _special_ids(tokenizer, GEMMA3_SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))

    # 64 px images in 8 px patches: an 8x8 grid pooled 2x2 into 16 = 4x4 soft tokens per image.
    image_size, patch_size, mm_tokens_per_image = 64, 8, 16
    config = Gemma3Config(
        text_config={
            "vocab_size": _MODEL_VOCAB,
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
            "image_size": image_size,
            "patch_size": patch_size,
            "vision_use_head": False,
        },
        mm_tokens_per_image=mm_tokens_per_image,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
    )
    torch.manual_seed(_SEED)
    model = Gemma3ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<eos>"], ids["<end_of_turn>"]],
        pad_token_id=ids["<pad>"],
        do_sample=True,
        top_k=64,
        top_p=0.95,
    )
    model.save_pretrained(folder)

    _write_json(
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
            "added_tokens_decoder": _added_tokens_decoder(ids),
        },
    )
    _write_json(
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
            "image_seq_length": mm_tokens_per_image,
            "pan_and_scan_max_num_crops": None,
            "pan_and_scan_min_crop_size": None,
            "pan_and_scan_min_ratio_to_activate": None,
            "resample": 2,
            "rescale_factor": 1 / 255,
            "size": {"height": image_size, "width": image_size},
        },
    )
    _write_json(
        folder / "processor_config.json",
        {"image_seq_length": mm_tokens_per_image, "processor_class": "Gemma3Processor"},
    )
    _write_json(folder / "chat_template.json", {"chat_template": GEMMA3_CHAT_TEMPLATE})
    return folder


# --------------------------------------------------------------------------- Qwen2.5-VL


def build_tiny_qwen2_5_vl(path: str | Path) -> Path:
    """Write a tiny random Lingshu-like ``Qwen2_5_VLForConditionalGeneration`` to ``path``."""
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_qwen2_5_vl_tokenizer()
    ids = _special_ids(tokenizer, QWEN2_5_VL_SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))

    hidden, heads = 64, 2
    head_dim = hidden // heads
    mrope_section = [4, 6, 6]  # temporal, height, width: sums to head_dim / 2 (real: 16, 24, 24)
    if sum(mrope_section) != head_dim // 2:
        raise RuntimeError("mrope_section must sum to head_dim / 2")
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": _MODEL_VOCAB,
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
    torch.manual_seed(_SEED)
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

    _write_json(
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
            "added_tokens_decoder": _added_tokens_decoder(ids),
        },
    )
    # Small max_pixels so test images cost a handful of tokens (the real one is 12845056).
    _write_json(
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
    _write_json(folder / "chat_template.json", {"chat_template": QWEN2_5_VL_CHAT_TEMPLATE})
    return folder


# --------------------------------------------------------------------------- session cache

TINY_BUILDERS: dict[str, Callable[[str | Path], Path]] = {
    "gemma3": build_tiny_gemma3,
    "qwen2_5_vl": build_tiny_qwen2_5_vl,
}

_DONE = ".tiny-complete"


def tiny_checkpoint(family: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of the tiny ``family`` checkpoint, built on first use in this pytest session.

    The cache is the session's base temp dir, so call this from session-scoped fixtures::

        @pytest.fixture(scope="session")
        def tiny_gemma3(tmp_path_factory):
            return tiny_checkpoint("gemma3", tmp_path_factory)
    """
    try:
        builder = TINY_BUILDERS[family]
    except KeyError:
        raise ValueError(
            f"No tiny builder for family {family!r}; known: {sorted(TINY_BUILDERS)}."
        ) from None
    folder = tmp_path_factory.getbasetemp() / f"tiny-{family}"
    if not (folder / _DONE).exists():
        builder(folder)
        (folder / _DONE).touch()
    return folder
