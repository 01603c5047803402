"""load_study on real DICOM files written by others, and on synthetic series for edge cases."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, apply_modality_lut
from pydicom.uid import ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from dicom_io.display.render import render_slice
from dicom_io.errors import (
    CorruptFileError,
    DecoderMissingError,
    EmptyInputError,
    InputNotFoundError,
    InputTooLargeError,
    MissingPixelDataError,
    RadLensError,
    UnsafeArchiveError,
    UnsupportedFileError,
)
from dicom_io.limits import Limits
from dicom_io.loader import load_studies, load_study
from dicom_io.study import Orientation
from tests.files import data_file, sha256_tree
from tests.synthetic import CORONAL, write_ct_series, write_multi_series_folder


def reference_values(path: Path) -> np.ndarray:
    """What pydicom itself decodes, after the modality LUT."""
    ds = pydicom.dcmread(path)
    return apply_modality_lut(ds.pixel_array, ds)


# --- real files -------------------------------------------------------------------------------


def test_ct_small_gives_hu_and_geometry_from_the_header():
    path = data_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    study = load_study(path)
    series = study.default_series
    volume = series.volume
    assert series.modality == "CT"
    assert volume.shape == (1, 128, 128)
    assert volume.units == "HU"
    expected = reference_values(path)
    assert volume.array[0, 64, 64] == expected[64, 64]
    np.testing.assert_array_equal(volume.array[0], expected)
    assert volume.spacing[1:] == pytest.approx([float(v) for v in ds.PixelSpacing])
    np.testing.assert_allclose(volume.affine[:3, 3], [float(v) for v in ds.ImagePositionPatient])
    assert series.orientation is Orientation.AXIAL


MR_SMALL_ENCODINGS = [
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_padded.dcm",
]


@pytest.mark.parametrize("name", MR_SMALL_ENCODINGS, ids=lambda n: n.removesuffix(".dcm"))
def test_every_transfer_syntax_decodes_to_the_same_values(name):
    reference = load_study(data_file("MR_small.dcm")).default_series.volume.array
    volume = load_study(data_file(name)).default_series.volume
    assert volume.shape == (1, 64, 64)
    np.testing.assert_array_equal(volume.array, reference)


@pytest.mark.parametrize(
    "name",
    [
        "emri_small_RLE.dcm",
        "emri_small_big_endian.dcm",
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ],
)
def test_multiframe_mr_encodings_match(name):
    reference = load_study(data_file("emri_small.dcm")).default_series.volume.array
    volume = load_study(data_file(name)).default_series.volume
    assert volume.shape == (10, 64, 64)
    np.testing.assert_array_equal(volume.array, reference)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("JPGExtended.dcm", "JPEG Extended"),
        ("bad_sequence.dcm", "JPEG Lossless"),
        ("image_dfl.dcm", "Deflated"),
        ("JPEG-LL.dcm", "JPEG Lossless"),
    ],
)
def test_jpeg_and_deflate_files_decode_like_pydicom(name, syntax):
    path = data_file(name)
    assert (
        syntax in pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID.name
    )
    volume = load_study(path).default_series.volume
    np.testing.assert_array_equal(volume.array[0], reference_values(path))


def test_chest_radiograph_keeps_monochrome1_values_and_its_window():
    study = load_study(data_file("RG1_UNCR.dcm"))
    series = study.default_series
    assert (series.modality, series.body_part, series.view_position) == ("CR", "CHEST", "PA")
    assert series.photometric == "MONOCHROME1"
    assert series.default_window is not None
    assert (series.default_window.center, series.default_window.width) == (15000.0, 30000.0)
    volume = series.volume
    assert volume.shape == (1, 1955, 1841)
    # Not inverted: identical to what pydicom stores.
    np.testing.assert_array_equal(volume.array[0], reference_values(data_file("RG1_UNCR.dcm")))
    # PixelSpacing is 0\0 in this file: spacing is reported unknown rather than invented.
    assert series.spacing_known is False


def test_lossless_jpeg2000_radiograph_equals_the_uncompressed_one():
    a = load_study(data_file("RG1_UNCR.dcm")).default_series.volume.array
    b = load_study(data_file("RG1_J2KR.dcm")).default_series.volume.array
    np.testing.assert_array_equal(a, b)


def test_mr_rescale_slope_gives_float_values():
    path = data_file("MR2_UNCR.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert float(ds.RescaleSlope) != 1.0
    volume = load_study(path).default_series.volume
    assert volume.array.dtype == np.float32
    np.testing.assert_allclose(volume.array[0], reference_values(path), rtol=1e-6)


def test_ultrasound_rgb_and_burned_in_flag():
    series = load_study(data_file("US1_UNCR.dcm")).default_series
    volume = series.volume
    assert volume.shape == (1, 480, 640)
    assert volume.array.shape == (1, 480, 640, 3)
    assert series.photometric == "RGB"
    ds = pydicom.dcmread(data_file("US1_UNCR.dcm"))
    np.testing.assert_array_equal(volume.array[0], ds.pixel_array)
    assert series.flags.burned_in_annotation


def test_ybr_jpeg_becomes_rgb():
    path = data_file("SC_rgb_jpeg_dcmtk.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation.startswith("YBR")
    volume = load_study(path).default_series.volume
    np.testing.assert_array_equal(volume.array[0], ds.pixel_array)  # pydicom converts to RGB
    # The top-left block of this test image is pure red.
    assert tuple(volume.array[0, 2, 2]) == pytest.approx((254, 0, 0), abs=2)


def test_uncompressed_ybr_full_422_is_read_as_its_pixel_pairs():
    """Issue 12 item 3. PS3.3 C.7.6.3.1.2: uncompressed YBR_FULL_422 stores each pair of pixels
    as Y1 Y2 Cb Cr, so 100 x 100 pixels take 20,000 bytes, not 30,000. pydicom's
    SC_ybr_full_422_uncompressed.dcm is SC_rgb.dcm re-encoded so: the RGB read back differs
    from the original by no more than the chroma subsampling loses (6 of 255 here)."""
    path = data_file("SC_ybr_full_422_uncompressed.dcm")
    ds = pydicom.dcmread(path)
    assert (ds.Rows, ds.Columns, len(ds.PixelData)) == (100, 100, 20_000)
    series = load_study(path).default_series
    assert series.photometric == "RGB"
    rgb = series.volume.array[0]
    np.testing.assert_array_equal(rgb, ds.pixel_array)  # pydicom's own 4:2:2 conversion
    original = pydicom.dcmread(data_file("SC_rgb.dcm")).pixel_array
    assert np.abs(rgb.astype(int) - original.astype(int)).max() <= 6


@pytest.mark.parametrize("name", ["SC_rgb_32bit.dcm", "SC_rgb_32bit_2frame.dcm"])
def test_32_bit_colour_keeps_its_stored_values(name):
    """Issue 12 item 4: 32-bit RGB (Bits Allocated 32, PS3.3 C.7.6.3.1) stays uint32, each
    value as stored (it was cut to uint16), and still renders to 8-bit for the viewer."""
    path = data_file(name)
    ds = pydicom.dcmread(path)
    series = load_study(path).default_series
    volume = series.volume.array
    assert volume.dtype == np.uint32
    np.testing.assert_array_equal(volume.reshape(ds.pixel_array.shape), ds.pixel_array)
    assert int(volume.max()) == 2**32 - 1
    shown = render_slice(series, 0)
    assert shown.dtype == np.uint8
    assert shown.max() == 255


def test_rt_dose_frames_sit_at_their_grid_offsets_with_dose_scaling(tmp_path):
    """Issue 12 item 2. pydicom's rtdose.dcm: 15 frames of 10 x 10, Grid Frame Offset Vector
    0, 5, ..., 70 mm (PS3.3 C.8.8.3.2, relative: the first is 0) along the normal of an axial
    plane, Dose Grid Scaling 1e-6, Dose Units RELATIVE. Read before as one slice ("14 slices
    with a duplicate position ignored") and unscaled."""
    path = data_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    series = load_study(path).default_series
    assert (series.modality, series.shape, series.spacing) == (
        "RTDOSE",
        (15, 10, 10),
        (5.0, 10.0, 10.0),
    )
    assert not any("duplicate" in note for note in series.notes)
    volume = series.volume
    assert volume.units == "relative dose"
    expected = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    np.testing.assert_allclose(volume.array, expected, rtol=1e-6)
    first = [189.43125, 199.43125, -761.87]
    np.testing.assert_allclose(volume.index_to_lps([0, 0, 0]), first)
    np.testing.assert_allclose(volume.index_to_lps([14, 0, 0]), [first[0], first[1], -761.87 + 70])
    # The same grid written the other two ways the standard and real systems use: absolute
    # positions (the first equal to the image position's z) and offsets running downwards.
    for name, offsets in (
        ("absolute", [-761.87 + 5 * k for k in range(15)]),
        ("downwards", [-5.0 * k for k in range(15)]),
    ):
        copy = pydicom.dcmread(path)
        copy.GridFrameOffsetVector = offsets
        copy.save_as(tmp_path / f"{name}.dcm")
        other = load_study(tmp_path / f"{name}.dcm").default_series
        assert other.shape == (15, 10, 10)
        z = sorted(other.volume.index_to_lps([k, 0, 0])[2] for k in range(15))
        start = -761.87 if name == "absolute" else -761.87 - 70
        np.testing.assert_allclose(z, [start + 5 * k for k in range(15)], atol=1e-6)


def test_palette_colour_becomes_8_bit_rgb():
    path = data_file("OT-PAL-8-face.dcm")
    ds = pydicom.dcmread(path, force=True)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # the file has no meta header
    expected = (apply_color_lut(ds.pixel_array, ds) >> 8).astype(np.uint8)
    series = load_study(path).default_series
    assert series.photometric == "RGB"
    np.testing.assert_array_equal(series.volume.array[0], expected)


def test_enhanced_ct_uses_per_frame_positions_and_rescale():
    path = data_file("eCT_Supplemental.dcm")
    ds = pydicom.dcmread(path)
    series = load_study(path).default_series
    volume = series.volume
    assert volume.shape == (2, 512, 512)
    frames = ds.PerFrameFunctionalGroupsSequence
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient]
    normal = np.cross(iop[:3], iop[3:])
    positions = [
        np.array([float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient])
        for f in frames
    ]
    along = [float(p @ normal) for p in positions]
    assert volume.spacing[0] == pytest.approx(abs(along[1] - along[0]))
    first = int(np.argmin(along))
    np.testing.assert_allclose(
        volume.affine[:3, 3],
        [float(v) for v in frames[first].PlanePositionSequence[0].ImagePositionPatient],
    )
    transform = shared.PixelValueTransformationSequence[0]
    expected = ds.pixel_array[first] * float(transform.RescaleSlope) + float(
        transform.RescaleIntercept
    )
    np.testing.assert_array_equal(volume.array[0], expected)
    assert volume.units == "HU"


def test_folder_of_mixed_objects_skips_non_images(testdata):
    # pydicom's dicomdirtests: a CD-like tree of 6 studies of 2 patients (see
    # tests/dicom_io/test_mixed_folders.py), DICOMDIR files and READMEs among the images.
    folder = testdata("CT_small.dcm").parent / "dicomdirtests"
    studies = load_studies(folder)
    assert len(studies) == 6
    assert len({s.patient_key for s in studies}) == 2
    reasons = [s.reason for s in studies[0].skipped]
    assert sum("Media Storage Directory" in r for r in reasons) == 8  # the DICOMDIR files
    assert sum("not a DICOM, NIfTI, PNG or JPEG" in r for r in reasons) == 2  # README files
    series = [s for study in studies for s in study.series]
    brain = [s for s in series if s.series_description == "Routine Brain"]
    assert len(brain) == 1
    assert brain[0].shape == (4, 16, 16)
    assert any("gap in slice positions" in note for note in brain[0].notes)
    # Projection images are never stacked into a volume.
    assert all(s.shape[0] == 1 for s in series if s.modality == "CR")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("no_meta.dcm", UnsupportedFileError, "not a DICOM, NIfTI, PNG or JPEG"),
        ("MR_truncated.dcm", CorruptFileError, "truncated"),
        ("rtplan.dcm", MissingPixelDataError, "no pixel data .RT Plan Storage"),
        ("test-SR.dcm", MissingPixelDataError, "no pixel data"),
        ("waveform_ecg.dcm", MissingPixelDataError, "no pixel data"),
    ],
    ids=["no-meta", "truncated", "rtplan", "sr", "ecg"],
)
def test_bad_single_files_get_one_line_errors_naming_the_file(name, error, match):
    with pytest.raises(error, match=match) as info:
        load_study(data_file(name))
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


def test_undecodable_jpeg_names_the_syntax_when_decoding():
    series = load_study(data_file("JPEG-lossy.dcm")).default_series
    with pytest.raises(CorruptFileError, match=r"JPEG-lossy.dcm: cannot decode JPEG Extended"):
        _ = series.volume


def test_missing_decoder_is_named(tmp_path):
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video: no decoder
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\x0a" + b"\0" * 64])
    target = tmp_path / "mpeg2.dcm"
    ds.save_as(target, enforce_file_format=True)
    with pytest.raises(
        DecoderMissingError, match=r"mpeg2.dcm: no decoder for transfer syntax MPEG2"
    ):
        load_study(target)


def _huge_header(path: Path, rows: int, columns: int, frames: int) -> None:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.save_as(path, enforce_file_format=True)


def test_declared_size_beyond_the_file_is_refused_before_allocation(tmp_path):
    target = tmp_path / "huge.dcm"
    _huge_header(target, 65535, 65535, 1000)
    with pytest.raises(InputTooLargeError, match=r"huge.dcm: declares 65535x65535x1000 pixels"):
        load_study(target)
    small = tmp_path / "lying.dcm"
    _huge_header(small, 4096, 4096, 2)
    with pytest.raises(
        InputTooLargeError, match=r"lying.dcm: declares 67,108,864 bytes of pixel data"
    ):
        load_study(small)


def test_voxel_cap_is_configurable(tmp_path):
    with pytest.raises(InputTooLargeError, match="RADLENS_MAX_VOXELS"):
        load_study(data_file("CT_small.dcm"), limits=Limits(max_voxels=1000))


def test_missing_path_and_empty_inputs(tmp_path):
    with pytest.raises(InputNotFoundError, match="no such file"):
        load_study(tmp_path / "nothing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EmptyInputError, match="empty: the folder holds no files"):
        load_study(empty)
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(EmptyInputError, match=r"no readable image among 1 file"):
        load_study(empty)
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w"):
        pass
    with pytest.raises(EmptyInputError, match=r"empty\.zip: the zip archive holds no files"):
        load_study(archive)


def test_a_folder_with_one_broken_file_still_loads_the_rest(tmp_path):
    info = write_ct_series(tmp_path / "ct", slices=6, rows=32, columns=32)
    broken = tmp_path / "ct" / "broken.dcm"
    broken.write_bytes(data_file("MR_truncated.dcm").read_bytes())
    study = load_study(tmp_path / "ct")
    assert study.default_series.shape == (6, 32, 32)
    assert [s.name for s in study.skipped] == ["broken.dcm"]
    assert "truncated" in study.skipped[0].reason
    np.testing.assert_array_equal(study.default_series.volume.array, info.hu)


# --- zip archives ------------------------------------------------------------------------------


def _zip_of(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, f"export/{path.relative_to(folder)}")


def test_zip_reads_in_memory_like_the_folder(tmp_path):
    info = write_ct_series(tmp_path / "ct", slices=8, rows=32, columns=32)
    archive = tmp_path / "study.zip"
    _zip_of(tmp_path / "ct", archive)
    before = sha256_tree(tmp_path)
    study = load_study(archive)
    np.testing.assert_array_equal(study.default_series.volume.array, info.hu)
    np.testing.assert_allclose(study.default_series.volume.affine, info.affine, atol=1e-6)
    assert sha256_tree(tmp_path) == before


@pytest.mark.parametrize(
    "member",
    ["../evil.dcm", "/etc/evil.dcm", "a/../../evil.dcm", "C:/evil.dcm"],
    ids=["dotdot", "absolute", "nested-dotdot", "drive"],
)
def test_zip_members_outside_the_archive_are_refused(tmp_path, member):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, data_file("CT_small.dcm").read_bytes())
    with pytest.raises(UnsafeArchiveError, match="points outside the archive"):
        load_study(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.zip"]


def test_zip_bomb_and_member_count_are_refused(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", b"\0" * (50 * 1024 * 1024))
    with pytest.raises(UnsafeArchiveError, match=r"bomb\.zip: member 'zeros\.dcm' expands"):
        load_study(bomb)
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for k in range(30):
            zf.writestr(f"f{k}", b"x")
    with pytest.raises(UnsafeArchiveError, match="lists 30 members, more than the limit of 20"):
        load_study(many, limits=Limits(max_archive_members=20))


# --- ordering and geometry on synthetic series -------------------------------------------------


def test_slices_are_ordered_by_position_not_by_file_name(tmp_path):
    info = write_ct_series(
        tmp_path, slices=12, rows=32, columns=32, shuffle_names=True, instance_numbers="shuffled"
    )
    series = load_study(tmp_path).default_series
    volume = series.volume
    assert series.shape == (12, 32, 32)
    np.testing.assert_array_equal(volume.array, info.hu)
    np.testing.assert_allclose(volume.affine, info.affine, atol=1e-6)
    assert volume.spacing == pytest.approx(info.spacing)
    assert series.notes == ()


def test_coronal_series_geometry(tmp_path):
    info = write_ct_series(tmp_path, slices=5, rows=24, columns=32, orientation=CORONAL)
    series = load_study(tmp_path).default_series
    assert series.orientation is Orientation.CORONAL
    np.testing.assert_allclose(series.volume.affine, info.affine, atol=1e-6)
    # A voxel's LPS position equals ImagePositionPatient + column/row steps of its file.
    ds = pydicom.dcmread(info.slice_paths[3])
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_mm, col_mm = (float(v) for v in ds.PixelSpacing)
    expected = ipp + iop[:3] * col_mm * 7 + iop[3:] * row_mm * 2
    np.testing.assert_allclose(series.volume.index_to_lps([3, 2, 7]), expected, atol=1e-6)


def test_positions_missing_fall_back_to_instance_number(tmp_path):
    info = write_ct_series(
        tmp_path, slices=6, rows=16, columns=16, positions=False, instance_numbers="ordered"
    )
    series = load_study(tmp_path).default_series
    np.testing.assert_array_equal(series.volume.array, info.hu)
    assert "ordered by instance number" in series.notes[0]


def test_gaps_duplicates_and_uneven_spacing_are_reported(tmp_path):
    write_ct_series(tmp_path / "gap", slices=10, rows=16, columns=16, gaps=[4])
    gap = load_study(tmp_path / "gap").default_series
    assert gap.shape[0] == 9
    assert any(
        "gap in slice positions after slice 3 (2.50 mm); expected 1.25 mm" in n for n in gap.notes
    )

    info = write_ct_series(tmp_path / "dup", slices=8, rows=16, columns=16, duplicates=[2, 5])
    dup = load_study(tmp_path / "dup").default_series
    assert dup.shape[0] == 8
    assert "2 slice(s) with a duplicate position ignored" in dup.notes
    np.testing.assert_array_equal(dup.volume.array, info.hu)

    offsets = [0.0, 1.0, 2.0, 3.3, 4.3, 5.3, 6.3]
    write_ct_series(tmp_path / "uneven", slices=7, rows=16, columns=16, offsets=offsets)
    uneven = load_study(tmp_path / "uneven").default_series
    assert any(n.startswith("uneven slice spacing: 1.00 to 1.30 mm") for n in uneven.notes)


def test_localizer_is_never_the_default_series(tmp_path):
    folder = write_multi_series_folder(tmp_path, slices=20, rows=32, columns=32)
    study = load_study(tmp_path)
    localizers = [s for s in study.series if s.flags.localizer]
    assert len(localizers) == 2  # coronal and sagittal scout images split into two stacks
    assert {s.orientation for s in localizers} == {Orientation.CORONAL, Orientation.SAGITTAL}
    default = study.default_series
    assert not default.flags.localizer
    assert default.shape[0] == 20
    np.testing.assert_array_equal(default.volume.array, folder.ct.hu)


@pytest.mark.parametrize("syntax", [JPEG2000Lossless, RLELossless], ids=["j2k", "rle"])
def test_compressed_series_decode_exactly(tmp_path, syntax):
    info = write_ct_series(tmp_path, slices=4, rows=32, columns=32, transfer_syntax=syntax)
    np.testing.assert_array_equal(load_study(tmp_path).default_series.volume.array, info.hu)


def test_loading_never_modifies_or_adds_input_files(tmp_path):
    write_multi_series_folder(tmp_path / "in", slices=6, rows=16, columns=16)
    before = sha256_tree(tmp_path)
    study = load_study(tmp_path / "in")
    for series in study.series:
        _ = series.volume
    assert sha256_tree(tmp_path) == before


def test_every_error_is_a_radlens_error_and_a_builtin():
    for error in (UnsupportedFileError, CorruptFileError, InputTooLargeError, UnsafeArchiveError):
        assert issubclass(error, RadLensError)
        assert issubclass(error, ValueError)
    assert issubclass(EmptyInputError, FileNotFoundError)


def test_list_of_paths_reads_as_one_study(tmp_path):
    info = write_ct_series(tmp_path, slices=5, rows=16, columns=16)
    study = load_study(list(info.paths))
    assert study.source_name == "5 files"
    np.testing.assert_array_equal(study.default_series.volume.array, info.hu)


def test_large_compressed_series_decode_in_worker_processes(tmp_path, monkeypatch):
    from dicom_io.pixels import stack as pixels

    info = write_ct_series(
        tmp_path,
        slices=pixels.PROCESS_POOL_MIN_FILES + 2,
        rows=32,
        columns=32,
        transfer_syntax=JPEG2000Lossless,
    )
    used: list[int] = []
    real = pixels._decode_in_processes

    def spy(names, headers):
        used.append(len(names))
        yield from real(names, headers)

    monkeypatch.setattr(pixels, "_decode_in_processes", spy)
    np.testing.assert_array_equal(load_study(tmp_path).default_series.volume.array, info.hu)
    assert used == [pixels.PROCESS_POOL_MIN_FILES + 2]


def test_worker_process_failure_falls_back_to_threads(tmp_path, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from dicom_io.pixels import stack as pixels

    info = write_ct_series(
        tmp_path,
        slices=pixels.PROCESS_POOL_MIN_FILES,
        rows=16,
        columns=16,
        transfer_syntax=RLELossless,
    )

    def broken(names, headers):
        yield names[0], pixels._decode_file(headers[names[0]])
        raise BrokenProcessPool("worker died")

    monkeypatch.setattr(pixels, "_decode_in_processes", broken)
    np.testing.assert_array_equal(load_study(tmp_path).default_series.volume.array, info.hu)


def test_library_errors_are_shown_without_quoted_values():
    from dicom_io.errors import library_reason

    err = ValueError("invalid literal for int() with base 10: 'DOE^JANE 1234'\nmore")
    reason = library_reason(err)
    assert reason == "ValueError: invalid literal for int() with base 10: '…' more"
    assert "DOE" not in library_reason(KeyError(b"\x00DOE^JANE"))
    assert len(library_reason(RuntimeError("x" * 500))) <= len("RuntimeError: ") + 160


def test_gantry_tilted_series_keeps_every_slice_at_its_image_position(tmp_path):
    """Issue 12 item 1. A head CT with a 15 degree gantry tilt, built faithfully from pydicom's
    CT_small.dcm: 12 axial slices 5 mm apart along the normal, each Image Position (Patient)
    5 * tan(15 deg) = 1.34 mm further posterior than the last, as a tilted gantry writes them.
    PS3.3 C.7.6.2.1.1: the position is the centre of each slice's first voxel, so the affine's
    slice column is their mean difference (length 5 / cos 15 deg = 5.18 mm), and every slice
    must land on its own position (it was off by k * 5 * (1 / cos - 1): 1.9 mm at slice 11)."""
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    origin = np.array([-158.1, -179.0, -100.0])
    shear = 5.0 * np.tan(np.radians(15.0))
    positions = [origin + k * np.array([0.0, shear, 5.0]) for k in range(12)]
    for k, position in enumerate(positions):
        ds.ImagePositionPatient = [float(v) for v in position]
        ds.InstanceNumber = k + 1
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(tmp_path / f"slice{k:02d}.dcm")
    series = load_study(tmp_path).default_series
    assert series.shape == (12, 128, 128)
    assert series.spacing[0] == pytest.approx(5.0)  # the distance between planes
    assert series.notes[0].startswith("slices are sheared by 15.0 degrees (gantry tilt); coronal")
    volume = series.volume
    for k, position in enumerate(positions):
        np.testing.assert_allclose(volume.index_to_lps([k, 0, 0]), position, atol=1e-6)
    assert np.linalg.norm(volume.affine[:3, 0]) == pytest.approx(5.0 / np.cos(np.radians(15.0)))
