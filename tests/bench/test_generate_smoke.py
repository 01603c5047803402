"""bench/generate.py on CPU: the tiny checkpoints end to end, and the full-size configs' sizes.

The tiny runs go through the production path (``load_model`` with nf4 / bf16,
``TransformersBackend``, ``prepare`` on the demo radiograph and a small synthetic CT); their
numbers are smoke numbers, so only their sanity is checked. The full-size configs are
instantiated on the meta device (no memory) and must have the registry's parameter counts.
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


@pytest.mark.parametrize("model_id", ["medgemma-1.5-4b", "qwen2.5-vl-7b", "lingshu-7b"])
def test_full_size_configs_have_the_registry_parameter_counts(bench, model_id):
    architecture = get_spec(model_id).architecture
    assert architecture is not None
    total, vision = bench.meta_param_counts(model_id)
    assert total == pytest.approx(architecture.params, rel=0.005)
    assert vision == pytest.approx(architecture.vision_params, rel=0.005)
    config = bench.model_config(model_id)
    assert config.text_config.num_hidden_layers == architecture.layers
    assert config.text_config.hidden_size == architecture.hidden_size
    assert config.text_config.num_key_value_heads == architecture.kv_heads
    assert config.text_config.vocab_size == architecture.vocab_size


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
