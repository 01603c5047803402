"""Tests for dicom_io.orientation: naming the slice plane from an index-to-LPS affine."""

from __future__ import annotations

import numpy as np
import pytest

from dicom_io.orientation import orientation_of, slice_normal
from dicom_io.study import Orientation
from dicom_io.volume import affine_from_geometry


def _affine(row_cosine: list[float], column_cosine: list[float], step: float = 2.5) -> np.ndarray:
    normal = np.cross(column_cosine, row_cosine)
    return affine_from_geometry(
        (10.0, -20.0, 30.0), row_cosine, column_cosine, normal * step, (0.7, 0.6)
    )


def _rotation(axis: list[float], degrees: float) -> np.ndarray:
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


@pytest.mark.parametrize(
    ("row_cosine", "column_cosine", "expected"),
    [
        pytest.param([1, 0, 0], [0, 1, 0], Orientation.AXIAL, id="axial-dicom"),
        pytest.param([-1, 0, 0], [0, 1, 0], Orientation.AXIAL, id="axial-flipped"),
        pytest.param([1, 0, 0], [0, 0, -1], Orientation.CORONAL, id="coronal"),
        pytest.param([0, 1, 0], [0, 0, -1], Orientation.SAGITTAL, id="sagittal"),
        pytest.param([0, 0, 1], [0, 1, 0], Orientation.SAGITTAL, id="sagittal-transposed"),
    ],
)
def test_principal_planes(
    row_cosine: list[float], column_cosine: list[float], expected: Orientation
) -> None:
    assert orientation_of(_affine(row_cosine, column_cosine)) is expected


def test_normal_is_unit_cross_product_of_row_and_column_directions() -> None:
    normal = slice_normal(_affine([1, 0, 0], [0, 1, 0]))
    assert normal is not None
    np.testing.assert_allclose(np.abs(normal), [0.0, 0.0, 1.0])


@pytest.mark.parametrize(
    ("degrees", "expected"),
    [
        pytest.param(10.0, Orientation.AXIAL, id="10deg-axial"),
        pytest.param(29.0, Orientation.AXIAL, id="29deg-axial"),
        pytest.param(31.0, Orientation.OBLIQUE, id="31deg-oblique"),
        pytest.param(45.0, Orientation.OBLIQUE, id="45deg-oblique"),
        pytest.param(80.0, Orientation.CORONAL, id="80deg-coronal"),
    ],
)
def test_tilt_about_left_right_axis(degrees: float, expected: Orientation) -> None:
    rot = _rotation([1, 0, 0], degrees)
    affine = _affine(list(rot @ [1, 0, 0]), list(rot @ [0, 1, 0]))
    assert orientation_of(affine) is expected


def test_tolerance_is_a_parameter() -> None:
    rot = _rotation([0, 1, 0], 20.0)
    affine = _affine(list(rot @ [1, 0, 0]), list(rot @ [0, 1, 0]))
    assert orientation_of(affine) is Orientation.AXIAL
    assert orientation_of(affine, max_angle_deg=15.0) is Orientation.OBLIQUE


def test_gantry_tilt_shear_keeps_plane_name() -> None:
    # Slices stay axial while each one is shifted 0.6 mm posterior: the step leans 31 degrees.
    affine = affine_from_geometry((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0.6, 1.0), (0.5, 0.5))
    step = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    assert np.degrees(np.arccos(step[2])) > 30.0
    assert orientation_of(affine) is Orientation.AXIAL


@pytest.mark.parametrize(
    "affine",
    [
        pytest.param(np.zeros((4, 4)), id="zeros"),
        pytest.param(
            np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1.0]]),
            id="parallel-row-column",
        ),
        pytest.param(np.full((4, 4), np.nan), id="nan"),
    ],
)
def test_degenerate_affine_is_unknown(affine: np.ndarray) -> None:
    assert orientation_of(affine) is Orientation.UNKNOWN
    assert slice_normal(affine) is None


@pytest.mark.parametrize("bad", [0.0, 90.0, -5.0])
def test_bad_tolerance_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="max_angle_deg"):
        orientation_of(np.eye(4), max_angle_deg=bad)
