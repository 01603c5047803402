"""Tests for dicom_io.nifti.reader: NIfTI-1/-2 files to Series, with exact geometry and values."""

from __future__ import annotations

import gzip
import importlib.util
import io
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import nibabel as nib
import nibabel.tests
import numpy as np
import pytest

from dicom_io.errors import CorruptFileError, InputTooLargeError, UnsupportedFileError
from dicom_io.limits import Limits
from dicom_io.nifti.reader import MAX_VOLUMES, load_nifti
from dicom_io.sources import SourceFile, open_archive
from dicom_io.study import Orientation, Series

NIBABEL_DATA = Path(nibabel.tests.__file__).parent / "data"
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _nilearn_data(name: str) -> Path:
    """A file nilearn ships, found without importing nilearn (its import takes seconds)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        pytest.skip("nilearn is not installed")
    path = Path(spec.origin).parent / "datasets" / "data" / name
    if not path.exists():
        pytest.skip(f"nilearn does not ship {name}")
    return path


def _source(path: Path) -> SourceFile:
    return SourceFile(name=path.name, size=path.stat().st_size, path=path)


def _write(path: Path, data: Any, affine: Any, **fields: Any) -> Path:
    """Save ``data`` with ``affine`` (RAS) as NIfTI-1 (or NIfTI-2 with ``nifti2=True``)."""
    klass = nib.Nifti2Image if fields.pop("nifti2", False) else nib.Nifti1Image
    image = klass(np.asarray(data), np.asarray(affine, dtype=float))
    for key, value in fields.items():
        image.header[key] = value
    nib.save(image, path)
    return path


def _assert_matches_nibabel(series: Series, path: Path | str, t: int = 0, n: int = 200) -> None:
    """Every sampled RadLens voxel sits where nibabel puts it (LPS) and holds nibabel's value."""
    image = nib.load(path)
    data = np.asanyarray(image.dataobj)
    if data.ndim == 4:
        data = data[..., t]
    data = data.reshape(data.shape + (1,) * (3 - data.ndim))
    world_lps = LPS_FROM_RAS @ image.affine
    volume = series.volume
    rng = np.random.default_rng(t)
    shape = np.array(volume.shape)
    picks = rng.integers(0, shape, size=(n, 3))
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]) * (shape - 1)
    for index in np.vstack([picks, corners]):
        lps = volume.affine @ np.append(index, 1.0)
        voxel = np.linalg.solve(world_lps, lps)[:3]
        ijk = np.rint(voxel).astype(int)
        np.testing.assert_allclose(voxel, ijk, atol=1e-6)
        np.testing.assert_allclose(lps, world_lps @ np.append(ijk, 1.0), atol=1e-9)
        assert volume.array[tuple(index)] == pytest.approx(data[tuple(ijk)], rel=1e-6)
    assert volume.array.size == data.size


# -- real files ----------------------------------------------------------------------------------


def test_big_endian_anatomical() -> None:
    path = NIBABEL_DATA / "anatomical.nii"
    (series,) = load_nifti(_source(path))
    assert series.shape == (25, 41, 33)
    assert series.spacing == (2.0, 2.0, 2.0)
    assert series.spacing_known
    assert series.orientation is Orientation.AXIAL
    assert (series.modality, series.source_format, series.photometric) == (
        "OT",
        "nifti",
        "MONOCHROME2",
    )
    volume = series.volume
    assert volume.array.dtype == np.dtype(np.int16)
    assert volume.array.dtype.isnative
    assert volume.array.flags.c_contiguous
    # LAS file: slices keep k (inferior->superior), rows flip j (now anterior->posterior),
    # columns keep i (already right->left).
    assert volume.array[0, 0, 0] == 5991  # nibabel voxel (0, 40, 0)
    assert volume.array[12, 20, 16] == 11881  # nibabel voxel (16, 20, 12)
    np.testing.assert_allclose(volume.index_to_lps([0, 0, 0]), [-32.0, -40.0, -16.0])
    np.testing.assert_allclose(volume.index_to_lps([24, 40, 32]), [32.0, 40.0, 32.0])
    _assert_matches_nibabel(series, path)


def test_4d_gzipped_gives_one_series_per_volume() -> None:
    path = NIBABEL_DATA / "example4d.nii.gz"
    series_list = load_nifti(_source(path))
    assert [s.series_description for s in series_list] == ["volume t=0", "volume t=1"]
    assert [s.index for s in series_list] == [0, 1]
    assert len({s.key for s in series_list}) == 2
    second = series_list[1]
    assert second.shape == (24, 96, 128)
    assert second.spacing == pytest.approx((2.2, 2.0, 2.0), abs=1e-5)
    assert second.orientation is Orientation.AXIAL  # tilted about 9 degrees
    # cal_min/cal_max of the header give the window before any voxel is read.
    assert second.default_window is not None
    assert (second.default_window.center, second.default_window.width) == (581.0, 1162.0)
    assert second.volume.array.dtype == np.dtype(np.int16)
    assert second.volume.array[12, 47, 64] == 266  # nibabel voxel (64, 48, 12, 1)
    _assert_matches_nibabel(second, path, t=1)
    _assert_matches_nibabel(series_list[0], path, t=0, n=50)


def test_nifti2() -> None:
    path = NIBABEL_DATA / "example_nifti2.nii.gz"
    series_list = load_nifti(_source(path))
    assert len(series_list) == 2
    assert series_list[0].shape == (12, 20, 32)
    _assert_matches_nibabel(series_list[1], path, t=1)


def test_scaled_values_and_coarse_slice_axis() -> None:
    path = NIBABEL_DATA / "functional.nii"
    series_list = load_nifti(_source(path))
    assert len(series_list) == 20
    third = series_list[3]
    assert third.shape == (3, 21, 17)
    assert third.spacing == (8.0, 4.0, 4.0)
    assert any("scl_slope" in note for note in third.notes)
    assert third.volume.array.dtype.kind == "f"
    assert third.volume.array[1, 10, 8] == pytest.approx(3832.0585, rel=1e-6)
    _assert_matches_nibabel(third, path, t=3)


def test_mni152_template_from_nilearn() -> None:
    path = _nilearn_data("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    (series,) = load_nifti(_source(path))
    assert series.shape == (189, 233, 197)
    assert series.spacing == (1.0, 1.0, 1.0)
    assert series.orientation is Orientation.AXIAL
    assert series.default_window is None  # no cal_min/cal_max: known once the voxels are read
    volume = series.volume
    assert volume.array.dtype == np.dtype(np.uint8)
    # RAS file: rows and columns both flip; slice 0 is the most inferior.
    np.testing.assert_allclose(volume.index_to_lps([0, 0, 0]), [-98.0, -98.0, -72.0])
    np.testing.assert_allclose(volume.index_to_lps([72, 98, 98]), [0.0, 0.0, 0.0])
    assert volume.array[72, 98, 98] == 71  # nibabel voxel (98, 134, 72), the origin
    low, high = np.percentile(volume.array, [0.5, 99.5])
    window = series.default_window
    assert window is not None
    assert window.source == "data"
    assert window.center - window.width / 2 == pytest.approx(low, abs=1.0)
    assert window.center + window.width / 2 == pytest.approx(high, abs=1.0)
    _assert_matches_nibabel(series, path, n=50)


def test_disagreeing_sform_and_qform_are_named_and_the_sform_used(tmp_path: Path) -> None:
    """Issue 12 item 7. Built from nilearn's MNI template (an sform, no qform): its sform kept
    (code 4, MNI space) and a qform added (code 1, scanner) on the same axes 10 mm to the right
    and 5 mm up, as a header looks once registration has updated only the sform. nibabel's
    get_best_affine takes the sform; so does RadLens, and says so (NIfTI-1 nifti1.h: the sform
    for aligned or standard space, the qform for the scanner)."""
    template = _nilearn_data("mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    original = nib.load(template)
    (plain,) = load_nifti(_source(template))
    assert not any("qform" in note for note in plain.notes)
    moved = original.affine.copy()
    moved[:3, 3] += [10.0, 0.0, 5.0]
    image = nib.Nifti1Image(np.asanyarray(original.dataobj), original.affine, original.header)
    image.set_sform(original.affine, code=4)
    image.set_qform(moved, code=1)
    path = tmp_path / "registered.nii.gz"
    image.to_filename(path)
    (series,) = load_nifti(_source(path))
    # every corner moves by the same (10, 0, 5) mm: sqrt(125) = 11.18
    notes = " ".join(series.notes)
    assert "sform and qform disagree (the volume's corners up to 11.2 mm apart)" in notes
    np.testing.assert_allclose(series.volume.index_to_lps([72, 98, 98]), [0.0, 0.0, 0.0])


def test_zip_member_reads_like_file(tmp_path: Path) -> None:
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(NIBABEL_DATA / "example4d.nii.gz", "scans/example4d.nii.gz")
        zf.write(NIBABEL_DATA / "anatomical.nii", "scans/anatomical.nii")
    members = {s.member: s for s in open_archive(archive)}
    gz = load_nifti(members["scans/example4d.nii.gz"])
    plain = load_nifti(members["scans/anatomical.nii"])
    assert [s.shape for s in gz] == [(24, 96, 128)] * 2
    _assert_matches_nibabel(gz[1], NIBABEL_DATA / "example4d.nii.gz", t=1, n=50)
    _assert_matches_nibabel(plain[0], NIBABEL_DATA / "anatomical.nii", n=50)


# -- geometry on synthetic files ------------------------------------------------------------------


def _rotation(degrees_x: float, degrees_y: float) -> np.ndarray:
    ax, ay = np.radians([degrees_x, degrees_y])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    return ry @ rx


def _ramp(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=np.int16).reshape(shape)


def test_oblique_affine_is_exact(tmp_path: Path) -> None:
    affine = np.eye(4)
    affine[:3, :3] = _rotation(40.0, 35.0) @ np.diag([0.9, 1.1, 1.0])
    affine[:3, 3] = [-12.5, 30.25, 7.0]
    path = _write(tmp_path / "oblique.nii", _ramp((7, 8, 9)), affine)
    (series,) = load_nifti(_source(path))
    assert series.orientation is Orientation.OBLIQUE
    assert sorted(series.spacing) == pytest.approx([0.9, 1.0, 1.1])
    _assert_matches_nibabel(series, path)


@pytest.mark.parametrize(
    ("ras_affine", "dim_info", "expected_shape", "orientation", "row_lps", "column_lps"),
    [
        pytest.param(
            [[0, 0, -1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
            (0, 1, 2),
            (6, 5, 4),
            Orientation.SAGITTAL,
            [0, 0, -1],
            [0, 1, 0],
            id="sagittal-dcm2niix",
        ),
        pytest.param(
            [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
            (0, 1, 2),
            (6, 5, 4),
            Orientation.CORONAL,
            [0, 0, -1],
            [1, 0, 0],
            id="coronal-dcm2niix",
        ),
        pytest.param(
            [[0, 0, -1, 0], [0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
            None,
            (4, 5, 6),
            Orientation.AXIAL,
            [0, 1, 0],
            [1, 0, 0],
            id="slices-first-isotropic",
        ),
    ],
)
def test_slice_axis_and_display_directions(
    tmp_path: Path,
    ras_affine: list[list[float]],
    dim_info: tuple[int, int, int] | None,
    expected_shape: tuple[int, int, int],
    orientation: Orientation,
    row_lps: list[float],
    column_lps: list[float],
) -> None:
    image = nib.Nifti1Image(_ramp((4, 5, 6)), np.asarray(ras_affine, dtype=float))
    if dim_info is not None:
        image.header.set_dim_info(*dim_info)
    path = tmp_path / "plane.nii"
    nib.save(image, path)
    (series,) = load_nifti(_source(path))
    assert series.shape == expected_shape
    assert series.orientation is orientation
    affine = series.volume.affine
    np.testing.assert_allclose(affine[:3, 1], row_lps, atol=1e-12)
    np.testing.assert_allclose(affine[:3, 2], column_lps, atol=1e-12)
    _assert_matches_nibabel(series, path, n=20)


def test_thick_first_axis_becomes_slices(tmp_path: Path) -> None:
    # Stored [slice, row, column] like KiTS19: i runs superior at 5 mm, 0.8 mm in-plane.
    affine = [[0, 0, -0.8, 0], [0, -0.8, 0, 0], [5.0, 0, 0, 0], [0, 0, 0, 1]]
    path = _write(tmp_path / "ct.nii.gz", _ramp((10, 16, 12)), affine)
    (series,) = load_nifti(_source(path))
    assert series.shape == (10, 16, 12)
    assert series.spacing == pytest.approx((5.0, 0.8, 0.8))
    assert series.orientation is Orientation.AXIAL
    _assert_matches_nibabel(series, path, n=30)


def test_single_2d_image(tmp_path: Path) -> None:
    path = _write(tmp_path / "xray.nii", _ramp((30, 40)), np.diag([0.2, 0.2, 1.0, 1.0]))
    (series,) = load_nifti(_source(path))
    assert series.shape == (1, 40, 30)
    assert series.spacing == pytest.approx((1.0, 0.2, 0.2))
    _assert_matches_nibabel(series, path, n=30)


def test_no_xform_means_unknown_orientation(tmp_path: Path) -> None:
    image = nib.Nifti1Image(_ramp((4, 5, 6)), None)
    image.header.set_zooms((1.5, 1.5, 1.5))
    image.header.set_qform(None, code=0)
    image.header.set_sform(None, code=0)
    path = tmp_path / "bare.nii"
    nib.save(image, path)
    (series,) = load_nifti(_source(path))
    assert series.orientation is Orientation.UNKNOWN
    assert any("no sform or qform" in note for note in series.notes)
    _assert_matches_nibabel(series, path, n=20)


def test_units_in_meters_are_converted(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.nii", _ramp((3, 4, 5)), np.diag([0.001, 0.001, 0.002, 1.0]))
    image = nib.load(path)
    image.header.set_xyzt_units("meter")
    nib.save(image, path)
    (series,) = load_nifti(_source(path))
    assert series.spacing == pytest.approx((2.0, 1.0, 1.0))
    assert any("meter" in note for note in series.notes)


# -- values ---------------------------------------------------------------------------------------


def test_scaling_gives_float_and_identity_keeps_integers(tmp_path: Path) -> None:
    raw = _ramp((4, 4, 4))
    image = nib.Nifti1Image(raw, np.eye(4))
    image.header.set_data_dtype(np.int16)
    scaled_path, plain_path = tmp_path / "scaled.nii", tmp_path / "plain.nii"
    nib.save(image, plain_path)
    block = bytearray(plain_path.read_bytes())
    header = nib.Nifti1Header.from_fileobj(io.BytesIO(block))
    header["scl_slope"], header["scl_inter"] = 2.0, -4096.0
    block[:348] = header.binaryblock
    scaled_path.write_bytes(bytes(block))
    (plain,) = load_nifti(_source(plain_path))
    (scaled,) = load_nifti(_source(scaled_path))
    assert plain.volume.array.dtype == np.dtype(np.int16)
    assert scaled.volume.array.dtype.kind == "f"
    # RadLens [s, r, c] of an RAS file = nibabel [ncol-1-c, nrow-1-r, s]
    assert plain.volume.array[2, 1, 0] == raw[3, 2, 2]
    assert scaled.volume.array[2, 1, 0] == raw[3, 2, 2] * 2.0 - 4096.0


def test_rgb_voxels(tmp_path: Path) -> None:
    rgb = np.zeros((3, 4, 2), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"], rgb["G"], rgb["B"] = 200, 100, 7
    rgb["R"][0, 0, 0] = 1
    path = tmp_path / "rgb.nii"
    nib.save(nib.Nifti1Image(rgb, np.eye(4)), path)
    (series,) = load_nifti(_source(path))
    assert series.photometric == "RGB"
    array = series.volume.array
    assert array.shape == (2, 4, 3, 3)
    assert array.dtype == np.uint8
    assert tuple(array[0, 3, 2]) == (1, 100, 7)  # nibabel voxel (0, 0, 0)
    assert tuple(array[1, 0, 0]) == (200, 100, 7)
    assert series.default_window is None


def test_complex_shown_as_magnitude(tmp_path: Path) -> None:
    data = np.full((2, 2, 2), 3 + 4j, dtype=np.complex64)
    path = tmp_path / "complex.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    (series,) = load_nifti(_source(path))
    np.testing.assert_allclose(series.volume.array, 5.0)
    assert any("magnitude" in note for note in series.notes)


def test_volume_count_is_capped(tmp_path: Path) -> None:
    data = np.arange(2 * 2 * 2 * 70, dtype=np.int16).reshape((2, 2, 2, 70), order="F")
    path = _write(tmp_path / "dwi.nii.gz", data, np.eye(4))
    series_list = load_nifti(_source(path))
    assert len(series_list) == MAX_VOLUMES
    last = series_list[-1]
    assert last.series_description == f"volume t={MAX_VOLUMES - 1}"
    assert f"only the first {MAX_VOLUMES} of 70 volumes" in " ".join(last.notes)
    assert int(last.volume.array.min()) == 8 * (MAX_VOLUMES - 1)


def test_modality_from_dcm2niix_description(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "t2.nii", _ramp((2, 2, 2)), np.eye(4), descrip=b"TE=90;Time=101010.000"
    )
    assert load_nifti(_source(path))[0].modality == "MR"
    path = _write(tmp_path / "ct.nii", _ramp((2, 2, 2)), np.eye(4), descrip=b"CT head")
    assert load_nifti(_source(path))[0].modality == "CT"


def test_keys_are_stable_and_distinct(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.nii", _ramp((2, 3, 4)), np.eye(4))
    b = _write(tmp_path / "b.nii", _ramp((2, 3, 4)) + 1, np.eye(4))
    assert load_nifti(_source(a))[0].key == load_nifti(_source(a))[0].key
    assert load_nifti(_source(a))[0].key != load_nifti(_source(b))[0].key
    assert len(load_nifti(_source(a))[0].key) == 16


# -- refusals -------------------------------------------------------------------------------------


def _header_only(path: Path, shape: tuple[int, ...], dtype: Any = np.int16) -> Path:
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    header.set_data_shape(shape)
    header["vox_offset"] = 352
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 64)
    return path


def test_huge_declared_volume_is_refused_without_allocating(tmp_path: Path) -> None:
    path = _header_only(tmp_path / "bomb.nii", (10000, 10000, 10000))
    tracemalloc.start()
    try:
        with pytest.raises(InputTooLargeError, match=r"bomb\.nii: .*10000x10000x10000"):
            load_nifti(_source(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_voxel_limit_applies_to_real_file() -> None:
    path = NIBABEL_DATA / "example4d.nii.gz"
    with pytest.raises(InputTooLargeError, match=r"example4d\.nii\.gz: .*RADLENS_MAX_VOXELS"):
        load_nifti(_source(path), Limits(max_voxels=500_000))


def test_declared_size_beyond_file_is_corrupt(tmp_path: Path) -> None:
    path = _header_only(tmp_path / "short.nii", (64, 64, 64))
    with pytest.raises(CorruptFileError, match=r"short\.nii: .*truncated"):
        load_nifti(_source(path))


def test_truncated_real_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.nii"
    path.write_bytes((NIBABEL_DATA / "anatomical.nii").read_bytes()[:30_000])
    with pytest.raises(CorruptFileError, match=r"cut\.nii: .*holds only 30000"):
        load_nifti(_source(path))


def test_truncated_gzip_fails_when_decoded(tmp_path: Path) -> None:
    path = tmp_path / "cut.nii.gz"
    path.write_bytes((NIBABEL_DATA / "example4d.nii.gz").read_bytes()[:200_000])
    first, second = load_nifti(_source(path))
    assert first.volume.shape == (24, 96, 128)  # the first volume is intact
    with pytest.raises(CorruptFileError, match=r"cut\.nii\.gz: .*volume 1 .*truncated"):
        _ = second.volume


def test_gzip_cut_inside_header(tmp_path: Path) -> None:
    path = tmp_path / "stub.nii.gz"
    path.write_bytes((NIBABEL_DATA / "example4d.nii.gz").read_bytes()[:60])
    with pytest.raises(CorruptFileError, match=r"stub\.nii\.gz"):
        load_nifti(_source(path))


def test_gzip_declaring_impossible_expansion(tmp_path: Path) -> None:
    header_path = _header_only(tmp_path / "h.nii", (512, 512, 400))
    path = tmp_path / "liar.nii.gz"
    path.write_bytes(gzip.compress(header_path.read_bytes()))
    with pytest.raises(CorruptFileError, match=r"liar\.nii\.gz: .*expand"):
        load_nifti(_source(path))


@pytest.mark.parametrize(
    ("patch", "error", "message"),
    [
        pytest.param((344, b"XX1\0"), UnsupportedFileError, "magic", id="wrong-magic"),
        pytest.param((344, b"ni1\0"), UnsupportedFileError, r"\.hdr/\.img", id="pair-header"),
        pytest.param((0, b"\0\0\0\0"), UnsupportedFileError, "not a NIfTI", id="size-field"),
        pytest.param((40, b"\x09\0"), CorruptFileError, "dimensions", id="dim0-9"),
        pytest.param((70, b"\x07\x07"), UnsupportedFileError, "datatype", id="bad-datatype"),
    ],
)
def test_broken_headers(
    tmp_path: Path, patch: tuple[int, bytes], error: type[Exception], message: str
) -> None:
    block = bytearray((NIBABEL_DATA / "functional.nii").read_bytes())
    offset, value = patch
    block[offset : offset + len(value)] = value
    path = tmp_path / "broken.nii"
    path.write_bytes(bytes(block))
    with pytest.raises(error, match=rf"broken\.nii: .*{message}"):
        load_nifti(_source(path))


def test_too_short_for_a_header(tmp_path: Path) -> None:
    path = tmp_path / "tiny.nii"
    path.write_bytes(b"\x5c\x01\0\0" + b"\0" * 100)
    with pytest.raises(CorruptFileError, match=r"tiny\.nii: file ends inside the NIfTI header"):
        load_nifti(_source(path))


def test_header_fixes_match_nibabel(tmp_path: Path) -> None:
    # qfac (pixdim[0]) 0 and negative voxel sizes: nibabel's loader fixes both; so does RadLens.
    path = tmp_path / "old.nii"
    image = nib.Nifti1Image(_ramp((3, 4, 5)), None)
    image.header.set_qform(np.diag([-2.0, 2.0, 3.0, 1.0]), code=1)
    image.header.set_sform(None, code=0)
    nib.save(image, path)
    block = bytearray(path.read_bytes())
    header = nib.Nifti1Header(bytes(block[:348]), check=False)
    header["pixdim"][0] = 0.0
    header["pixdim"][3] = -3.0
    block[:348] = header.binaryblock
    path.write_bytes(bytes(block))
    (series,) = load_nifti(_source(path))
    assert series.spacing == pytest.approx((3.0, 2.0, 2.0))
    assert series.orientation is Orientation.AXIAL
    _assert_matches_nibabel(series, path, n=20)


def test_window_ignores_nan_voxels(tmp_path: Path) -> None:
    data = np.full((4, 4, 4), np.nan, dtype=np.float32)
    data[1:3, 1:3, 1:3] = np.arange(8).reshape(2, 2, 2)
    path = _write(tmp_path / "stat.nii", data, np.eye(4))
    (series,) = load_nifti(_source(path))
    assert int(np.isnan(series.volume.array).sum()) == 56
    window = series.default_window
    assert window is not None
    assert window.center == pytest.approx(3.5)
    assert window.width == pytest.approx(np.percentile(np.arange(8), 99.5) - 0.035)
