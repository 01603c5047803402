"""Model families: one adapter per Family, one module per adapter, and no one else branching."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import models.families
from models.backends.loading import UNQUANTIZED_MODULES
from models.families import ADAPTERS, Family, adapter, adapter_for_model_type
from models.families.lookup import local_model_types
from models.grounding.conventions import Convention
from models.registry.lookup import list_specs
from prompts import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
FAMILIES_DIR = Path(models.families.__file__).parent
# Modules of the package that are not a family: the protocol, the lookup, a family's helper.
NOT_A_FAMILY = {"__init__", "base", "lookup", "qwen2_5_vl_processor", "qwen3_vl_processor"}


def test_every_family_has_exactly_one_adapter() -> None:
    assert set(ADAPTERS) == set(Family)
    for family in Family:
        assert adapter(family) is adapter(family.value) is ADAPTERS[family]
        assert adapter(family).family is family
    with pytest.raises(ValueError, match="'llava' is not a valid Family"):
        adapter("llava")


def test_a_family_is_one_module_with_its_adapter() -> None:
    """Adding a family: its module (with ``ADAPTER``), its Family member, one line in lookup."""
    modules = sorted(p.stem for p in FAMILIES_DIR.glob("*.py") if p.stem not in NOT_A_FAMILY)
    assert modules == sorted(f.value for f in Family)
    for name in modules:
        module = importlib.import_module(f"models.families.{name}")
        assert ADAPTERS[Family(name)] is module.ADAPTER


@pytest.mark.parametrize("family", list(Family), ids=str)
def test_adapter_facts_agree_with_the_rest_of_radlens(family: Family) -> None:
    chosen = adapter(family)
    assert Convention(chosen.box_format).value in load_catalogue().box_formats
    assert chosen.default_max_slices >= 1
    assert set(chosen.unquantized_modules) <= set(UNQUANTIZED_MODULES)
    for model_type in chosen.model_types:
        assert adapter_for_model_type(model_type) is chosen
    for spec in list_specs(environ={}):
        if spec.family is family:  # entries take the family's convention and token note
            assert (spec.grounding, spec.image_tokens) == (
                chosen.box_format,
                chosen.image_tokens_note,
            )


@pytest.mark.parametrize(
    ("family", "source", "pad", "size", "tokens", "per_image"),
    [
        ("gemma3", (512, 400), (0, 56, 0, 56), (896, 896), 260, 256),
        ("qwen2_5_vl", (512, 512), (0, 0, 0, 0), (504, 504), 326, 324),
        ("qwen3_vl", (512, 512), (0, 0, 0, 0), (512, 512), 258, 256),
        ("remote", (512, 512), (0, 0, 0, 0), (504, 504), 326, None),
    ],
    ids=str,
)
def test_geometry_and_token_cost(
    family: str,
    source: tuple[int, int],
    pad: tuple[int, int, int, int],
    size: tuple[int, int],
    tokens: int,
    per_image: int | None,
) -> None:
    chosen = adapter(family)
    geometry = chosen.geometry(*source, min_pixels=3136, max_pixels=1_003_520)
    assert geometry == (pad, size)
    assert chosen.image_tokens(size) == tokens  # delimiters included
    assert chosen.tokens_per_image(*source) == per_image
    assert chosen.label_tokens("SLICE 42") == 5
    assert chosen.label_tokens("") == 0


def test_local_folders_and_quantization_come_from_the_adapters() -> None:
    assert local_model_types() == (
        "gemma3 (MedGemma), qwen2_5_vl (Qwen2.5-VL, Lingshu) and qwen3_vl (Qwen3-VL)"
    )
    assert adapter_for_model_type("llava") is None
    assert sorted(UNQUANTIZED_MODULES) == [
        "lm_head",
        "model.multi_modal_projector",
        "model.vision_tower",
        "model.visual",
    ]


def _branches_on_a_family(path: Path) -> list[str]:
    """``Family.GEMMA3`` / ``Family.QWEN2_5_VL`` read anywhere but in a ``family=`` argument."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    as_data = {
        id(kw.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
        for kw in node.keywords if kw.arg == "family"
    }  # fmt: skip
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Family"
        and node.attr in {"GEMMA3", "QWEN2_5_VL"}
        and id(node) not in as_data
    ]


def test_no_code_outside_families_branches_on_a_family() -> None:
    paths = [p for package in ("models", "app", "prompts") for p in (ROOT / package).rglob("*.py")]
    found = [
        hit for p in paths if FAMILIES_DIR not in p.parents for hit in _branches_on_a_family(p)
    ]
    assert found == []


def test_importing_the_families_imports_no_torch() -> None:
    code = (
        "import sys, models.families, models.families.lookup; "
        "print(sorted(m for m in ('torch', 'transformers', 'bitsandbytes') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
