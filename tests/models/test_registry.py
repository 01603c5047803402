"""The model registry: entries, lookups, local folders and memory estimates."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from dicom_io.errors import InvalidArgumentError, RadLensError
from models.backends.loading import Precision
from models.errors import (
    ModelNotFoundError,
    UnknownModelError,
    UnsupportedModelError,
    UnsupportedPrecisionError,
)
from models.families.base import Family
from models.registry.capabilities import family_capabilities
from models.registry.lookup import DEFAULT_MODEL_ID, default_spec, get_spec, known_ids, list_specs
from models.registry.memory import KV_TOKENS, RUNTIME_OVERHEAD_GB
from models.registry.remote_entry import remote_settings

# id -> (hub id, family, native box convention, gated, licence start), as on each model card.
EXPECTED = {
    "medgemma-1.5-4b": ("google/medgemma-1.5-4b-it", "gemma3", "gemma_box_2d", True, "Health AI"),
    "medgemma-4b": ("google/medgemma-4b-it", "gemma3", "gemma_box_2d", True, "Health AI"),
    "medgemma-27b": ("google/medgemma-27b-it", "gemma3", "gemma_box_2d", True, "Health AI"),
    "lingshu-7b": ("lingshu-medical-mllm/Lingshu-7B", "qwen2_5_vl", "qwen_abs", False, "MIT"),
    "lingshu-32b": ("lingshu-medical-mllm/Lingshu-32B", "qwen2_5_vl", "qwen_abs", False, "MIT"),
    "qwen2.5-vl-3b": ("Qwen/Qwen2.5-VL-3B-Instruct", "qwen2_5_vl", "qwen_abs", False, "Qwen Res"),
    "qwen2.5-vl-7b": (
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "qwen2_5_vl",
        "qwen_abs",
        False,
        "Apache-2.0",
    ),
    **{
        f"qwen3-vl-{size}": (
            f"Qwen/Qwen3-VL-{size.upper()}-Instruct",
            "qwen3_vl",
            "qwen_norm_1000",
            False,
            "Apache-2.0",
        )
        for size in ("2b", "4b", "8b")
    },
}
# Parameters the hub shows for each checkpoint, in billions.
HUB_PARAMS_B = {
    "medgemma-1.5-4b": 4.30,
    "medgemma-4b": 4.30,
    # 27B: Ollama's F16 build lists 27.4 B (the hub page rounds differently); counted from the
    # Gemma 3 27B config on the meta device: 27,432,406,640.
    "medgemma-27b": 27.43,
    "lingshu-7b": 8.29,
    # 32B: the hub lists Qwen2.5-VL-32B-Instruct, Lingshu-32B's base, at 33.5 B.
    "lingshu-32b": 33.45,
    "qwen2.5-vl-3b": 3.75,
    "qwen2.5-vl-7b": 8.29,
    "qwen3-vl-2b": 2.13,
    "qwen3-vl-4b": 4.44,
    "qwen3-vl-8b": 8.77,
}
LOCAL_IDS = list(EXPECTED)


def test_ids_are_unique_and_the_default_is_medgemma_1_5():
    ids = [spec.id for spec in list_specs()]
    assert ids == [*LOCAL_IDS, "remote"]
    assert len(set(ids)) == len(ids)
    assert tuple(ids) == known_ids()
    assert DEFAULT_MODEL_ID == "medgemma-1.5-4b"
    assert default_spec().source == "google/medgemma-1.5-4b-it"
    assert list_specs()[0] is default_spec()


@pytest.mark.parametrize("model_id", LOCAL_IDS)
def test_each_entry_matches_its_card(model_id):
    spec = get_spec(model_id)
    hub_id, family, convention, gated, licence = EXPECTED[model_id]
    assert spec.source == spec.hub_id == hub_id
    assert spec.family is Family(family)
    assert spec.grounding == convention
    assert spec.gated is gated
    assert spec.license.startswith(licence)
    assert spec.card_url == f"https://huggingface.co/{hub_id}"
    assert spec.local_folder is None
    assert spec.default_precision is Precision.AUTO
    assert spec.params_b == pytest.approx(HUB_PARAMS_B[model_id], abs=0.005)
    assert ("Gated" in spec.gated_note) is gated
    # Every entry re-validates when rebuilt field by field.
    assert dataclasses.replace(spec) == spec


def test_conventions_are_values_of_the_grounding_enum():
    grounding = pytest.importorskip("models.grounding.placement")
    for spec in list_specs():
        assert grounding.Convention(spec.grounding).value == spec.grounding


@pytest.mark.parametrize(
    ("model_id", "prompt", "context"),
    [
        ("medgemma-1.5-4b", None, 131_072),
        ("medgemma-4b", "You are an expert radiologist.", 131_072),
        ("medgemma-27b", "You are an expert radiologist.", 131_072),
        ("lingshu-32b", None, 32_768),
        ("lingshu-7b", None, 32_768),
        ("qwen2.5-vl-7b", None, 32_768),
    ],
)
def test_system_prompt_and_context_from_the_cards(model_id, prompt, context):
    spec = get_spec(model_id)
    assert spec.system_prompt == prompt
    assert spec.context_length == context


@pytest.mark.parametrize(
    ("model_id", "size", "tokens"),
    [
        ("medgemma-1.5-4b", (512, 512), 256),
        ("medgemma-1.5-4b", (1841, 1955), 256),
        ("lingshu-7b", (512, 512), 324),  # 504x504 -> 18x18
        ("qwen2.5-vl-3b", (1841, 1955), 1224),  # 952x1008 under the 1280-token cap
        ("remote", (512, 512), None),
    ],
)
def test_tokens_per_image(model_id, size, tokens):
    assert get_spec(model_id).tokens_per_image(*size) == tokens


# --------------------------------------------------------------------------- memory


@pytest.mark.parametrize("model_id", LOCAL_IDS)
def test_memory_grows_with_precision(model_id):
    spec = get_spec(model_id)
    nf4, int8, bf16, fp32 = (spec.memory_gb(p) for p in ("nf4", "int8", "bf16", "fp32"))
    assert 0 < nf4 < int8 < bf16 < fp32
    # Unquantized weights are exactly two bytes per parameter.
    weights = spec.architecture.weights_gb(Precision.BF16)
    assert weights == pytest.approx(spec.params_b * 2)
    assert bf16 == pytest.approx(weights + spec.architecture.kv_cache_gb(KV_TOKENS) + 1.0)


@pytest.mark.parametrize(
    ("model_id", "nf4", "int8", "bf16"),
    [
        # Expected GB: (decoder * bytes + kept * 2) / 1e9 + KV cache + 1.0.
        ("medgemma-1.5-4b", (4.9, 5.3), (6.5, 6.9), (9.7, 10.1)),
        ("qwen2.5-vl-3b", (4.5, 4.9), (5.8, 6.2), (8.6, 9.0)),
        ("qwen2.5-vl-7b", (8.2, 8.6), (11.3, 11.7), (17.9, 18.3)),
    ],
)
def test_memory_estimates_are_in_range(model_id, nf4, int8, bf16):
    spec = get_spec(model_id)
    assert nf4[0] < spec.memory_gb(Precision.NF4) < nf4[1]
    assert int8[0] < spec.memory_gb(Precision.INT8) < int8[1]
    assert bf16[0] < spec.memory_gb(Precision.BF16) < bf16[1]


@pytest.mark.parametrize(
    ("model_id", "kept", "full_layers", "sliding_layers", "kv_bytes_per_token_layer", "gpu"),
    [
        # MedGemma 27B: vision + projector 423,060,336 plus tied embeddings 262,208 x 5376;
        # 10 global layers hold every token, 52 sliding ones at most 1024; 16 KV heads of 128.
        ("medgemma-27b", 423_060_336 + 262_208 * 5376, 10, 52, 2 * 16 * 128 * 2, (19.0, 57.0)),
        # Lingshu-32B: vision 684,416,000 plus untied embeddings and lm_head 2 x 152,064 x
        # 5120; 64 full layers, 8 KV heads of 128.
        ("lingshu-32b", 684_416_000 + 2 * 152_064 * 5120, 64, 0, 2 * 8 * 128 * 2, (23.7, 70.0)),
    ],
)
def test_large_model_memory_from_the_architecture(
    model_id, kept, full_layers, sliding_layers, kv_bytes_per_token_layer, gpu
):
    """The notes' "nf4 ~19 GB: one 24 GB GPU; bf16 ~57 GB: an 80 GB GPU" come from this sum."""
    spec = get_spec(model_id)
    arch = spec.architecture
    assert arch.kept_params == kept
    decoder = arch.params - kept
    cache = kv_bytes_per_token_layer * (full_layers * 8192 + sliding_layers * 1024) / 1e9
    assert arch.kv_cache_gb(8192) == pytest.approx(cache)
    nf4 = (decoder * 4.127 / 8 + kept * 2) / 1e9 + cache + RUNTIME_OVERHEAD_GB
    bf16 = arch.params * 2 / 1e9 + cache + RUNTIME_OVERHEAD_GB
    assert spec.memory_gb("nf4") == pytest.approx(nf4)
    assert spec.memory_gb("bf16") == pytest.approx(bf16)
    assert (round(nf4, 1), round(bf16, 1)) == gpu
    nf4_text, bf16_text = (f"~{value:.0f} GB" for value in gpu)
    assert f"nf4 {nf4_text}" in spec.notes
    assert f"bf16 {bf16_text}" in spec.notes


def test_lingshu_records_its_evaluation_pixel_limit_and_layout():
    """MedEvalKit resizes with qwen_vl_utils' defaults (QwenLM/Qwen2.5-VL
    qwen-vl-utils/src/qwen_vl_utils/vision_process.py: MAX_PIXELS = 16384 * 28 * 28) and sends
    '<image_i>: ' before each image (models/Qwen2_5_VL/Qwen2_5_VL_hf.py)."""
    for model_id in ("lingshu-7b", "lingshu-32b"):
        spec = get_spec(model_id)
        assert spec.max_pixels == 12_845_056
        assert "'<image_i>: '" in spec.notes
        assert spec.license == "MIT"
        assert spec.can.localization == frozenset()


def test_medgemma_memory_by_hand():
    arch = get_spec("medgemma-1.5-4b").architecture
    kept = 419_816_304 + 262_208 * 2560  # vision tower + projector, tied embeddings
    assert arch.kept_params == kept
    assert arch.weights_gb(Precision.BF16) == pytest.approx(8.600, abs=0.001)
    decoder = 4_300_079_472 - kept
    assert arch.weights_gb(Precision.NF4) == pytest.approx((decoder * 4.127 / 8 + kept * 2) / 1e9)
    # 5 global layers hold every token, 29 sliding layers at most 1024; 4 KV heads of 256, bf16.
    per_token_layer = 2 * 4 * 256 * 2
    assert arch.kv_cache_gb(8192) == pytest.approx(per_token_layer * (5 * 8192 + 29 * 1024) / 1e9)
    assert arch.kv_cache_gb(1000) == pytest.approx(per_token_layer * 34 * 1000 / 1e9)
    assert get_spec("medgemma-1.5-4b").memory_gb("nf4") == pytest.approx(
        arch.weights_gb(Precision.NF4) + arch.kv_cache_gb(8192) + RUNTIME_OVERHEAD_GB
    )


def test_qwen_7b_keeps_an_untied_lm_head_in_bf16():
    arch = get_spec("qwen2.5-vl-7b").architecture
    assert arch.embedding_params == 2 * 152_064 * 3584
    assert arch.weights_gb(Precision.BF16) == pytest.approx(16.584, abs=0.001)


def test_memory_needs_a_concrete_precision():
    spec = default_spec()
    with pytest.raises(UnsupportedPrecisionError, match="not 'auto'"):
        spec.memory_gb("auto")
    with pytest.raises(UnsupportedPrecisionError, match="must be one of"):
        spec.memory_gb("int4")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "MedGemma 4B"}, "lowercase"),
        ({"source": " "}, "must not be empty"),
        ({"grounding": "Box 2D"}, "grounding convention"),
        ({"architecture": None}, "only a remote model"),
        ({"context_length": 0}, "context_length"),
        ({"card_url": "http://example.org"}, "https"),
        ({"system_prompt": "  "}, "system_prompt"),
        ({"family": "llava"}, "llava"),
    ],
    ids=["id", "source", "grounding", "architecture", "context", "card-url", "prompt", "family"],
)
def test_bad_spec_values_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(default_spec(), **change)


def test_family_given_as_text_becomes_the_enum():
    spec = dataclasses.replace(default_spec(), family="qwen2_5_vl")
    assert spec.family is Family.QWEN2_5_VL


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"layers": 0}, "layers must be > 0"),
        ({"sliding_layers": 35}, "sliding_layers"),
        ({"sliding_window": None}, "sliding_window"),
        ({"params": 1_000_000_000}, "must leave a decoder"),
    ],
)
def test_bad_architecture_values_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(default_spec().architecture, **change)


# --------------------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("medgemma-1.5-4b", "medgemma-1.5-4b"),
        ("  MedGemma-4B ", "medgemma-4b"),
        ("google/medgemma-1.5-4b-it", "medgemma-1.5-4b"),
        ("qwen/qwen2.5-vl-7b-instruct", "qwen2.5-vl-7b"),
        ("remote", "remote"),
    ],
)
def test_get_spec_by_id_or_hub_id(name, model_id):
    assert get_spec(name).id == model_id


def test_unknown_id_lists_the_known_ones():
    with pytest.raises(UnknownModelError) as info:
        get_spec("medgemma-2b")
    message = str(info.value)
    assert message.startswith("Unknown model 'medgemma-2b': use one of medgemma-1.5-4b, ")
    assert all(model_id in message for model_id in known_ids())
    assert "\n" not in message
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, RadLensError)


def test_missing_folder_is_not_found(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no folder at"):
        get_spec(str(tmp_path / "nope"))
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        get_spec(tmp_path)


# --------------------------------------------------------------------------- remote


def test_remote_reads_its_environment():
    env = {
        "RADLENS_REMOTE_URL": "https://gpu-box.local:8443/v1",
        "RADLENS_REMOTE_MODEL": "google/medgemma-1.5-4b-it",
        "RADLENS_REMOTE_API_KEY": "sk-secret-123",
        "RADLENS_REMOTE_GROUNDING": "gemma_box_2d",
    }
    spec = get_spec("remote", environ=env)
    assert spec.is_remote
    assert spec.family is Family.REMOTE
    assert spec.source == "https://gpu-box.local:8443/v1"
    assert spec.name == "Remote: google/medgemma-1.5-4b-it"
    assert spec.grounding == "gemma_box_2d"
    assert spec.hub_id is None
    assert spec.local_folder is None
    assert spec.memory_gb("bf16") == 0.0
    settings = remote_settings(env)
    assert settings.api_key == "sk-secret-123"
    assert "sk-secret" not in repr(settings)
    assert "sk-secret" not in repr(spec)


def test_remote_defaults_to_a_local_server():
    settings = remote_settings({})
    assert (settings.url, settings.model, settings.api_key) == (
        "http://127.0.0.1:8000/v1",
        None,
        None,
    )
    assert get_spec("remote", environ={}).grounding == "qwen_norm_1000"  # unknown family


def test_remote_url_must_be_http():
    with pytest.raises(InvalidArgumentError, match="RADLENS_REMOTE_URL must be an http"):
        remote_settings({"RADLENS_REMOTE_URL": "gpu-box:8000"})


def test_remote_timeout_reaches_the_backend(monkeypatch):
    from models.backends.engine import open_backend

    assert remote_settings({}).timeout == 120.0
    env = {"RADLENS_REMOTE_MODEL": "m", "RADLENS_REMOTE_TIMEOUT": " 300 "}
    assert remote_settings(env).timeout == 300.0
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    backend = open_backend(get_spec("remote"), "auto", None)
    assert backend.timeout == 300.0


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "a number of seconds such as 300, not 'soon'"), ("0", "not 0"), ("1e9", "")],
)
def test_a_bad_remote_timeout_is_refused(value, message):
    with pytest.raises(InvalidArgumentError, match=f"RADLENS_REMOTE_TIMEOUT must be.*{message}"):
        remote_settings({"RADLENS_REMOTE_TIMEOUT": value})


# --------------------------------------------------------------------------- local folders


def _write_qwen_folder(folder: Path) -> None:
    """A Qwen2.5-VL folder laid out as on the hub (old config format), with tiny weights."""
    folder.mkdir()
    config = {
        "model_type": "qwen2_5_vl",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 100,
        "tie_word_embeddings": False,
        "max_position_embeddings": 128_000,
        "vision_config": {"depth": 1, "hidden_size": 32, "out_hidden_size": 64},
    }
    (folder / "config.json").write_text(json.dumps(config))
    f32 = np.float32
    save_file(
        {
            "visual.blocks.0.attn.qkv.weight": np.zeros((96, 32), f32),
            "visual.merger.mlp.0.weight": np.zeros((64, 128), f32),
        },
        folder / "model-00001-of-00002.safetensors",
    )
    save_file(
        {
            "model.embed_tokens.weight": np.zeros((100, 64), f32),
            "model.layers.0.self_attn.q_proj.weight": np.zeros((64, 64), f32),
            "model.layers.1.self_attn.q_proj.weight": np.zeros((64, 64), f32),
            "lm_head.weight": np.zeros((100, 64), f32),
        },
        folder / "model-00002-of-00002.safetensors",
    )


def test_local_qwen_folder(tmp_path):
    folder = tmp_path / "My Lingshu fine-tune"
    _write_qwen_folder(folder)
    spec = get_spec(str(folder))
    assert spec.id == "my-lingshu-fine-tune"
    assert spec.source == str(folder.resolve())
    assert spec.local_folder == folder.resolve()
    assert spec.hub_id is None
    assert spec.family is Family.QWEN2_5_VL
    assert spec.grounding == "qwen_abs"
    assert spec.context_length == 128_000
    arch = spec.architecture
    assert arch.params == 96 * 32 + 64 * 128 + 2 * 100 * 64 + 2 * 64 * 64
    assert arch.vision_params == 96 * 32 + 64 * 128
    assert arch.embedding_params == 2 * 100 * 64
    assert (arch.layers, arch.kv_heads, arch.head_dim, arch.sliding_layers) == (2, 2, 16, 0)
    assert spec.memory_gb("nf4") < spec.memory_gb("bf16")
    # No card to read: the family's conservative default, 2D general grounding only.
    assert spec.can == family_capabilities("qwen2_5_vl")
    assert spec.can.localizes("DX")
    assert not spec.can.localizes("CT", stack=True)


def test_local_gemma_folder_takes_transformers_defaults(tmp_path):
    folder = tmp_path / "medgemma"
    folder.mkdir()
    config = {
        "model_type": "gemma3",
        "text_config": {"hidden_size": 64, "num_hidden_layers": 12, "vocab_size": 50},
        "vision_config": {"hidden_size": 32},
    }
    (folder / "config.json").write_text(json.dumps(config))
    save_file(
        {
            "model.vision_tower.vision_model.embeddings.patch_embedding.weight": np.zeros(
                (32, 3, 14, 14), np.float32
            ),
            "model.language_model.embed_tokens.weight": np.zeros((50, 64), np.float32),
            "model.language_model.layers.0.mlp.up_proj.weight": np.zeros((256, 64), np.float32),
        },
        folder / "model.safetensors",
    )
    spec = get_spec(folder)
    assert spec.family is Family.GEMMA3
    assert spec.grounding == "gemma_box_2d"
    arch = spec.architecture
    assert arch.vision_params == 32 * 3 * 14 * 14
    assert (arch.kv_heads, arch.head_dim, arch.tied_embeddings) == (4, 256, True)
    # Every 6th layer is global: 10 of 12 slide over Gemma3TextConfig's default 4096 tokens.
    assert (arch.sliding_layers, arch.sliding_window) == (10, 4096)
    # A gemma3 folder may be Gemma 3 or MedGemma 1, neither trained for boxes: none offered.
    assert spec.can.localization == frozenset()
    assert "medgemma-1.5-4b" in spec.can.localization_note(spec.name, "CR")


def test_unsupported_folder_names_its_model_type(tmp_path):
    folder = tmp_path / "llava"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llava"}')
    with pytest.raises(UnsupportedModelError, match=r"llava: model_type 'llava' is not supported"):
        get_spec(str(folder))


def test_folder_with_a_broken_safetensors_file(tmp_path):
    folder = tmp_path / "broken"
    _write_qwen_folder(folder)
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(UnsupportedModelError, match=r"model-00002-of-00002\.safetensors"):
        get_spec(str(folder))
