"""Read a plain PNG or JPEG image into a one-slice :class:`Series`.

Only the header is read by :func:`load_image`: the pixel count is checked against
``limits.max_image_pixels`` before anything is decoded, and Pillow's own decompression-bomb
guard (``PIL.Image.MAX_IMAGE_PIXELS``, which an application may change at start-up) stays in
force, so the stricter of the two applies. The global is never changed here: that would race
with other threads and loosen the guard for code elsewhere.

Values. Greyscale images keep their bit depth (8-bit as ``uint8``, 16-bit as ``uint16``) and are
``MONOCHROME2``; bilevel images become 0/255 and a grey+alpha image drops its alpha. Colour
images become ``uint8`` RGB (alpha dropped, not composited: medical exports are opaque); a
palette image whose palette is all grey is read as greyscale, since grey palettes are how PNG
optimisers store greyscale radiographs; any other palette becomes RGB.

EXIF orientation is applied (as browsers and photo viewers do), so a phone photograph of a film
shows upright; the shape reported before decoding already accounts for the rotation.

Geometry is unknown: spacing (1, 1, 1) mm with ``spacing_known=False``, and the affine of an
unrotated axial image (columns along +x, rows along +y), as DICOM readers assume without
ImageOrientationPatient. The modality is ``"OT"``; the user says what the image shows.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from dicom_io.errors import CorruptFileError, InputTooLargeError, UnsupportedFileError
from dicom_io.identity import hash_uid
from dicom_io.limits import DEFAULT_LIMITS, Limits
from dicom_io.sources import SourceFile
from dicom_io.study import Orientation, Series, Window
from dicom_io.volume import Volume, affine_from_geometry

__all__ = ["load_image"]

_FORMATS = ("PNG", "JPEG")  # the JPEG opener also takes multi-picture (MPO) camera files
_EXIF_ORIENTATION = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF rotations by 90 or 270 degrees
_GREY8_MODES = {"1", "L", "LA", "La"}
_DEEP_GREY_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_AFFINE = affine_from_geometry((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1.0, 1.0))
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error)


@dataclass(frozen=True)
class _Plan:
    """What the header says: how to decode and what comes out."""

    kind: str  # "grey8", "grey" (deeper than 8 bits) or "rgb"
    rows: int
    columns: int
    exif_orientation: int
    frames: int


def load_image(source: SourceFile, limits: Limits = DEFAULT_LIMITS) -> Series:
    """Read a PNG or JPEG as one series of one slice; pixels are decoded on first access.

    Raises:
        UnsupportedFileError: not a PNG or JPEG file.
        CorruptFileError: a broken header (at once) or truncated pixel data (on decoding).
        InputTooLargeError: more pixels than ``limits.max_image_pixels`` or Pillow's guard.
    """
    plan = _read_plan(source, limits)
    notes = []
    if plan.frames > 1:
        notes.append(f"multi-frame image: only the first of {plan.frames} frames is shown")
    if plan.exif_orientation > 1:
        notes.append(f"rotated upright by its EXIF orientation ({plan.exif_orientation})")
    head = source.head(4096)
    return Series(
        index=0,
        key=hash_uid("image", source.name, str(source.size), hashlib.sha256(head).hexdigest()),
        modality="OT",
        shape=(1, plan.rows, plan.columns),
        spacing=(1.0, 1.0, 1.0),
        spacing_known=False,
        orientation=Orientation.UNKNOWN,
        photometric="RGB" if plan.kind == "rgb" else "MONOCHROME2",
        default_window=Window(127.5, 255.0, source="data") if plan.kind == "grey8" else None,
        notes=tuple(notes),
        source_format="image",
        loader=lambda: _decode(source, plan, limits),
        window_from_data=_range_window,
    )


def _range_window(volume: Volume) -> Window | None:
    """A window over the whole value range of a grey image (none for RGB)."""
    if volume.is_rgb:
        return None
    low, high = volume.value_range()
    width = high - low if high > low else 1.0
    return Window(low + (high - low) / 2, width, source="data")


def _open(source: SourceFile, limits: Limits, fh: BinaryIO) -> Image.Image:
    """Open the image header, turning Pillow's refusals into RadLens errors."""
    try:
        image = Image.open(fh, formats=_FORMATS)
    except Image.DecompressionBombError as err:
        raise InputTooLargeError(
            f"{source.name}: image is larger than Pillow's decompression-bomb limit; "
            "refusing to decode it."
        ) from err
    except UnidentifiedImageError as err:
        head = source.head(8)
        if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
            raise CorruptFileError(f"{source.name}: the image header is damaged.") from err
        raise UnsupportedFileError(f"{source.name}: not a PNG or JPEG image.") from err
    except _DECODE_ERRORS as err:
        raise CorruptFileError(f"{source.name}: the image header is damaged.") from err
    width, height = image.size
    if width * height > limits.max_image_pixels:
        image.close()
        raise InputTooLargeError(
            f"{source.name}: image declares {width}x{height} = {width * height} pixels, more "
            f"than the limit of {limits.max_image_pixels} (RADLENS_MAX_IMAGE_PIXELS)."
        )
    if width < 1 or height < 1:
        image.close()
        raise CorruptFileError(f"{source.name}: image declares an empty size {width}x{height}.")
    return image


def _read_plan(source: SourceFile, limits: Limits) -> _Plan:
    with source.open() as fh, _open(source, limits, fh) as image:
        try:
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1))
        except _DECODE_ERRORS:  # a broken EXIF block: show the image as stored
            orientation = 1
        orientation = orientation if 1 <= orientation <= 8 else 1
        columns, rows = image.size
        if orientation in _SWAPPING_ORIENTATIONS:
            rows, columns = columns, rows
        try:  # the palette and the frame count are read from chunks after the header
            kind, frames = _kind_of(image), int(getattr(image, "n_frames", 1))
        except _DECODE_ERRORS as err:
            raise CorruptFileError(
                f"{source.name}: the image data cannot be decoded; the file is truncated or "
                "damaged."
            ) from err
        return _Plan(
            kind=kind, rows=rows, columns=columns, exif_orientation=orientation, frames=frames
        )


def _kind_of(image: Image.Image) -> str:
    mode = image.mode
    if mode in _GREY8_MODES:
        return "grey8"
    if mode in _DEEP_GREY_MODES:
        return "grey"
    if mode in ("P", "PA"):
        palette = image.getpalette("RGB") or []
        triples = np.asarray(palette, dtype=np.int16).reshape(-1, 3)
        grey = bool(np.all(triples == triples[:, :1]))
        return "grey8" if grey and triples.size else "rgb"
    return "rgb"


def _decode(source: SourceFile, plan: _Plan, limits: Limits) -> Volume:
    with source.open() as fh, _open(source, limits, fh) as image:
        try:
            image.load()
            upright = ImageOps.exif_transpose(image) if plan.exif_orientation > 1 else image
            pixels = _pixels(upright, plan.kind)
        except _DECODE_ERRORS as err:
            raise CorruptFileError(
                f"{source.name}: the image data cannot be decoded; the file is truncated or "
                "damaged."
            ) from err
    if pixels.shape[:2] != (plan.rows, plan.columns):
        raise CorruptFileError(
            f"{source.name}: decoded {pixels.shape[1]}x{pixels.shape[0]} pixels, but the header "
            f"declared {plan.columns}x{plan.rows}."
        )
    return Volume(
        array=pixels[np.newaxis], spacing=(1.0, 1.0, 1.0), affine=_AFFINE, spacing_known=False
    )


def _pixels(image: Image.Image, kind: str) -> npt.NDArray[Any]:
    """The decoded pixels as (rows, columns) or (rows, columns, 3), native byte order."""
    if kind == "grey8":
        return np.array(image.convert("L"), dtype=np.uint8)
    if kind == "rgb":
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        return np.array(image.convert("RGB"), dtype=np.uint8)
    array = np.array(image)
    array = array.astype(array.dtype.newbyteorder("="), copy=False)
    if array.dtype.kind in "iu" and array.size and array.min() >= 0 and array.max() < 2**16:
        array = array.astype(np.uint16, copy=False)
    return array
