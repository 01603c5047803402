"""build_inputs: the exact pixels, sizes, mappings, labels and token counts each model receives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from dicom_io.errors import InvalidArgumentError, RadLensError
from dicom_io.loader import load_study
from dicom_io.study import Orientation, Series, Window
from dicom_io.volume import Volume
from dicom_io.windowing import apply_window
from models.errors import ContextOverflowError
from models.families import Family
from models.families.qwen2_5_vl import qwen_resized_size
from models.inputs.messages import ImagePart, TextPart
from models.inputs.model_inputs import (
    InputOptions,
    ModelInputs,
    build_inputs,
    estimate_tokens,
    to_messages,
)
from models.inputs.slices_3d import sample_slices
from tests.files import data_file
from tests.synthetic import AIR, BONE, SOFT_TISSUE, write_ct_series

RG1_WIDTH, RG1_HEIGHT = 1841, 1955


def _ct_value(hu: float, low: float, high: float) -> float:
    return float(np.clip((hu - low) / (high - low) * 255.0, 0.0, 255.0))


def _hu_volume(array: npt.NDArray[np.generic]) -> Volume:
    return Volume(array, (1.0, 1.0, 1.0), np.eye(4), units="HU")


@pytest.fixture(scope="module")
def rg1() -> Series:
    """A real computed radiograph: MONOCHROME1, 1841 x 1955, DICOM window 15000/30000."""
    series = load_study(data_file("RG1_UNCR.dcm")).default_series
    assert (series.modality, series.photometric) == ("CR", "MONOCHROME1")
    assert series.shape == (1, RG1_HEIGHT, RG1_WIDTH)
    return series


@pytest.fixture(scope="module")
def rg1_gemma(rg1: Series) -> ModelInputs:
    return build_inputs(rg1, "gemma3")


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory: pytest.TempPathFactory) -> Series:
    """A noise-free synthetic chest CT, 24 slices of 64 x 64, DICOM window 40/400."""
    folder = tmp_path_factory.mktemp("ct")
    write_ct_series(folder, slices=24, rows=64, columns=64, noise=0.0)
    return load_study(folder).default_series


# ---------------------------------------------------------------- radiographs (2D)


def test_rg1_gemma_pads_evenly_to_a_square_and_maps_back(rg1_gemma: ModelInputs) -> None:
    (mapping,) = rg1_gemma.mappings
    assert mapping.source_size == (RG1_WIDTH, RG1_HEIGHT)
    assert mapping.crop == (0, 0, RG1_WIDTH, RG1_HEIGHT)  # the whole field of view
    assert mapping.pad == (57, 0, 57, 0)  # 1955 - 1841 = 114 columns: 57 left, 57 right
    assert mapping.model_size == (896, 896)
    assert rg1_gemma.images[0].shape == (896, 896, 3)
    scale = 1955 / 896
    x, y = mapping.to_model(1000.0, 500.0)
    assert (x, y) == pytest.approx(((1000 + 57) / scale, 500 / scale))
    assert mapping.to_source(x, y) == pytest.approx((1000.0, 500.0))
    assert mapping.to_source(0.0, 0.0) == pytest.approx((-57.0, 0.0))  # corner of the padding
    assert rg1_gemma.slice_indices == (0,)
    assert rg1_gemma.labels == ("",)  # one image: no SLICE label
    assert rg1_gemma.description == (
        "1 image, window 15000/30000 (C/W, dicom), inverted (MONOCHROME1), "
        "896x896 (padded 57/0/57/0 px)"
    )


def test_rg1_padding_is_black_and_the_image_grey(rg1_gemma: ModelInputs) -> None:
    image = rg1_gemma.images[0]
    pad_model = 57 / (1955 / 896)  # 26.1 model pixels each side
    assert not image[:, :26].any()
    assert not image[:, -26:].any()
    assert image[:, 27:-27].min(axis=0).max() > 0  # the radiograph starts after the padding
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 0], image[..., 2])
    assert 26 < pad_model < 27


def test_a_marked_source_pixel_lands_where_the_mapping_says(rg1: Series) -> None:
    array = np.array(rg1.volume.array)
    x0, y0, half = 1400, 300, 6  # a 13 x 13 square centred on source pixel (1400, 300)
    array[0, y0 - half : y0 + half + 1, x0 - half : x0 + half + 1] = 0  # white after inversion
    marked = rg1.volume.with_array(array)
    window = rg1.default_window
    options = InputOptions(window=window)
    plain = build_inputs(rg1.volume, "gemma3", options, photometric="MONOCHROME1")
    inputs = build_inputs(marked, "gemma3", options, photometric="MONOCHROME1")
    diff = inputs.images[0][..., 0].astype(np.int32) - plain.images[0][..., 0]
    rows, cols = np.nonzero(diff > 0)
    weights = diff[rows, cols]
    # Pixel (i, j) covers [i, i + 1) x [j, j + 1): its centre is at i + 0.5 in both frames.
    found = (np.average(cols, weights=weights) + 0.5, np.average(rows, weights=weights) + 0.5)
    expected = inputs.mappings[0].to_model(x0 + 0.5, y0 + 0.5)
    assert expected == pytest.approx(((1400.5 + 57) * 896 / 1955, 300.5 * 896 / 1955))
    assert found == pytest.approx(expected, abs=0.15)
    back = inputs.mappings[0].to_source(*found)
    assert back == pytest.approx((x0 + 0.5, y0 + 0.5), abs=0.35)


def test_monochrome1_is_inverted_as_displayed(rg1: Series, rg1_gemma: ModelInputs) -> None:
    source = rg1.volume.array[0]
    assert rg1.default_window is not None
    # A bright bone pixel: a flat 32 x 32 block of low stored values (white in MONOCHROME1).
    blocks = source[:1952, :1824].reshape(61, 32, 114, 16).astype(np.float64)
    spread = blocks.std(axis=(1, 3)) + (blocks.mean(axis=(1, 3)) > 4000) * 1e9
    by, bx = np.unravel_index(np.argmin(spread), spread.shape)
    patch = source[by * 32 : by * 32 + 32, bx * 16 : bx * 16 + 16]
    expected = 255 - int(apply_window(np.array([patch.mean()]), rg1.default_window)[0])
    mx, my = rg1_gemma.mappings[0].to_model(bx * 16 + 8, by * 32 + 16)
    got = int(rg1_gemma.images[0][int(my), int(mx), 0])
    assert expected > 200  # bone is white, as a radiologist sees it
    assert abs(got - expected) <= 2
    # The same volume read as MONOCHROME2 gives the complement everywhere inside the image.
    options = InputOptions(window=rg1.default_window)
    upright = build_inputs(rg1.volume, "gemma3", options, photometric="MONOCHROME2")
    inside = np.s_[:, 28:-28, 0]
    total = rg1_gemma.images[0][inside].astype(np.int32) + upright.images[0][inside]
    assert np.abs(total - 255).max() <= 1


def test_rg1_qwen_size_is_final_for_the_qwen_processor(rg1: Series) -> None:
    from PIL import Image
    from transformers import Qwen2VLImageProcessorPil

    from models.families.qwen2_5_vl import MAX_PIXELS as QWEN_MAX_PIXELS
    from models.families.qwen2_5_vl import MIN_PIXELS as QWEN_MIN_PIXELS

    inputs = build_inputs(rg1, "qwen2_5_vl")
    (mapping,) = inputs.mappings
    assert qwen_resized_size(1841, 1955) == (952, 1008)
    assert mapping.model_size == (952, 1008)
    assert mapping.pad == (0, 0, 0, 0)
    assert inputs.images[0].shape == (1008, 952, 3)
    assert mapping.to_model(1841.0, 1955.0) == pytest.approx((952.0, 1008.0))
    processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": QWEN_MIN_PIXELS, "longest_edge": QWEN_MAX_PIXELS}
    )
    out = processor(images=[Image.fromarray(inputs.images[0])], return_tensors="np")
    grid = np.asarray(out["image_grid_thw"])
    assert grid.tolist() == [[1, 1008 // 14, 952 // 14]]  # the processor keeps 1008 x 952
    assert inputs.image_tokens == int(grid.prod()) // 4 + 2  # 2x2 merge, plus the delimiters


def test_rgb_ultrasound_stays_colour() -> None:
    series = load_study(data_file("US1_UNCR.dcm")).default_series
    inputs = build_inputs(series, "gemma3")
    assert inputs.mappings[0].pad == (0, 80, 0, 80)  # 640 x 480 padded to 640 x 640
    image = inputs.images[0].astype(np.int32)
    assert np.abs(image[..., 0] - image[..., 2]).max() > 50  # colour survived
    assert inputs.description == "1 image, RGB as stored, 896x896 (padded 0/80/0/80 px)"


def test_rgb_pixels_pass_through_unchanged_at_the_native_qwen_size() -> None:
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (1, 56, 84, 3), dtype=np.uint8)
    inputs = build_inputs(Volume(array, (1.0, 1.0, 1.0), np.eye(4)), "qwen2_5_vl")
    assert inputs.mappings[0].model_size == (84, 56)
    assert np.array_equal(inputs.images[0], array[0])


# ---------------------------------------------------------------- CT and MR volumes (3D)


@pytest.mark.parametrize(
    ("hu", "name"), [(SOFT_TISSUE, "soft tissue"), (AIR, "air"), (BONE, "bone")]
)
def test_ct_channels_are_the_three_hu_windows(ct_series: Series, hu: int, name: str) -> None:
    inputs = build_inputs(ct_series, "gemma3", InputOptions(max_slices=4))
    k = inputs.slice_indices[1]
    hu_slice = ct_series.volume.array[k]
    # A pixel whose 3 x 3 neighbourhood holds this value, so bilinear enlarging cannot blur it.
    flat = np.lib.stride_tricks.sliding_window_view(hu_slice == hu, (3, 3)).all(axis=(2, 3))
    ys, xs = np.nonzero(flat)
    y, x = int(ys[len(ys) // 2]) + 1, int(xs[len(xs) // 2]) + 1
    mx, my = inputs.mappings[1].to_model(x + 0.5, y + 0.5)
    got = inputs.images[1][int(my), int(mx)].astype(float)
    expected = [_ct_value(hu, -1024, 1024), _ct_value(hu, -135, 215), _ct_value(hu, 0, 80)]
    assert got == pytest.approx(expected, abs=1.0), name


def test_hu_40_gives_the_recipe_values_exactly() -> None:
    """MedGemma's CT notebook (Google-Health/medgemma high_dimensional_ct_hugging_face.ipynb,
    cell iTu1nQneLEvM): clip, (x - low) / (high - low) * 255, np.round (half to even)."""
    array = np.full((3, 896, 896), 40, dtype=np.int16)  # 896 x 896: no resize, exact values
    inputs = build_inputs(_hu_volume(array), "gemma3")
    assert inputs.images[0].shape == (896, 896, 3)
    # R = 1064 / 2048 * 255 = 132.47 -> 132; G = 175 / 350 * 255 = 127.5 and B = 40 / 80 * 255
    # = 127.5, both -> 128 (half to even, as np.round)
    assert inputs.images[0][448, 448].tolist() == [132, 128, 128]
    assert inputs.description.endswith("CT windows R -1024..1024 / G -135..215 / B 0..80, 896x896")


def test_85_of_300_slices_sampled_as_the_ct_notebook() -> None:
    """Cell iaaAbE6ARS8Q: instances[int(round(i / 85 * (n - 1)))] for i in 1..85."""
    picks = sample_slices(300, 85)
    assert picks == tuple(round(i / 85 * 299) for i in range(1, 86))
    assert len(picks) == 85
    assert picks[:6] == (4, 7, 11, 14, 18, 21)  # 299 / 85 = 3.52: the first slice is skipped
    assert picks[-1] == 299


def test_a_slice_range_is_sampled_within_itself() -> None:
    # 100 + round(i / 10 * 99): 9.9, 19.8, ..., 49.5 (half to even: 50), ..., 99
    assert sample_slices(300, 10, (100, 200)) == (110, 120, 130, 140, 150, 159, 169, 179, 189, 199)
    assert sample_slices(300, 85, (100, 150)) == tuple(range(100, 150))  # fewer than asked
    with pytest.raises(InvalidArgumentError, match=r"Slice range 250:350 .* 0:300"):
        sample_slices(300, 10, (250, 350))


def test_slice_labels_number_the_images_sent() -> None:
    array = np.zeros((300, 16, 16), dtype=np.int16)
    options = InputOptions(max_slices=85, slice_range=(30, 270))
    inputs = build_inputs(_hu_volume(array), "qwen2_5_vl", options)
    expected = [30 + round(i / 85 * 239) for i in range(1, 86)]
    assert list(inputs.slice_indices) == expected
    assert inputs.labels == tuple(f"SLICE {n}" for n in range(1, 86))
    assert [m.slice_index for m in inputs.mappings] == expected
    assert inputs.description.startswith("85 of 300 slices (33..269), window ")


def test_slab_is_current_plus_minus_half_width(ct_series: Series) -> None:
    options = InputOptions(mode="slab", current_slice=10, slab_half_width=3)
    inputs = build_inputs(ct_series, "qwen2_5_vl", options)
    assert inputs.slice_indices == (7, 8, 9, 10, 11, 12, 13)
    edge = InputOptions(mode="slab", current_slice=1, slab_half_width=4, slice_range=(0, 20))
    assert build_inputs(ct_series, "qwen2_5_vl", edge).slice_indices == (0, 1, 2, 3, 4, 5)


def test_current_slice_uses_the_series_window_for_qwen(ct_series: Series) -> None:
    inputs = build_inputs(ct_series, "qwen2_5_vl", InputOptions(mode="current", current_slice=5))
    assert inputs.slice_indices == (5,)
    assert inputs.labels == ("",)  # a single image has no label
    assert "window 40/400 (C/W, dicom)" in inputs.description
    image = inputs.images[0]
    assert np.array_equal(image[..., 0], image[..., 2])  # one window, grey
    centre = image[28, 28, 0]  # soft tissue (40 HU) at the window's centre
    assert abs(int(centre) - 128) <= 1


def test_a_single_ct_slice_gets_medgemmas_three_windows(ct_series: Series) -> None:
    """MedGemma's serving code windows every CT image into RGB (Google-Health/medgemma
    python/data_accessors/local_file_handlers/generic_dicom_handler.py, commit 04b60aca,
    _default_ct_volume_window_op), a single slice too."""
    inputs = build_inputs(ct_series, "gemma3", InputOptions(mode="current", current_slice=5))
    assert inputs.labels == ("",)
    assert "CT windows R -1024..1024 / G -135..215 / B 0..80" in inputs.description
    centre = inputs.images[0][448, 448].tolist()  # soft tissue, 40 HU
    assert centre == [132, 128, 128]


def test_window_option_replaces_the_ct_recipe(ct_series: Series) -> None:
    options = InputOptions(max_slices=2, window=Window(-600.0, 1500.0, "preset"))
    inputs = build_inputs(ct_series, "gemma3", options)
    image = inputs.images[0]
    assert np.array_equal(image[..., 0], image[..., 1])
    assert image[0, 0, 0] == int(apply_window(np.array([AIR]), options.window)[0])  # type: ignore[arg-type]
    assert inputs.description.endswith(
        "window -600/1500 (C/W, preset), in grey instead of MedGemma's three CT windows, 896x896"
    )


def test_mr_is_scaled_min_max_over_the_slices_sent_for_medgemma() -> None:
    """generic_dicom_handler.py _process_buffered_mri_volume: (x - min) / (max - min) * 255,
    rounded, min and max over every image of the acquisition in the request."""
    ramp = np.tile(np.arange(896, dtype=np.float32), (2, 896, 1))  # 0..895 across
    ramp[1, 0, 0] = 1791.0  # the maximum is on the second slice; it scales the first too
    volume = Volume(ramp, (1.0, 1.0, 1.0), np.eye(4))
    inputs = build_inputs(volume, "gemma3", modality="MR")
    image = inputs.images[0]
    assert image.shape == (896, 896, 3)  # no resize: the maker's values exactly
    expected = np.round(ramp[0, 30] / 1791.0 * 255.0)
    assert np.array_equal(image[30, :, 0], expected)
    assert image[30, 895, 0] == 127  # 895 / 1791 * 255 = 127.43
    assert np.array_equal(image[..., 0], image[..., 1])
    assert inputs.description.startswith("2 of 2 slices, MR min-max 0..1791 over the slices sent")


def test_mr_is_shown_as_the_viewer_shows_it_to_qwen() -> None:
    ramp = np.tile(np.arange(56, dtype=np.float32) * 10.0, (2, 56, 1))
    inputs = build_inputs(Volume(ramp, (1.0, 1.0, 1.0), np.eye(4)), "qwen2_5_vl", modality="MR")
    assert inputs.description.startswith("2 of 2 slices, window ")
    assert "(C/W, data)" in inputs.description


# ---------------------------------------------------------------- tokens, messages, options


@pytest.mark.parametrize(
    ("family", "options"),
    [
        ("gemma3", InputOptions()),
        ("qwen2_5_vl", InputOptions()),
        ("qwen2_5_vl", InputOptions(qwen_max_pixels=256 * 28 * 28)),
        ("gemma3", InputOptions(mode="slab", current_slice=12)),
        ("qwen2_5_vl", InputOptions(mode="current")),
    ],
    ids=["gemma-volume", "qwen-volume", "qwen-small", "gemma-slab", "qwen-current"],
)
def test_estimate_equals_the_built_count(
    ct_series: Series, family: str, options: InputOptions
) -> None:
    inputs = build_inputs(ct_series, family, options)
    assert estimate_tokens(ct_series, family, options) == inputs.image_tokens
    n = len(inputs.images)
    # "SLICE n" after each of several images: ~2 for the word, 1 for spacing, 1 per digit
    labels = sum(3 + len(str(k)) for k in range(1, n + 1)) if n > 1 else 0
    if family == "gemma3":
        assert inputs.image_tokens == n * (256 + 4) + labels
    else:
        w, h = inputs.mappings[0].model_size
        assert inputs.image_tokens == n * ((w // 28) * (h // 28) + 2) + labels


def test_rg1_estimates_without_decoding(rg1: Series, rg1_gemma: ModelInputs) -> None:
    assert estimate_tokens(rg1, "gemma3") == rg1_gemma.image_tokens == 260
    assert estimate_tokens(rg1, Family.QWEN2_5_VL) == (952 // 28) * (1008 // 28) + 2


def _undecodable_ct(slices: int) -> Series:
    def fail() -> Volume:
        raise AssertionError("the voxels were decoded")

    return Series(
        index=0,
        key="k",
        modality="CT",
        shape=(slices, 512, 512),
        spacing=(1.0, 0.7, 0.7),
        spacing_known=True,
        orientation=Orientation.AXIAL,
        photometric="MONOCHROME2",
        loader=fail,
    )


def test_context_overflow_names_the_numbers_before_any_decoding() -> None:
    series = _undecodable_ct(300)
    tokens = estimate_tokens(series, "gemma3")
    labels = sum(3 + len(str(n)) for n in range(1, 86))
    assert tokens == 85 * 260 + labels == 22_516
    with pytest.raises(ContextOverflowError) as caught:
        build_inputs(series, "gemma3", context_limit=8192)
    message = str(caught.value)
    assert message == (
        "The images alone need about 22,516 tokens (85 x ~265) but the context limit is 8,192 "
        "tokens: lower max_slices to 30 or fewer, or narrow slice_range."
    )
    assert isinstance(caught.value, RadLensError)
    assert isinstance(caught.value, ValueError)
    fits = InputOptions(max_slices=30)
    assert estimate_tokens(series, "gemma3", fits, context_limit=8192) <= 8192
    with pytest.raises(ContextOverflowError, match="lower qwen_max_pixels"):
        estimate_tokens(series, "qwen2_5_vl", InputOptions(mode="current"), context_limit=100)


def test_messages_put_each_label_after_its_image_and_the_query_last(ct_series: Series) -> None:
    inputs = build_inputs(ct_series, "qwen2_5_vl", InputOptions(max_slices=3))
    assert inputs.slice_indices == (8, 15, 23)  # round(i / 3 * 23), i = 1..3
    messages = to_messages(inputs, "Describe the findings.", "You are a radiologist.")
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].parts == (TextPart("You are a radiologist."),)
    parts = messages[1].parts
    assert [p.text for p in parts if isinstance(p, TextPart)] == [
        "SLICE 1",
        "SLICE 2",
        "SLICE 3",
        "Describe the findings.",
    ]
    kinds = [type(p).__name__ for p in parts]
    assert kinds == ["ImagePart", "LabelPart"] * 3 + ["TextPart"]
    images = [p for p in parts if isinstance(p, ImagePart)]
    assert [p.index for p in images] == [0, 1, 2]
    assert all(p.pixels is img for p, img in zip(images, inputs.images, strict=True))
    only_user = to_messages(inputs, "Q?")
    assert [m.role for m in only_user] == ["user"]


def test_images_are_read_only(rg1_gemma: ModelInputs) -> None:
    with pytest.raises(ValueError, match="read-only"):
        rg1_gemma.images[0][0, 0, 0] = 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "movie"}, "Argument 'mode' must be one of auto, current, slab, volume"),
        ({"max_slices": 0}, "Argument 'max_slices' must be >= 1, not 0"),
        ({"slab_half_width": -1}, "Argument 'slab_half_width' must be >= 0"),
        ({"qwen_min_pixels": 10, "qwen_max_pixels": 5}, "0 < min <= max"),
    ],
    ids=["mode", "max-slices", "half-width", "pixels"],
)
def test_bad_options_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        InputOptions(**kwargs)  # type: ignore[arg-type]


def test_a_current_slice_outside_the_series_is_refused(ct_series: Series) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Current slice 24 is outside 0\.\.23"):
        estimate_tokens(ct_series, "gemma3", InputOptions(mode="current", current_slice=24))


def test_inputs_do_not_touch_the_source(tmp_path: Path) -> None:
    array = np.arange(2 * 30 * 40, dtype=np.int16).reshape(2, 30, 40)
    before = array.copy()
    build_inputs(_hu_volume(array), "gemma3")
    assert np.array_equal(array, before)
