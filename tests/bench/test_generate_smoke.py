"""bench/generate.py on CPU: the tiny checkpoints end to end, and the full-size configs' sizes.

The tiny runs go through the production path (``load_model`` with nf4 / bf16,
``TransformersBackend``, ``prepare`` on the demo radiograph and a small synthetic CT); their
numbers are smoke numbers, so only their sanity is checked. The full-size config of every local
registry model is instantiated on the meta device (no memory) and must have the registry's
parameter counts exactly; the config values and their sources (copies of each model's
config.json found with the search tool: mlx-community/gemma-3-4b-it-bf16, TensorRT-LLM's Gemma3
27B test config, Qwen/Qwen2.5-VL-7B-Instruct-AWQ, unsloth/Qwen2.5-VL-3B-Instruct-unsloth-bnb-4bit,
ehristoforu/qwen2.5-test-32b-it, Steinate/Cortex and Ollama's qwen3-vl:8b metadata,
amburger66/robometer-4b-lora-robotsmith-task03, a Qwen3-VL-2B config in another project's test)
are listed in bench/generation/configs.py.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from types import ModuleType

import pytest

from models.registry.lookup import get_spec
from tests.files import REPO

SMALL_CT = ["--ct-slices", "40", "--ct-size", "64", "--max-slices", "4"]


def _load_bench() -> ModuleType:
    path = REPO / "bench" / "generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_bench()


def _local_registry_ids() -> list[str]:
    from models.registry.known_models import KNOWN_SPECS

    return [spec.id for spec in KNOWN_SPECS if spec.architecture is not None]


def test_every_local_registry_model_has_a_full_size_config(bench):
    ids = _local_registry_ids()
    assert len(ids) >= 10  # MedGemma x3, Lingshu x2, Qwen2.5-VL x2, Qwen3-VL x3
    assert sorted(ids) == sorted(bench.FULL_CONFIGS)


@pytest.mark.parametrize("model_id", _local_registry_ids())
def test_full_size_configs_have_the_registry_parameter_counts(bench, model_id):
    """Exact counts on the meta device (no weights), as bench/generate.py prints them."""
    spec = get_spec(model_id)
    architecture = spec.architecture
    assert architecture is not None
    total, vision = bench.meta_param_counts(model_id)
    assert (total, vision) == (architecture.params, architecture.vision_params)
    config = bench.model_config(model_id)
    assert config.model_type == spec.family.value
    text = config.text_config
    assert text.num_hidden_layers == architecture.layers
    assert text.hidden_size == architecture.hidden_size
    assert text.num_key_value_heads == architecture.kv_heads
    assert getattr(text, "head_dim", text.hidden_size // text.num_attention_heads) == (
        architecture.head_dim
    )
    assert text.vocab_size == architecture.vocab_size
    assert bool(config.tie_word_embeddings) is architecture.tied_embeddings
    sliding = list(getattr(text, "layer_types", None) or []).count("sliding_attention")
    assert sliding == architecture.sliding_layers


def test_shared_architectures_reuse_one_config(bench):
    assert bench.FULL_CONFIGS["lingshu-7b"] is bench.FULL_CONFIGS["qwen2.5-vl-7b"]
    assert bench.FULL_CONFIGS["medgemma-4b"] is bench.FULL_CONFIGS["medgemma-1.5-4b"]


@pytest.mark.parametrize(
    ("model_id", "deepstack", "vision_width"),
    [
        ("qwen3-vl-2b", [5, 11, 17], 1024),
        ("qwen3-vl-4b", [5, 11, 17], 1024),
        ("qwen3-vl-8b", [8, 16, 24], 1152),
    ],
)
def test_qwen3_vl_configs_keep_the_real_image_geometry(bench, model_id, deepstack, vision_width):
    """16 px patches, 2 x 2 merge, DeepStack layers and interleaved M-RoPE of the Instruct
    config.json copies cited in bench/generation/configs.py."""
    config = bench.model_config(model_id)
    vision, text = config.vision_config, config.text_config
    assert (vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size) == (16, 2, 2)
    assert vision.deepstack_visual_indexes == deepstack
    assert vision.hidden_size == vision_width
    assert vision.out_hidden_size == text.hidden_size
    assert text.rope_parameters["mrope_section"] == [24, 20, 20]
    assert text.rope_parameters["mrope_interleaved"] is True
    assert text.rope_parameters["rope_theta"] == 5_000_000.0
    assert bench.model_class(config).__name__ == "Qwen3VLForConditionalGeneration"


def test_gemma3_27b_config_scales_queries_by_its_own_scalar(bench):
    text = bench.model_config("medgemma-27b").text_config
    assert text.query_pre_attn_scalar == 168  # 5376 / 32, not head_dim 128
    assert [i for i, k in enumerate(text.layer_types) if k == "full_attention"] == list(
        range(5, 62, 6)
    )


def test_layers_option_shrinks_every_family(bench):
    for model_id in ("medgemma-27b", "lingshu-32b", "qwen3-vl-8b"):
        config = bench.model_config(model_id, layers=1)
        assert config.text_config.num_hidden_layers == 1
        vision = config.vision_config
        assert getattr(vision, "depth", getattr(vision, "num_hidden_layers", None)) == 1
    qwen3 = bench.model_config("qwen3-vl-8b", layers=2).vision_config
    assert qwen3.deepstack_visual_indexes == [1]
    with pytest.raises(SystemExit):
        bench.model_config("qwen3-vl-2b", layers=0)
    with pytest.raises(SystemExit, match="No full-size config"):
        bench.model_config("remote")


def test_rows_say_when_the_architecture_is_not_the_registrys(bench):
    assert bench.row_label("qwen3-vl-8b", bench.parse_args(["--model", "qwen3-vl-8b"])) == (
        "qwen3-vl-8b"
    )
    shrunk = bench.parse_args(["--model", "lingshu-32b", "--layers", "32"])
    assert bench.row_label("lingshu-32b", shrunk) == "lingshu-32b (32 layers)"
    assert bench.row_label("qwen3-vl-2b", bench.parse_args(["--tiny"])) == "qwen3-vl-2b (tiny)"


def test_gemma3_config_keeps_five_local_layers_per_global_one(bench):
    text = bench.model_config("medgemma-1.5-4b").text_config
    kinds = text.layer_types
    assert kinds.count("sliding_attention") == 29
    assert [i for i, k in enumerate(kinds) if k == "full_attention"] == [5, 11, 17, 23, 29]
    assert text.sliding_window == 1024
    assert text.rope_parameters["full_attention"]["rope_theta"] == 1_000_000.0
    assert text.rope_parameters["sliding_attention"]["rope_theta"] == 10_000.0


def _check_rows(report, images: dict[str, int], new_tokens: int) -> None:
    assert [row.case for row in report.rows] == list(images)
    for row in report.rows:
        assert row.images == images[row.case]
        assert 0 < row.image_tokens < row.prompt_tokens
        assert row.load_s > 0
        assert row.first_token_s > 0
        assert math.isfinite(row.decode_tok_s)
        assert row.decode_tok_s > 0
        assert row.peak_gb >= 0
        assert row.dev_gb is None  # CPU: no device memory column
        assert row.new_tokens == new_tokens
        assert row.device == "cpu"


def test_tiny_gemma3_nf4_on_cpu(bench, tmp_path, capsys):
    report = bench.main(
        [
            "--tiny",
            "--model",
            "medgemma-1.5-4b",
            "--precisions",
            "nf4",
            "--cases",
            "cxr,ct85",
            *SMALL_CT,
            "--new-tokens",
            "32",
            "--repeat",
            "2",
            "--workdir",
            str(tmp_path),
        ]
    )
    _check_rows(report, {"cxr": 1, "ct4": 4}, 32)
    cxr, ct = report.rows
    assert ct.image_tokens == 4 * cxr.image_tokens  # fixed tokens per image (16 in the tiny)
    assert report.registry_params == get_spec("medgemma-1.5-4b").architecture.params
    assert 0 < report.built_params < 10**6
    out = capsys.readouterr().out
    table_rows = [line.split()[:4] for line in out.splitlines()]
    assert ["medgemma-1.5-4b", "(tiny)", "nf4", "cxr"] in table_rows
    assert ["medgemma-1.5-4b", "(tiny)", "nf4", "ct4"] in table_rows
    assert "targets: not applicable on CPU" in out
    assert "process RSS increase" in out
    assert list(tmp_path.iterdir()) == []  # the temporary checkpoint and CT are gone


def test_tiny_qwen_bf16_on_cpu_and_record(bench, tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text("# header\n", encoding="utf-8")
    report = bench.main(
        [
            "--tiny",
            "--model",
            "qwen2.5-vl-7b",
            "--precisions",
            "bf16",
            "--cases",
            "cxr,ct85",
            *SMALL_CT,
            "--new-tokens",
            "32",
            "--repeat",
            "2",
            "--record",
            "--results",
            str(results),
        ]
    )
    _check_rows(report, {"cxr": 1, "ct4": 4}, 32)
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# header\n")
    assert "qwen2.5-vl-7b (tiny) (CPU smoke numbers, not targets)" in text
    assert ["qwen2.5-vl-7b", "(tiny)", "bf16", "cxr"] in [
        line.split()[:4] for line in text.splitlines()
    ]
    assert "transformers 5" in text
    assert "`python bench/generate.py --tiny --model qwen2.5-vl-7b" in text
    assert "recorded in" in capsys.readouterr().out


def test_bad_arguments_are_refused(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--precisions", "nf3"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--cases", "mri"])
    assert bench.parse_args(["--precisions", "NF4"]).precisions == ["nf4"]


def test_targets_are_checked_only_where_they_apply(bench):
    spec = get_spec("medgemma-1.5-4b")
    row = bench.Row(
        model=spec.id,
        precision="nf4",
        case="cxr",
        images=1,
        image_tokens=256,
        prompt_tokens=300,
        load_s=10.0,
        peak_gb=4.2,
        dev_gb=5.0,
        first_token_s=0.6,
        decode_tok_s=35.0,
        new_tokens=64,
        device="cuda:0",
    )
    ct = bench.Row(**{**row.__dict__, "case": "ct85", "images": 85, "peak_gb": 12.5})
    report = bench.Report(spec.id, False, "cuda:0", "NVIDIA H100 80GB HBM3", 1, 1, [row, ct])
    lines = bench.check_targets(report, spec)
    assert "target nf4 cxr peak: 4.20 GB <= 5 PASS" in lines
    assert "target nf4 cxr first token: 0.60 s <= 0.5 FAIL" in lines
    assert "target nf4 cxr decode: 35.00 tok/s >= 30 PASS" in lines
    assert "target nf4 ct85 peak: 12.50 GB <= 12 FAIL" in lines
    report.targets = lines
    assert report.failed
    cpu = bench.Report(spec.id, False, "cpu", "CPU", 1, 1, [row])
    assert bench.check_targets(cpu, spec)[0].startswith("targets: not applicable on CPU")
    qwen = get_spec("qwen2.5-vl-7b")
    assert "not applicable to qwen2.5-vl-7b" in bench.check_targets(report, qwen)[0]


def test_full_size_writer_on_one_layer(bench, tmp_path):
    """The full-size writer with real widths, one layer and a small vocabulary, loaded back."""
    from dicom_io.loader import load_study
    from models.backends.loading import load_model
    from models.tasks.prepare import prepare

    spec = get_spec("medgemma-1.5-4b")
    config = bench.model_config(spec.id, layers=1)
    config.text_config.vocab_size = 1024  # the real 262,208 rows would take seconds to write
    folder = tmp_path / "model"
    total, vision = bench.write_full_checkpoint(spec, folder, "cpu", config=config)
    assert bench.checkpoint_params(folder) == total
    assert 0 < vision < total
    assert not (tmp_path / "model-tokenizer").exists()

    loaded = load_model(folder, "bf16", "cpu")
    assert loaded.model.config.text_config.hidden_size == 2560
    assert loaded.model.config.vision_config.image_size == 896
    assert loaded.processor.image_seq_length == 256
    series = load_study(bench.DEMO_CXR).default_series
    messages = prepare(series, spec, "ask", question="Is there an effusion?").messages
    assert bench.count_image_tokens(loaded, messages) == 256


def test_tiny_qwen3_vl_bf16_on_cpu(bench, tmp_path, capsys):
    report = bench.main(
        [
            "--tiny",
            "--model",
            "qwen3-vl-2b",
            "--precisions",
            "bf16",
            "--cases",
            "cxr,ct85",
            *SMALL_CT,
            "--new-tokens",
            "32",
            "--repeat",
            "2",
            "--workdir",
            str(tmp_path),
        ]
    )
    _check_rows(report, {"cxr": 1, "ct4": 4}, 32)
    cxr, ct = report.rows
    # The demo radiograph goes as 960 x 1024 (h4's worked size): 30 x 32 merged patches.
    assert cxr.image_tokens == 960
    assert ct.image_tokens % 4 == 0
    assert report.registry_params == get_spec("qwen3-vl-2b").architecture.params
    out = capsys.readouterr().out
    assert ["qwen3-vl-2b", "(tiny)", "bf16", "cxr"] in [
        line.split()[:4] for line in out.splitlines()
    ]


def test_full_size_qwen3_vl_writer_on_one_layer(bench, tmp_path):
    """Qwen3-VL-8B widths, one layer and a small vocabulary: written, loaded back, and the
    processor keeps the real 16 px / merge 2 geometry (960 tokens for the demo radiograph)."""
    from dicom_io.loader import load_study
    from models.backends.loading import load_model
    from models.tasks.prepare import prepare

    spec = get_spec("qwen3-vl-8b")
    config = bench.model_config(spec.id, layers=1)
    config.text_config.vocab_size = 1024
    folder = tmp_path / "model"
    total, vision = bench.write_full_checkpoint(spec, folder, "cpu", config=config)
    assert bench.checkpoint_params(folder) == total
    assert 0 < vision < total
    loaded = load_model(folder, "bf16", "cpu")
    assert loaded.model.config.text_config.hidden_size == 4096
    assert loaded.model.config.vision_config.hidden_size == 1152
    assert loaded.processor.image_processor.patch_size == 16
    assert loaded.processor.image_processor.merge_size == 2
    series = load_study(bench.DEMO_CXR).default_series
    messages = prepare(series, spec, "ask", question="Is there an effusion?").messages
    assert bench.count_image_tokens(loaded, messages) == 960


def test_gpu_script_plans_or_explains_every_local_model():
    """bench/gpu_all.sh: each local registry id is run or left out with a reason, the planned
    estimates fit the script's budget, and every planned family is run at full size."""
    import re
    import subprocess

    script = REPO / "bench" / "gpu_all.sh"
    out = subprocess.run(
        ["bash", str(script), "plan"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    planned_part, left_part = out.split("left out:")
    planned = re.findall(r"^  (\S+)\s+(\S+)\s+(\S+)\s+(\d+) s", planned_part, re.M)
    left = re.findall(r"^  (\S+)\s+\S", left_part, re.M)
    ids = {row[0] for row in planned}
    assert ids.isdisjoint(left)
    assert sorted(ids | set(left)) == sorted(_local_registry_ids())
    assert {get_spec(i).family.value for i in ids} == {"gemma3", "qwen2_5_vl", "qwen3_vl"}
    assert all("nf4" in row[1].split(",") for row in planned)
    total = sum(int(row[3]) for row in planned)
    budget = int(re.search(r"budget (\d+) s", out).group(1))
    assert total == int(re.search(r"estimated total: (\d+) s", out).group(1))
    assert total <= budget <= 8 * 60
    assert "--layers" not in planned_part  # the default plan is full size only


def test_gpu_script_dry_run_skips_what_no_longer_fits(tmp_path):
    """DRY_RUN=1 prints the bench/generate.py commands and counts each estimate as spent: with a
    small budget the first model runs, the ones that no longer fit are skipped, and a later,
    smaller one that still fits runs."""
    import os
    import subprocess

    env = {**os.environ, "OUT": str(tmp_path), "DRY_RUN": "1", "BUDGET_S": "150"}
    out = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_all.sh"), "run"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
    ).stdout
    commands = [line for line in out.splitlines() if line.startswith("timeout ")]
    assert commands[0].startswith("timeout 150 python3 bench/generate.py --model medgemma-1.5-4b")
    assert "--device cuda" in commands[0]
    assert f"--record --results {tmp_path}/RESULTS-gpu.md" in commands[0]
    assert "skipped for time: qwen3-vl-8b (estimate 140 s, 40 s left)" in out
    assert "ran: qwen2.5-vl-3b (dry run)" in out  # 40 s still fits the 40 s left
    assert "skipped for time: qwen3-vl-2b (estimate 35 s, 0 s left)" in out
