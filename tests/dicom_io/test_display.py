"""Windowing, planes and rendering: what the viewer and `radlens render` show."""

from __future__ import annotations

import numpy as np
import pytest

from dicom_io.display.planes import Plane, plane_axes, plane_size, slice_of, slice_position
from dicom_io.display.render import render_slice
from dicom_io.errors import InvalidArgumentError
from dicom_io.loader import load_study
from dicom_io.study import Window
from dicom_io.volume import Volume
from dicom_io.windowing import PRESETS, apply_window, data_window, parse_window
from tests.files import data_file
from tests.synthetic import CORONAL, write_ct_series


def test_linear_window_follows_the_dicom_formula():
    window = Window(40.0, 400.0)
    values = np.array([-1000, -160, 39.5, 40, 240, 3000], dtype=np.float32)
    out = apply_window(values, window)
    # y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped to 0..255
    expected = np.clip(np.rint(((values - 39.5) / 399.0 + 0.5) * 255), 0, 255)
    np.testing.assert_array_equal(out, expected.astype(np.uint8))
    assert out[0] == 0
    assert out[-1] == 255
    assert out[2] == 128
    np.testing.assert_array_equal(apply_window(values, window, invert=True), 255 - out)


@pytest.mark.parametrize(
    ("spec", "center", "width"),
    [
        ("lung", -600, 1500),
        ("bone", 480, 2500),
        ("brain", 40, 80),
        ("soft-tissue", 40, 400),
        ("liver", 90, 150),
        ("mediastinum", 50, 350),
        ("-500,1400", -500, 1400),
        ("40.5, 80", 40.5, 80),
    ],
)
def test_window_specs(spec, center, width):
    series = load_study(data_file("CT_small.dcm")).default_series
    window = parse_window(spec, series)
    assert (window.center, window.width) == (center, width)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("abdomen", "Unknown window 'abdomen'"),
        ("40,0", "width must be > 0"),
        ("40,-5", "> 0, not -5"),
    ],
)
def test_bad_window_specs(spec, match):
    series = load_study(data_file("CT_small.dcm")).default_series
    with pytest.raises(InvalidArgumentError, match=match):
        parse_window(spec, series)


def test_default_window_is_dicom_else_derived_from_data():
    mr = load_study(data_file("MR_small.dcm")).default_series
    assert parse_window("default", mr) == Window(600.0, 1600.0, "dicom")
    ct = load_study(data_file("CT_small.dcm")).default_series  # no window in this file
    window = parse_window(None, ct)
    lo, hi = np.percentile(ct.volume.array, [0.5, 99.5])
    assert window.source == "data"
    assert window.center == pytest.approx((lo + hi) / 2)
    assert window.width == pytest.approx(hi - lo)
    assert data_window(np.full((4, 4), 7.0)).width == 1.0  # flat image: a valid window
    with_nan = np.array([np.nan, 0.0, 100.0, np.inf, 50.0])
    window = data_window(with_nan)  # statistical maps carry NaN: ignored, not propagated
    assert 0.0 < window.center < 100.0
    assert 0.0 < window.width <= 100.0
    assert data_window(np.full(3, np.nan)) == Window(0.5, 1.0, "data")


def test_monochrome1_radiograph_renders_inverted():
    series = load_study(data_file("RG1_UNCR.dcm")).default_series
    image = render_slice(series)
    raw = series.volume.array[0]
    assert image.shape == raw.shape
    # MONOCHROME1: the largest stored value is displayed black and the smallest white.
    r, c = np.unravel_index(np.argmax(raw), raw.shape)
    r2, c2 = np.unravel_index(np.argmin(raw), raw.shape)
    # File window 15000/30000: the stored maximum 26479 maps to 225 before inversion.
    assert raw[r, c] == 26479
    assert image[r, c] == 255 - 225
    assert image[r2, c2] > image[r, c]
    # The invert button flips it back.
    flipped = render_slice(series, invert=True)
    np.testing.assert_array_equal(flipped, 255 - image)


def test_reformatted_planes_of_an_axial_ct(tmp_path):
    info = write_ct_series(tmp_path, slices=20, rows=32, columns=40, spacing=(2.5, 0.5, 0.5))
    series = load_study(tmp_path).default_series
    volume = series.volume
    assert plane_size(volume, Plane.AXIAL) == 20
    assert plane_size(volume, Plane.CORONAL) == 32
    assert plane_size(volume, Plane.SAGITTAL) == 40
    axial, spacing = slice_of(volume, Plane.AXIAL, 5)
    np.testing.assert_array_equal(axial, info.hu[5])
    assert spacing == (0.5, 0.5)
    coronal, spacing = slice_of(volume, Plane.CORONAL, 10)
    # Superior at the top: the last slice (highest z for this axial series) is the first row.
    assert info.affine[2, 0] > 0
    np.testing.assert_array_equal(coronal[0], info.hu[-1, 10, :])
    np.testing.assert_array_equal(coronal[-1], info.hu[0, 10, :])
    assert spacing == (2.5, 0.5)
    sagittal, _ = slice_of(volume, Plane.SAGITTAL, 7)
    np.testing.assert_array_equal(sagittal[0], info.hu[-1, :, 7])
    # Square pixels on screen: 20 slices of 2.5 mm over 40 columns of 0.5 mm.
    image = render_slice(series, 10, Plane.CORONAL, "soft-tissue")
    assert image.shape == (100, 40)


def test_coronal_acquisition_shown_axially(tmp_path):
    info = write_ct_series(tmp_path, slices=6, rows=10, columns=12, orientation=CORONAL)
    volume = load_study(tmp_path).default_series.volume
    axes = plane_axes(volume, Plane.AXIAL)
    assert axes.normal == 1  # image rows run inferior: the axial normal
    axial, _ = slice_of(volume, Plane.AXIAL, 0)
    assert axial.shape == (6, 12)
    # Acquired coronal plane is the stored image untouched.
    native, _ = slice_of(volume, Plane.ACQUIRED, 2)
    np.testing.assert_array_equal(native, info.hu[2])


def test_slice_position_label(tmp_path):
    write_ct_series(
        tmp_path, slices=4, rows=8, columns=8, origin=(0.0, 0.0, -10.0), spacing=(5.0, 1.0, 1.0)
    )
    volume = load_study(tmp_path).default_series.volume
    assert slice_position(volume, Plane.AXIAL, 0) == "I 10.0 mm"
    assert slice_position(volume, Plane.AXIAL, 3) == "S 5.0 mm"


def test_single_image_has_no_reformatted_planes():
    volume = load_study(data_file("CT_small.dcm")).default_series.volume
    with pytest.raises(
        InvalidArgumentError, match="single image; the coronal plane needs a volume"
    ):
        plane_axes(volume, Plane.CORONAL)
    with pytest.raises(InvalidArgumentError, match=r"Slice 3 is outside 0..0"):
        slice_of(volume, Plane.ACQUIRED, 3)


def test_volume_validates_its_arguments():
    arr = np.zeros((2, 3, 4), dtype=np.int16)
    with pytest.raises(ValueError, match="'spacing' must be three finite values > 0"):
        Volume(arr, (1.0, 0.0, 1.0), np.eye(4))
    with pytest.raises(ValueError, match="must have shape"):
        Volume(np.zeros((3, 4)), (1.0, 1.0, 1.0), np.eye(4))
    with pytest.raises(ValueError, match="singular"):
        Volume(arr, (1.0, 1.0, 1.0), np.diag([1.0, 0.0, 1.0, 1.0]))
    volume = Volume(arr, (1.0, 1.0, 1.0), np.eye(4))
    assert not volume.array.flags.writeable
    assert volume.slab(1, 2).affine[0, 3] == 1.0
    assert set(PRESETS) == {"soft-tissue", "mediastinum", "lung", "liver", "bone", "brain"}
