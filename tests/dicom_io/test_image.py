"""Tests for dicom_io.image: PNG and JPEG files to one-slice Series."""

from __future__ import annotations

import importlib.util
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicom_io.errors import CorruptFileError, InputTooLargeError, UnsupportedFileError
from dicom_io.image import load_image
from dicom_io.limits import Limits
from dicom_io.sources import SourceFile
from dicom_io.study import Orientation


def _source(path: Path) -> SourceFile:
    return SourceFile(name=path.name, size=path.stat().st_size, path=path)


def _package_file(package: str, *parts: str) -> Path:
    """A file an installed package ships, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pytest.skip(f"{package} is not installed")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{package} does not ship {'/'.join(parts)}")
    return path


def _grey_ramp(rows: int = 20, columns: int = 30) -> np.ndarray:
    return (np.arange(rows * columns) % 251).astype(np.uint8).reshape(rows, columns)


# -- real files -----------------------------------------------------------------------------------


def test_real_rgb_jpeg() -> None:
    path = _package_file("sklearn", "datasets", "images", "china.jpg")
    series = load_image(_source(path))
    assert series.shape == (1, 427, 640)
    assert series.photometric == "RGB"
    assert series.default_window is None
    array = series.volume.array
    assert array.shape == (1, 427, 640, 3)
    assert array.dtype == np.uint8
    with Image.open(path) as reference:
        np.testing.assert_array_equal(array[0], np.asarray(reference.convert("RGB")))
    assert tuple(array[0, 0, 0]) == (174, 201, 231)  # sky in the top-left corner


def test_real_rgb_png() -> None:
    path = _package_file("scipy", "ndimage", "tests", "dots.png")
    series = load_image(_source(path))
    assert series.shape == (1, 300, 420)
    with Image.open(path) as reference:
        np.testing.assert_array_equal(series.volume.array[0], np.asarray(reference))


def test_real_rgba_png_drops_alpha() -> None:
    path = _package_file("gradio", "media_assets", "images", "avatar.png")
    series = load_image(_source(path))
    assert series.photometric == "RGB"
    with Image.open(path) as reference:
        rgba = np.asarray(reference)
    np.testing.assert_array_equal(series.volume.array[0], rgba[..., :3])
    assert series.notes == ()  # EXIF orientation 1: nothing rotated


def test_gif_named_png_is_refused() -> None:
    path = _package_file("gradio", "test_data", "test_image.png")
    with pytest.raises(UnsupportedFileError, match=r"test_image\.png: not a PNG or JPEG"):
        load_image(_source(path))


# -- greyscale ------------------------------------------------------------------------------------


def test_8bit_grey_png(tmp_path: Path) -> None:
    path = tmp_path / "cxr.png"
    pixels = _grey_ramp()
    Image.fromarray(pixels).save(path)
    series = load_image(_source(path))
    assert series.shape == (1, 20, 30)
    assert (series.modality, series.photometric, series.source_format) == (
        "OT",
        "MONOCHROME2",
        "image",
    )
    assert series.spacing == (1.0, 1.0, 1.0)
    assert not series.spacing_known
    assert series.orientation is Orientation.UNKNOWN
    assert series.default_window is not None
    assert (series.default_window.center, series.default_window.width) == (127.5, 255.0)
    volume = series.volume
    assert volume.array.dtype == np.uint8
    np.testing.assert_array_equal(volume.array[0], pixels)
    assert not volume.spacing_known
    # Columns run along +x, rows along +y, as an axial image without geometry.
    np.testing.assert_allclose(volume.index_to_lps([0, 19, 29]), [29.0, 19.0, 0.0])


def test_16bit_grey_png_keeps_depth(tmp_path: Path) -> None:
    path = tmp_path / "cr16.png"
    pixels = (np.arange(12 * 16, dtype=np.uint16).reshape(12, 16) * 21) + 100
    Image.fromarray(pixels).save(path)
    series = load_image(_source(path))
    assert series.photometric == "MONOCHROME2"
    assert series.default_window is None  # full range known once decoded
    array = series.volume.array
    assert array.dtype == np.uint16
    np.testing.assert_array_equal(array[0], pixels)
    assert array[0, 11, 15] == 191 * 21 + 100
    window = series.default_window
    assert window is not None
    assert (window.center - window.width / 2, window.center + window.width / 2) == (
        100.0,
        191 * 21 + 100.0,
    )


def test_grey_alpha_and_bilevel_become_grey(tmp_path: Path) -> None:
    pixels = _grey_ramp()
    la_path, bw_path = tmp_path / "la.png", tmp_path / "bw.png"
    Image.merge("LA", [Image.fromarray(pixels), Image.new("L", (30, 20), 10)]).save(la_path)
    Image.fromarray(pixels > 100).save(bw_path)
    la = load_image(_source(la_path))
    bw = load_image(_source(bw_path))
    assert (la.photometric, bw.photometric) == ("MONOCHROME2", "MONOCHROME2")
    np.testing.assert_array_equal(la.volume.array[0], pixels)
    np.testing.assert_array_equal(bw.volume.array[0], np.where(pixels > 100, 255, 0))


# -- colour ---------------------------------------------------------------------------------------


def test_rgb_png(tmp_path: Path) -> None:
    rgb = np.zeros((5, 7, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    rgb[4, 6] = (255, 0, 128)
    path = tmp_path / "us.png"
    Image.fromarray(rgb).save(path)
    series = load_image(_source(path))
    assert series.shape == (1, 5, 7)
    assert series.photometric == "RGB"
    array = series.volume.array
    assert array.shape == (1, 5, 7, 3)
    np.testing.assert_array_equal(array[0], rgb)
    assert tuple(array[0, 4, 6]) == (255, 0, 128)


def test_colour_palette_png_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("P", (4, 3))
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.putpixel((1, 2), 1)
    image.putpixel((3, 0), 2)
    path = tmp_path / "palette.png"
    image.save(path)
    series = load_image(_source(path))
    assert series.photometric == "RGB"
    array = series.volume.array[0]
    assert tuple(array[2, 1]) == (255, 0, 0)
    assert tuple(array[0, 3]) == (0, 0, 255)
    assert tuple(array[0, 0]) == (0, 0, 0)


def test_grey_palette_png_becomes_grey(tmp_path: Path) -> None:
    pixels = _grey_ramp()
    path = tmp_path / "optimised.png"
    Image.fromarray(pixels).convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(path)
    with Image.open(path) as check:
        assert check.mode == "P"
    series = load_image(_source(path))
    assert series.photometric == "MONOCHROME2"
    array = series.volume.array[0]
    assert array.dtype == np.uint8
    with Image.open(path) as reference:
        np.testing.assert_array_equal(array, np.asarray(reference.convert("L")))


def test_jpeg_grey_and_colour(tmp_path: Path) -> None:
    grey_path, colour_path = tmp_path / "film.jpg", tmp_path / "photo.jpeg"
    Image.new("L", (32, 24), 90).save(grey_path, quality=95)
    Image.new("RGB", (32, 24), (200, 40, 10)).save(colour_path, quality=95)
    grey = load_image(_source(grey_path))
    colour = load_image(_source(colour_path))
    assert grey.photometric == "MONOCHROME2"
    assert grey.volume.array.shape == (1, 24, 32)
    assert abs(float(grey.volume.array.mean()) - 90.0) < 1.0
    assert colour.photometric == "RGB"
    np.testing.assert_allclose(colour.volume.array[0].mean(axis=(0, 1)), (200, 40, 10), atol=3)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = np.zeros((10, 20), dtype=np.uint8)
    stored[0, 0] = 255  # marker in the stored top-left corner
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    image.save(path, quality=100, exif=exif)
    series = load_image(_source(path))
    assert series.shape == (1, 20, 10)  # known before decoding
    assert any("EXIF orientation (6)" in note for note in series.notes)
    array = series.volume.array[0]
    assert array.shape == (20, 10)
    # After a clockwise quarter turn the stored top-left corner is at the top right.
    assert int(np.argmax(array)) == int(np.ravel_multi_index((0, 9), (20, 10)))


# -- refusals -------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_png_bomb_header_is_refused(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _png_chunk(b"IEND", b"")
    )
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    with pytest.raises(InputTooLargeError, match=r"bomb\.png: "):
        load_image(_source(path))


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(_grey_ramp()).save(path)
    with pytest.raises(InputTooLargeError, match=r"big\.png: .*30x20 = 600 .*MAX_IMAGE_PIXELS"):
        load_image(_source(path), Limits(max_image_pixels=599))
    assert load_image(_source(path), Limits(max_image_pixels=600)).shape == (1, 20, 30)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_truncated_image_fails_when_decoded(tmp_path: Path, suffix: str) -> None:
    whole = tmp_path / f"whole.{suffix}"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(whole)
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    series = load_image(_source(path))
    assert series.shape == (1, 64, 64)
    with pytest.raises(CorruptFileError, match=rf"cut\.{suffix}: .*truncated"):
        _ = series.volume


def test_damaged_png_header(tmp_path: Path) -> None:
    whole = tmp_path / "ok.png"
    Image.fromarray(_grey_ramp()).save(whole)
    data = bytearray(whole.read_bytes())
    data[20] ^= 0xFF  # inside IHDR: the checksum no longer matches
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"bad\.png: the image header is damaged"):
        load_image(_source(path))


def test_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image at all\n")
    with pytest.raises(UnsupportedFileError, match=r"notes\.png: not a PNG or JPEG"):
        load_image(_source(path))


def test_keys_differ_between_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(_grey_ramp()).save(a)
    Image.fromarray(_grey_ramp() // 2).save(b)
    assert load_image(_source(a)).key == load_image(_source(a)).key
    assert load_image(_source(a)).key != load_image(_source(b)).key
