"""Boxes on rendered slices land on the display pixels of their source pixels.

A synthetic CT (4 slices of 40 rows x 20 columns, spacing 2.0 x 0.5 x 1.0 mm) is rendered as the
viewer renders it: the acquired slices are stretched to 40 x 40 (square pixels: columns x2), the
coronal reformats are 8 x 20 (4 slices x 2 mm tall, flipped so the head is up). The expected
display coordinates below are worked out by hand from those two facts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from dicom_io.display.overlays import (
    BOX_COLOUR,
    HIGHLIGHT_COLOUR,
    REGION_COLOUR,
    Rect,
    box_on_slice,
    draw_boxes,
    point_to_source,
    slice_through,
)
from dicom_io.display.planes import PlaneAxes, plane_axes
from dicom_io.display.render import render_slice
from dicom_io.errors import InvalidArgumentError
from dicom_io.loader import load_study
from dicom_io.study import Series
from tests.synthetic import write_ct_series


@dataclass(frozen=True)
class B:
    """A box with the attributes of models.grounding.box.Box (dicom_io cannot import
    models)."""

    label: str
    slice: int
    x0: float
    y0: float
    x1: float
    y1: float


NODULE = B("nodule", 2, 5.0, 8.0, 10.0, 16.0)  # columns 5..9, rows 8..15 of slice 2


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> Series:
    folder = tmp_path_factory.mktemp("overlay") / "ct"
    write_ct_series(folder, slices=4, rows=40, columns=20, spacing=(2.0, 0.5, 1.0))
    return load_study(folder).default_series


def _outline(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.array(colour, dtype=np.uint8), axis=2)


def test_box_on_an_acquired_slice_is_stretched_like_the_pixels(ct: Series):
    axes = plane_axes(ct.volume, "acquired")
    shown = render_slice(ct, 2, "acquired", "lung")
    assert shown.shape == (40, 40)  # 20 columns of 1 mm stretched to 40 of 0.5 mm
    # x doubles (10..20), y stays (8..16).
    assert box_on_slice(NODULE, ct.shape, axes, 2, shown.shape) == Rect(
        10.0, 8.0, 20.0, 16.0, "nodule"
    )
    out = draw_boxes(shown, [NODULE], ct.shape, axes, 2)
    assert out.shape == (40, 40, 3)
    drawn = _outline(out, BOX_COLOUR)
    expected = np.zeros((40, 40), dtype=bool)
    expected[8, 10:20] = expected[15, 10:20] = True  # top and bottom rows of the box
    expected[8:16, 10] = expected[8:16, 19] = True  # left and right columns
    np.testing.assert_array_equal(drawn, expected)
    # Everything else is the rendered slice, grey in all three channels.
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel][~expected], shown[~expected])


def test_box_is_not_drawn_on_other_slices(ct: Series):
    axes = plane_axes(ct.volume, "acquired")
    shown = render_slice(ct, 1, "acquired", "lung")
    assert box_on_slice(NODULE, ct.shape, axes, 1, shown.shape) is None
    out = draw_boxes(shown, [NODULE], ct.shape, axes, 1)
    np.testing.assert_array_equal(out, np.repeat(shown[:, :, None], 3, axis=2))


def test_box_in_a_coronal_reformat_is_a_line_one_slice_thick(ct: Series):
    axes = plane_axes(ct.volume, "coronal")
    assert axes == PlaneAxes(1, 0, 2, True, False, False)  # slices run feet to head
    shown = render_slice(ct, 12, "coronal", "lung")
    assert shown.shape == (8, 20)  # 4 slices x 2 mm over 20 columns x 1 mm
    # Slice 2 spans [2, 3) of 4, flipped to [1, 2), two display rows each: rows 2..3.
    assert box_on_slice(NODULE, ct.shape, axes, 12, shown.shape) == Rect(
        5.0, 2.0, 10.0, 4.0, "nodule"
    )
    drawn = _outline(draw_boxes(shown, [NODULE], ct.shape, axes, 12), BOX_COLOUR)
    expected = np.zeros((8, 20), dtype=bool)
    expected[2:4, 5:10] = True
    np.testing.assert_array_equal(drawn, expected)
    # Coronal slices 8..15 cut the box's rows [8, 16); 7 and 16 do not.
    cut = [j for j in range(40) if box_on_slice(NODULE, ct.shape, axes, j, (8, 20))]
    assert cut == list(range(8, 16))


def test_slice_through_the_box_centre():
    shape = (4, 40, 20)
    acquired = PlaneAxes(0, 1, 2, False, False, False)
    coronal = PlaneAxes(1, 0, 2, True, False, False)
    sagittal = PlaneAxes(2, 0, 1, True, False, False)
    assert slice_through(NODULE, shape, acquired) == 2
    assert slice_through(NODULE, shape, coronal) == 12  # rows 8..16: centre 12
    assert slice_through(NODULE, shape, sagittal) == 7  # columns 5..10: centre 7.5
    edge = B("edge", 3, 0.0, 39.5, 1.0, 40.0)
    assert slice_through(edge, shape, coronal) == 39


def test_highlighted_box_is_thicker_and_cyan(ct: Series):
    axes = plane_axes(ct.volume, "acquired")
    shown = render_slice(ct, 2, "acquired", "lung")
    other = B("other", 2, 1.0, 30.0, 4.0, 36.0)  # display x 2..8, y 30..36
    out = draw_boxes(shown, [NODULE, other], ct.shape, axes, 2, highlight=1)
    assert _outline(out, HIGHLIGHT_COLOUR)[30, 2:8].all()
    assert _outline(out, HIGHLIGHT_COLOUR)[31, 3:7].all()  # width 2: second row too
    assert _outline(out, BOX_COLOUR)[8, 10:20].all()
    assert not _outline(out, BOX_COLOUR)[9, 11:19].any()  # the other box keeps width 1


def test_region_colour_and_labels_on_a_large_slice():
    image = np.full((512, 512), 40, dtype=np.uint8)
    axes = PlaneAxes(0, 1, 2, False, False, False)
    box = B("effusion", 0, 100.0, 200.0, 300.0, 400.0)
    out = draw_boxes(image, [box], (1, 512, 512), axes, 0, colour=REGION_COLOUR)
    line = 2  # round(512 / 300)
    assert _outline(out, REGION_COLOUR)[200:202, 100:300].all()
    # The label is written above the box, in the box's colour.
    above = _outline(out[170:200, 100:300], REGION_COLOUR)
    assert above.any()
    inside = _outline(out[200 + line : 398, 100 + line : 298], REGION_COLOUR)
    assert not inside.any()
    unlabeled = draw_boxes(image, [box], (1, 512, 512), axes, 0, labels=False)
    assert not _outline(unlabeled[170:200, 100:300], BOX_COLOUR).any()


def test_no_labels_on_small_slices(ct: Series):
    axes = plane_axes(ct.volume, "acquired")
    shown = render_slice(ct, 2, "acquired", "lung")
    box = B("big", 2, 1.0, 20.0, 19.0, 39.0)  # room above for a label
    out = draw_boxes(shown, [box], ct.shape, axes, 2)
    assert not _outline(out[:19], BOX_COLOUR).any()


@pytest.mark.parametrize(
    ("axes", "point", "expected"),
    [
        (PlaneAxes(0, 1, 2, False, False, False), (20.0, 12.0), (10.0, 12.0)),
        (PlaneAxes(0, 1, 2, True, True, False), (20.0, 12.0), (10.0, 28.0)),
        (PlaneAxes(0, 1, 2, False, False, False), (-5.0, 50.0), (0.0, 40.0)),
    ],
    ids=["stretched", "flipped", "clipped"],
)
def test_point_to_source_inverts_the_display(axes, point, expected):
    assert point_to_source(*point, (4, 40, 20), axes, (40, 40)) == pytest.approx(expected)


def test_point_to_source_round_trips_box_corners(ct: Series):
    axes = plane_axes(ct.volume, "acquired")
    rect = box_on_slice(NODULE, ct.shape, axes, 2, (40, 40))
    assert rect is not None
    assert point_to_source(rect.x0, rect.y0, ct.shape, axes, (40, 40)) == (5.0, 8.0)
    assert point_to_source(rect.x1, rect.y1, ct.shape, axes, (40, 40)) == (10.0, 16.0)


def test_point_to_source_refuses_reformats():
    coronal = PlaneAxes(1, 0, 2, True, False, False)
    assert point_to_source(3.0, 3.0, (4, 40, 20), coronal, (8, 20)) is None


@pytest.mark.parametrize(
    ("image", "shape", "match"),
    [
        (np.zeros((4, 4), dtype=np.float32), (1, 4, 4), "uint8"),
        (np.zeros((4, 4), dtype=np.uint8), (4, 4), r"\(slices, rows, columns\)"),
    ],
    ids=["float-image", "2d-shape"],
)
def test_bad_input_is_refused(image, shape, match):
    axes = PlaneAxes(0, 1, 2, False, False, False)
    with pytest.raises(InvalidArgumentError, match=match):
        draw_boxes(image, [NODULE], shape, axes, 0)
