"""One acquired slice decoded alone (``Series.slice_volume``, ``Series.preview``): the same values
and geometry as that slice of the whole volume, for the cost of one file."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import nibabel.tests
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from dicom_io.display.render import render_slice
from dicom_io.errors import InvalidArgumentError
from dicom_io.loader import load_study
from dicom_io.study import Series
from dicom_io.windowing import apply_window, data_window
from tests.conftest import Decoded
from tests.synthetic import write_ct_series, write_multi_series_folder


def assert_same_as_volume_slice(series: Series, k: int) -> None:
    """``slice_volume(k)`` (taken first, keeping nothing) equals ``volume.slab(k, k + 1)``."""
    alone = series.slice_volume(k)
    assert not series.is_decoded
    expected = series.volume.slab(k, k + 1)
    assert alone.shape == (1, *series.shape[1:])
    assert alone.array.dtype == expected.array.dtype
    np.testing.assert_array_equal(alone.array, expected.array)
    np.testing.assert_allclose(alone.affine, expected.affine, atol=1e-9)
    assert alone.spacing == expected.spacing
    assert (alone.spacing_known, alone.units) == (expected.spacing_known, expected.units)


# --- real files written by others ---------------------------------------------------------------

SINGLE_FRAME = [
    "CT_small.dcm",  # CT, rescale to HU
    "MR2_UNCR.dcm",  # a fractional rescale slope: float values
    "RG1_UNCR.dcm",  # MONOCHROME1 radiograph
    "RG1_J2KR.dcm",  # MONOCHROME1, JPEG 2000 lossless
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "MR_small_bigendian.dcm",
    "US1_UNCR.dcm",  # RGB
    "SC_rgb_jpeg_dcmtk.dcm",  # YBR JPEG becomes RGB
    "OT-PAL-8-face.dcm",  # palette colour becomes 8-bit RGB
]


@pytest.mark.parametrize("name", SINGLE_FRAME, ids=lambda n: n.removesuffix(".dcm"))
def test_single_frame_files(name: str, testdata: Callable[[str], Path], decoded: Decoded):
    series = load_study(testdata(name)).default_series
    assert_same_as_volume_slice(series, 0)
    assert decoded == [(testdata(name).name, None)] * 2  # the slice alone, then the volume


MULTI_FRAME = [
    "emri_small.dcm",  # uncompressed: the one frame is read at its offset
    "emri_small_big_endian.dcm",
    "emri_small_RLE.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "eCT_Supplemental.dcm",  # enhanced CT: per-frame positions and rescale
    "SC_rgb_rle_2frame.dcm",  # RGB, RLE
    "OBXXXX1A_rle_2frame.dcm",  # palette colour, RLE
    "color3d_jpeg_baseline.dcm",  # 120 YBR_FULL_422 JPEG frames
]


@pytest.mark.parametrize("name", MULTI_FRAME, ids=lambda n: n.removesuffix(".dcm"))
def test_multi_frame_files_decode_only_the_frame(
    name: str, testdata: Callable[[str], Path], decoded: Decoded
):
    series = load_study(testdata(name)).default_series
    count = series.shape[0]
    assert count > 1
    picked = sorted({0, count // 2, count - 1})
    alone = {k: series.slice_volume(k) for k in picked}
    assert not series.is_decoded
    # One frame of the one file for each slice; the frames differ.
    assert [file for file, _ in decoded] == [testdata(name).name] * len(picked)
    frames = [frame for _, frame in decoded]
    assert None not in frames
    assert len(set(frames)) == len(picked)
    volume = series.volume
    for k in picked:
        expected = volume.slab(k, k + 1)
        assert alone[k].array.dtype == expected.array.dtype
        np.testing.assert_array_equal(alone[k].array, expected.array)
        np.testing.assert_allclose(alone[k].affine, expected.affine, atol=1e-9)


def test_enhanced_ct_slices_follow_the_stack_order(testdata: Callable[[str], Path]):
    # The frames are stored in the other order than the stack's (along the normal): slice 0 is
    # a frame other than the file's first, rescaled with its own functional group.
    series = load_study(testdata("eCT_Supplemental.dcm")).default_series
    first, second = series.slice_volume(0), series.slice_volume(1)
    volume = series.volume
    np.testing.assert_array_equal(first.array[0], volume.array[0])
    np.testing.assert_array_equal(second.array[0], volume.array[1])
    assert not np.array_equal(first.array, second.array)
    np.testing.assert_allclose(second.affine[:3, 3], volume.index_to_lps([1, 0, 0]))


# --- synthetic series ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "syntax",
    [JPEG2000Lossless, JPEGLSLossless, RLELossless],
    ids=["j2k", "jpeg-ls", "rle"],
)
def test_compressed_series_decodes_one_file_per_slice(
    tmp_path: Path, syntax: str, decoded: Decoded
):
    info = write_ct_series(tmp_path, slices=6, rows=32, columns=32, transfer_syntax=syntax)
    series = load_study(tmp_path).default_series
    for k in range(6):
        decoded.clear()
        alone = series.slice_volume(k)
        assert decoded == [(info.slice_paths[k].name, None)]
        np.testing.assert_array_equal(alone.array[0], info.hu[k])
        np.testing.assert_allclose(alone.affine[:3, 3], info.positions[k], atol=1e-3)
    assert not series.is_decoded
    assert_same_as_volume_slice(load_study(tmp_path).default_series, 3)


def test_every_series_of_a_multi_series_folder(tmp_path: Path, decoded: Decoded):
    folder = write_multi_series_folder(tmp_path, slices=10, rows=32, columns=32)
    study = load_study(tmp_path)
    assert [s.shape[0] for s in study.series] == [1, 1, 10, 5]
    for series in study.series:
        assert_same_as_volume_slice(series, series.shape[0] // 2)
    np.testing.assert_array_equal(study.series[2].slice_volume(5).array[0], folder.ct.hu[5])
    np.testing.assert_array_equal(study.series[3].slice_volume(2).array[0], folder.second.hu[2])


def test_a_zip_member_is_decoded_in_memory(tmp_path: Path):
    info = write_ct_series(tmp_path / "ct", slices=4, rows=32, columns=32)
    archive = tmp_path / "ct.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in info.paths:
            zf.write(path, path.name)
    series = load_study(archive).default_series
    np.testing.assert_array_equal(series.slice_volume(2).array[0], info.hu[2])
    assert not series.is_decoded


def test_a_slice_beyond_int16_widens_like_the_volume(tmp_path: Path):
    # Signed 16-bit stored values with intercept -1024 are tried as int16 first; a stored
    # -32768 gives -33792 HU, which does not fit, so both the volume and the slice widen.
    info = write_ct_series(tmp_path, slices=3, rows=16, columns=16, intercept=-1024.0)
    ds = pydicom.dcmread(info.slice_paths[1])
    stored = ds.pixel_array.copy()
    stored[0, 0] = -32768
    ds.PixelData = stored.tobytes()
    ds.save_as(info.slice_paths[1])
    series = load_study(tmp_path).default_series
    alone = series.slice_volume(1)
    assert (alone.array.dtype, alone.array[0, 0, 0]) == (np.dtype(np.int32), -33792)
    assert_same_as_volume_slice(series, 1)
    # Another slice fits int16 on its own: same values, in the narrower type.
    other = load_study(tmp_path).default_series
    np.testing.assert_array_equal(other.slice_volume(0).array[0], info.hu[0])
    assert other.slice_volume(0).array.dtype == np.int16


def test_a_decoded_volume_is_cut_not_decoded_again(tmp_path: Path, decoded: Decoded):
    write_ct_series(tmp_path, slices=4, rows=32, columns=32)
    series = load_study(tmp_path).default_series
    volume = series.volume
    decoded.clear()
    alone = series.slice_volume(2)
    assert decoded == []
    assert np.shares_memory(alone.array, volume.array)
    np.testing.assert_array_equal(alone.array[0], volume.array[2])


def test_nifti_and_images_are_read_whole(tmp_path: Path):
    path = Path(nibabel.tests.__file__).parent / "data" / "anatomical.nii"
    nifti = load_study(path).default_series
    middle = nifti.shape[0] // 2
    alone = nifti.slice_volume(middle)
    assert nifti.is_decoded  # nothing to gain: the loader reads the whole file
    np.testing.assert_array_equal(alone.array[0], nifti.volume.array[middle])

    pixels_ = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    Image.fromarray(pixels_).save(tmp_path / "grey.png")
    image = load_study(tmp_path / "grey.png").default_series
    np.testing.assert_array_equal(image.slice_volume(0).array[0], pixels_)


def test_a_slice_outside_the_series_is_refused(tmp_path: Path):
    write_ct_series(tmp_path, slices=4, rows=16, columns=16)
    series = load_study(tmp_path).default_series
    with pytest.raises(InvalidArgumentError, match=r"Slice 4 is outside 0\.\.3"):
        series.slice_volume(4)
    with pytest.raises(InvalidArgumentError, match=r"Slice -1 is outside 0\.\.3"):
        series.slice_volume(-1)


# --- preview ------------------------------------------------------------------------------------


def test_preview_renders_like_the_slice_of_the_series(testdata: Callable[[str], Path]):
    # MONOCHROME1 with the header's window: inverted and windowed exactly like the viewer.
    series = load_study(testdata("RG1_UNCR.dcm")).default_series
    preview = series.preview(0)
    assert (preview.shape, preview.photometric) == ((1, 1955, 1841), "MONOCHROME1")
    assert preview.default_window == series.default_window
    shown = render_slice(preview, 0, "acquired", "default")
    assert not series.is_decoded
    np.testing.assert_array_equal(shown, render_slice(series, 0, "acquired", "default"))


def test_preview_without_a_header_window_uses_its_slice(tmp_path: Path):
    info = write_ct_series(tmp_path, slices=9, rows=32, columns=32, windows=())
    series = load_study(tmp_path).default_series
    assert series.default_window is None
    shown = render_slice(series.preview(4), 0, "acquired", "default")
    assert not series.is_decoded
    window = data_window(info.hu[4])
    np.testing.assert_array_equal(shown, apply_window(info.hu[4], window))
    # The viewer windows the same slice on the whole volume's percentiles instead.
    assert window != data_window(series.volume.array)
