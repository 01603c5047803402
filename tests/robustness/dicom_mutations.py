"""DICOM-aware mutators: one element's length, value, VR or presence, the pixel module's sizes,
the transfer syntax, the photometric interpretation, encapsulated fragments.

Elements are found by :func:`tests.robustness.dicom_layout.read_layout` (offsets pydicom does
not expose). Each mutator returns ``None`` when its target is missing (not DICOM, no such
element, no encapsulated pixel data).
"""

from __future__ import annotations

import random
import struct

from tests.robustness.dicom_layout import (
    ITEM,
    UNDEFINED,
    Element,
    encode_element,
    is_dicom,
    read_layout,
    replace_value,
    write_length,
)

__all__ = [
    "dicom_delete",
    "dicom_duplicate",
    "dicom_fragments",
    "dicom_length",
    "dicom_number_text",
    "dicom_photometric",
    "dicom_size",
    "dicom_syntax",
    "dicom_vr",
]

_PIXEL_MODULE = {
    0x00280002: "US",  # SamplesPerPixel
    0x00280006: "US",  # PlanarConfiguration
    0x00280008: "IS",  # NumberOfFrames
    0x00280010: "US",  # Rows
    0x00280011: "US",  # Columns
    0x00280100: "US",  # BitsAllocated
    0x00280101: "US",  # BitsStored
    0x00280102: "US",  # HighBit
    0x00280103: "US",  # PixelRepresentation
}
_US_VALUES = (0, 1, 2, 3, 4, 7, 8, 12, 15, 16, 17, 24, 31, 32, 33, 64, 255, 256, 4096)
_US_VALUES += (32767, 32768, 65534, 65535)
_IS_VALUES = ("0", "-1", "2", "3", "7", "1000", "65535", "100000", "2147483647", "2147483648")
_IS_VALUES += ("99999999999", "1e9", "", " ", "nan", "1.5", "-0", "1\\2")
_NUMBER_TEXT_TAGS = {
    0x00180050: "DS",  # SliceThickness
    0x00200011: "IS",  # SeriesNumber
    0x00200013: "IS",  # InstanceNumber
    0x00200032: "DS",  # ImagePositionPatient
    0x00200037: "DS",  # ImageOrientationPatient
    0x00280008: "IS",  # NumberOfFrames
    0x00280030: "DS",  # PixelSpacing
    0x00181164: "DS",  # ImagerPixelSpacing
    0x00281050: "DS",  # WindowCenter
    0x00281051: "DS",  # WindowWidth
    0x00281052: "DS",  # RescaleIntercept
    0x00281053: "DS",  # RescaleSlope
}
_NUMBER_TEXTS = ("0", "-0", "1e308", "1e309", "-1e309", "nan", "inf", "-inf", "", "\\\\\\")
_NUMBER_TEXTS += ("0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0", "1\\0\\0\\0\\0\\1", "0\\0", "-1\\-1")
_NUMBER_TEXTS += ("1e-300\\1", "1\\1e-300", "1e-9\\1e9", "abc", "1", "1\\2\\3\\4\\5\\6\\7")
_NUMBER_TEXTS += ("99999999999999999999", "-2147483649", "0.0000001", "1e5\\1e5\\1e5")
_SYNTAXES = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100",
    "1.2.3.4",
    "",
)
_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT")
_PHOTOMETRICS += ("YBR_ICT", "PALETTE COLOR", "", "XYZ")
_VRS = ("OB", "OW", "UN", "SQ", "US", "UL", "SS", "FD", "CS", "DS", "IS", "UT", "AT", "XX")


def _pick_element(rng: random.Random, elements: list[Element]) -> Element | None:
    """An element, half the time one the image depends on (pixel module, pixel data, items)."""
    if not elements:
        return None
    favoured = [
        el
        for el in elements
        if el.tag >> 16 in (0x0002, 0x0028, 0x7FE0) or el.tag == ITEM or el.vr == "SQ"
    ]
    pool = favoured if favoured and rng.random() < 0.5 else elements
    return rng.choice(pool)


def _dicom(data: bytes) -> list[Element] | None:
    if not is_dicom(data):
        return None
    return list(read_layout(data).elements) or None


def dicom_length(rng: random.Random, data: bytes) -> bytes | None:
    """Overwrite one element's (or item's, or fragment's) length field."""
    element = _pick_element(rng, _dicom(data) or [])
    if element is None:
        return None
    length, rest = element.length, len(data) - element.value_offset
    length = length if length != UNDEFINED else rest
    choices = [0, 1, 2, 3, length - 1, length + 1, length + 2, length * 2, length // 2]
    choices += [rest, rest + 1, rest + 2, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFE, UNDEFINED]
    choices += [rng.getrandbits(16), rng.getrandbits(32)]
    return write_length(data, element, rng.choice(choices))


def dicom_delete(rng: random.Random, data: bytes) -> bytes | None:
    element = _pick_element(rng, _dicom(data) or [])
    if element is None:
        return None
    return data[: element.offset] + data[element.end :]


def dicom_duplicate(rng: random.Random, data: bytes) -> bytes | None:
    """Copy an element right after itself (a repeated tag) or to the data set's start."""
    elements = _dicom(data)
    element = _pick_element(rng, elements or [])
    if element is None:
        return None
    copy = data[element.offset : element.end]
    at = element.end if rng.random() < 0.6 else read_layout(data).dataset_start
    return data[:at] + copy + data[at:]


def _set_top_level(data: bytes, tag: int, vr: str, value: bytes) -> bytes | None:
    """Replace a top-level element's value, or insert the element where its tag sorts."""
    layout = read_layout(data)
    if layout.transfer_syntax == "1.2.840.10008.1.2.1.99" and tag >> 16 != 2:
        return None
    element = layout.find(tag)
    if element is not None:
        if element.vr == "US" and len(value) == 2 and element.length == 2:
            return data[: element.value_offset] + value + data[element.value_offset + 2 :]
        return replace_value(data, element, value)
    after = next((el for el in layout.top_level() if el.tag > tag), None)
    at = after.offset if after is not None else len(data)
    return data[:at] + encode_element(tag, vr, value, layout.little, layout.implicit) + data[at:]


def dicom_size(rng: random.Random, data: bytes) -> bytes | None:
    """Declare a huge, zero or odd image size: Rows, Columns, NumberOfFrames, bits, samples."""
    if _dicom(data) is None:
        return None
    tag = rng.choice(sorted(_PIXEL_MODULE))
    vr = _PIXEL_MODULE[tag]
    little = read_layout(data).little
    if vr == "US":
        value = struct.pack("<H" if little else ">H", rng.choice(_US_VALUES))
    else:
        value = rng.choice(_IS_VALUES).encode()
    return _set_top_level(data, tag, vr, value)


def dicom_number_text(rng: random.Random, data: bytes) -> bytes | None:
    """Write odd numbers into a geometry, rescale or window element (DS/IS text)."""
    elements = [el for el in _dicom(data) or [] if el.tag in _NUMBER_TEXT_TAGS]
    text = rng.choice(_NUMBER_TEXTS).encode()
    if elements and rng.random() < 0.5:
        element = rng.choice(elements)
        if element.depth == 0:
            return replace_value(data, element, text)
        # Inside a sequence: keep the length, so the enclosing items still parse.
        fitted = text[: element.length].ljust(element.length, b" ")
        return data[: element.value_offset] + fitted + data[element.value_offset + len(fitted) :]
    if _dicom(data) is None:
        return None
    tag = rng.choice(sorted(_NUMBER_TEXT_TAGS))
    return _set_top_level(data, tag, _NUMBER_TEXT_TAGS[tag], text)


def dicom_vr(rng: random.Random, data: bytes) -> bytes | None:
    """Change an explicit VR's two letters (the length field keeps its old size)."""
    elements = [el for el in _dicom(data) or [] if el.vr and el.value_offset - el.offset > 8]
    elements += [el for el in _dicom(data) or [] if el.vr and el.length_offset == el.offset + 6]
    element = _pick_element(rng, elements)
    if element is None:
        return None
    at = element.offset + 4
    return data[:at] + rng.choice(_VRS).encode() + data[at + 2 :]


def dicom_syntax(rng: random.Random, data: bytes) -> bytes | None:
    """Declare another transfer syntax than the one the data set is written in."""
    if _dicom(data) is None:
        return None
    return _set_top_level(data, 0x00020010, "UI", rng.choice(_SYNTAXES).encode())


def dicom_photometric(rng: random.Random, data: bytes) -> bytes | None:
    if _dicom(data) is None:
        return None
    return _set_top_level(data, 0x00280004, "CS", rng.choice(_PHOTOMETRICS).encode())


def dicom_fragments(rng: random.Random, data: bytes) -> bytes | None:
    """Drop, repeat or mislabel an encapsulated fragment, or make the offset table lie."""
    items = [el for el in _dicom(data) or [] if el.tag == ITEM and el.depth == 1]
    pixels = read_layout(data).pixel_data() if items else None
    if pixels is None or pixels.length != UNDEFINED:
        return None
    fragments = [el for el in items if pixels.value_offset <= el.offset < pixels.end]
    if not fragments:
        return None
    action = rng.choice(("drop", "repeat", "table", "swap"))
    target = rng.choice(fragments)
    if action == "drop":
        return data[: target.offset] + data[target.end :]
    if action == "repeat":
        return data[: target.end] + data[target.offset : target.end] + data[target.end :]
    if action == "table":
        count = rng.choice((1, 2, 10, 1000))
        offsets = [rng.choice((0, 1, 2, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)) for _ in range(count)]
        if rng.random() < 0.5:
            offsets = [rng.getrandbits(32) for _ in range(count)]
        table = struct.pack(f"<{count}I", *offsets)
        return replace_value(data, fragments[0], table)
    second = rng.choice(fragments)
    first, second = sorted((target, second), key=lambda el: el.offset)
    if first.offset == second.offset:
        return None
    return (
        data[: first.offset]
        + data[second.offset : second.end]
        + data[first.end : second.offset]
        + data[first.offset : first.end]
        + data[second.end :]
    )
