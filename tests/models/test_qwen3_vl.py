"""Qwen3-VL (the ``qwen3_vl`` family): geometry and token counts against the real processor, the
0-1000 box grid on a worked example, the registry entries, local folders, and the tiny
checkpoint end to end (prepare, ask, report, compare) in bf16 and nf4 through the production
loading path.

Sources (cited next to the code in models/families/qwen3_vl.py and
models/grounding/conventions.py):

- transformers 5.24 ``models/qwen3_vl/configuration_qwen3_vl.py`` (patch 16, merge 2),
  ``models/qwen2_vl/image_processing_pil_qwen2_vl.py`` (``smart_resize`` with factor
  ``patch_size * merge_size``), ``models/qwen3_vl/processing_qwen3_vl.py`` (one
  ``<|image_pad|>`` per merged patch between ``<|vision_start|>`` and ``<|vision_end|>``);
  the Instruct repositories' ``preprocessor_config.json`` (``shortest_edge`` 65536,
  ``longest_edge`` 16777216), which the tiny checkpoint copies, so the processor built from it
  is the real one with the real limits.
- QwenLM/Qwen3-VL ``cookbooks/2d_grounding.ipynb``: cell ``e6ad3b52`` (relative coordinates
  from 0 to 1000 instead of Qwen2.5-VL's absolute pixels) and ``plot_bounding_boxes`` in cell
  ``07044e07`` (x = value / 1000 * width, y = value / 1000 * height).
- The Instruct ``generation_config.json``: ``eos_token_id`` [151645, 151643], i.e.
  ``<|im_end|>`` then ``<|endoftext|>``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dicom_io.loader import load_study
from models.backends.base import GenerationSettings
from models.backends.loading import load_model
from models.backends.local import TransformersBackend
from models.backends.processors import load_processor
from models.families import Family, adapter, adapter_for_model_type
from models.families.qwen3_vl import (
    PROCESSOR_MAX_PIXELS,
    PROCESSOR_MIN_PIXELS,
    qwen3_image_tokens,
    qwen3_resized_size,
)
from models.grounding.conventions import native_text
from models.grounding.placement import parse_boxes
from models.inputs.mapping import ImageMapping
from models.inputs.messages import ImagePart, Message, TextPart, to_transformers
from models.inputs.model_inputs import InputOptions
from models.registry.local_folder import spec_from_folder
from models.registry.lookup import get_spec
from models.report.draft import FindingStatus
from models.tasks.ask import ask
from models.tasks.compare import compare
from models.tasks.prepare import prepare
from models.tasks.report import draft_report
from tests.files import REPO
from tests.models import serving
from tests.models.serving import Server
from tests.models.tiny import tiny_checkpoint

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"  # 1841 wide x 1955 high
DEMO_MR = REPO / "assets" / "demo" / "brain_mni152_t1.nii.gz"
QWEN3 = adapter(Family.QWEN3_VL)
# RadLens' default area bounds (InputOptions.qwen_min_pixels / qwen_max_pixels).
DEFAULTS = InputOptions()


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("qwen3_vl", tmp_path_factory)


@pytest.fixture(scope="module")
def processor(tiny_qwen3: Path) -> Any:
    return load_processor(tiny_qwen3)


@pytest.fixture(scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread on a busy machine (as in test_backends.py)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _image(width: int, height: int) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _grid(processor: Any, image: Image.Image) -> tuple[int, int, int]:
    """(image pads in the text, grid height, grid width) the processor makes of one image."""
    out = processor(
        images=[image], text=["<|vision_start|><|image_pad|><|vision_end|>"], return_tensors="np"
    )
    pads = int((out["input_ids"] == processor.image_token_id).sum())
    _, rows, columns = (int(v) for v in out["image_grid_thw"][0])
    return pads, rows, columns


# --------------------------------------------------------------------------- geometry


SOURCES = [(512, 512), (1841, 1955), (100, 80), (2000, 300), (64, 4000), (5000, 4000)]


@pytest.mark.parametrize(("width", "height"), SOURCES, ids=lambda v: str(v))
def test_smart_resize_is_the_processors_own(processor: Any, width: int, height: int) -> None:
    """The real processor, given the raw image, resizes it to qwen3_resized_size() within its
    own 65,536..16,777,216 px and spends one <|image_pad|> per 32x32 px of the result."""
    expected = qwen3_resized_size(width, height, PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS)
    pads, rows, columns = _grid(processor, _image(width, height))
    assert (columns * 16, rows * 16) == expected  # grid of 16 px patches
    assert pads == qwen3_image_tokens(expected) == rows * columns // 4


@pytest.mark.parametrize(("width", "height"), SOURCES, ids=lambda v: str(v))
def test_radlens_geometry_is_kept_by_the_processor(
    processor: Any, width: int, height: int
) -> None:
    """The image RadLens sends (its geometry at the default bounds) is not resized again, and
    the prompt grows by exactly image_tokens() for it (pads plus the two vision delimiters)."""
    pad, size = QWEN3.geometry(
        width, height, min_pixels=DEFAULTS.qwen_min_pixels, max_pixels=DEFAULTS.qwen_max_pixels
    )
    assert pad == (0, 0, 0, 0)
    assert size[0] % 32 == 0
    assert size[1] % 32 == 0
    assert PROCESSOR_MIN_PIXELS <= size[0] * size[1] <= DEFAULTS.qwen_max_pixels
    pads, rows, columns = _grid(processor, _image(*size))
    assert (columns * 16, rows * 16) == size
    assert pads == QWEN3.tokens_per_image(width, height)
    with_image = _prompt_length(processor, [_image(*size)])
    without = _prompt_length(processor, [])
    assert with_image - without == QWEN3.image_tokens(size) == pads + 2


def _prompt_length(processor: Any, images: list[Image.Image]) -> int:
    parts: list[dict[str, Any]] = [{"type": "image", "image": image} for image in images]
    messages = [{"role": "user", "content": [*parts, {"type": "text", "text": "Describe."}]}]
    out = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return len(out["input_ids"][0])


@pytest.mark.parametrize(
    ("source", "bounds", "size", "tokens"),
    [
        ((512, 512), (3136, 1_003_520), (512, 512), 258),  # already multiples of 32
        ((1841, 1955), (3136, 1_003_520), (960, 1024), 962),  # the demo radiograph, capped
        ((100, 80), (3136, 1_003_520), (288, 256), 74),  # raised to the processor's floor
        ((512, 512), (3136, 10_000), (256, 256), 66),  # a cap below the floor yields to it
        ((512, 512), (400_000, 1_003_520), (640, 640), 402),  # a higher floor is honoured
    ],
    ids=["512", "cxr", "small", "cap-below-floor", "high-floor"],
)
def test_geometry_numbers(
    source: tuple[int, int], bounds: tuple[int, int], size: tuple[int, int], tokens: int
) -> None:
    """Hand-checked: 1841x1955 is 3.6 Mpx, over the cap, so beta = sqrt(3,599,155 / 1,003,520)
    = 1.894; 1955 / 1.894 / 32 = 32.3 -> 32 * 32 = 1024 and 1841 / 1.894 / 32 = 30.4 -> 960;
    960 x 1024 / 32**2 = 960 pads + 2. 100x80 is below 65,536 px: beta = sqrt(65,536 / 8,000)
    = 2.862, ceil(286.2 / 32) = 9 -> 288 and ceil(229.0 / 32) = 8 -> 256."""
    low, high = bounds
    assert QWEN3.geometry(*source, min_pixels=low, max_pixels=high) == ((0, 0, 0, 0), size)
    assert QWEN3.image_tokens(size) == tokens


def test_adapter_facts() -> None:
    assert QWEN3.family is Family.QWEN3_VL
    assert adapter_for_model_type("qwen3_vl") is QWEN3
    assert QWEN3.box_format == "qwen_norm_1000"
    assert QWEN3.tokens_per_image(512, 512) == 256
    assert QWEN3.image_tokens_note == (
        "1 per 32x32 px of the resized image (64-980 per image; 512x512 -> 256)"
    )
    assert QWEN3.label_tokens("SLICE 12") == QWEN3.label_tokens("SLICE 34")
    assert QWEN3.unquantized_modules == ("model.visual", "lm_head")
    assert QWEN3.stop_tokens == ("<|im_end|>", "<|endoftext|>")
    assert QWEN3.reasoning_markers is None  # Instruct models write no thinking trace
    assert QWEN3.sliding_attention({}, 36) == (0, None)
    assert QWEN3.config_defaults["head_dim"] == 128
    assert QWEN3.overflow_advice() == "lower qwen_max_pixels"


def test_stop_tokens_are_the_generation_configs_end_tokens(
    tiny_qwen3: Path, processor: Any
) -> None:
    """The adapter's stop tokens resolve, in order, to generation_config.json's eos_token_id
    (the real [151645, 151643] are <|im_end|>, <|endoftext|>; the tiny keeps their order)."""
    config = json.loads((tiny_qwen3 / "generation_config.json").read_text())
    ids = processor.tokenizer.convert_tokens_to_ids(list(QWEN3.stop_tokens))
    assert ids == config["eos_token_id"]


def test_processor_is_image_only_with_the_instruct_template(processor: Any) -> None:
    """load_processor() picks the image-only subclass although the folder names the stock
    Qwen3VLProcessor (as the real repositories do); the Instruct template adds no system turn
    (Qwen2.5-VL's adds "You are a helpful assistant.") and wraps each image's pads."""
    from models.families.qwen3_vl_processor import Qwen3VLImageOnlyProcessor

    assert isinstance(processor, Qwen3VLImageOnlyProcessor)
    assert not hasattr(processor, "video_processor")
    assert (processor.image_processor.patch_size, processor.image_processor.merge_size) == (16, 2)
    image = Message("user", (ImagePart(np.zeros((64, 256, 3), np.uint8), 0), TextPart("Where?")))
    system = Message("system", (TextPart("You are an expert radiologist."),))
    for messages, head in (
        ([image], ""),
        ([system, image], "<|im_start|>system\nYou are an expert radiologist.<|im_end|>\n"),
    ):
        encoded = processor.apply_chat_template(
            to_transformers(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        text = processor.tokenizer.decode(encoded["input_ids"][0])
        # 256x64 is below the 65,536 px floor: the processor scales it to 512x128 -> 16x4 pads.
        pads = "<|image_pad|>" * 64
        assert text == (
            f"{head}<|im_start|>user\n<|vision_start|>{pads}<|vision_end|>Where?<|im_end|>\n"
            "<|im_start|>assistant\n"
        )


def test_auto_processor_returns_the_image_only_processor(tiny_qwen3: Path, tmp_path: Path) -> None:
    """transformers serve uses AutoProcessor: with RadLens' override registered, a folder naming
    no processor class, or one the processor saved itself, loads the image-only class."""
    from transformers import AutoProcessor

    from models.backends.processors import register_processors
    from models.families.qwen3_vl_processor import Qwen3VLImageOnlyProcessor

    register_processors()
    bare = tmp_path / "bare"
    shutil.copytree(tiny_qwen3, bare)
    config_path = bare / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    del config["processor_class"]
    config_path.write_text(json.dumps(config))
    assert isinstance(AutoProcessor.from_pretrained(bare), Qwen3VLImageOnlyProcessor)
    saved = tmp_path / "saved"
    load_processor(tiny_qwen3).save_pretrained(saved)
    shutil.copy(bare / "config.json", saved / "config.json")
    reloaded = AutoProcessor.from_pretrained(saved)
    assert isinstance(reloaded, Qwen3VLImageOnlyProcessor)
    assert reloaded.image_processor.size["shortest_edge"] == PROCESSOR_MIN_PIXELS


def test_video_is_refused_with_a_clear_error(processor: Any) -> None:
    with pytest.raises(ValueError, match="handles images only"):
        processor(text=["x"], videos=[np.zeros((2, 32, 32, 3), np.uint8)])


# --------------------------------------------------------------------------- boxes


def test_bbox_2d_on_the_0_1000_grid_lands_on_source_pixels() -> None:
    """Worked example. A 600x400 slice is resized to 608x384 (600 / 32 = 18.75 -> 19 * 32;
    400 / 32 = 12.5 -> 12 * 32, Python rounds half to even). Qwen3-VL answers
    bbox_2d [250, 100, 750, 600]: x 250 / 1000 * 608 = 152 model px, which is 152 * 600 / 608
    = 150 source px; y 100 / 1000 * 384 = 38.4 model px = 38.4 * 400 / 384 = 40 source px; the
    far corner (450, 240) likewise. The same numbers read as Qwen2.5-VL's absolute pixels
    would put the box elsewhere."""
    _pad, size = QWEN3.geometry(600, 400, min_pixels=3136, max_pixels=1_003_520)
    assert size == (608, 384)
    mapping = ImageMapping(0, (600, 400), (0, 0, 600, 400), (0, 0, 0, 0), size)
    text = 'The opacity:\n```json\n[{"bbox_2d": [250, 100, 750, 600], "label": "opacity"}]\n```'
    found = parse_boxes(text, QWEN3.box_format, [mapping])
    assert found.dropped == ()
    (box,) = found.boxes
    assert (box.label, box.slice) == ("opacity", 0)
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((150, 40, 450, 240))
    absolute = parse_boxes(text, "qwen_abs", [mapping]).boxes[0]
    assert (absolute.x0, absolute.y0) == pytest.approx((250 * 600 / 608, 100 * 400 / 384))
    # and back: the source box written the way Qwen3-VL writes boxes
    assert native_text(box, QWEN3.box_format, mapping) == (
        '{"bbox_2d": [250, 100, 750, 600], "label": "opacity"}'
    )


def test_boxes_on_the_prepared_radiograph_scale_with_the_source() -> None:
    """Through prepare(): the demo radiograph (1841x1955) is sent as 960x1024; a box
    [100, 200, 500, 600] comes back at 10%/20%/50%/60% of the source: x 184.1 and 920.5,
    y 391 and 1173."""
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("qwen3-vl-4b")
    prepared = prepare(series, spec, "ask", question="Where is the heart?")
    (mapping,) = prepared.mappings
    assert mapping.model_size == (960, 1024)
    assert prepared.inputs.images[0].shape == (1024, 960, 3)
    text = '```json\n[{"bbox_2d": [100, 200, 500, 600], "label": "heart"}]\n```'
    (box,) = parse_boxes(text, spec.grounding, prepared.mappings).boxes
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((184.1, 391.0, 920.5, 1173.0))


# --------------------------------------------------------------------------- registry


@pytest.mark.parametrize(
    ("model_id", "params_b", "tied"),
    [("qwen3-vl-2b", 2.13, True), ("qwen3-vl-4b", 4.44, True), ("qwen3-vl-8b", 8.77, False)],
)
def test_registry_entries(model_id: str, params_b: float, tied: bool) -> None:
    spec = get_spec(model_id)
    size = model_id.rsplit("-", 1)[1].upper()
    assert spec.source == f"Qwen/Qwen3-VL-{size}-Instruct"
    assert spec.card_url == f"https://huggingface.co/Qwen/Qwen3-VL-{size}-Instruct"
    assert spec.family is Family.QWEN3_VL
    assert spec.grounding == "qwen_norm_1000"
    assert (spec.license, spec.gated, spec.context_length) == ("Apache-2.0", False, 262_144)
    assert spec.system_prompt is None
    assert spec.architecture is not None
    assert round(spec.architecture.params_b, 2) == params_b
    assert spec.architecture.tied_embeddings is tied
    assert spec.architecture.head_dim == 128
    assert spec.tokens_per_image(512, 512) == 256
    # bf16 weights alone are 2 bytes a parameter: the estimate is at least that
    assert spec.memory_gb("bf16") > 2 * params_b
    assert spec.memory_gb("nf4") < spec.memory_gb("bf16")


def test_a_local_qwen3_vl_folder_is_recognised(tiny_qwen3: Path) -> None:
    from safetensors.torch import load_file

    spec = spec_from_folder(tiny_qwen3)
    assert spec.family is Family.QWEN3_VL
    assert spec.grounding == "qwen_norm_1000"
    assert spec.context_length == 8192
    weights = load_file(tiny_qwen3 / "model.safetensors")
    assert spec.architecture is not None
    assert spec.architecture.params == sum(t.numel() for t in weights.values())
    vision = sum(t.numel() for n, t in weights.items() if n.startswith("model.visual."))
    assert spec.architecture.vision_params == vision > 0
    assert (spec.architecture.layers, spec.architecture.head_dim) == (2, 32)
    assert spec.architecture.tied_embeddings is True


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module", params=["bf16", "nf4"])
def backend(
    request: pytest.FixtureRequest, tiny_qwen3: Path, _one_torch_thread: None
) -> TransformersBackend:
    if request.param == "nf4":
        pytest.importorskip("bitsandbytes")
    loaded = load_model(tiny_qwen3, request.param, device="cpu")
    assert loaded.precision.value == request.param
    if request.param == "nf4":  # the decoder in 4 bits, the vision side (model.visual) not
        kinds = {name: type(m).__name__ for name, m in loaded.model.named_modules()}
        four_bit = {name for name, kind in kinds.items() if kind == "Linear4bit"}
        assert "model.language_model.layers.0.self_attn.q_proj" in four_bit
        assert not any(name.startswith(("model.visual", "lm_head")) for name in four_bit)
    return TransformersBackend(loaded, get_spec(str(tiny_qwen3)).id)


@pytest.mark.timeout(180)
def test_tiny_model_asks_about_a_radiograph(
    backend: TransformersBackend, tiny_qwen3: Path
) -> None:
    series = load_study(DEMO_CXR).default_series
    spec = get_spec(str(tiny_qwen3))
    settings = GenerationSettings(max_new_tokens=6, min_new_tokens=6)
    answer = ask(series, "Describe the image.", backend, spec, settings=settings)
    assert (answer.completion_tokens, answer.finish_reason) == (6, "length")
    assert answer.images == 1
    assert answer.slices == (0,)
    # The prompt holds the whole image: 960x1024 -> 960 pads + 2 delimiters, plus the text.
    assert answer.prompt_tokens is not None
    assert answer.prompt_tokens > QWEN3.image_tokens((960, 1024)) == 962
    prepared = prepare(series, spec, "ask", question="Describe the image.")
    inputs = backend.loaded.processor.apply_chat_template(
        to_transformers(prepared.messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )
    assert answer.prompt_tokens == len(inputs["input_ids"][0])
    assert (
        int((np.asarray(inputs["input_ids"]) == backend.loaded.processor.image_token_id).sum())
        == 960
    )


@pytest.mark.timeout(180)
def test_tiny_model_asks_about_mr_slices(backend: TransformersBackend, tiny_qwen3: Path) -> None:
    series = load_study(DEMO_MR).default_series
    spec = get_spec(str(tiny_qwen3))
    answer = ask(
        series,
        "Describe the image.",
        backend,
        spec,
        options=InputOptions(max_slices=2),
        settings=GenerationSettings(max_new_tokens=4, min_new_tokens=4),
    )
    assert answer.images == 2
    assert len(answer.slices) == 2
    assert answer.completion_tokens == 4


@pytest.mark.timeout(240)
def test_tiny_model_drafts_and_compares(backend: TransformersBackend, tiny_qwen3: Path) -> None:
    series = load_study(DEMO_CXR).default_series
    spec = get_spec(str(tiny_qwen3))
    settings = GenerationSettings(max_new_tokens=8)
    deltas: list[str] = []
    report = draft_report(
        series, backend, spec, settings=settings, ground=False, on_delta=deltas.append
    )
    assert "".join(deltas) == report.raw
    assert report.prompt.startswith("report/cxr_frontal ")
    assert report.findings  # random text: parsed lines or an explicit "unable to assess"
    assert all(f.status in (FindingStatus.REPORTED, FindingStatus.UNABLE) for f in report.findings)
    compared = compare(
        series, series, backend, spec, settings=GenerationSettings(max_new_tokens=6)
    )
    assert compared.kind == "compare"
    assert compared.prompt.startswith("compare/cxr_frontal ")
    assert compared.findings


def test_raw_messages_with_two_images_count_both(processor: Any) -> None:
    """Two images of different sizes in one message: pads add up per image."""
    a, b = np.zeros((256, 256, 3), np.uint8), np.zeros((320, 512, 3), np.uint8)
    message = Message("user", (ImagePart(a, 0), ImagePart(b, 1), TextPart("Compare.")))
    out = processor.apply_chat_template(
        to_transformers([message]), add_generation_prompt=True, tokenize=True, return_dict=True
    )
    pads = int((np.asarray(out["input_ids"]) == processor.image_token_id).sum())
    assert pads == qwen3_image_tokens((256, 256)) + qwen3_image_tokens((512, 320)) == 64 + 160


def test_box_inside_image_is_kept_whole() -> None:
    """A box that fills the grid (0..1000) covers the whole source slice, not more."""
    mapping = ImageMapping(3, (300, 200), (0, 0, 300, 200), (0, 0, 0, 0), (288, 192))
    text = '[{"bbox_2d": [0, 0, 1000, 1000], "label": "whole"}]'
    (box,) = parse_boxes(text, QWEN3.box_format, [mapping]).boxes
    assert (box.label, box.slice, box.x0, box.y0, box.x1, box.y1) == ("whole", 3, 0, 0, 300, 200)


# --------------------------------------------------------------------------- transformers serve


@pytest.fixture(scope="module")
def qwen3_server(tmp_path_factory: pytest.TempPathFactory, tiny_qwen3: Path) -> Iterator[Server]:
    """A real ``transformers serve`` of the tiny Qwen3-VL, launched as tests/models/serving.py
    launches the session's server (RadLens' image-only processor registered first, so the
    served copy's preprocessor_config.json names no processor class)."""
    serving.skip_without_openai()
    tmp = tmp_path_factory.mktemp("serve-qwen3")
    yield from serving.serve({"qwen3_vl": serving.servable_copy(tiny_qwen3, tmp)}, tmp)


@pytest.mark.timeout(120)
def test_tiny_model_through_transformers_serve(
    qwen3_server: Server, processor: Any, tiny_qwen3: Path
) -> None:
    """The served model sees the same prompt as the local processor makes (the image's 960 pads
    included) and streams exactly the tokens asked for."""
    series = load_study(DEMO_CXR).default_series
    spec = get_spec(str(tiny_qwen3))
    backend = qwen3_server.backend(
        "qwen3_vl",
        extra_body={"generation_config": json.dumps({"max_new_tokens": 5, "min_new_tokens": 5})},
    )
    settings = GenerationSettings(max_new_tokens=5, min_new_tokens=5)
    answer = ask(series, "Describe the image.", backend, spec, settings=settings)
    assert (answer.completion_tokens, answer.finish_reason) == (5, "length")
    prepared = prepare(series, spec, "ask", question="Describe the image.")
    local = processor.apply_chat_template(
        to_transformers(prepared.messages),
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )
    assert answer.prompt_tokens == len(local["input_ids"][0])


@pytest.mark.timeout(180)
def test_tiny_model_reports_and_compares_through_transformers_serve(qwen3_server: Server) -> None:
    """The remote entry declared as qwen3_vl drafts a report and a comparison through the real
    server, as tests/models/test_remote.py does for the other families."""
    serving.report_and_compare_through(qwen3_server, "qwen3_vl")
