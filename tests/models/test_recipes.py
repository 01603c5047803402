"""Parity with the makers' recipes: what each family is sent, checked against the makers' code.

Sources (facts only; the code and text here are RadLens's own):

- Google-Health/medgemma notebooks/high_dimensional_ct_hugging_face.ipynb, commit d89262cd:
  cell iaaAbE6ARS8Q (instances ordered, 85 sampled as ``round(i / 85 * (n - 1))``, i = 1..85),
  cell iTu1nQneLEvM (HU windows R -1024..1024, G -135..215, B 0..80: clip,
  ``(x - low) / (high - low) * 255``, ``np.round`` to uint8), cell h57n3PWsznxy (one user
  message, no system message: the instruction, each image followed by "SLICE k", k = 1..N, then
  the query).
- Google-Health/medgemma#76: for MedGemma 1.5 the query must come after the last slice.
- Google-Health/medgemma python/data_accessors/local_file_handlers/generic_dicom_handler.py,
  commit 04b60aca: every CT image is windowed into RGB; MR is scaled min-max over the images of
  the acquisition in the request and rounded.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dicom_io.loader import load_study
from dicom_io.study import Series
from dicom_io.volume import Volume
from models.errors import ContextOverflowError
from models.families.base import estimate_text_tokens
from models.grounding.placement import parse_boxes
from models.inputs.messages import ImagePart, LabelPart, TextPart
from models.inputs.model_inputs import InputOptions, build_inputs
from models.inputs.request_tokens import TURN_TOKENS, TokenCount, count_tokens
from models.inputs.slices_3d import sample_slices
from models.registry.lookup import get_spec
from models.tasks.prepare import prepare
from tests.synthetic import write_ct_series

QUESTION = "Is there a hypodense liver lesion?"


def _notebook_picks(n: int, count: int = 85) -> tuple[int, ...]:
    """Cell iaaAbE6ARS8Q's choice of instances, written out."""
    if n <= count:
        return tuple(range(n))
    return tuple(round(i / count * (n - 1)) for i in range(1, count + 1))  # int(round(...))


def _notebook_window(hu: np.ndarray, low: float, high: float) -> np.ndarray:
    """Cell iTu1nQneLEvM's window, written out: clip, scale to 0..255, np.round, uint8."""
    scaled: np.ndarray = np.round((np.clip(hu, low, high) - low) / (high - low) * 255)
    return scaled.astype(np.uint8)


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> Series:
    """A synthetic CT of 6 slices of 32 x 32 (DICOM files, written with pydicom)."""
    folder = tmp_path_factory.mktemp("ct")
    write_ct_series(folder, slices=6, rows=32, columns=32, noise=0.0)
    return load_study(folder).default_series


@pytest.fixture(scope="module")
def prior(tmp_path_factory: pytest.TempPathFactory) -> Series:
    folder = tmp_path_factory.mktemp("prior")
    write_ct_series(folder, slices=6, rows=32, columns=32, noise=0.0)
    return load_study(folder).default_series


# ---------------------------------------------------------------- message layout


def test_medgemma_1_5_ct_request_is_laid_out_as_the_notebook(ct: Series) -> None:
    """Cell h57n3PWsznxy: [instruction] + [image, "SLICE k"] for k = 1..N + [query]; one user
    message, no system message; #76: the query after the last slice."""
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(ct, spec, "ask", question=QUESTION, options=InputOptions(max_slices=3))
    assert [m.role for m in prepared.messages] == ["user"]
    parts = prepared.messages[0].parts
    kinds = [type(p).__name__ for p in parts]
    assert kinds == ["TextPart"] + ["ImagePart", "LabelPart"] * 3 + ["TextPart"]
    labels = [p.text for p in parts if isinstance(p, LabelPart)]
    assert labels == ["SLICE 1", "SLICE 2", "SLICE 3"]
    assert [p.index for p in parts if isinstance(p, ImagePart)] == [0, 1, 2]
    query = parts[-1]
    assert isinstance(query, TextPart)
    assert QUESTION in query.text
    assert QUESTION not in parts[0].text  # type: ignore[union-attr]


def test_qwen_keeps_its_system_message_and_the_same_order(ct: Series) -> None:
    spec = get_spec("qwen2.5-vl-7b")
    prepared = prepare(ct, spec, "ask", question=QUESTION, options=InputOptions(max_slices=3))
    assert [m.role for m in prepared.messages] == ["system", "user"]
    kinds = [type(p).__name__ for p in prepared.messages[1].parts]
    assert kinds == ["ImagePart", "LabelPart"] * 3 + ["TextPart"]


def test_a_comparison_labels_each_studys_images_by_position(ct: Series, prior: Series) -> None:
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(ct, spec, "compare", prior=prior, options=InputOptions(max_slices=2))
    labels = [p.text for m in prepared.messages for p in m.parts if isinstance(p, LabelPart)]
    assert labels == ["PRIOR SLICE 1", "PRIOR SLICE 2", "CURRENT SLICE 1", "CURRENT SLICE 2"]
    assert isinstance(prepared.messages[-1].parts[-1], TextPart)  # the query last


# ---------------------------------------------------------------- image encoding


def _hu_ramp() -> Volume:
    """One 896 x 896 slice (no resize for Gemma3) whose columns run -1100, -1098, ..., 690 HU."""
    row = (-1100 + 2 * np.arange(896)).astype(np.int16)
    return Volume(np.tile(row, (1, 896, 1)), (1.0, 1.0, 1.0), np.eye(4), units="HU")


def test_a_hu_ramp_gets_the_notebooks_uint8_values_on_each_channel() -> None:
    volume = _hu_ramp()
    image = build_inputs(volume, "gemma3").images[0]
    hu = volume.array[0, 0].astype(np.float64)
    for channel, (low, high) in enumerate([(-1024, 1024), (-135, 215), (0, 80)]):
        assert np.array_equal(image[0, :, channel], _notebook_window(hu, low, high)), channel
    column = {v: j for j, v in enumerate(volume.array[0, 0].tolist())}
    # -1024 HU: R 0. 0 HU: R 1024 / 2048 * 255 = 127.5 -> 128 (half to even), G 135 / 350 * 255
    # = 98.36 -> 98, B 0. 40 HU: 132.47 -> 132, 127.5 -> 128, 127.5 -> 128. 80 HU: B 255.
    # 214 HU: G 349 / 350 * 255 = 254.27 -> 254.
    assert image[0, column[-1024]].tolist() == [0, 0, 0]
    assert image[0, column[0]].tolist() == [128, 98, 0]
    assert image[0, column[40]].tolist() == [132, 128, 128]
    # 80 HU: R 1104 / 2048 * 255 = 137.46 -> 137, G 215 / 350 * 255 = 156.64 -> 157, B 255.
    assert image[0, column[80]].tolist() == [137, 157, 255]
    assert image[0, column[214], 1] == 254


def test_qwen_gets_the_same_ct_in_grey() -> None:
    """No maker CT recipe for Qwen2.5-VL or Lingshu: the viewer's window, one grey plane."""
    inputs = build_inputs(_hu_ramp(), "qwen2_5_vl")
    image = inputs.images[0]
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 1], image[..., 2])
    assert "CT windows" not in inputs.description
    assert "window " in inputs.description


def test_mr_is_min_max_over_the_slices_sent() -> None:
    """_process_buffered_mri_volume: min and max over all images sent, then rounded."""
    array = np.zeros((2, 896, 896), dtype=np.int16)
    array[0] = np.arange(896, dtype=np.int16)  # 0..895 across the first slice
    array[1, 5, 5] = 1000  # the second slice holds the maximum
    image = build_inputs(Volume(array, (1.0, 1.0, 1.0), np.eye(4)), "gemma3", modality="MR")
    # 500 / 1000 * 255 = 127.5 -> 128 (half to even); 895 / 1000 * 255 = 228.2 -> 228
    assert image.images[0][0, 500].tolist() == [128, 128, 128]
    assert image.images[0][0, 895, 0] == 228


# ---------------------------------------------------------------- sampling


def test_85_of_200_slices_are_the_notebooks_picks() -> None:
    picks = sample_slices(200, 85)
    assert picks == _notebook_picks(200)
    # 199 / 85 = 2.34 per step: 2.34 -> 2, 4.68 -> 5, 7.02 -> 7, 9.36 -> 9, 11.71 -> 12
    assert picks[:5] == (2, 5, 7, 9, 12)
    assert picks[-1] == 199
    assert len(set(picks)) == 85
    volume = Volume(np.zeros((200, 8, 8), dtype=np.int16), (1.0, 1.0, 1.0), np.eye(4), units="HU")
    assert build_inputs(volume, "gemma3").slice_indices == _notebook_picks(200)


def test_a_short_volume_is_sent_whole() -> None:
    assert sample_slices(60, 85) == _notebook_picks(60) == tuple(range(60))


# ---------------------------------------------------------------- tokens of the whole request


def test_the_request_is_counted_whole(ct: Series) -> None:
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(ct, spec, "ask", question=QUESTION, options=InputOptions(max_slices=3))
    parts = prepared.messages[0].parts
    instruction, query = parts[0].text, parts[-1].text  # type: ignore[union-attr]
    counted = count_tokens(prepared.messages, "gemma3")
    # 3 images x (256 soft tokens + 4 delimiters); "SLICE n": 2 + 1 + 1 digit each
    assert counted == TokenCount(
        images=3 * 260,
        image_count=3,
        labels=3 * 4,
        text=TURN_TOKENS + estimate_text_tokens(instruction) + estimate_text_tokens(query),
    )
    assert estimate_text_tokens("abcdefg") == 4  # ceil(7 / 3) + 1


def test_an_overflow_names_each_share_and_the_fixes(ct: Series) -> None:
    spec = get_spec("medgemma-1.5-4b")
    options = InputOptions(max_slices=3)
    fits = prepare(ct, spec, "ask", question=QUESTION, options=options, answer_tokens=1000)
    total = count_tokens(fits.messages, "gemma3").total + 1000
    tight = replace(spec, context_length=total - 1)
    with pytest.raises(ContextOverflowError) as caught:
        prepare(ct, tight, "ask", question=QUESTION, options=options, answer_tokens=1000)
    message = str(caught.value)
    assert f"The request needs about {total:,} tokens (792 for 3 image(s)" in message
    assert "1,000 reserved for the answer (max_new_tokens)" in message
    assert "lower max_slices to 2 or fewer" in message
    assert "lower max_new_tokens to 999 or fewer" in message


def test_few_shot_examples_are_counted_and_named(ct: Series, prior: Series) -> None:
    """A report with one demonstration (its images and report sent before the request) is
    counted whole: the request, the example and the answer budget; too little context names
    the example's share and the fix."""
    from models.tasks.prepare import inputs_for

    spec = get_spec("medgemma-1.5-4b")
    options = InputOptions(max_slices=3)
    demo = (
        inputs_for(prior, spec, options),
        "Findings:\nLungs: Clear.\n\nImpression:\n1. Normal.",
    )
    alone = prepare(ct, spec, "report", options=options, answer_tokens=100)
    shown = prepare(ct, spec, "report", options=options, answer_tokens=100, demonstrations=[demo])
    request = count_tokens(alone.messages, "gemma3").total
    both = count_tokens(shown.messages, "gemma3").total
    example = both - request  # what the demonstration adds, its 3 images included
    assert example > 3 * 260
    tight = replace(spec, context_length=request + 100 + example - 1)
    with pytest.raises(ContextOverflowError) as caught:
        prepare(ct, tight, "report", options=options, answer_tokens=100, demonstrations=[demo])
    message = str(caught.value)
    assert f"The request needs about {request + example + 100:,} tokens" in message
    assert f"{example:,} for the few-shot examples" in message
    assert "send fewer few-shot examples" in message
    assert prepare(ct, tight, "report", options=options, answer_tokens=100).messages


def test_a_comparison_counts_both_studies(ct: Series, prior: Series) -> None:
    spec = get_spec("medgemma-1.5-4b")
    options = InputOptions(max_slices=3)
    tight = replace(spec, context_length=2 * 3 * 260)  # room for one study's images only
    with pytest.raises(ContextOverflowError, match=r"for 6 image\(s\) of 2 studies"):
        prepare(ct, tight, "compare", prior=prior, options=options)


# ---------------------------------------------------------------- boxes back to the source


def test_a_box_on_slice_n_lands_on_the_nth_images_source_slice(ct: Series) -> None:
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(ct, spec, "ask", question=QUESTION, options=InputOptions(max_slices=3))
    assert prepared.inputs.slice_indices == _notebook_picks(6, 3) == (2, 3, 5)
    text = 'Final Answer: ```json[{"box_2d": [0, 0, 500, 500], "label": "lesion", "slice": 2}]```'
    result = parse_boxes(text, spec.grounding, prepared.mappings, prepared.spacing)
    (box,) = result.boxes
    assert (box.label, box.slice) == ("lesion", 3)  # SLICE 2 is the second image: source 3
    # 32 x 32 slice, square, to 896: [0, 0, 500, 500] on 0-1000 is the top-left quarter
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((0.0, 0.0, 16.0, 16.0))
