"""The models RadLens knows by name, with the facts from each model card and ``config.json``.

Parameters counted by instantiating the architecture from that config on the meta device with
transformers 5.24:

================  ================================  ==========  =======  =======  ==============
id                source                            family      params   context  licence
================  ================================  ==========  =======  =======  ==============
medgemma-1.5-4b   google/medgemma-1.5-4b-it         gemma3      4.30 B   128K     HAI-DEF, gated
medgemma-4b       google/medgemma-4b-it             gemma3      4.30 B   128K     HAI-DEF, gated
medgemma-27b      google/medgemma-27b-it            gemma3      27.43 B  128K     HAI-DEF, gated
lingshu-7b        lingshu-medical-mllm/Lingshu-7B   qwen2_5_vl  8.29 B   32K      MIT
lingshu-32b       lingshu-medical-mllm/Lingshu-32B  qwen2_5_vl  33.45 B  32K      MIT
qwen2.5-vl-3b     Qwen/Qwen2.5-VL-3B-Instruct       qwen2_5_vl  3.75 B   32K      Qwen Research
qwen2.5-vl-7b     Qwen/Qwen2.5-VL-7B-Instruct       qwen2_5_vl  8.29 B   32K      Apache-2.0
qwen3-vl-2b       Qwen/Qwen3-VL-2B-Instruct         qwen3_vl    2.13 B   256K     Apache-2.0
qwen3-vl-4b       Qwen/Qwen3-VL-4B-Instruct         qwen3_vl    4.44 B   256K     Apache-2.0
qwen3-vl-8b       Qwen/Qwen3-VL-8B-Instruct         qwen3_vl    8.77 B   256K     Apache-2.0
================  ================================  ==========  =======  =======  ==============

The two large ones need a large GPU (estimates with 8K tokens of context,
:mod:`models.registry.memory`): MedGemma 27B nf4 ~19 GB (one 24 GB GPU), bf16 ~57 GB (an 80 GB
GPU or a vLLM server); Lingshu-32B nf4 ~24 GB (a 32-48 GB GPU), bf16 ~70 GB (an 80 GB GPU or a
vLLM server). Their configs are not in the search index: the numbers are those of their bases
(Gemma 3 27B, Qwen2.5-VL-32B), see the comments at ``_GEMMA3_27B`` and ``_QWEN2_5_VL_32B``.

Capabilities (:mod:`models.registry.capabilities`), each cited to its card: MedGemma 1.5 does
CT/MR volumes, chest X-ray localization and longitudinal chest X-rays; MedGemma 1 (4B, 27B)
none of these; Lingshu reports and answers on 12+ modalities without boxes (no grounding in its
card or MedEvalKit); Qwen models box general objects on 2D images, not on CT/MR slices.

Box conventions and image token costs are the family's (:mod:`models.families`). System
prompt: MedGemma 4B's card uses "You are an expert radiologist."; the other cards' examples send
none. The ``remote`` entry is built from the environment (:mod:`models.registry.remote_entry`).
"""

from __future__ import annotations

from models.families import Family
from models.registry.capabilities import (
    CHEST_RADIOGRAPH,
    PLANAR_2D,
    Capabilities,
    Capability,
)
from models.registry.memory import Architecture
from models.registry.spec import ModelSpec

__all__ = ["KNOWN_SPECS", "MAIRA2_CAPABILITIES"]

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
# MedGemma 27B multimodal (google/medgemma-27b-it, gemma3): its config.json is not in the search
# index; its numbers are Gemma 3 27B's (62 layers, hidden 5376, 32 heads, 16 KV heads, head_dim
# 128, intermediate 21504, vocab 262,208, 1024-token window on 5 of every 6 layers, SigLIP
# 27 x 1152 at 896 px), as cached for "google/medgemma-27b" beside "google/gemma-3-27b" in another
# project's HF config table (search index file id 53983210377), counted on the meta device with
# transformers 5.24 (the same count gives the 4B's 4,300,079,472 exactly). Check: Ollama's F16
# build of MedGemma 27B is 27.4 B, 55 GB. 52 of 62 layers slide (sliding_window_pattern 6).
_GEMMA3_27B = Architecture(
    params=27_432_406_640,
    vision_params=423_060_336,
    layers=62,
    hidden_size=5376,
    kv_heads=16,
    head_dim=128,
    vocab_size=262_208,
    tied_embeddings=True,
    sliding_layers=52,
    sliding_window=1024,
)
# Lingshu-32B: its config.json is not in the search index either; the card says it is built on
# Qwen2.5-VL, so these are Qwen2.5-VL-32B-Instruct's numbers: the Qwen2.5-32B text model (64
# layers, hidden 5120, 40 heads, 8 KV heads, head_dim 128, intermediate 27648, vocab 152,064,
# untied) and the Qwen2.5-VL vision tower (depth 32, width 1280, intermediate 3420, merger to
# 5120), counted on the meta device with transformers 5.24 (the same count gives the 7B's
# 8,292,166,656 exactly). The hub lists Qwen2.5-VL-32B-Instruct at 33.5 B.
_QWEN2_5_VL_32B = Architecture(
    params=33_448_292_352,
    vision_params=684_416_000,
    layers=64,
    hidden_size=5120,
    kv_heads=8,
    head_dim=128,
    vocab_size=152_064,
    tied_embeddings=False,
)
# Qwen3-VL Instruct: the config.json numbers of Qwen/Qwen3-VL-{2B,4B,8B}-Instruct (text: hidden,
# intermediate, layers, heads, kv heads, head_dim 128, vocab 151,936, 262,144 positions; vision:
# depth, width and DeepStack layers), as copied in other projects' tests (the hub files are not
# in the search index), counted on the meta device with transformers 5.24. Checks: the 2B's
# model.safetensors is 4.26 GB (2.13 B x 2 bytes); the hub lists the 8B at 8.77 B.
_QWEN3_VL_2B = Architecture(
    params=2_127_532_032,
    vision_params=406_957_056,
    layers=28,
    hidden_size=2048,
    kv_heads=8,
    head_dim=128,
    vocab_size=151_936,
    tied_embeddings=True,
)
_QWEN3_VL_4B = Architecture(
    params=4_437_815_808,
    vision_params=415_347_712,
    layers=36,
    hidden_size=2560,
    kv_heads=8,
    head_dim=128,
    vocab_size=151_936,
    tied_embeddings=True,
)
_QWEN3_VL_8B = Architecture(
    params=8_767_123_696,
    vision_params=576_388_336,
    layers=36,
    hidden_size=4096,
    kv_heads=8,
    head_dim=128,
    vocab_size=151_936,
    tied_embeddings=False,
)

_HAI_DEF = "Health AI Developer Foundations terms of use"
_QWEN_TEMPLATE = "Without a system message the chat template adds 'You are a helpful assistant.'"
_QWEN3_VL_NOTES = (
    "General model (Qwen3-VL cookbooks: grounding, OCR, documents); not medical. Boxes as "
    "bbox_2d on a 0-1000 grid (cookbooks/2d_grounding.ipynb); 256K context. Its chat template "
    "adds no system message."
)

# Capabilities, each from its card (the section named) or the maker's code.
_MAIRA2_CARD = "https://huggingface.co/microsoft/maira-2"
# A server declared to write MAIRA-2's markup (RADLENS_REMOTE_GROUNDING=maira2) is taken for
# MAIRA-2, whose card documents one thing: grounded or plain reports on chest radiographs (the
# current frontal image, with the lateral and the prior frontal when given). Its boxes are
# therefore read on chest radiographs and withheld elsewhere, as for any entry.
MAIRA2_CAPABILITIES = Capabilities(
    report=CHEST_RADIOGRAPH,
    vqa=CHEST_RADIOGRAPH,  # its phrase grounding ("where is ...?"); not trained for open questions
    localization=CHEST_RADIOGRAPH,
    localization_body_parts=frozenset({"CHEST"}),
    localization_scope="findings on frontal chest radiographs (grounded reporting)",
    longitudinal=CHEST_RADIOGRAPH,
    sources=(
        (Capability.REPORT, f"{_MAIRA2_CARD}: grounded or non-grounded reports from chest X-rays"),
        (Capability.LOCALIZATION, f"{_MAIRA2_CARD}: grounded reporting and phrase grounding"),
        (Capability.LONGITUDINAL, f"{_MAIRA2_CARD}: inputs include the prior frontal image"),
    ),
)


_MEDGEMMA_1_5_CARD = "https://huggingface.co/google/medgemma-1.5-4b-it"
_MEDGEMMA_1_CARD = "https://huggingface.co/google/medgemma-4b-it"
_MEDGEMMA_1_5 = Capabilities(
    volumes=True,
    localization=CHEST_RADIOGRAPH,
    localization_body_parts=frozenset({"CHEST"}),
    localization_scope="chest-radiograph anatomy (trained and evaluated on Chest ImaGenome)",
    longitudinal=CHEST_RADIOGRAPH,
    sources=(
        (Capability.REPORT, f"{_MEDGEMMA_1_5_CARD}, Model information > Description"),
        (Capability.VQA, f"{_MEDGEMMA_1_5_CARD}, Model information > Description"),
        (
            Capability.VOLUMES,
            f"{_MEDGEMMA_1_5_CARD}, Description: high-dimensional imaging (CT and MRI volumes); "
            "notebooks/high_dimensional_ct_hugging_face.ipynb",
        ),
        (
            Capability.LOCALIZATION,
            f"{_MEDGEMMA_1_5_CARD}, Description: anatomical localization in chest X-rays; "
            "notebooks/cxr_anatomy_localization_with_hugging_face.ipynb (Chest ImaGenome; its "
            "example is a PNG radiograph, hence plain images too)",
        ),
        (
            Capability.LONGITUDINAL,
            f"{_MEDGEMMA_1_5_CARD}, Description: chest X-rays in the context of prior images; "
            "notebooks/cxr_longitudinal_comparison_with_hugging_face.ipynb",
        ),
    ),
)


def _medgemma_1(card: str) -> Capabilities:
    """MedGemma 1 (4B and 27B multimodal): 2D images only; the 1.5 card lists volumes,
    localization and longitudinal chest X-rays as what 1.5 adds."""
    return Capabilities(
        volumes=False,
        no_localization="MedGemma 1 is not trained for box localization (MedGemma 1.5 is, on "
        "chest radiographs)",
        sources=(
            (Capability.REPORT, f"{card}, Model information > Description"),
            (Capability.VQA, f"{card}, Model information > Description"),
            (
                Capability.LOCALIZATION,
                f"{_MEDGEMMA_1_5_CARD}, Description (localization is new in MedGemma 1.5)",
            ),
        ),
    )


_LINGSHU_CARD = "https://huggingface.co/lingshu-medical-mllm/Lingshu-7B"
# Lingshu: the card's Highlights (12+ modalities incl. X-ray, CT, MRI, ultrasound; VQA and report
# generation) mention no grounding, and MedEvalKit (alibaba-damo-academy/MedEvalKit
# 9b12e3b34232a8779cc1275417bf4f72f03d28e0, eval.sh) has no grounding benchmark: VQA, report
# generation (IU_XRAY, MIMIC_CXR, CheXpert_Plus) and text QA only. Unlike its Qwen2.5-VL base,
# RadLens therefore offers no boxes from it.
_LINGSHU = Capabilities(
    volumes=False,
    no_localization="neither Lingshu's card nor its evaluation (MedEvalKit) covers grounding",
    sources=(
        (Capability.REPORT, f"{_LINGSHU_CARD}, Highlights (report generation)"),
        (Capability.VQA, f"{_LINGSHU_CARD}, Highlights (medical multimodal VQA, 12+ modalities)"),
        (
            Capability.LOCALIZATION,
            "https://github.com/alibaba-damo-academy/MedEvalKit, eval.sh (no grounding benchmark)",
        ),
    ),
)


def _qwen_general(card: str, section: str) -> Capabilities:
    """A general Qwen model: grounds objects in 2D images; not trained on medical images."""
    return Capabilities(
        volumes=False,
        localization=PLANAR_2D,
        localization_scope="general objects in 2D images (not medical-trained)",
        no_localization="it grounds objects in 2D images and was not trained on CT/MR slices",
        sources=((Capability.LOCALIZATION, f"{card}, {section}"),),
    )


# Lingshu's evaluation resizes every image with qwen_vl_utils' defaults (MedEvalKit
# models/Qwen2_5_VL/Qwen2_5_VL_hf.py passes the images to process_vision_info with no limits;
# QwenLM/Qwen2.5-VL f0af2996e843cf46aa5f778c38d6694500c2ca81
# qwen-vl-utils/src/qwen_vl_utils/vision_process.py: MIN_PIXELS 4*28*28, MAX_PIXELS 16384*28*28).
# Recorded as the entry's max_pixels, an upper bound only: inputs_for takes the smaller of it
# and RadLens's Qwen cap (models.families.qwen2_5_vl.MAX_PIXELS, 1,003,520, the Qwen2-VL
# processor's default), so Lingshu gets the same ~1 MP images as Qwen2.5-VL. Sending the
# evaluation's 12.8 MP would cost ~16,000 image tokens per radiograph (and far more for a CT
# stack) on the 24 GB GPUs RadLens targets; 1 MP lies inside the range Lingshu was evaluated on.
_LINGSHU_MAX_PIXELS = 16384 * 28 * 28
_LINGSHU_LAYOUT = (
    "MedEvalKit sends no system message (Qwen's template then adds its default), one image "
    "before the question, several as '<image_i>: ' then the image, the question last; images "
    "resized within 3,136..12,845,056 pixels (qwen_vl_utils defaults)."
)

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
        capabilities=_MEDGEMMA_1_5,
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
        capabilities=_medgemma_1(_MEDGEMMA_1_CARD),
        notes=(
            "MedGemma 1. Not trained for box localization. Instruction-tuned reports differ in "
            "style from MIMIC-CXR (RadGraph F1 21.9 it vs 29.5 pt)."
        ),
    ),
    ModelSpec(
        id="medgemma-27b",
        name="MedGemma 27B-it (multimodal)",
        source="google/medgemma-27b-it",
        family=Family.GEMMA3,
        architecture=_GEMMA3_27B,
        context_length=131_072,
        license=_HAI_DEF,
        gated=True,
        card_url="https://huggingface.co/google/medgemma-27b-it",
        system_prompt="You are an expert radiologist.",
        capabilities=_medgemma_1("https://huggingface.co/google/medgemma-27b-it"),
        notes=(
            "MedGemma 1, 27B multimodal (google/medgemma-27b-text-it is text-only: no images). "
            "Same SigLIP encoder and image cost as the 4B. Memory (8K tokens): nf4 ~19 GB, one "
            "24 GB GPU; bf16 ~57 GB, an 80 GB GPU or a vLLM server (the remote entry)."
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
        max_pixels=_LINGSHU_MAX_PIXELS,
        capabilities=_LINGSHU,
        notes=(
            "Qwen2.5-VL-7B trained on medical data; VQA-RAD 67.9, SLAKE 83.1 (its card). "
            f"The card gives no system prompt. {_QWEN_TEMPLATE} {_LINGSHU_LAYOUT}"
        ),
    ),
    ModelSpec(
        id="lingshu-32b",
        name="Lingshu-32B",
        source="lingshu-medical-mllm/Lingshu-32B",
        family=Family.QWEN2_5_VL,
        architecture=_QWEN2_5_VL_32B,
        context_length=32_768,
        license="MIT",
        gated=False,
        card_url="https://huggingface.co/lingshu-medical-mllm/Lingshu-32B",
        system_prompt=None,
        max_pixels=_LINGSHU_MAX_PIXELS,
        capabilities=_LINGSHU,
        notes=(
            "Qwen2.5-VL-32B trained on medical data, the 7B's recipe at 32B (its card: ahead of "
            f"GPT-4.1 on most medical VQA and report tasks). {_QWEN_TEMPLATE} "
            f"{_LINGSHU_LAYOUT} Memory (8K tokens): nf4 ~24 GB, a 32-48 GB GPU (a 24 GB one "
            "has no room to spare); bf16 ~70 GB, an 80 GB GPU or a vLLM server (the remote entry)."
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
        capabilities=_qwen_general(
            "https://huggingface.co/Qwen/Qwen2.5-VL-3B-Instruct",
            "Key Enhancements (visual localization: bounding boxes as JSON)",
        ),
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
        capabilities=_qwen_general(
            "https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct",
            "Key Enhancements (visual localization: bounding boxes as JSON)",
        ),
        notes=f"General model with strong grounding; not medical. {_QWEN_TEMPLATE}",
    ),
    *(
        ModelSpec(
            id=f"qwen3-vl-{size.lower()}",
            name=f"Qwen3-VL-{size}-Instruct",
            source=f"Qwen/Qwen3-VL-{size}-Instruct",
            family=Family.QWEN3_VL,
            architecture=architecture,
            context_length=262_144,
            license="Apache-2.0",
            gated=False,
            card_url=f"https://huggingface.co/Qwen/Qwen3-VL-{size}-Instruct",
            system_prompt=None,
            capabilities=_qwen_general(
                f"https://huggingface.co/Qwen/Qwen3-VL-{size}-Instruct",
                "Model Introduction (2D grounding; cookbooks/2d_grounding.ipynb)",
            ),
            notes=_QWEN3_VL_NOTES,
        )
        for size, architecture in (
            ("2B", _QWEN3_VL_2B),
            ("4B", _QWEN3_VL_4B),
            ("8B", _QWEN3_VL_8B),
        )
    ),
)
