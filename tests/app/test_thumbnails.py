"""Series thumbnails decode one slice per series and leave the volumes for the viewer to decode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless

from app import handlers_viewer as viewer
from dicom_io.display.render import render_slice
from dicom_io.loader import load_study
from dicom_io.study import Series
from dicom_io.windowing import apply_window, data_window
from tests.conftest import Decoded
from tests.synthetic import write_ct_series, write_multi_series_folder


def whole_series_thumbnail(series: Series) -> np.ndarray:
    """The thumbnail as it was drawn from the decoded volume: the middle slice, scaled down."""
    image = render_slice(series, series.shape[0] // 2, "acquired", "default")
    picture = Image.fromarray(image)
    picture.thumbnail((viewer.THUMBNAIL_SIZE,) * 2, Image.Resampling.BILINEAR)
    return np.asarray(picture)


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, JPEG2000Lossless], ids=["uncompressed", "j2k"]
)
def test_thumbnails_decode_one_file_per_series(tmp_path: Path, syntax: str, decoded: Decoded):
    folder = write_multi_series_folder(
        tmp_path, slices=10, rows=32, columns=32, transfer_syntax=syntax
    )
    study = load_study(tmp_path)
    shown = viewer.thumbnails(study)
    # The middle file of each series, once: two localizer images, the CT and its 2.5 mm
    # reconstruction; no series is decoded whole.
    middles = [folder.ct.slice_paths[5], folder.second.slice_paths[2]]
    middles += [image.slice_paths[0] for image in folder.localizer]
    assert sorted(decoded) == sorted((path.name, None) for path in middles)
    for series in study.series:
        assert not series.is_decoded
    for (picture, _), series in zip(shown, study.series, strict=True):
        np.testing.assert_array_equal(picture, whole_series_thumbnail(series))


def test_an_opened_series_is_not_decoded_again(tmp_path: Path, decoded: Decoded):
    write_multi_series_folder(tmp_path, slices=10, rows=32, columns=32)
    study = load_study(tmp_path)
    viewer.show_study(study)  # decodes the default series for the viewer
    opened = study.default_series
    assert opened.is_decoded
    decoded.clear()
    viewer.thumbnails(study)
    assert len(decoded) == len(study.series) - 1
    unopened = [s for s in study.series if s is not opened]
    assert all(not series.is_decoded for series in unopened)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("RG1_UNCR.dcm", (160, 151)),  # MONOCHROME1, 1955 x 1841: scaled down and inverted
        ("US1_UNCR.dcm", (120, 160, 3)),  # RGB
        ("eCT_Supplemental.dcm", (160, 160)),  # enhanced CT: one frame of a multi-frame file
    ],
    ids=lambda v: v.removesuffix(".dcm") if isinstance(v, str) else "",
)
def test_real_files_thumbnail_like_their_middle_slice(
    name: str, size: tuple[int, ...], testdata: Callable[[str], Path], decoded: Decoded
):
    series = load_study(testdata(name)).default_series
    picture = viewer.series_thumbnail(series)
    assert not series.is_decoded
    assert len(decoded) == 1
    assert picture.shape == size
    np.testing.assert_array_equal(picture, whole_series_thumbnail(series))


def test_a_series_without_a_header_window_is_windowed_on_its_middle_slice(
    tmp_path: Path, testdata: Callable[[str], Path], decoded: Decoded
):
    info = write_ct_series(tmp_path, slices=9, rows=32, columns=32, windows=())
    series = load_study(tmp_path).default_series
    picture = viewer.series_thumbnail(series)
    assert not series.is_decoded
    middle = info.hu[4]
    np.testing.assert_array_equal(picture, apply_window(middle, data_window(middle)))

    # Ten JPEG 2000 frames in one file and no window in the header: one frame decoded, and
    # windowed on its own values, where the viewer uses the whole volume's.
    series = load_study(testdata("emri_small_jpeg_2k_lossless.dcm")).default_series
    decoded.clear()
    picture = viewer.series_thumbnail(series)
    assert decoded == [("emri_small_jpeg_2k_lossless.dcm", 5)]
    assert not series.is_decoded
    middle = series.volume.array[5]
    np.testing.assert_array_equal(picture, apply_window(middle, data_window(middle)))
    assert data_window(middle) != data_window(series.volume.array)


def test_a_series_whose_middle_file_cannot_be_decoded_gets_a_black_square(tmp_path: Path):
    info = write_ct_series(
        tmp_path, slices=3, rows=32, columns=32, transfer_syntax=JPEG2000Lossless
    )
    damaged = info.slice_paths[1]
    data = damaged.read_bytes()
    start = data.index(b"\xff\x4f\xff\x51")  # the JPEG 2000 codestream's first markers
    damaged.write_bytes(data[:start] + bytes(16) + data[start + 16 :])
    study = load_study(tmp_path)
    ((picture, caption),) = viewer.thumbnails(study)
    assert caption == "#1 CT, 3 slices"
    np.testing.assert_array_equal(picture, np.zeros((80, 80), dtype=np.uint8))
