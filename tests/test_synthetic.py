"""Tests of the synthetic CT writer itself: what it claims to write is what pydicom reads back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_rescale
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from tests.synthetic import (
    AIR,
    BONE,
    CORONAL,
    FAT,
    LUNG,
    SAGITTAL,
    SOFT_TISSUE,
    phantom_slice,
    write_ct_series,
    write_multi_series_folder,
)

SMALL = {"slices": 8, "rows": 64, "columns": 64}


def _read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def _normal(ds: pydicom.Dataset) -> np.ndarray:
    cosines = np.asarray(ds.ImageOrientationPatient, dtype=float)
    return np.cross(cosines[:3], cosines[3:])


@pytest.mark.parametrize(
    ("syntax", "signed"),
    [
        pytest.param(ExplicitVRLittleEndian, True, id="explicit-int16"),
        pytest.param(ExplicitVRLittleEndian, False, id="explicit-uint16"),
        pytest.param(ImplicitVRLittleEndian, True, id="implicit-int16"),
        pytest.param(JPEG2000Lossless, True, id="j2k-int16"),
        pytest.param(JPEG2000Lossless, False, id="j2k-uint16"),
        pytest.param(RLELossless, True, id="rle-int16"),
        pytest.param(JPEGLSLossless, False, id="jpegls-uint16"),
    ],
)
def test_pixels_rescale_to_expected_hu(tmp_path: Path, syntax: str, signed: bool) -> None:
    info = write_ct_series(tmp_path, transfer_syntax=syntax, signed=signed, **SMALL)
    assert info.hu.shape == (8, 64, 64)
    for k in (0, 3, 7):
        ds = _read(info.slice_paths[k])
        assert ds.file_meta.TransferSyntaxUID == syntax
        assert ds.PixelRepresentation == (1 if signed else 0)
        hu = apply_rescale(ds.pixel_array, ds)
        np.testing.assert_array_equal(hu, info.hu[k])
    assert info.hu[3, 0, 0] == pytest.approx(AIR, abs=50)  # corner: air plus noise


def test_phantom_values_without_noise(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path, noise=0.0, **SMALL)
    middle = info.hu[4]
    # row 32 crosses air, fat, a rib, soft tissue and the left lung (columns 13-28)
    assert middle[32, 0] == AIR
    assert middle[32, 21] == LUNG
    assert middle[32, 32] == SOFT_TISSUE
    assert middle[45, 32] == BONE  # vertebral body
    assert middle[33, 7] == BONE  # rib ring at u = -0.78
    assert middle[33, 5] == FAT
    np.testing.assert_array_equal(middle, phantom_slice(64, 64, 4 / 7))
    # the lungs change size along the volume, so every slice differs from its neighbour
    assert all((info.hu[k] != info.hu[k + 1]).any() for k in range(7))


def test_rescale_slope_and_intercept(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path, slope=2.0, intercept=-2048.0, signed=False, **SMALL)
    ds = _read(info.slice_paths[2])
    assert (float(ds.RescaleSlope), float(ds.RescaleIntercept)) == (2.0, -2048.0)
    assert ds.pixel_array.max() <= 4095
    np.testing.assert_array_equal(ds.pixel_array * 2.0 - 2048.0, info.hu[2])
    assert info.hu.dtype == np.int16
    fractional = write_ct_series(tmp_path / "f", slope=0.5, intercept=-1024.5, **SMALL)
    assert fractional.hu.dtype == np.float64
    assert fractional.hu[0, 0, 0] % 0.5 == 0.0


@pytest.mark.parametrize(
    "orientation",
    [
        pytest.param(None, id="axial"),
        pytest.param(CORONAL, id="coronal"),
        pytest.param(SAGITTAL, id="sagittal"),
    ],
)
def test_positions_follow_affine(tmp_path: Path, orientation: tuple[float, ...] | None) -> None:
    extra = {} if orientation is None else {"orientation": orientation}
    info = write_ct_series(
        tmp_path, spacing=(2.0, 0.5, 0.8), origin=(10, -20, 30), **extra, **SMALL
    )
    np.testing.assert_allclose(info.affine[:3, 3], (10, -20, 30))
    for k, path in enumerate(info.slice_paths):
        ds = _read(path)
        expected = info.affine @ [k, 0, 0, 1]
        np.testing.assert_allclose(ds.ImagePositionPatient, expected[:3], atol=1e-4)
        np.testing.assert_allclose(float(ds.SliceLocation), expected[:3] @ _normal(ds), atol=1e-4)
        assert [float(x) for x in ds.PixelSpacing] == [0.5, 0.8]
    # the affine's columns: slice step along the normal, then row and column steps
    ds = _read(info.slice_paths[0])
    np.testing.assert_allclose(info.affine[:3, 0], _normal(ds) * 2.0)
    np.testing.assert_allclose(
        info.affine[:3, 1], np.asarray(ds.ImageOrientationPatient[3:]) * 0.5
    )
    np.testing.assert_allclose(
        info.affine[:3, 2], np.asarray(ds.ImageOrientationPatient[:3]) * 0.8
    )


def test_gaps_and_duplicates(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path, gaps=[0, 5], duplicates=[3], **SMALL)
    assert info.indices == (1, 2, 3, 4, 6, 7)
    assert info.hu.shape == (6, 64, 64)
    assert len(info.paths) == 7
    assert len(list(tmp_path.iterdir())) == 7
    # the first written slice is nominal slice 1; slice 5 is missing: a 2-step jump
    steps = np.diff(info.positions @ info.affine[:3, 0] / 1.25**2)
    np.testing.assert_allclose(steps, [1, 1, 1, 2, 1])
    original, copy = (_read(p) for p in info.paths[2:4])
    assert original.SOPInstanceUID == copy.SOPInstanceUID
    assert original.ImagePositionPatient == copy.ImagePositionPatient
    assert original.PixelData == copy.PixelData
    new = write_ct_series(tmp_path / "n", duplicates=[3], duplicate_new_uid=True, **SMALL)
    assert _read(new.paths[3]).SOPInstanceUID != _read(new.paths[4]).SOPInstanceUID


def test_shuffled_names_and_instance_numbers(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path, instance_numbers="shuffled", seed=3, **SMALL)
    names = [p.name for p in info.slice_paths]
    assert all(re.fullmatch(r"[0-9a-f]{16}", n) for n in names)
    assert names != sorted(names)
    numbers = [int(_read(p).InstanceNumber) for p in info.slice_paths]
    assert sorted(numbers) == list(range(1, 9))
    assert numbers != sorted(numbers)
    assert tuple(numbers) == info.instance_numbers


def test_ordered_names_and_missing_elements(tmp_path: Path) -> None:
    info = write_ct_series(
        tmp_path, shuffle_names=False, instance_numbers=None, positions=False, **SMALL
    )
    assert [p.name for p in info.slice_paths] == [f"CT{k:05d}.dcm" for k in range(1, 9)]
    ds = _read(info.slice_paths[0])
    assert "InstanceNumber" not in ds
    assert "ImagePositionPatient" not in ds
    assert "SliceLocation" in ds
    reversed_ = write_ct_series(tmp_path / "r", instance_numbers="reversed", **SMALL)
    assert reversed_.instance_numbers == tuple(range(8, 0, -1))


def test_jitter_and_explicit_offsets(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path, jitter=0.3, **SMALL)
    along = info.positions @ (info.affine[:3, 0] / 1.25)
    deviation = along - along[0] - 1.25 * np.arange(8)  # jitter of each slice minus the first's
    assert np.all(np.abs(deviation) <= 0.6)
    assert np.any(np.abs(deviation) > 1e-3)
    offsets = [0, 1, 2, 3, 5, 7, 9, 11]
    uneven = write_ct_series(tmp_path / "u", offsets=offsets, **SMALL)
    np.testing.assert_allclose(uneven.positions[:, 2] - uneven.positions[0, 2], offsets)


def test_same_seed_same_files(tmp_path: Path) -> None:
    first = write_ct_series(tmp_path / "a", **SMALL)
    second = write_ct_series(tmp_path / "b", **SMALL)
    assert [p.name for p in first.paths] == [p.name for p in second.paths]
    assert first.series_uid == second.series_uid
    np.testing.assert_array_equal(first.hu, second.hu)
    with pytest.raises(FileExistsError, match="exists"):
        write_ct_series(tmp_path / "a", **SMALL)


def test_synthetic_identifiers(tmp_path: Path) -> None:
    info = write_ct_series(tmp_path, **SMALL)
    ds = _read(info.paths[0])
    assert str(ds.PatientName) == "SYNTHETIC^PHANTOM"
    assert ds.PatientID.startswith("SYNTH")
    assert ds.Modality == "CT"
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (40.0, 400.0)
    assert ds.SeriesInstanceUID == info.series_uid


def test_multi_series_folder(tmp_path: Path) -> None:
    info = write_multi_series_folder(tmp_path, slices=6, rows=32, columns=32)
    files = [_read(p) for p in sorted(tmp_path.iterdir())]
    assert len(files) == 6 + 2 + 3
    by_series: dict[str, list[pydicom.Dataset]] = {}
    for ds in files:
        by_series.setdefault(ds.SeriesInstanceUID, []).append(ds)
    assert len(by_series) == 3
    assert len({ds.StudyInstanceUID for ds in files}) == 1
    localizer = by_series[info.localizer[0].series_uid]
    assert len(localizer) == 2
    assert all(list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "LOCALIZER"] for ds in localizer)
    orientations = {tuple(float(x) for x in ds.ImageOrientationPatient) for ds in localizer}
    assert orientations == {CORONAL, SAGITTAL}
    assert len(by_series[info.ct.series_uid]) == 6
    assert len(by_series[info.second.series_uid]) == 3
    assert float(by_series[info.second.series_uid][0].SliceThickness) == 2.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"gaps": [8]}, "outside 0..7", id="gap-out-of-range"),
        pytest.param({"gaps": range(8)}, "no slice", id="all-gaps"),
        pytest.param({"transfer_syntax": "1.2.840.10008.1.2.4.50"}, "must be one of", id="lossy"),
        pytest.param({"orientation": (1, 0, 0, 1, 0, 0)}, "orthonormal", id="orientation"),
        pytest.param({"instance_numbers": "random"}, "instance_numbers", id="numbering"),
        pytest.param({"offsets": [0, 1]}, "8 values", id="offsets"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_ct_series(tmp_path, **{**SMALL, **kwargs})  # type: ignore[arg-type]
