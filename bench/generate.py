"""Generation benchmark: load time, peak memory, time to first token and decode speed.

    python bench/generate.py --model medgemma-1.5-4b --precisions nf4,bf16,int8 --cases cxr,ct85 \\
        --device cuda --record                   # the full-size run on a GPU (see "Time" below)
    python bench/generate.py --model medgemma-1.5-4b --precisions nf4 --device cuda   # nf4 only
    python bench/generate.py --tiny --model qwen2.5-vl-7b --precisions bf16   # CPU smoke run

What it does:

1. Writes the model's checkpoint with random weights into a temporary folder: with ``--tiny``
   the tiny checkpoints of ``tests/models/tiny.py``; otherwise the full-size architecture of the
   registry entry, from the config values below (nothing is downloaded). The full-size model is
   instantiated on the meta device in bfloat16, materialized on the target device
   (``to_empty``), filled with random values there (normal(0, 0.02) matrices, neutral norms),
   saved as safetensors, and freed. Its tokenizer, chat template and processor files are the tiny
   checkpoint's (a small trained BPE with the real special tokens), with the processor set to the
   real image geometry (Gemma3: 896 x 896, 256 soft tokens; Qwen2.5-VL: min/max pixels
   3136/12845056); the special-token ids in the config are set to that tokenizer's ids (e.g.
   Gemma3's image token 262144 becomes 9). Only ids change, not shapes or work: an embedding
   lookup costs the same for any id. Text is tokenized into more pieces than the real tokenizers
   would make, so text-only tokens count a little higher; image tokens are exact. Generated ids
   beyond the small tokenizer decode to nothing: tokens are counted, never decoded.
2. Prints the parameter count of the written checkpoint (its safetensors headers) beside the
   registry's ``Architecture.params``; the full-size configs reproduce it exactly.
3. Builds the inputs once through the production path: the demo radiograph
   ``assets/demo/chest_pa_cr.dcm`` and a synthetic CT (``tests/synthetic.py``, 300 x 512 x 512 by
   default) through ``models.conversation.prepare`` (task ``ask``; the CT with
   ``InputOptions(max_slices=85)``, MedGemma's CT recipe).
4. For each precision: loads the folder with ``models.loading.load_model`` (quantization happens
   at load, as in production) and generates through ``TransformersBackend`` (chat template,
   processor, ``model.generate`` on its worker thread, streamer). Per case: one warm-up
   generation (2 tokens, untimed); first token = best of ``--repeat`` generations with
   ``max_new_tokens=1`` (building the inputs, prefill and one token: what a user waits for);
   decode = ``(N - 1) / (t_N - t_1)`` with ``t_N`` one generation of exactly N tokens
   (``min_new_tokens = max_new_tokens = N``, ``--new-tokens``, 64) and ``t_1`` the best first
   token time.

Columns: ``images`` sent; ``image tok``: the image soft tokens in the processor's input ids (the
placeholder id counted); ``prompt tok``: the whole prompt; ``load s``: ``load_model`` wall time
(weights, quantization and processor); ``peak GB`` (10^9 bytes): on CUDA
``torch.cuda.max_memory_allocated`` over the case's generations (reset at the case's start, so it
includes the weights); on the CPU the process's peak RSS (``VmHWM``, reset per case) above its RSS
before the model was loaded; ``dev GB``: CUDA only, device memory in use after the case less the
free memory before the load (``torch.cuda.mem_get_info``: the driver's view, independent of
PyTorch's counters and nvidia-smi: allocator cache, cuBLAS and bitsandbytes workspaces included).

Targets (the issue's; one H100, MedGemma 4B architecture, nf4): peak memory <= 5 GB with one
image and <= 12 GB with 85 slices, first token <= 0.5 s with one image, decode >= 30 tokens/s
(checked on every nf4 case). The targets line says PASS/FAIL per check, or why they do not apply
(CPU, ``--tiny``, another architecture, no nf4 row). ``--strict`` makes a FAIL exit with 1.

Time (full-size ``medgemma-1.5-4b``, all three precisions, both cases, one H100; an estimate
from the work involved until a run is recorded in bench/RESULTS.md): ~10-20 s writing and
reading the synthetic CT and importing MONAI, ~5 s building the model on the GPU, ~20-60 s
saving 8.6 GB (disk speed), then per precision a ~10-40 s load and ~30-60 s of generations
(the 85-slice prompt, ~22k tokens, is prefilled 5 times: warm-up, 3 first-token runs, decode;
the CPU image processor takes ~1-3 s of each for 85 images) -- about 3-6 minutes in all, under
2-3 minutes with ``--precisions nf4``. Qwen2.5-VL-7B / Lingshu-7B save 16.6 GB and prefill
~28k tokens: expect 5-9 minutes for three precisions. ``--repeat 2`` or ``--cases cxr`` shorten
it. Elapsed seconds are printed with every step.

``--record`` appends the table, the device (GPU name), torch / transformers / bitsandbytes
versions, the command and the date to bench/RESULTS.md (``--results`` picks another file).
``--layers N`` (a debugging aid) keeps every width and the vocabulary but uses N text and N
vision layers, to try the full-size path on a CPU; its parameter count does not match.

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

import argparse
import copy
import datetime
import gc
import json
import math
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.memory import peak_bytes, reset_peak, rss_bytes  # noqa: E402 - needs ROOT on the path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from models.family import Family  # noqa: E402
from models.registry import ModelSpec, get_spec  # noqa: E402

DEMO_CXR = ROOT / "assets" / "demo" / "chest_pa_cr.dcm"
RESULTS = ROOT / "bench" / "RESULTS.md"
GB = 1e9
PRECISIONS = ("nf4", "int8", "bf16", "fp32")
CASES = ("cxr", "ct85")
QUESTIONS = {"cxr": "Is there a pneumothorax?", "ct85": "Is there a pulmonary nodule?"}
TARGET_GPU = "H100"

# --------------------------------------------------------------------------- full-size configs

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

# The real processors' image geometry, written over the tiny checkpoint's.
_PROCESSOR_GEOMETRY: dict[str, dict[str, Any]] = {
    "gemma3": {"size": {"height": 896, "width": 896}, "image_seq_length": 256},
    "qwen2_5_vl": {"min_pixels": 3136, "max_pixels": 12_845_056},
}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.json")


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
    return _param_counts(model)


def _param_counts(model: Any) -> tuple[int, int]:
    vision_prefixes = ("model.vision_tower.", "model.multi_modal_projector.", "model.visual.")
    total = vision = 0
    for name, param in model.named_parameters():  # shared (tied) tensors once
        total += param.numel()
        if name.startswith(vision_prefixes):
            vision += param.numel()
    return total, vision


# --------------------------------------------------------------------------- checkpoints


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def tiny_family(spec: ModelSpec) -> str:
    if spec.family not in (Family.GEMMA3, Family.QWEN2_5_VL):
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
    import torch

    donor = write_tiny_checkpoint(spec, folder.parent / f"{folder.name}-tokenizer")
    donor_config = json.loads((donor / "config.json").read_text(encoding="utf-8"))
    if config is None:
        config = model_config(spec.id, layers=layers)
    for key, value in _token_ids(donor_config).items():
        setattr(config, key, value)
    for key, value in _token_ids(donor_config.get("text_config", {})).items():
        setattr(config.text_config, key, value)

    with torch.device("meta"):
        model = model_class(config)._from_config(config, dtype=torch.bfloat16)
    model.to_empty(device=device)
    model.tie_weights()  # to_empty gives every parameter new storage: tie lm_head again
    randomize_(model, seed)
    counts = _param_counts(model)
    model.save_pretrained(folder)
    del model
    _release_memory()

    for name in (*_TOKENIZER_FILES, "generation_config.json", "processor_config.json"):
        if (donor / name).exists():
            shutil.copyfile(donor / name, folder / name)
    geometry = _PROCESSOR_GEOMETRY[donor_config["model_type"]]
    for name in ("preprocessor_config.json", "processor_config.json"):
        path = donor / name
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            data.update({k: v for k, v in geometry.items() if k in data})
            _write_json(folder / name, data)
    shutil.rmtree(donor)
    return counts


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
    from models.registry import spec_from_folder

    architecture = spec_from_folder(folder).architecture
    assert architecture is not None
    return architecture.params


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, eq=False)
class Case:
    name: str
    messages: list[Any]
    images: int


def build_cases(spec: ModelSpec, names: Sequence[str], work: Path, options: Any) -> list[Case]:
    """The prepared requests (production path: ``prepare``, task ``ask``) for each case."""
    from dicom_io.loader import load_study
    from models.conversation import prepare
    from models.inputs import InputOptions

    cases = []
    for name in names:
        if name == "cxr":
            series = load_study(DEMO_CXR).default_series
            opts = InputOptions()
            label = "cxr"
        else:
            series = _ct_series(work / "ct", options.ct_slices, options.ct_size)
            opts = InputOptions(mode="volume", max_slices=options.max_slices)
            label = ""
        prepared = prepare(series, spec, "ask", question=QUESTIONS[name], options=opts)
        images = len(prepared.inputs.images)
        cases.append(Case(label or f"ct{images}", prepared.messages, images))
    return cases


def _ct_series(folder: Path, slices: int, size: int) -> Any:
    from dicom_io.loader import load_study
    from tests.synthetic import write_ct_series

    if not folder.exists():
        write_ct_series(folder, slices=slices, rows=size, columns=size)
    return load_study(folder).default_series


# --------------------------------------------------------------------------- memory


class Memory:
    """Peak memory of a case: CUDA allocator and driver counters, or process RSS on the CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.device = device
        self.before_load = 0

    def start_precision(self) -> None:
        """Call before loading the model: the baseline the case's peaks are measured from."""
        _release_memory()
        if self.cuda:
            import torch

            self.before_load, _total = torch.cuda.mem_get_info(torch.device(self.device))
        else:
            self.before_load = rss_bytes()

    def start_case(self) -> None:
        _release_memory()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats(torch.device(self.device))
        else:
            reset_peak()

    def end_case(self) -> tuple[float, float | None]:
        """(peak GB, device GB in use or None): see the module docstring."""
        if self.cuda:
            import torch

            dev = torch.device(self.device)
            torch.cuda.synchronize(dev)
            peak = torch.cuda.max_memory_allocated(dev)
            free, _total = torch.cuda.mem_get_info(dev)
            return peak / GB, (self.before_load - free) / GB
        return max(0, peak_bytes() - self.before_load) / GB, None


def _release_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- measuring


@dataclass
class Row:
    model: str
    precision: str
    case: str
    images: int
    image_tokens: int
    prompt_tokens: int
    load_s: float
    peak_gb: float
    dev_gb: float | None
    first_token_s: float
    decode_tok_s: float
    new_tokens: int
    device: str


def count_image_tokens(loaded: Any, messages: list[Any]) -> int:
    """Image soft tokens in the prompt the processor builds for ``messages``."""
    from models.messages import to_transformers

    inputs = loaded.processor.apply_chat_template(
        to_transformers(messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
    )
    config = loaded.model.config
    image_id = getattr(config, "image_token_id", None)
    if image_id is None:
        image_id = config.image_token_index
    return int((inputs["input_ids"] == image_id).sum())


def measure_case(
    backend: Any, case: Case, memory: Memory, *, new_tokens: int, repeat: int
) -> dict[str, Any]:
    """First-token and decode timings and peak memory of one case on a loaded model."""
    from models.backends.base import GenerationRequest, GenerationSettings

    def generate(n: int) -> Any:
        settings = GenerationSettings(max_new_tokens=n, min_new_tokens=n)
        return backend.generate(GenerationRequest(case.messages, settings))

    memory.start_case()
    image_tokens = count_image_tokens(backend.loaded, case.messages)
    generate(2)  # warm-up: kernels, allocator, cuBLAS / bitsandbytes workspaces
    firsts = [generate(1) for _ in range(repeat)]
    first = min(r.seconds for r in firsts)
    long = generate(new_tokens)
    if long.completion_tokens != new_tokens:
        print(f"  warning: asked for {new_tokens} tokens, got {long.completion_tokens}")
    span = long.seconds - first
    decode = (long.completion_tokens - 1) / span if span > 0 else math.nan
    peak, dev = memory.end_case()
    return {
        "image_tokens": image_tokens,
        "prompt_tokens": int(firsts[0].prompt_tokens or 0),
        "peak_gb": peak,
        "dev_gb": dev,
        "first_token_s": first,
        "decode_tok_s": decode,
        "new_tokens": int(long.completion_tokens or 0),
    }


@dataclass
class Report:
    model: str
    tiny: bool
    device: str
    device_name: str
    built_params: int
    registry_params: int | None
    rows: list[Row] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(line.endswith("FAIL") for line in self.targets)


class Clock:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f} s] {message}", flush=True)


def run(options: argparse.Namespace) -> Report:
    """Build the checkpoint and the inputs, then measure every precision x case."""
    import torch

    from models.backends.local import TransformersBackend
    from models.loading import load_model

    clock = Clock()
    spec = get_spec(options.model)
    device = options.device or (
        "cuda" if torch.cuda.is_available() and not options.tiny else "cpu"
    )
    if device.startswith("cuda") and ":" not in device:
        device = "cuda:0"
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="radlens-bench-", dir=options.workdir) as tmp:
        work = Path(tmp)
        clock.log(f"building inputs: {', '.join(options.cases)}")
        cases = build_cases(spec, options.cases, work, options)
        folder = work / "model"
        report = _write_checkpoint(spec, folder, device, options, clock)
        report.device_name = device_name(device)
        memory = Memory(device)
        for precision in options.precisions:
            memory.start_precision()
            clock.log(f"loading {precision} on {device}")
            loaded = load_model(folder, precision, device)
            backend = TransformersBackend(loaded, spec.id)
            clock.log(f"loaded in {loaded.load_seconds:.1f} s")
            for case in cases:
                values = measure_case(
                    backend, case, memory, new_tokens=options.new_tokens, repeat=options.repeat
                )
                row = Row(
                    model=spec.id + (" (tiny)" if options.tiny else ""),
                    precision=precision,
                    case=case.name,
                    images=case.images,
                    load_s=loaded.load_seconds,
                    device=device,
                    **values,
                )
                report.rows.append(row)
                clock.log(
                    f"{precision} {case.name}: first token {row.first_token_s:.3f} s, "
                    f"decode {row.decode_tok_s:.1f} tok/s, peak {row.peak_gb:.2f} GB"
                )
            del backend, loaded
            _release_memory()
    report.targets = check_targets(report, spec)
    report.seconds = time.perf_counter() - clock.start
    return report


def _write_checkpoint(
    spec: ModelSpec, folder: Path, device: str, options: argparse.Namespace, clock: Clock
) -> Report:
    registry = spec.architecture.params if spec.architecture else None
    if options.tiny:
        clock.log(f"writing the tiny {spec.family.value} checkpoint")
        write_tiny_checkpoint(spec, folder)
        built = checkpoint_params(folder)
        print(f"params: {built:,} in the tiny checkpoint (registry's full-size: {registry:,})")
    else:
        clock.log(f"building the full-size {spec.id} architecture on {device} (random bf16)")
        in_memory, _vision = write_full_checkpoint(spec, folder, device, layers=options.layers)
        built = checkpoint_params(folder)
        size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) / GB
        clock.log(f"saved {size:.2f} GB of safetensors")
        verdict = "match" if built == registry else "MISMATCH"
        if options.layers is not None:
            verdict = f"not comparable (--layers {options.layers})"
        print(
            f"params: built {built:,} (in memory {in_memory:,}), registry Architecture.params "
            f"{registry:,}: {verdict}"
        )
    return Report(spec.id, options.tiny, device, "", built, registry)


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {model}, {os.cpu_count()} cores"


# --------------------------------------------------------------------------- targets


def check_targets(report: Report, spec: ModelSpec) -> list[str]:
    """PASS/FAIL lines for the issue's targets, or one line saying why they do not apply."""
    scope = "targets are for one H100, the MedGemma 4B architecture, nf4"
    if not report.device.startswith("cuda"):
        return [f"targets: not applicable on CPU (a smoke run; {scope})"]
    if report.tiny:
        return [f"targets: not applicable to --tiny ({scope})"]
    if spec.family is not Family.GEMMA3:
        return [f"targets: not applicable to {spec.id} ({scope})"]
    rows = [row for row in report.rows if row.precision == "nf4"]
    if not rows:
        return [f"targets: not applicable without an nf4 row ({scope})"]
    lines = []
    if TARGET_GPU not in report.device_name:
        lines.append(f"targets: measured on {report.device_name}; {scope}")
    for row in rows:
        checks: list[tuple[str, float, str, float, str]] = [
            ("decode", row.decode_tok_s, ">=", 30.0, "tok/s")
        ]
        if row.case == "cxr":
            checks += [
                ("peak", row.peak_gb, "<=", 5.0, "GB"),
                ("first token", row.first_token_s, "<=", 0.5, "s"),
            ]
        elif row.images == 85:
            checks.append(("peak", row.peak_gb, "<=", 12.0, "GB"))
        for name, value, op, limit, unit in checks:
            ok = value >= limit if op == ">=" else value <= limit
            verdict = "PASS" if ok else "FAIL"
            lines.append(
                f"target nf4 {row.case} {name}: {value:.2f} {unit} {op} {limit:g} {verdict}"
            )
    return lines


# --------------------------------------------------------------------------- output


_COLUMNS: tuple[tuple[str, int, Callable[[Row], str]], ...] = (
    ("model", 24, lambda r: r.model),
    ("prec", 5, lambda r: r.precision),
    ("case", 5, lambda r: r.case),
    ("images", 6, lambda r: str(r.images)),
    ("image tok", 9, lambda r: f"{r.image_tokens:,}"),
    ("prompt tok", 10, lambda r: f"{r.prompt_tokens:,}"),
    ("load s", 7, lambda r: f"{r.load_s:.2f}"),
    ("peak GB", 7, lambda r: f"{r.peak_gb:.2f}"),
    ("dev GB", 6, lambda r: "-" if r.dev_gb is None else f"{r.dev_gb:.2f}"),
    ("1st tok s", 9, lambda r: f"{r.first_token_s:.3f}"),
    ("decode tok/s", 12, lambda r: f"{r.decode_tok_s:.1f}"),
)


def format_table(report: Report) -> str:
    def line(cells: Sequence[str]) -> str:
        parts = []
        for (name, width, _), cell in zip(_COLUMNS, cells, strict=True):
            parts.append(
                cell.ljust(width) if name in ("model", "prec", "case") else cell.rjust(width)
            )
        return "  ".join(parts).rstrip()

    out = [line([name for name, _, _ in _COLUMNS])]
    out += [line([fmt(row) for _, _, fmt in _COLUMNS]) for row in report.rows]
    new = report.rows[0].new_tokens if report.rows else 0
    if report.device.startswith("cuda"):
        peak = "torch.cuda.max_memory_allocated over the case (weights included)"
        dev = "dev GB: mem_get_info in use after the case less free before the load"
    else:
        peak = "process RSS increase (peak RSS over the RSS before the load; no GPU)"
        dev = "dev GB: CUDA only"
    out.append(f"device: {report.device_name}; peak GB: {peak}; {dev}")
    out.append(
        f"first token: best wall time of a 1-token generation (inputs, prefill, 1 token); "
        f"decode: (N - 1) / (t_N - t_1), N = {new}"
    )
    out.extend(report.targets)
    return "\n".join(out)


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import torch

    parts = []
    for name in ("torch", "transformers", "bitsandbytes", "accelerate"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} -")
    if torch.version.cuda:
        parts.append(f"CUDA {torch.version.cuda}")
    return ", ".join(parts)


def record(report: Report, path: Path, argv: Sequence[str]) -> None:
    """Append the table with the device, versions, command and date to ``path``."""
    today = datetime.date.today().isoformat()
    kind = "CPU smoke numbers, not targets" if not report.device.startswith("cuda") else ""
    title = f"## {today} - {report.device_name} - {report.model}"
    if report.tiny:
        title += " (tiny)"
    command = "python bench/generate.py " + shlex.join(argv)
    text = [
        "",
        title + (f" ({kind})" if kind else ""),
        "",
        f"{versions()}; {report.seconds:.0f} s in all.",
        "",
        f"`{command}`",
        "",
        "```text",
        format_table(report),
        "```",
        "",
    ]
    with path.open("a", encoding="utf-8") as f:
        f.write("\n".join(text))


# --------------------------------------------------------------------------- CLI


def _csv(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [v.strip().lower() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown or not values:
            raise argparse.ArgumentTypeError(
                f"choose from {', '.join(allowed)} (comma-separated), not {text!r}"
            )
        return values

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--model", default="medgemma-1.5-4b", help="registry id")
    parser.add_argument("--precisions", type=_csv(PRECISIONS), default=["nf4", "bf16", "int8"])
    parser.add_argument("--cases", type=_csv(CASES), default=list(CASES))
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: cuda if any)"
    )
    parser.add_argument("--tiny", action="store_true", help="tests/models/tiny.py checkpoints")
    parser.add_argument("--new-tokens", type=int, default=64, help="N for the decode speed")
    parser.add_argument("--repeat", type=int, default=3, help="first-token runs (best kept)")
    parser.add_argument("--ct-slices", type=int, default=300, help="synthetic CT slices")
    parser.add_argument("--ct-size", type=int, default=512, help="synthetic CT rows = columns")
    parser.add_argument("--max-slices", type=int, default=85, help="slices sent for the CT")
    parser.add_argument("--layers", type=int, default=None, help="debug: N layers, real widths")
    parser.add_argument("--workdir", default=None, help="where the temporary folder goes")
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file --record appends to")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    options = parser.parse_args(argv)
    if options.new_tokens < 2 or options.repeat < 1:
        parser.error("--new-tokens must be >= 2 and --repeat >= 1")
    return options


def main(argv: Sequence[str] | None = None) -> Report:
    """Run the benchmark, print the table (and record it); returns the report for tests."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(args)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    report = run(options)
    print()
    print(format_table(report))
    print(f"{report.seconds:.0f} s in all")
    if options.record:
        record(report, options.results, args)
        print(f"recorded in {options.results}")
    return report


if __name__ == "__main__":
    result = main()
    sys.exit(1 if result.failed and "--strict" in sys.argv else 0)
