"""load_model on tiny random checkpoints of the real architectures, through the production path."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dicom_io.errors import RadLensError
from models.backends.loading import LoadedModel, Precision, load_model, resolve_model_folder
from models.errors import DeviceUnavailableError, ModelNotFoundError, UnsupportedPrecisionError
from tests.models.tiny import tiny_checkpoint

torch = pytest.importorskip("torch")
bnb = pytest.importorskip("bitsandbytes")

FAMILIES = ("gemma3", "qwen2_5_vl")
PRECISIONS = (Precision.NF4, Precision.INT8, Precision.BF16, Precision.FP32)
# Module-name prefixes of each family's vision side, which quantization must leave alone.
VISION_PREFIXES = {
    "gemma3": ("model.vision_tower.", "model.multi_modal_projector."),
    "qwen2_5_vl": ("model.visual.",),
}
# 2 decoder layers x (q, k, v, o, gate, up, down) in both tiny models.
DECODER_LINEARS = 14


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {family: tiny_checkpoint(family, tmp_path_factory) for family in FAMILIES}


@pytest.fixture(
    scope="module",
    # 8-bit Gemma3 is refused (test_int8_is_refused_for_gemma3 below).
    params=[(f, p) for f in FAMILIES for p in PRECISIONS if (f, p) != ("gemma3", Precision.INT8)],
    ids=lambda param: f"{param[0]}-{param[1].value}",
)
def loaded(request: pytest.FixtureRequest, tiny_folders: dict[str, Path]) -> LoadedModel:
    family, precision = request.param
    return load_model(tiny_folders[family], precision, device="cpu")


def _image(height: int, width: int) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _chat_inputs(processor: Any, image: Image.Image, text: str = "Describe the image.") -> Any:
    """Model inputs for one user turn (``image`` then ``text``) through the chat template."""
    messages = [
        {
            "role": "user",
            "content": [{"type": "image", "image": image}, {"type": "text", "text": text}],
        }
    ]
    return processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )


def _linears(model: Any) -> dict[str, str]:
    """Module name -> class name of every linear layer (plain or bitsandbytes)."""
    return {
        name: type(module).__name__
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


# --------------------------------------------------------------------------- loading


def test_loaded_model_records_how_it_was_loaded(loaded: LoadedModel) -> None:
    family = loaded.model_type
    assert family in FAMILIES
    assert loaded.device == "cpu"
    assert loaded.precision in PRECISIONS
    assert loaded.load_seconds > 0
    assert (loaded.folder / "config.json").is_file()
    expected = {
        "gemma3": "Gemma3ForConditionalGeneration",
        "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    }
    assert type(loaded.model).__name__ == expected[family]
    assert not loaded.model.training


def test_quantization_leaves_vision_side_and_head_unquantized(loaded: LoadedModel) -> None:
    linears = _linears(loaded.model)
    vision = {n: c for n, c in linears.items() if n.startswith(VISION_PREFIXES[loaded.model_type])}
    decoder = {n: c for n, c in linears.items() if ".language_model." in f".{n}"}
    assert len(vision) == 12
    assert set(vision.values()) == {"Linear"}
    assert linears["lm_head"] == "Linear"
    expected_class = {
        Precision.NF4: "Linear4bit",
        Precision.INT8: "Linear8bitLt",
        Precision.BF16: "Linear",
        Precision.FP32: "Linear",
    }[loaded.precision]
    assert len(decoder) == DECODER_LINEARS
    assert set(decoder.values()) == {expected_class}


def test_dtypes_match_precision(loaded: LoadedModel) -> None:
    model = loaded.model
    float_dtype = torch.float32 if loaded.precision is Precision.FP32 else torch.bfloat16
    assert model.lm_head.weight.dtype == float_dtype
    vision_params = [
        p for n, p in model.named_parameters() if n.startswith(VISION_PREFIXES[loaded.model_type])
    ]
    assert {p.dtype for p in vision_params} == {float_dtype}
    q_proj = model.model.language_model.layers[0].self_attn.q_proj
    if loaded.precision is Precision.NF4:
        assert q_proj.weight.dtype == torch.uint8  # two 4-bit values per byte
        assert q_proj.weight.quant_state.quant_type == "nf4"
        assert q_proj.weight.quant_state.nested  # double quantization
        assert q_proj.compute_dtype == torch.bfloat16
    elif loaded.precision is Precision.INT8:
        assert q_proj.weight.dtype == torch.int8
    else:
        assert q_proj.weight.dtype == float_dtype


def test_generate_five_tokens_from_image_and_text(loaded: LoadedModel) -> None:
    inputs = _chat_inputs(loaded.processor, _image(84, 112))
    prompt = inputs["input_ids"]
    with torch.inference_mode():
        output = loaded.model.generate(
            **inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False
        )
    assert output.shape == (1, prompt.shape[1] + 5)
    assert torch.equal(output[0, : prompt.shape[1]], prompt[0])
    text = loaded.processor.decode(output[0, prompt.shape[1] :], skip_special_tokens=True)
    assert isinstance(text, str)


def test_int8_is_refused_for_gemma3(tiny_folders: dict[str, Path]) -> None:
    """bitsandbytes 8-bit MedGemma gave gibberish (Google-Health/medgemma#5) and 8-bit Gemma3
    4B empty output, traced by bitsandbytes' maintainers to float16 compute, LLM.int8's default
    (bitsandbytes-foundation/bitsandbytes#1572): load_model refuses it, naming both sources and
    the precisions to use, before any weight is read."""
    with pytest.raises(UnsupportedPrecisionError) as caught:
        load_model(tiny_folders["gemma3"], "int8", device="cpu", model_id="medgemma-1.5-4b")
    message = str(caught.value)
    assert message.startswith(
        "Model 'medgemma-1.5-4b': precision 'int8' is refused for gemma3 (MedGemma) models: "
    )
    assert "Google-Health/medgemma#5" in message
    assert "bitsandbytes-foundation/bitsandbytes#1572" in message
    assert message.endswith("Use 'nf4' (4-bit, computing in bfloat16) or 'bf16'.")
    assert isinstance(caught.value, RadLensError)


# --------------------------------------------------------------------------- processors


def test_gemma3_processor_expands_image_to_soft_tokens(tiny_folders: dict[str, Path]) -> None:
    from models.backends.processors import load_processor

    processor = load_processor(tiny_folders["gemma3"])
    assert type(processor).__name__ == "Gemma3Processor"
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}],
        add_generation_prompt=True,
    )
    assert prompt == (
        "<bos><start_of_turn>user\n<start_of_image>Where?<end_of_turn>\n<start_of_turn>model\n"
    )
    inputs = _chat_inputs(processor, _image(84, 112), "Where?")
    tokenizer = processor.tokenizer
    ids = inputs["input_ids"][0].tolist()
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 64, 64)
    assert ids.count(tokenizer.image_token_id) == 16  # mm_tokens_per_image = image_seq_length
    assert ids.count(tokenizer.convert_tokens_to_ids("<start_of_image>")) == 1
    assert ids.count(tokenizer.bos_token_id) == 1
    assert ids[0] == tokenizer.bos_token_id


def test_gemma3_rendered_prompt_gets_a_second_bos(tiny_folders: dict[str, Path]) -> None:
    """Trap for prompt code: the template writes <bos>, and processor(text=...) adds another.

    apply_chat_template(tokenize=True) avoids it; a rendered string needs
    add_special_tokens=False.
    """
    from models.backends.processors import load_processor

    processor = load_processor(tiny_folders["gemma3"])
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}],
        add_generation_prompt=True,
    )
    bos = processor.tokenizer.bos_token_id
    doubled = processor(text=prompt, images=[_image(84, 112)])["input_ids"][0]
    single = processor(text=prompt, images=[_image(84, 112)], add_special_tokens=False)
    assert list(doubled[:2]) == [bos, bos]
    assert list(single["input_ids"][0]).count(bos) == 1


def test_qwen_processor_is_image_only_and_full(tiny_folders: dict[str, Path]) -> None:
    from models.backends.processors import load_processor
    from models.families.qwen2_5_vl_processor import Qwen2_5_VLImageProcessor

    processor = load_processor(tiny_folders["qwen2_5_vl"])
    assert isinstance(processor, Qwen2_5_VLImageProcessor)
    assert not hasattr(processor, "video_processor")
    assert processor.image_processor.merge_size == 2
    inputs = _chat_inputs(processor, _image(84, 112), "Where?")
    # 84x112 px is already a multiple of 28: a 6x8 grid of 14 px patches, merged 2x2 -> 12 tokens.
    assert inputs["image_grid_thw"].tolist() == [[1, 6, 8]]
    assert tuple(inputs["pixel_values"].shape) == (48, 3 * 2 * 14 * 14)
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(processor.image_token_id) == 12
    text = processor.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    assert text.endswith("Where?<|im_end|>\n<|im_start|>assistant\n")
    with pytest.raises(ValueError, match="images only"):
        processor(text="x", videos=[np.zeros((2, 28, 28, 3), dtype=np.uint8)])


def test_auto_processor_returns_image_only_processor(
    tiny_folders: dict[str, Path], tmp_path: Path
) -> None:
    from transformers import AutoProcessor

    from models.backends.processors import load_processor, register_processors
    from models.families.qwen2_5_vl_processor import Qwen2_5_VLImageProcessor

    register_processors()
    # A folder naming no processor class: AutoProcessor goes by the config type.
    bare = tmp_path / "bare"
    shutil.copytree(tiny_folders["qwen2_5_vl"], bare)
    config_path = bare / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    del config["processor_class"]
    config_path.write_text(json.dumps(config))
    assert isinstance(AutoProcessor.from_pretrained(bare), Qwen2_5_VLImageProcessor)
    # A folder written by the processor itself names the override.
    saved = tmp_path / "saved"
    load_processor(tiny_folders["qwen2_5_vl"]).save_pretrained(saved)
    shutil.copy(bare / "config.json", saved / "config.json")
    reloaded = AutoProcessor.from_pretrained(saved)
    assert isinstance(reloaded, Qwen2_5_VLImageProcessor)
    assert reloaded.image_processor.size["longest_edge"] == 28 * 28 * 16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("family", FAMILIES)
def test_nf4_on_gpu_generates(tiny_folders: dict[str, Path], family: str) -> None:
    loaded = load_model(tiny_folders[family], "nf4", device="cuda")
    assert (loaded.precision, loaded.device) == (Precision.NF4, "cuda:0")
    assert loaded.model.lm_head.weight.device.type == "cuda"
    inputs = _chat_inputs(loaded.processor, _image(84, 112)).to(loaded.device)
    with torch.inference_mode():
        output = loaded.model.generate(
            **inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False
        )
    assert output.shape[1] == inputs["input_ids"].shape[1] + 5


# --------------------------------------------------------------------------- auto, errors


def test_auto_precision_on_this_machine(
    tiny_folders: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="models.backends.loading"):
        loaded = load_model(tiny_folders["gemma3"], "AUTO")
    if torch.cuda.is_available():
        assert (loaded.precision, loaded.device) == (Precision.BF16, "cuda:0")
    else:
        assert (loaded.precision, loaded.device) == (Precision.FP32, "cpu")
        assert "running on the CPU" in caplog.text


def test_hub_id_loads_from_the_cache_offline(
    tiny_folders: dict[str, Path], tmp_path: Path
) -> None:
    # The hub cache layout: models--OWNER--NAME/{refs/main, snapshots/COMMIT/...}.
    repo = tmp_path / "models--radlens-test--tiny-qwen"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_folders["qwen2_5_vl"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = load_model("radlens-test/tiny-qwen", "bf16", device="cpu", cache_dir=tmp_path)
    assert loaded.folder == repo / "snapshots" / commit
    assert (loaded.model_type, loaded.precision) == ("qwen2_5_vl", Precision.BF16)


@pytest.mark.timeout(20)
def test_missing_hub_model_fails_fast_with_pull_command(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"radlens models pull radlens-test/no-such"):
        load_model("radlens-test/no-such-model", "nf4")
    where = re.escape(f"not in the Hugging Face cache ({tmp_path})")
    with pytest.raises(ModelNotFoundError, match=where):
        load_model("radlens-test/no-such-model", "nf4", cache_dir=tmp_path)


def test_missing_model_error_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_model(tmp_path / "absent", "bf16", model_id="medgemma-4b")
    assert isinstance(info.value, RadLensError)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "absent") in message
    assert "`radlens models pull medgemma-4b`" in message


def test_folder_without_weights_is_reported(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match="no weight files"):
        resolve_model_folder(tmp_path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("nf4", Precision.NF4), ("INT8", Precision.INT8), (Precision.BF16, Precision.BF16)],
    ids=["lower", "upper", "enum"],
)
def test_precision_parse(value: Precision | str, expected: Precision) -> None:
    assert Precision.parse(value) is expected


def test_unknown_precision_is_refused(tiny_folders: dict[str, Path]) -> None:
    with pytest.raises(
        UnsupportedPrecisionError, match=r"one of auto, nf4, int8, bf16, fp32, not 'fp8'"
    ):
        load_model(tiny_folders["gemma3"], "fp8")


def test_unavailable_device_is_refused(tiny_folders: dict[str, Path]) -> None:
    with pytest.raises(DeviceUnavailableError, match=r"'cuda:7' is not available"):
        load_model(tiny_folders["gemma3"], "bf16", device="cuda:7")


@pytest.mark.parametrize("module", ["models.backends.loading", "models.backends"])
def test_importing_does_not_import_torch(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in ('torch', 'transformers', 'bitsandbytes') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.stdout.strip() == "[]"
