"""The models RadLens knows by name, with the facts from each model card and ``config.json``.

Parameters counted by instantiating the architecture from that config on the meta device with
transformers 5.24:

===============  ===============================  ==========  ======  =======  ===============
id               source                           family      params  context  licence
===============  ===============================  ==========  ======  =======  ===============
medgemma-1.5-4b  google/medgemma-1.5-4b-it        gemma3      4.30 B  128K     HAI-DEF, gated
medgemma-4b      google/medgemma-4b-it            gemma3      4.30 B  128K     HAI-DEF, gated
lingshu-7b       lingshu-medical-mllm/Lingshu-7B  qwen2_5_vl  8.29 B  32K      MIT
qwen2.5-vl-3b    Qwen/Qwen2.5-VL-3B-Instruct      qwen2_5_vl  3.75 B  32K      Qwen Research
qwen2.5-vl-7b    Qwen/Qwen2.5-VL-7B-Instruct      qwen2_5_vl  8.29 B  32K      Apache-2.0
===============  ===============================  ==========  ======  =======  ===============

Box conventions and image token costs are the family's (:mod:`models.families`). System
prompt: MedGemma 4B's card uses "You are an expert radiologist."; the other cards' examples send
none. The ``remote`` entry is built from the environment (:mod:`models.registry.remote_entry`).
"""

from __future__ import annotations

from models.families import Family
from models.registry.memory import Architecture
from models.registry.spec import ModelSpec

__all__ = ["KNOWN_SPECS"]

# Counted from each config.json on the meta device (transformers 5.24); totals match the hub's
# 4.30 B, 8.29 B and 3.75 B. Gemma3 4B: 29 of 34 layers use a 1024-token sliding window.
_GEMMA3_4B = Architecture(
    params=4_300_079_472,
    vision_params=419_816_304,
    layers=34,
    hidden_size=2560,
    kv_heads=4,
    head_dim=256,
    vocab_size=262_208,
    tied_embeddings=True,
    sliding_layers=29,
    sliding_window=1024,
)
_QWEN2_5_VL_7B = Architecture(
    params=8_292_166_656,
    vision_params=676_550_144,
    layers=28,
    hidden_size=3584,
    kv_heads=4,
    head_dim=128,
    vocab_size=152_064,
    tied_embeddings=False,
)
_QWEN2_5_VL_3B = Architecture(
    params=3_754_622_976,
    vision_params=668_684_288,
    layers=36,
    hidden_size=2048,
    kv_heads=2,
    head_dim=128,
    vocab_size=151_936,
    tied_embeddings=True,
)

_HAI_DEF = "Health AI Developer Foundations terms of use"
_QWEN_TEMPLATE = "Without a system message the chat template adds 'You are a helpful assistant.'"

KNOWN_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="medgemma-1.5-4b",
        name="MedGemma 1.5 4B-it",
        source="google/medgemma-1.5-4b-it",
        family=Family.GEMMA3,
        architecture=_GEMMA3_4B,
        context_length=131_072,
        license=_HAI_DEF,
        gated=True,
        card_url="https://huggingface.co/google/medgemma-1.5-4b-it",
        system_prompt=None,
        notes=(
            "Default. Adds CT/MRI volumes as slices, longitudinal chest X-rays and chest X-ray "
            "anatomical localization with boxes. The card's example sends no system message; it "
            "warns MedGemma is more prompt-sensitive than Gemma 3 and not evaluated multi-turn."
        ),
    ),
    ModelSpec(
        id="medgemma-4b",
        name="MedGemma 4B-it",
        source="google/medgemma-4b-it",
        family=Family.GEMMA3,
        architecture=_GEMMA3_4B,
        context_length=131_072,
        license=_HAI_DEF,
        gated=True,
        card_url="https://huggingface.co/google/medgemma-4b-it",
        system_prompt="You are an expert radiologist.",
        notes=(
            "MedGemma 1. Not trained for box localization. Instruction-tuned reports differ in "
            "style from MIMIC-CXR (RadGraph F1 21.9 it vs 29.5 pt)."
        ),
    ),
    ModelSpec(
        id="lingshu-7b",
        name="Lingshu-7B",
        source="lingshu-medical-mllm/Lingshu-7B",
        family=Family.QWEN2_5_VL,
        architecture=_QWEN2_5_VL_7B,
        context_length=32_768,
        license="MIT",
        gated=False,
        card_url="https://huggingface.co/lingshu-medical-mllm/Lingshu-7B",
        system_prompt=None,
        notes=(
            "Qwen2.5-VL-7B trained on medical data; VQA-RAD 67.9, SLAKE 83.1 (its card). "
            f"The card gives no system prompt. {_QWEN_TEMPLATE}"
        ),
    ),
    ModelSpec(
        id="qwen2.5-vl-3b",
        name="Qwen2.5-VL-3B-Instruct",
        source="Qwen/Qwen2.5-VL-3B-Instruct",
        family=Family.QWEN2_5_VL,
        architecture=_QWEN2_5_VL_3B,
        context_length=32_768,
        license="Qwen Research License (non-commercial)",
        gated=False,
        card_url="https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct",
        system_prompt=None,
        notes=f"General model with strong grounding; not medical. {_QWEN_TEMPLATE}",
    ),
    ModelSpec(
        id="qwen2.5-vl-7b",
        name="Qwen2.5-VL-7B-Instruct",
        source="Qwen/Qwen2.5-VL-7B-Instruct",
        family=Family.QWEN2_5_VL,
        architecture=_QWEN2_5_VL_7B,
        context_length=32_768,
        license="Apache-2.0",
        gated=False,
        card_url="https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct",
        system_prompt=None,
        notes=f"General model with strong grounding; not medical. {_QWEN_TEMPLATE}",
    ),
)
