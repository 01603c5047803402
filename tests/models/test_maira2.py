"""MAIRA-2's centre crop, recorded on the mapping so its boxes land on source pixels.

Source: microsoft/maira-2 ``processing_maira2.py`` (read in the copy at johannes2moll/maira_rrg
``processing_maira2.py``, commit f8c7a71fc4af44452e0d7ab77a9e6ef5c2138906):
``convert_output_to_plaintext_or_grounded_sequence`` reads ``<x..><y..><x..><y..>`` as
``(NN + 0.5) / num_box_coord_bins`` with 100 bins, and ``adjust_box_for_original_image_size``
maps such a box back to the image the processor was given, which it centre-cropped to a square:
side ``min(width, height)``, offsets ``(width - side) // 2`` and ``(height - side) // 2``, then
``int()`` of each pixel corner. RadLens keeps sub-pixel floats (the maker's ``int()`` moves a
corner by less than one pixel of the image sent); the tests check both.

Every expected coordinate is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import pytest

from models.families.remote import ADAPTER as REMOTE
from models.grounding.box import Box
from models.grounding.conventions import Convention, native_text, to_native
from models.grounding.placement import parse_boxes
from models.inputs.mapping import ImageMapping
from models.registry.remote_entry import DEFAULT_MAX_PIXELS, remote_spec

DOCSTRING_EXAMPLE = (
    "<obj>grounded phrase <box><x55><y45><x70><y56></box></obj><obj>ungrounded phrase</obj>"
)


def corners(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)


def maker_adjust(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    """The maker's inverse, re-stated from its definition (normalized to the image sent)."""
    side = min(width, height)
    ox, oy = (width - side) // 2, (height - side) // 2
    x0, y0, x1, y1 = box
    return (
        int(x0 * side + ox) / width,
        int(y0 * side + oy) / height,
        int(x1 * side + ox) / width,
        int(y1 * side + oy) / height,
    )


def test_centre_square_view_uses_the_processor_offsets() -> None:
    # Portrait 1024 x 1250: side 1024, y offset (1250 - 1024) // 2 = 113.
    portrait = ImageMapping(0, (2048, 2500), (0, 0, 2048, 2500), (0, 0, 0, 0), (1024, 1250))
    assert portrait.centre_square_view().view == (0, 113, 1024, 1137)
    # Landscape 600 x 400: side 400, x offset (600 - 400) // 2 = 100.
    landscape = ImageMapping.identity(0, 600, 400)
    assert landscape.centre_square_view().view == (100, 0, 500, 400)
    # Odd difference: 1000 x 1333 -> (1333 - 1000) // 2 = 166 (floor, as the maker's //).
    odd = ImageMapping.identity(0, 1000, 1333)
    assert odd.centre_square_view().view == (0, 166, 1000, 1166)
    # Already square: the whole image, so every 518 x 518 case reads as before.
    square = ImageMapping(0, (2048, 2500), (0, 226, 2048, 2274), (0, 0, 0, 0), (518, 518))
    assert square.centre_square_view().view == (0, 0, 518, 518)
    # The source region the model saw: the square's rows 113..1137 times 2 = 226..2274.
    assert portrait.centre_square_view().seen_region == (0.0, 226.0, 2048.0, 2274.0)
    assert portrait.seen_region == (0.0, 0.0, 2048.0, 2500.0)  # no view: the whole crop


def test_a_view_outside_the_model_image_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Argument 'view' \(0, 0, 601, 400\) must lie inside"):
        ImageMapping(0, (600, 400), (0, 0, 600, 400), (0, 0, 0, 0), (600, 400), (0, 0, 601, 400))


def test_portrait_box_is_read_on_the_centre_square_not_the_whole_image() -> None:
    # The processor docstring's example on a 2048 x 2500 radiograph sent at 1024 x 1250 (scale
    # 2 source pixels per model pixel); view (0, 113, 1024, 1137). Bins as cell centres:
    # x0 = 0.555 * 1024 = 568.32 -> 1136.64    y0 = 113 + 0.455 * 1024 = 578.92 -> 1157.84
    # x1 = 0.705 * 1024 = 721.92 -> 1443.84    y1 = 113 + 0.565 * 1024 = 691.56 -> 1383.12
    sent = ImageMapping(0, (2048, 2500), (0, 0, 2048, 2500), (0, 0, 0, 0), (1024, 1250))
    result = parse_boxes(DOCSTRING_EXAMPLE, Convention.MAIRA2, [sent])
    (box,) = result.boxes
    assert corners(box) == pytest.approx((1136.64, 1157.84, 1443.84, 1383.12))
    assert box.label == "grounded phrase"
    assert result.notes == ()
    # Read over the whole 1024 x 1250 image instead, y0 would be 0.455 * 2500 = 1137.5: the
    # crop moves the box by about 20 source pixels, which is what recording it fixes.
    assert box.y0 - 0.455 * 2500 == pytest.approx(20.34)
    # The maker's inverse, in pixels of the image sent: int(578.92) = 578, int(691.56) = 691.
    maker = maker_adjust((0.555, 0.455, 0.705, 0.565), 1024, 1250)
    assert [round(v * s) for v, s in zip(maker, (1024, 1250, 1024, 1250), strict=True)] == [
        568,
        578,
        721,
        691,
    ]
    ours = [v / 2 for v in corners(box)]  # back to pixels of the image sent
    assert all(0 <= o - m * s < 1 for o, m, s in zip(ours, maker, (1024, 1250) * 2, strict=True))


def test_landscape_box_gets_the_x_offset_and_the_far_bin_stays_inside() -> None:
    # A 600 x 400 image sent as it is: view (100, 0, 500, 400).
    # <x0><y0><x99><y99>: x0 = 100 + 0.005 * 400 = 102, y0 = 0.005 * 400 = 2,
    # x1 = 100 + 0.995 * 400 = 498, y1 = 0.995 * 400 = 398.
    text = "<obj>everything<box><x0><y0><x99><y99></box></obj>"
    (box,) = parse_boxes(text, "maira2", [ImageMapping.identity(0, 600, 400)]).boxes
    assert corners(box) == pytest.approx((102.0, 2.0, 498.0, 398.0))


def test_remote_maira2_server_gets_boxes_in_source_pixels() -> None:
    # A server running MAIRA-2, declared with RADLENS_REMOTE_GROUNDING=maira2: RadLens sends
    # the unknown-family image, unpadded, 2048 x 2500 resized to 896 x 1092 (Qwen geometry).
    spec = remote_spec({"RADLENS_REMOTE_GROUNDING": "maira2"})
    assert spec.grounding == "maira2"
    pad, size = REMOTE.geometry(2048, 2500, min_pixels=56 * 56, max_pixels=DEFAULT_MAX_PIXELS)
    assert (pad, size) == ((0, 0, 0, 0), (896, 1092))
    sent = ImageMapping(0, (2048, 2500), (0, 0, 2048, 2500), pad, size)
    (box,) = parse_boxes(DOCSTRING_EXAMPLE, spec.grounding, [sent]).boxes
    # View (0, 98, 896, 994): side 896, (1092 - 896) // 2 = 98. Source per model pixel:
    # x 2048 / 896, y 2500 / 1092.
    # x0 = 0.555 * 2048 = 1136.64                  x1 = 0.705 * 2048 = 1443.84
    # y0 = (98 + 0.455 * 896) * 2500 / 1092 = 505.68 * 2500 / 1092 = 1157.6923
    # y1 = (98 + 0.565 * 896) * 2500 / 1092 = 604.24 * 2500 / 1092 = 1383.3333
    assert corners(box) == pytest.approx((1136.64, 1157.6923, 1443.84, 1383.3333), abs=1e-4)


def test_native_bins_of_a_source_box_on_a_non_square_image() -> None:
    # The box of the portrait example back to bins over the centre square:
    # floor(1136.64 / 2 / 1024 * 100) = floor(55.5) = 55; (1157.84 / 2 - 113) / 1024 = 0.455
    # -> 45; 1443.84 / 2 / 1024 = 0.705 -> 70; (1383.12 / 2 - 113) / 1024 = 0.565 -> 56.
    sent = ImageMapping(0, (2048, 2500), (0, 0, 2048, 2500), (0, 0, 0, 0), (1024, 1250))
    box = Box("effusion", 0, 1136.64, 1157.84, 1443.84, 1383.12)
    assert to_native(box, "maira2", sent) == (55, 45, 70, 56)
    assert native_text(box, "maira2", sent) == (
        "<obj>effusion<box><x55><y45><x70><y56></box></obj>"
    )
    # Above the square (source rows < 226) clamps to bin 0, below it to bin 99.
    edges = Box("edges", 0, 0.0, 0.0, 2048.0, 2500.0)
    assert to_native(edges, "maira2", sent) == (0, 0, 99, 99)
