"""Grounding parsers: raw model text -> boxes in source pixels, with hand-computed expectations.

Every expected coordinate below is worked out by hand in the comment beside it, from the
convention's definition and the mapping (source slice -> crop -> pad -> resize).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicom_io.errors import InvalidArgumentError, RadLensError
from models.families.qwen2_5_vl import qwen_resized_size
from models.grounding.box import Box
from models.grounding.conventions import (
    Convention,
    box_to_model,
    image_reference_instruction,
    native_text,
    to_native,
)
from models.grounding.placement import GroundingResult, parse_boxes
from models.inputs.mapping import ImageMapping

# RG1_UNCR-sized PA chest: w=1841, h=1955. Padded to a 1955 square: 1955 - 1841 = 114 columns,
# 114 // 2 = 57 on the left, the other 57 on the right; resized to Gemma's 896 x 896.
CXR = ImageMapping(0, (1841, 1955), (0, 0, 1841, 1955), (57, 0, 57, 0), (896, 896))
# A 512 x 512 CT slice as Qwen2.5-VL's smart_resize sees it: 512 / 28 = 18.3 -> 18 * 28 = 504.
CT_QWEN = ImageMapping(0, (512, 512), (0, 0, 512, 512), (0, 0, 0, 0), (504, 504))


def one(result: GroundingResult) -> Box:
    assert len(result.boxes) == 1, (result.boxes, result.dropped)
    return result.boxes[0]


def corners(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)


# ----------------------------------------------------------------------------------- MedGemma

MEDGEMMA_ANSWER = """\
The image is a PA chest radiograph. The right lung occupies the left side of the image as \
viewed; its apex is near the top and the costophrenic angle near the lower third.

Final Answer: ```json
[
  {"box_2d": [100, 200, 500, 600], "label": "right lung"}
]
```"""


def test_medgemma_box_on_padded_radiograph() -> None:
    result = parse_boxes(MEDGEMMA_ANSWER, Convention.GEMMA_BOX_2D, [CXR], spacing=(0.2, 0.1))
    box = one(result)
    # box_2d is [y0, x0, y1, x1] over the 1955 square (the 896 image scaled back by 1955/896):
    # x0 = 200/1000 * 1955 - 57 = 391 - 57 = 334.0     y0 = 100/1000 * 1955 = 195.5
    # x1 = 600/1000 * 1955 - 57 = 1173 - 57 = 1116.0   y1 = 500/1000 * 1955 = 977.5
    assert corners(box) == pytest.approx((334.0, 195.5, 1116.0, 977.5))
    assert box.label == "right lung"
    assert box.slice == 0
    # mm: x by the column spacing 0.1, y by the row spacing 0.2:
    # (334 * 0.1, 195.5 * 0.2, 1116 * 0.1, 977.5 * 0.2) = (33.4, 39.1, 111.6, 195.5)
    assert box.mm == pytest.approx((33.4, 39.1, 111.6, 195.5))
    assert result.dropped == ()
    assert result.text_without_boxes.startswith("The image is a PA chest radiograph.")
    assert result.text_without_boxes.endswith("near the lower third.")
    assert "Final Answer" not in result.text_without_boxes
    assert "```" not in result.text_without_boxes


def test_medgemma_swapped_corners_are_sorted_with_a_note() -> None:
    result = parse_boxes(
        '[{"box_2d": [500, 600, 100, 200], "label": "right lung"}]', "gemma_box_2d", [CXR]
    )
    # Same corners as above, given bottom-right first.
    assert corners(one(result)) == pytest.approx((334.0, 195.5, 1116.0, 977.5))
    assert result.notes == ('box 1 "right lung": corners in the wrong order, sorted',)


def test_medgemma_boxes_in_the_padding_are_clipped_or_dropped() -> None:
    text = (
        '[{"box_2d": [100, 10, 200, 100], "label": "edge"},'
        ' {"box_2d": [100, 0, 200, 20], "label": "pad only"}]'
    )
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR])
    # edge: x0 = 10/1000 * 1955 - 57 = 19.55 - 57 = -37.45 -> clipped to 0
    #       x1 = 100/1000 * 1955 - 57 = 195.5 - 57 = 138.5; y0 = 195.5; y1 = 200/1000*1955 = 391
    assert corners(one(result)) == pytest.approx((0.0, 195.5, 138.5, 391.0))
    # pad only: x0 = 0 - 57 = -57, x1 = 20/1000 * 1955 - 57 = 39.1 - 57 = -17.9: all in the pad
    assert result.dropped == ('box 2 "pad only": outside the image entirely',)
    assert result.notes == ('box 1 "edge": clipped to the image',)


def test_medgemma_drafts_before_the_final_answer_are_ignored() -> None:
    text = (
        'First guess {"box_2d": [0, 0, 10, 10], "label": "heart"}, too small.\n'
        'Final Answer: [{"box_2d": [500, 300, 800, 700], "label": "heart"}]'
    )
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR])
    # x0 = 300/1000 * 1955 - 57 = 586.5 - 57 = 529.5   y0 = 500/1000 * 1955 = 977.5
    # x1 = 700/1000 * 1955 - 57 = 1368.5 - 57 = 1311.5 y1 = 800/1000 * 1955 = 1564.0
    assert corners(one(result)) == pytest.approx((529.5, 977.5, 1311.5, 1564.0))
    assert "1 box(es) in the reasoning" in result.notes[0]
    assert result.text_without_boxes.startswith("First guess {")


# --------------------------------------------------------------------------------------- Qwen

QWEN_ANSWER = """\
```json
[
\t{"bbox_2d": [10, 20, 300, 400], "label": "hypodense liver lesion"},
\t{"bbox_2d": [400, 450, 530, 520], "label": "spleen tip"}
]
```"""


def test_qwen_absolute_pixels_of_the_resized_slice() -> None:
    assert qwen_resized_size(512, 512) == CT_QWEN.model_size
    result = parse_boxes(QWEN_ANSWER, Convention.QWEN_ABS, [CT_QWEN])
    lesion, spleen = result.boxes
    # Source pixels per model pixel: 512 / 504.
    # x0 = 10 * 512/504 = 10.1587   y0 = 20 * 512/504 = 20.3175
    # x1 = 300 * 512/504 = 304.7619 y1 = 400 * 512/504 = 406.3492
    assert corners(lesion) == pytest.approx((10.1587, 20.3175, 304.7619, 406.3492), abs=1e-4)
    assert lesion.label == "hypodense liver lesion"
    # spleen tip: x0 = 400 * 512/504 = 406.3492, y0 = 450 * 512/504 = 457.1429,
    # x1 = 530 * 512/504 = 538.4 and y1 = 520 * 512/504 = 528.3, both past 512: clipped to 512.
    assert corners(spleen) == pytest.approx((406.3492, 457.1429, 512.0, 512.0), abs=1e-4)
    assert result.notes == ('box 2 "spleen tip": clipped to the image',)
    assert result.text_without_boxes == ""


def test_qwen_normalized_1000_on_a_non_square_image() -> None:
    # 640 x 480: 640/28 = 22.9 -> 23 * 28 = 644; 480/28 = 17.1 -> 17 * 28 = 476.
    model_size = qwen_resized_size(640, 480)
    assert model_size == (644, 476)
    mapping = ImageMapping(3, (640, 480), (0, 0, 640, 480), (0, 0, 0, 0), model_size)
    text = 'The effusion is here: {"bbox_2d": [500, 500, 1000, 1000], "label": "effusion"}.'
    box = one(parse_boxes(text, Convention.QWEN_NORM_1000, [mapping]))
    # x0 = 500/1000 * 644 * (640/644) = 320; y0 = 500/1000 * 476 * (480/476) = 240; x1 = 640;
    # y1 = 480. The slice index comes from the mapping.
    assert corners(box) == pytest.approx((320.0, 240.0, 640.0, 480.0))
    assert box.slice == 3


def test_qwen2_vl_special_token_form() -> None:
    text = (
        "<|object_ref_start|>the left lung<|object_ref_end|>"
        "<|box_start|>(535,128),(923,889)<|box_end|> is clear."
    )
    result = parse_boxes(text, Convention.QWEN_NORM_1000, [CT_QWEN])
    # Normalized over the model image, which covers the whole 512 slice: v/1000 * 512.
    # x0 = 535 * 0.512 = 273.92, y0 = 128 * 0.512 = 65.536,
    # x1 = 923 * 0.512 = 472.576, y1 = 889 * 0.512 = 455.168
    assert corners(one(result)) == pytest.approx((273.92, 65.536, 472.576, 455.168))
    assert result.boxes[0].label == "the left lung"
    assert result.text_without_boxes == "the left lung is clear."


def test_qwen_truncated_answer_keeps_the_complete_boxes() -> None:
    text = (
        '```json\n[\n  {"bbox_2d": [10, 20, 300, 400], "label": "nodule"},\n'
        '  {"bbox_2d": [50, 60, 1'
    )
    result = parse_boxes(text, "qwen_abs", [CT_QWEN])
    assert corners(one(result)) == pytest.approx((10.1587, 20.3175, 304.7619, 406.3492), abs=1e-4)
    assert result.dropped == ("box 2: cut off at the end of the output",)
    assert result.text_without_boxes == ""


# ------------------------------------------------------------------------------------ MedRegA

# MedRegA's own demo answer (xmed-lab/MedRegA, demo_data/data_file.jsonl), on a 512 x 512 image.
MEDREGA_ANSWER = (
    "<ref>right lung</ref><box>[[102, 106, 481, 910]]</box>, <ref>left lung</ref>"
    "<box>[[535, 128, 923, 889]]</box>: No focal consolidation, pleural effusion, or "
    "pneumothorax is seen."
)


def test_medrega_0_999_scale() -> None:
    # InternVL resizes to 448 x 448 without keeping the aspect ratio; the mapping says so.
    mapping = ImageMapping(0, (512, 512), (0, 0, 512, 512), (0, 0, 0, 0), (448, 448))
    result = parse_boxes(MEDREGA_ANSWER, Convention.MEDREGA, [mapping])
    right, left = result.boxes
    # v / 999 * 512: 102 -> 52.2763, 106 -> 54.3263, 481 -> 246.5185, 910 -> 466.3864
    assert corners(right) == pytest.approx((52.2763, 54.3263, 246.5185, 466.3864), abs=1e-4)
    # 535 -> 274.1942, 128 -> 65.6016, 923 -> 473.0490, 889 -> 455.6236
    assert corners(left) == pytest.approx((274.1942, 65.6016, 473.0490, 455.6236), abs=1e-4)
    assert (right.label, left.label) == ("right lung", "left lung")
    assert result.text_without_boxes == (
        "right lung, left lung: No focal consolidation, pleural effusion, or pneumothorax is seen."
    )


def test_medrega_several_boxes_for_one_ref_and_999_is_the_edge() -> None:
    mapping = ImageMapping.identity(0, 432, 432)
    text = (
        "<ref>carotid vessel wall</ref><box>[[365, 293, 416, 598], [596, 316, 635, 464]]</box>"
        " <ref>whole</ref><box>[[0, 0, 999, 999]]</box>"
    )
    result = parse_boxes(text, Convention.MEDREGA, [mapping])
    first, second, whole = result.boxes
    # v / 999 * 432: 365 -> 157.8378, 293 -> 126.7027, 416 -> 179.8919, 598 -> 258.5946
    assert corners(first) == pytest.approx((157.8378, 126.7027, 179.8919, 258.5946), abs=1e-4)
    # 596 -> 257.7297, 316 -> 136.6486, 635 -> 274.5946, 464 -> 200.6486
    assert corners(second) == pytest.approx((257.7297, 136.6486, 274.5946, 200.6486), abs=1e-4)
    assert first.label == second.label == "carotid vessel wall"
    # 999 / 999 * 432 = 432: the far edge, nothing clipped.
    assert corners(whole) == (0.0, 0.0, 432.0, 432.0)
    assert result.notes == ()


# ------------------------------------------------------------------------------------ MAIRA-2

# A frontal radiograph w=2048, h=2500, centre-cropped to a 2048 square: the crop starts
# (2500 - 2048) // 2 = 226 rows down. MAIRA-2 sees that square at 518 x 518.
MAIRA_FRONTAL = ImageMapping(0, (2048, 2500), (0, 226, 2048, 2274), (0, 0, 0, 0), (518, 518))
MAIRA_LATERAL = ImageMapping(1, (2048, 2500), (0, 226, 2048, 2274), (0, 0, 0, 0), (518, 518))


def test_maira2_bins_are_cell_centres_on_the_cropped_square() -> None:
    # The example of MAIRA-2's processor docstring, box inside the <obj>.
    text = "<obj>grounded phrase <box><x55><y45><x70><y56></box></obj><obj>ungrounded phrase</obj>"
    result = parse_boxes(text, Convention.MAIRA2, [MAIRA_FRONTAL, MAIRA_LATERAL])
    box = one(result)
    # (NN + 0.5) / 100 of the 2048 square, plus the crop offset for y:
    # x0 = 0.555 * 2048 = 1136.64         y0 = 0.455 * 2048 + 226 = 931.84 + 226 = 1157.84
    # x1 = 0.705 * 2048 = 1443.84         y1 = 0.565 * 2048 + 226 = 1157.12 + 226 = 1383.12
    assert corners(box) == pytest.approx((1136.64, 1157.84, 1443.84, 1383.12))
    # Boxes are on the current frontal image, the first of the request, without any key.
    assert box.slice == 0
    assert box.label == "grounded phrase"
    assert result.text_without_boxes == "grounded phrase ungrounded phrase"


def test_maira2_grounded_report_with_two_boxes_and_a_cut() -> None:
    text = (
        "<obj>Small bilateral pleural effusions<box><x10><y70><x30><y90></box>"
        "<box><x70><y72><x92><y94></box>.</obj><obj>No pneumothorax.</obj>"
        "<obj>Cardiomegaly<box><x30><y40>"
    )
    result = parse_boxes(text, Convention.MAIRA2, [MAIRA_FRONTAL])
    right, left = result.boxes
    # x0 = 0.105 * 2048 = 215.04, y0 = 0.705 * 2048 + 226 = 1669.84,
    # x1 = 0.305 * 2048 = 624.64, y1 = 0.905 * 2048 + 226 = 2079.44
    assert corners(right) == pytest.approx((215.04, 1669.84, 624.64, 2079.44))
    # x0 = 0.705 * 2048 = 1443.84, y0 = 0.725 * 2048 + 226 = 1710.8,
    # x1 = 0.925 * 2048 = 1894.4, y1 = 0.945 * 2048 + 226 = 2161.36
    assert corners(left) == pytest.approx((1443.84, 1710.8, 1894.4, 2161.36))
    assert right.label == left.label == "Small bilateral pleural effusions"
    assert result.dropped == ('box 3 "Cardiomegaly": cut off at the end of the output',)
    assert result.text_without_boxes == (
        "Small bilateral pleural effusions. No pneumothorax. Cardiomegaly"
    )


# ------------------------------------------------------------------------ several CT slices

# Three 512 x 512 axial slices, each sent to MedGemma as 896 x 896 (square: no padding).
CT_SLICES = [
    ImageMapping(k, (512, 512), (0, 0, 512, 512), (0, 0, 0, 0), (896, 896)) for k in (10, 20, 30)
]
# [250, 500, 750, 1000] (y first): x0 = 0.5 * 512 = 256, y0 = 0.25 * 512 = 128,
# x1 = 1.0 * 512 = 512, y1 = 0.75 * 512 = 384
LOWER_RIGHT = (256.0, 128.0, 512.0, 384.0)


def test_multi_slice_boxes_go_to_the_named_slice() -> None:
    """Images are labelled "SLICE n" after each, n = 1..N (MedGemma's CT notebook, cell
    h57n3PWsznxy): "slice": n is the n-th image, whose mapping gives the source slice."""
    text = """Final Answer:
```json
[
  {"box_2d": [250, 500, 750, 1000], "label": "nodule", "slice": 2},
  {"box_2d": [250, 500, 750, 1000], "label": "cyst", "slice": "SLICE 3"},
  {"box_2d": [250, 500, 750, 1000], "label": "first image", "image": 1},
  {"box_2d": [250, 500, 750, 1000], "label": "hypodense lesion (SLICE 1)"},
  {"slice": 3, "boxes": [{"box_2d": [250, 500, 750, 1000], "label": "inherited"}]},
  {"box_2d": [250, 500, 750, 1000], "label": "nowhere"},
  {"box_2d": [250, 500, 750, 1000], "label": "elsewhere", "slice": 99},
  {"box_2d": [250, 500, 750, 1000], "label": "too far", "image": 4}
]
```"""
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, CT_SLICES)
    placed = [(b.label, b.slice) for b in result.boxes]
    assert placed == [
        ("nodule", 20),
        ("cyst", 30),
        ("first image", 10),
        ("hypodense lesion", 10),
        ("inherited", 30),
    ]
    assert all(corners(b) == pytest.approx(LOWER_RIGHT) for b in result.boxes)
    assert result.dropped == (
        'box 6 "nowhere": no "slice" given on a 3-image request',
        'box 7 "elsewhere": unknown image: slice 99 was not sent (sent: SLICE 1 to SLICE 3)',
        'box 8 "too far": unknown image: image 4 (sent: 1 to 3)',
    )


def test_current_and_prior_are_told_apart_by_position() -> None:
    # Prior: a 1000 x 1000 radiograph sent as 896 x 896 (square: no padding).
    prior = ImageMapping(0, (1000, 1000), (0, 0, 1000, 1000), (0, 0, 0, 0), (896, 896))
    text = """[
  {"box_2d": [100, 200, 500, 600], "label": "now", "image": 1},
  {"box_2d": [100, 200, 500, 600], "label": "before", "slice": 0, "image": 2},
  {"box_2d": [100, 200, 500, 600], "label": "which", "slice": 0}
]"""
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR, prior])
    now, before = result.boxes
    assert corners(now) == pytest.approx((334.0, 195.5, 1116.0, 977.5))  # as in the first test
    # On the prior: x0 = 0.2 * 1000 = 200, y0 = 0.1 * 1000 = 100, x1 = 600, y1 = 500
    assert corners(before) == pytest.approx((200.0, 100.0, 600.0, 500.0))
    # "slice" numbers images from 1: slice 0 names none (box 2's "image": 2 still places it)
    assert result.dropped == (
        'box 3 "which": unknown image: slice 0 was not sent (sent: SLICE 1 to SLICE 2)',
    )


def test_the_prompt_side_asks_for_the_slice_key() -> None:
    assert image_reference_instruction(Convention.GEMMA_BOX_2D, 1) == ""
    assert image_reference_instruction("maira2", 3) == ""
    asked = image_reference_instruction(Convention.QWEN_NORM_1000, 3)
    assert '"slice"' in asked
    assert "SLICE k" in asked
    assert "SLICE k" in image_reference_instruction(Convention.MEDREGA, 2)
    # MedRegA's way to say it: SLICE k inside the ref, taken out of the label.
    text = "<ref>liver lesion SLICE 2</ref><box>[[500, 250, 999, 750]]</box>"
    box = one(parse_boxes(text, Convention.MEDREGA, CT_SLICES))
    assert (box.label, box.slice) == ("liver lesion", 20)


# ------------------------------------------------------------------------------- leniency


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"box_2d": [100, 200, 500, 600], "label": "right lung"}', id="bare-object"),
        pytest.param(
            'The right lung is at {"box_2d": [100, 200, 500, 600], "label": "right lung"} here.',
            id="in-prose",
        ),
        pytest.param(
            "[{'box_2d': [100, 200, 500, 600], 'label': 'right lung'}]", id="single-quotes"
        ),
        pytest.param(
            '[{"box_2d": [100, 200, 500, 600,], "label": "right lung",},]', id="trailing-commas"
        ),
        pytest.param(
            '[{"box_2d": ["100", "200", " 500", "600"], "label": "right lung"}]', id="str-numbers"
        ),
        pytest.param(
            '{"boxes": [{"box_2d": [100, 200, 500, 600], "label": "right lung"}]}', id="nested"
        ),
        pytest.param('[{box_2d: [100, 200, 500, 600], label: "right lung"}]', id="unquoted-keys"),
        pytest.param(
            '[{"box_2d": [[100, 200, 500, 600]], "label": "right lung"}]', id="double-list"
        ),
        pytest.param(
            "**Final Answer:**\n```json\n"
            '[{"box_2d": [100.0, 200.0, 5e2, 600], "label": "right lung"}]\n```',
            id="bold-final-answer",
        ),
    ],
)
def test_lenient_json(text: str) -> None:
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR])
    box = one(result)
    assert corners(box) == pytest.approx((334.0, 195.5, 1116.0, 977.5))
    assert box.label == "right lung"
    assert "box_2d" not in result.text_without_boxes


def test_prose_around_a_bare_object_stays() -> None:
    text = 'The right lung is at {"box_2d": [100, 200, 500, 600], "label": "right lung"} here.'
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR])
    assert result.text_without_boxes == "The right lung is at  here."


def test_every_unusable_box_is_reported_with_its_reason() -> None:
    text = """[
  {"box_2d": [100, 100, 100, 300], "label": "flat"},
  {"box_2d": ["top", 200, 500, 600], "label": "words"},
  {"box_2d": [100, 200, 500], "label": "three"},
  {"box_2d": "100, 200, 500, 600", "label": "string"},
  {"box_2d": [NaN, 200, 500, 600], "label": "nan"},
  {"box_2d": [100, 200, 500, 600], "label": "good"},
  {"box_2d": [100, 200, 500, 600], "label": "good"}
]"""
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR])
    assert [b.label for b in result.boxes] == ["good"]
    assert result.dropped == (
        'box 1 "flat": degenerate (zero width or height)',
        "box 2 \"words\": non-numeric coordinate 'top'",
        'box 3 "three": wrong length: 3 numbers, expected 4',
        "box 4 \"string\": not a list of 4 numbers: '100, 200, 500, 600'",
        'box 5 "nan": non-numeric coordinate nan',
    )
    assert result.notes == ('box 7 "good": duplicate of an earlier box, skipped',)


def test_broken_markup_is_reported() -> None:
    identity = [ImageMapping.identity(0, 999, 999)]
    medrega = parse_boxes(
        "<ref>a</ref><box>[[1, 2</ref> <ref>b</ref><box>[[1, 2, 3, 4]]</box>", "medrega", identity
    )
    # b: v / 999 * 999 = v
    assert [(b.label, corners(b)) for b in medrega.boxes] == [("b", (1.0, 2.0, 3.0, 4.0))]
    assert medrega.dropped == ("box 1 \"a\": malformed box '[[1, 2'",)
    maira = parse_boxes("<obj>a<box><x1><y2></box></obj>", "maira2", identity)
    assert maira.dropped == ("box 1 \"a\": malformed box '<x1><y2>'",)
    assert maira.text_without_boxes == "a"


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("[" * 3000, id="unclosed-brackets"),
        pytest.param('{"a":' * 1000, id="unclosed-objects"),
        pytest.param("[1, " * 1000, id="nested-lists"),
        pytest.param(" " * 20000, id="whitespace"),
        pytest.param("Final Answer" + " *" * 5000, id="no-colon"),
        pytest.param("```json\n" * 1000, id="fences"),
    ],
)
def test_pathological_text_before_a_box(prefix: str) -> None:
    text = prefix + '{"box_2d": [100, 200, 500, 600], "label": "right lung"}'
    box = one(parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR]))
    assert corners(box) == pytest.approx((334.0, 195.5, 1116.0, 977.5))


def test_text_without_boxes_is_untouched_when_there_are_none() -> None:
    text = "  No focal consolidation [see prior {2024}].\n\n\n\nHeart size normal.  "
    result = parse_boxes(text, Convention.GEMMA_BOX_2D, [CXR])
    assert result == GroundingResult(
        (), (), "No focal consolidation [see prior {2024}].\n\nHeart size normal."
    )


# ------------------------------------------------------------------------ the other way round


def test_box_to_model_and_native_round_trip() -> None:
    box = Box("right lung", 0, 334.0, 195.5, 1116.0, 977.5)
    # (334 + 57) * 896/1955 = 179.2; 195.5 * 896/1955 = 89.6;
    # (1116 + 57) * 896/1955 = 537.6; 977.5 * 896/1955 = 448.0
    assert box_to_model(box, CXR) == pytest.approx((179.2, 89.6, 537.6, 448.0))
    assert to_native(box, Convention.GEMMA_BOX_2D, CXR) == (100, 200, 500, 600)
    written = native_text(box, Convention.GEMMA_BOX_2D, CXR)
    assert written == '{"box_2d": [100, 200, 500, 600], "label": "right lung"}'
    assert corners(one(parse_boxes(written, Convention.GEMMA_BOX_2D, [CXR]))) == pytest.approx(
        corners(box)
    )


def test_native_forms_of_the_markup_conventions() -> None:
    maira = Box("effusion", 0, 1136.64, 1157.84, 1443.84, 1383.12)
    # Back to bins: floor(1136.64 / 2048 * 100) = floor(55.5) = 55; (1157.84 - 226) / 2048 = 0.455
    # -> 45; 1443.84 / 2048 = 0.705 -> 70; (1383.12 - 226) / 2048 = 0.565 -> 56
    assert to_native(maira, "maira2", MAIRA_FRONTAL) == (55, 45, 70, 56)
    assert native_text(maira, "maira2", MAIRA_FRONTAL) == (
        "<obj>effusion<box><x55><y45><x70><y56></box></obj>"
    )
    region = Box("this", 0, 0.0, 0.0, 256.0, 512.0)
    # 256 / 512 * 999 = 499.5 -> 500 (round half to even); 512 / 512 * 999 = 999
    assert native_text(region, "medrega", ImageMapping.identity(0, 512, 512)) == (
        "<ref>this</ref><box>[[0, 0, 500, 999]]</box>"
    )
    # Qwen absolute: 256 * 504/512 = 252, 512 * 504/512 = 504
    assert to_native(region, Convention.QWEN_ABS, CT_QWEN) == (0, 0, 252, 504)


# ---------------------------------------------------------------------------- bad arguments


def test_box_validates_its_corners() -> None:
    with pytest.raises(InvalidArgumentError, match="x0 < x1"):
        Box("x", 0, 10.0, 0.0, 5.0, 1.0)
    with pytest.raises(InvalidArgumentError, match="slice must be >= 0"):
        Box("x", -1, 0.0, 0.0, 5.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        Box("x", 0, 0.0, 0.0, float("inf"), 1.0)


@pytest.mark.parametrize(
    ("convention", "mappings", "spacing", "match"),
    [
        pytest.param(
            "gemma", [CXR], None, "Unknown grounding convention 'gemma'", id="convention"
        ),
        pytest.param("qwen_abs", [], None, "one mapping per image, not 0", id="no-mappings"),
        pytest.param("qwen_abs", [CXR], (0.0, 0.1), "spacing", id="spacing"),
    ],
)
def test_bad_arguments_raise(
    convention: str, mappings: list[ImageMapping], spacing: tuple[float, float] | None, match: str
) -> None:
    with pytest.raises(RadLensError, match=match):
        parse_boxes("", convention, mappings, spacing)


# ------------------------------------------------------------------------------------- fuzz

FRAGMENTS = [
    '{"box_2d": ',
    '{"bbox_2d": ',
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    '"',
    "'",
    "100",
    "-5",
    "1e999",
    "NaN",
    "null",
    '"label": ',
    '"slice": ',
    '"image": ',
    "SLICE 20",
    "Final Answer:",
    "```json\n",
    "```",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
    "<obj>",
    "</obj>",
    "<x12>",
    "<y99>",
    "[[",
    "]]",
    "<|box_start|>",
    "<|box_end|>",
    "(1,2),(3,4)",
    "<|object_ref_start|>",
    "\\",
    " ",
    "\n",
    "x",
]


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=300), st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join)
    ),
    convention=st.sampled_from(list(Convention)),
    several=st.booleans(),
)
def test_arbitrary_text_never_raises(text: str, convention: Convention, several: bool) -> None:
    mappings = CT_SLICES if several else [CXR]
    result = parse_boxes(text, convention, mappings)
    for box in result.boxes:
        source = next(m for m in mappings if m.slice_index == box.slice)
        width, height = source.source_size
        assert 0 <= box.x0 < box.x1 <= width
        assert 0 <= box.y0 < box.y1 <= height
    assert all(isinstance(line, str) and line.startswith("box ") for line in result.dropped)


# ------------------------------------------- issue 11 items 7-8, issue 16 item 4 (h2-boxes)

SQUARE = ImageMapping(0, (1000, 1000), (0, 0, 1000, 1000), (0, 0, 0, 0), (1000, 1000))


def test_medrega_bare_list_without_tags() -> None:
    """MedRegA's evaluator reads answers as ``label[[x1, y1, x2, y2]]`` with no <ref>/<box>
    (xmed-lab/MedRegA src/eval/regt2r/evaluator_reg.py at 838def5d, PATTERN_REGCAP; 999 scale)."""
    text = "Right lower lobe nodule[[499, 0, 999, 999]]. The heart is normal."
    result = parse_boxes(text, Convention.MEDREGA, [SQUARE])
    box = one(result)
    assert box.label == "Right lower lobe nodule"
    # 499 / 999 * 1000 = 499.4995; 999 -> 1000 (the edge)
    assert corners(box) == pytest.approx((499.4995, 0.0, 1000.0, 1000.0), abs=1e-4)
    assert result.text_without_boxes == "Right lower lobe nodule. The heart is normal."
    assert not any(c.isdigit() for c in result.text_without_boxes)


def test_medrega_bare_list_cut_off_is_dropped_with_a_reason() -> None:
    result = parse_boxes("Left apical opacity: [[120, 40, 3", Convention.MEDREGA, [SQUARE])
    assert result.boxes == ()
    assert result.dropped == ('box 1 "Left apical opacity": cut off at the end of the output',)
    assert result.text_without_boxes == "Left apical opacity"


@pytest.mark.parametrize(
    ("key", "value"),
    [("text_content", "RIGHT"), ("name", "heart"), ("object", "nodule"), ("organ", "liver")],
    ids=["text_content", "name", "object", "any-other-key"],
)
def test_qwen_objects_keep_any_text_key_as_label(key: str, value: str) -> None:
    """QwenLM/Qwen2.5-VL cookbooks/ocr.ipynb (f0af2996, cell 9596c50d) reads "text_content"
    beside "bbox_2d"; any other text key is kept too, never lost."""
    text = f'```json\n[{{"bbox_2d": [100, 200, 300, 400], "{key}": "{value}"}}]\n```'
    result = parse_boxes(text, Convention.QWEN_NORM_1000, [SQUARE])
    assert one(result).label == value
    assert corners(one(result)) == pytest.approx((100, 200, 300, 400))


def test_reasoning_trace_is_split_off() -> None:
    """The localization notebook keeps what follows <unused95> (cell WqRPOJe9pr0W)."""
    from models.grounding.markup import strip_reasoning

    markers = ("<unused94>", "<unused95>")
    done = strip_reasoning("<unused94>thought\nthe clavicle...<unused95>Final Answer: x", markers)
    assert (done.text, done.finished) == ("Final Answer: x", True)
    assert done.trace == "thought\nthe clavicle..."
    cut = strip_reasoning("Sure. <unused94>thought\n[{'box_2d': [1, 2, 3, 4]}]", markers)
    assert (cut.text, cut.finished) == ("Sure.", False)
    assert "box_2d" in cut.trace
    assert strip_reasoning("no trace", None).text == "no trace"


def _demo_prepared(task: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from dicom_io.loader import load_study
    from models.registry.lookup import get_spec
    from models.tasks.prepare import prepare

    demo = Path(__file__).resolve().parents[2] / "assets" / "demo" / "chest_pa_cr.dcm"
    series = load_study(demo).default_series
    return series, prepare(series, get_spec("medgemma-1.5-4b"), task, question="Where?")


def test_answer_without_trace_and_no_boxes_from_an_unfinished_trace() -> None:
    from models.tasks.ask import answer_from_text

    _, prepared = _demo_prepared("ask")
    raw = '<unused94>thought\nMaybe ```json[{"box_2d": [1, 2, 300, 400], "label": "x"}]```'
    answer = answer_from_text(prepared, raw)
    assert answer.boxes == ()
    assert answer.raw == raw
    assert "<unused9" not in answer.text
    assert "box_2d" not in answer.text
    assert answer.dropped[0].startswith("box 1 in the reasoning trace: the trace was cut off")
    done = answer_from_text(
        prepared,
        '<unused94>thought\ndraft [{"box_2d": [1, 2, 3, 4]}]<unused95>Final Answer: ```json'
        '[{"box_2d": [140, 110, 340, 470], "label": "right clavicle"}]```',
    )
    assert [b.label for b in done.boxes] == ["right clavicle"]
    assert "1 box(es) in the reasoning trace ignored (drafts)" in done.notes
    assert done.text == "right clavicle"  # a box-only answer keeps its label as text


def test_fenced_box_list_in_a_report_becomes_boxes_not_text() -> None:
    from models.tasks.report import from_text

    series, prepared = _demo_prepared("report")
    raw = (
        "Findings:\nLungs: Right lower lobe consolidation.\n"
        'Impression:\n1. Pneumonia.\n```json\n[{"box_2d": [500, 500, 800, 900], '
        '"label": "right lower lobe consolidation"}]\n```'
    )
    report = from_text(series, prepared, raw)
    texts = [f.text for f in report.all_findings]
    assert not any("```" in t or "box_2d" in t for t in texts)
    assert len(report.boxes) == 1
    (lungs,) = [f for f in report.findings if "consolidation" in f.text]
    assert [b.label for b in lungs.boxes] == ["right lower lobe consolidation"]
