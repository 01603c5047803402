"""What both tiny checkpoints share: the model vocabulary size, the seed, the corpus their
tokenizers are trained on, and the writing of their JSON files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_VOCAB",
    "SEED",
    "added_tokens_decoder",
    "corpus",
    "special_ids",
    "write_json",
]

# Model vocabulary size for both tiny models; the trained tokenizers stay below it, as the real
# checkpoints' embedding tables are larger than their tokenizers.
MODEL_VOCAB = 512
SEED = 0

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


def corpus() -> Iterator[str]:
    """The small radiology corpus the tiny tokenizers are trained on."""
    for _ in range(4):
        yield from _SENTENCES


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def added_tokens_decoder(tokens: dict[str, int]) -> dict[str, dict[str, Any]]:
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


def special_ids(tokenizer: Any, tokens: tuple[str, ...]) -> dict[str, int]:
    """The ids of ``tokens`` in ``tokenizer``; all present and within the model's vocabulary."""
    ids = {token: tokenizer.token_to_id(token) for token in tokens}
    if None in ids.values() or max(ids.values()) >= MODEL_VOCAB:
        raise RuntimeError(f"tiny tokenizer lost a special token or outgrew the model: {ids}")
    return ids
