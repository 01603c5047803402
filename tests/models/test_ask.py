"""`radlens prepare` and `radlens ask` end to end: real inputs, real prompts, tiny real models.

`--from-raw` cases use realistic MedGemma and Qwen2.5-VL outputs and hand-computed source
coordinates; live cases run the tiny random-weight checkpoints (local nf4 / bf16, and through a
real `transformers serve`), whose text is random but whose plumbing is the production path.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from dicom_io.loader import load_study
from models.grounding.box import Box
from models.grounding.placement import parse_boxes
from models.inputs.model_inputs import InputOptions
from models.registry.lookup import get_spec
from models.tasks.prepare import Turn, prepare
from tests.files import REPO
from tests.models.serving import Server
from tests.synthetic import write_ct_series

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"  # 1841 wide x 1955 high, MONOCHROME1
DEMO_MR = REPO / "assets" / "demo" / "brain_mni152_t1.nii.gz"

MEDGEMMA_RAW = """The cardiac silhouette is enlarged.

Final Answer:
```json
[{"box_2d": [100, 200, 500, 600], "label": "cardiomegaly"},
 {"box_2d": [0, 0, 0, 0], "label": "nothing"}]
```"""

QWEN_RAW = """There is an opacity in the right lower zone.
```json
[
  {"bbox_2d": [100, 200, 476, 504], "label": "opacity"},
  {"bbox_2d": [900, 950, 1200, 1300], "label": "partly outside"},
]
```"""


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main(list(args))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_from_raw_medgemma_boxes_land_on_the_radiograph(tmp_path, capsys):
    raw = tmp_path / "raw.txt"
    raw.write_text(MEDGEMMA_RAW)
    args = ["ask", str(DEMO_CXR), "Where is the heart?", "--model", "medgemma-1.5-4b"]
    answer = run_json(capsys, *args, "--from-raw", str(raw), "--json")
    # Padded square 1955 wide: 57 zero columns on the left. box_2d is [y0, x0, y1, x1] / 1000.
    # x0 = 200/1000*1955 - 57 = 334.0; y0 = 100/1000*1955 = 195.5
    # x1 = 600/1000*1955 - 57 = 1116.0; y1 = 500/1000*1955 = 977.5
    (box,) = answer["boxes"]
    assert box == {
        "label": "cardiomegaly",
        "slice": 0,
        "x0": 334.0,
        "y0": 195.5,
        "x1": 1116.0,
        "y1": 977.5,
        "mm": None,  # this file's PixelSpacing is 0\\0: no millimetres
    }
    assert answer["answer"].startswith("The cardiac silhouette is enlarged.")
    assert "box_2d" not in answer["answer"]
    assert len(answer["dropped"]) == 1
    assert "nothing" in answer["dropped"][0]
    assert answer["model"] == "medgemma-1.5-4b"
    assert answer["prompt"].startswith("ask/cxr_frontal ")
    assert answer["raw"] == MEDGEMMA_RAW
    assert answer["disclaimer"].startswith("AI-generated draft, not for diagnostic use")


def test_from_raw_qwen_boxes_are_scaled_from_the_resized_image(tmp_path, capsys):
    raw = tmp_path / "raw.txt"
    raw.write_text(QWEN_RAW)
    # Qwen2.5-VL localizes 2D images (its card); Lingshu declares no localization, so its
    # boxes would be dropped (as the CT box is in test_from_raw_on_a_ct_volume_puts_boxes_...).
    args = ["ask", str(DEMO_CXR), "Any opacity?", "--model", "qwen2.5-vl-7b", "--from-raw"]
    answer = run_json(capsys, *args, str(raw), "--json")
    # Qwen sees the radiograph resized to 952 x 1008 (multiples of 28 under max_pixels).
    # x0 = 100 * 1841/952 = 193.38; y0 = 200 * 1955/1008 = 387.90
    # x1 = 476 * 1841/952 = 920.5;  y1 = 504 * 1955/1008 = 977.5
    first, second = answer["boxes"]
    assert (first["x0"], first["y0"], first["x1"], first["y1"]) == (193.38, 387.9, 920.5, 977.5)
    # 900*1841/952 = 1740.44 .. clipped at 1841; 950*1955/1008 = 1842.51 .. clipped at 1955
    assert (second["x0"], second["y0"], second["x1"], second["y1"]) == (
        1740.44,
        1842.51,
        1841,
        1955,
    )
    assert any("clip" in note for note in answer["notes"])


def test_from_raw_on_a_ct_volume_puts_boxes_on_their_slices(tmp_path, capsys):
    write_ct_series(tmp_path / "ct", slices=20, rows=64, columns=64)
    out = tmp_path / "prepared"
    assert (
        main(
            [
                "prepare",
                str(tmp_path / "ct"),
                "--task",
                "ask",
                "--question",
                "Nodule?",
                "--model",
                "medgemma-1.5-4b",
                "--slices",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    request = json.loads((out / "request.json").read_text())
    slices = [image["slice"] for image in request["images"]]
    # MedGemma's CT notebook (cell iaaAbE6ARS8Q): round(i / 5 * 19) for i = 1..5
    assert slices == [4, 8, 11, 15, 19]
    # each image followed by "SLICE n", n its position (cell h57n3PWsznxy)
    assert [image["label"] for image in request["images"]] == [f"SLICE {n}" for n in range(1, 6)]
    raw = tmp_path / "raw.txt"
    raw.write_text(
        'Final Answer: [{"box_2d": [500, 250, 750, 500], "label": "nodule", "slice": 3}]'
    )
    answer = run_json(
        capsys,
        "ask",
        str(tmp_path / "ct"),
        "Nodule?",
        "--model",
        "medgemma-1.5-4b",
        "--slices",
        "5",
        "--from-raw",
        str(raw),
        "--json",
    )
    # MedGemma 1.5 localizes chest radiographs only (its card): the CT box is dropped with the
    # reason, as on the live path; where it would land is held by tests/models/test_recipes.py
    # (test_a_box_on_slice_n_lands_on_the_nth_images_source_slice).
    assert answer["boxes"] == []
    (dropped,) = answer["dropped"]
    assert "localization not offered by MedGemma 1.5" in dropped
    assert "CT" in dropped
    # Where the box would land, read as the CLI reads it but before the capability check:
    spec = get_spec("medgemma-1.5-4b")
    series = load_study(tmp_path / "ct").default_series
    prepared = prepare(series, spec, "ask", question="Nodule?", options=InputOptions(max_slices=5))
    parsed = parse_boxes(raw.read_text(), spec.grounding, prepared.mappings, prepared.spacing)
    box = parsed.boxes[0].to_json()
    # SLICE 3 is the third image, source slice 11.
    # 64 x 64 slices need no padding: x = 250/1000*64 = 16, y = 500/1000*64 = 32, ... 32, 48
    assert (box["slice"], box["x0"], box["y0"], box["x1"], box["y1"]) == (
        11,
        16.0,
        32.0,
        32.0,
        48.0,
    )
    # Pixel spacing 0.7 mm: millimetres from the slice's top-left corner.
    assert box["mm"] == [11.2, 22.4, 22.4, 33.6]


def test_prepare_writes_the_exact_model_images(tmp_path, capsys):
    out = tmp_path / "p"
    assert (
        main(
            [
                "prepare",
                str(DEMO_CXR),
                "--task",
                "report",
                "--model",
                "medgemma-1.5-4b",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    capsys.readouterr()
    request = json.loads((out / "request.json").read_text())
    (image,) = request["images"]
    assert image["pad"] == [57, 0, 57, 0]
    assert image["model_size"] == [896, 896]
    pixels = np.asarray(Image.open(out / image["file"]))
    assert pixels.shape == (896, 896, 3)
    assert pixels[:, :20].max() == 0  # the left padding is black
    messages = json.loads((out / "messages.json").read_text())
    # MedGemma 1.5: one user message, no system message (its notebooks): the instruction,
    # the image, then the query (CT notebook cell h57n3PWsznxy's order)
    assert [m["role"] for m in messages] == ["user"]
    user = messages[-1]["content"]
    assert user[0]["type"] == "text"
    assert user[1] == {"type": "image", "file": "image_000.png"}
    assert (
        "Technique, from the study's metadata: Computed radiography of the chest"
        in user[2]["text"]
    )
    assert "Heart and mediastinum:" in user[2]["text"]
    assert request["prompt"].startswith("report/cxr_frontal ")


def test_region_is_outlined_on_the_model_image_and_named(tmp_path):
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("medgemma-1.5-4b")
    region = Box("this area", 0, 334.0, 195.5, 1116.0, 977.5)
    plain = prepare(series, spec, "ask", question="What is this?")
    marked = prepare(series, spec, "ask", question="What is this?", region=region)
    # Region top-left in model pixels: ((334 + 57) * 896/1955, 195.5 * 896/1955)
    x, y = round((334 + 57) * 896 / 1955), round(195.5 * 896 / 1955)
    assert tuple(marked.inputs.images[0][y + 1, x + 1]) == (255, 220, 0)
    assert tuple(plain.inputs.images[0][y + 1, x + 1]) != (255, 220, 0)
    user_text = marked.messages[-1].parts[-1].text
    assert '"box_2d": [100, 200, 500, 600]' in user_text


def test_history_keeps_images_with_the_first_question():
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("lingshu-7b")
    prepared = prepare(
        series, spec, "ask", question="And the left?", history=[Turn("Any effusion?", "No.")]
    )
    roles = [m.role for m in prepared.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert len(prepared.messages[1].images) == 1
    assert "Any effusion?" in prepared.messages[1].parts[-1].text
    assert prepared.messages[2].parts[0].text == "No."
    assert not prepared.messages[3].images
    assert "And the left?" in prepared.messages[3].parts[0].text


# --- live, with tiny real-architecture checkpoints ----------------------------------------------


@pytest.mark.parametrize(
    ("family", "precision", "study", "extra"),
    [
        ("gemma3", "nf4", DEMO_CXR, []),
        ("gemma3", "bf16", DEMO_MR, ["--slices", "3"]),
        ("qwen2_5_vl", "nf4", DEMO_CXR, []),
        ("qwen2_5_vl", "bf16", DEMO_MR, ["--slices", "2"]),
    ],
    ids=["gemma-nf4-cxr", "gemma-bf16-mr", "qwen-nf4-cxr", "qwen-bf16-mr"],
)
def test_ask_runs_a_tiny_model_end_to_end(
    capsys, tiny_gemma3, tiny_qwen, family, precision, study, extra
):
    folder = tiny_gemma3 if family == "gemma3" else tiny_qwen
    answer = run_json(
        capsys,
        "ask",
        str(study),
        "Describe the image.",
        "--model",
        str(folder),
        "--precision",
        precision,
        "--device",
        "cpu",
        "--max-new-tokens",
        "6",
        "--json",
        *extra,
    )
    assert 0 < answer["completion_tokens"] <= 6
    assert answer["prompt_tokens"] > 16  # the image tokens are in the prompt
    assert answer["settings"]["max_new_tokens"] == 6
    assert answer["images"] == (1 if study == DEMO_CXR else int(extra[-1]))
    assert answer["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize(
    ("study", "extra", "images"),
    [(DEMO_CXR, [], 1), (DEMO_MR, ["--slices", "3"], 3)],
    ids=["cxr", "mr-volume"],
)
def test_ask_through_transformers_serve(
    capsys, monkeypatch, transformers_server: Server, study, extra, images
):
    monkeypatch.setenv("RADLENS_REMOTE_URL", transformers_server.url)
    monkeypatch.setenv("RADLENS_REMOTE_MODEL", str(transformers_server.folders["gemma3"]))
    monkeypatch.setenv("RADLENS_REMOTE_GROUNDING", "gemma_box_2d")
    args = ["ask", str(study), "Describe the image.", "--model", "remote"]
    answer = run_json(capsys, *args, "--max-new-tokens", "5", "--json", *extra)
    assert answer["model"] == str(transformers_server.folders["gemma3"])
    assert 0 < answer["completion_tokens"] <= 5
    assert answer["prompt_tokens"] > 16 * images  # the server counted every image's tokens
    assert answer["images"] == images


def test_missing_real_model_says_how_to_get_it(tmp_path):
    env = {
        "HF_HUB_CACHE": str(tmp_path / "empty-cache"),
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "ask",
            str(DEMO_CXR),
            "Heart size?",
            "--model",
            "medgemma-1.5-4b",
            "--precision",
            "nf4",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "medgemma-1.5-4b" in lines[0]
    assert "radlens models pull medgemma-1.5-4b" in lines[0]
