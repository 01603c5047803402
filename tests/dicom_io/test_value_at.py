"""``value_at``: the source voxel and its modality value under a point of a displayed slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicom_io.display.render import VoxelValue, render_slice, value_at
from dicom_io.errors import InvalidArgumentError
from dicom_io.loader import load_study
from dicom_io.study import Series
from dicom_io.windowing import apply_window, parse_window
from tests.synthetic import SyntheticSeries, write_ct_series


@pytest.fixture(scope="module")
def stretched(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSeries, Series]:
    """20 slices of 64 rows x 32 columns at 2.0 x 0.5 x 1.0 mm: shown 64 x 64 (columns x2)."""
    folder = tmp_path_factory.mktemp("value-at") / "ct"
    written = write_ct_series(folder, slices=20, rows=64, columns=32, spacing=(2.0, 0.5, 1.0))
    return written, load_study(folder).default_series


def test_a_click_on_an_acquired_slice_reads_the_hu_of_its_voxel(
    stretched: tuple[SyntheticSeries, Series],
):
    written, series = stretched
    # Column 20 is shown at display x 40..42 (stretched x2); row 32 at y 32..33.
    found = value_at(series, "acquired", 10, 41.5, 32.9)
    assert found == VoxelValue((10, 32, 20), float(written.hu[10, 32, 20]))
    assert found.value == pytest.approx(-850, abs=60)  # the left lung of the phantom
    corner = value_at(series, "acquired", 10, 0.0, 0.0)
    assert corner == VoxelValue((10, 0, 0), float(written.hu[10, 0, 0]))
    assert corner.value == pytest.approx(-1000, abs=60)  # air
    # The slice's far edge belongs to its last pixel.
    assert value_at(series, "acquired", 3, 64.0, 64.0).voxel == (3, 63, 31)


def test_a_click_on_a_reformat_undoes_its_flip_and_stretch(
    stretched: tuple[SyntheticSeries, Series],
):
    written, series = stretched
    # Coronal slice 40 (row 40): 20 slices x 2 mm shown 40 pixels tall, head up, so display
    # rows 18..19 hold slice 10 of 20; columns are 1 mm wide and stay as they are.
    found = value_at(series, "coronal", 40, 7.5, 18.5)
    assert found == VoxelValue((10, 40, 7), float(written.hu[10, 40, 7]))
    assert value_at(series, "coronal", 40, 7.5, 0.2).voxel == (19, 40, 7)


@pytest.mark.parametrize("plane", ["acquired", "axial", "coronal", "sagittal"])
def test_value_at_reads_the_pixel_render_slice_shows(tmp_path: Path, plane: str):
    """Without a stretch each display pixel is one voxel: windowing ``value_at`` gives exactly
    the pixel ``render_slice`` shows, in every plane (flips included)."""
    write_ct_series(tmp_path, slices=16, rows=16, columns=16, spacing=(1.0, 1.0, 1.0))
    series = load_study(tmp_path).default_series
    window = parse_window("lung", series)
    image = render_slice(series, 5, plane, "lung")
    assert image.shape == (16, 16)
    shown = np.array(
        [
            [value_at(series, plane, 5, x + 0.5, y + 0.5).value for x in range(16)]
            for y in range(16)
        ]
    )
    np.testing.assert_array_equal(apply_window(shown, window), image)


def test_a_colour_image_gives_its_three_channels(tmp_path: Path):
    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[2, 5] = (200, 100, 50)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    series = load_study(tmp_path / "photo.png").default_series
    assert value_at(series, "acquired", 0, 5.2, 2.7) == VoxelValue((0, 2, 5), (200.0, 100.0, 50.0))


@pytest.mark.parametrize(
    ("index", "x", "y", "match"),
    [
        (20, 1.0, 1.0, r"Slice 20 is outside 0\.\.19 in the acquired plane"),
        (0, -0.5, 1.0, r"Point \(-0\.5, 1\) is outside the 64 x 64 pixel slice"),
        (0, 1.0, 64.5, r"Point \(1, 64\.5\) is outside the 64 x 64 pixel slice"),
    ],
    ids=["slice", "left", "below"],
)
def test_points_outside_the_slice_are_refused(
    stretched: tuple[SyntheticSeries, Series], index: int, x: float, y: float, match: str
):
    with pytest.raises(InvalidArgumentError, match=match):
        value_at(stretched[1], "acquired", index, x, y)
