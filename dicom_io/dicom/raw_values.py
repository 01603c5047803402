"""Fast reads of simple header values, straight from pydicom's raw elements.

pydicom converts a raw element through several layers on first access (~20 us each); the header
pass reads ~30 elements from each of hundreds of files. :class:`RawView` converts the common
plain-ASCII and binary value representations itself and hands everything else (sequences,
non-ASCII text, deferred values) to pydicom, so the values are the ones pydicom would give.
"""

from __future__ import annotations

import struct
from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

__all__ = ["RawView"]

_NUMBERS = {"US": "H", "UL": "I", "SS": "h", "SL": "i", "FL": "f", "FD": "d"}
_TEXT = frozenset({"CS", "UI", "AE", "IS", "DS", "LO", "SH", "PN", "DA", "TM", "AS"})
_TAGS: dict[str, int] = {}


def _tag(keyword: str) -> int:
    tag = _TAGS.get(keyword)
    if tag is None:
        found = tag_for_keyword(keyword)
        if found is None:
            raise KeyError(f"Unknown DICOM keyword {keyword!r}.")
        tag = _TAGS[keyword] = int(found)
    return tag


def _convert(vr: str, value: bytes, little: bool) -> Any:
    """The value pydicom would give for a plain element, or raise ValueError to fall back."""
    code = _NUMBERS.get(vr)
    if code is not None:
        size = struct.calcsize(code)
        if len(value) % size:
            raise ValueError("length is not a multiple of the value size")
        numbers = struct.unpack(("<" if little else ">") + code * (len(value) // size), value)
        return numbers[0] if len(numbers) == 1 else list(numbers)
    if vr not in _TEXT or not value.isascii():
        raise ValueError("not a plain ASCII value")
    text = value.decode("ascii").rstrip(" \x00")
    if vr in ("LO", "SH", "PN"):
        return text.strip() if vr != "PN" else text  # single-valued in the tags we read
    items = [item.strip(" \x00") for item in text.split("\\")]
    if vr == "IS":
        converted: list[Any] = [int(float(item)) for item in items if item]
    elif vr == "DS":
        converted = [float(item) for item in items if item]
    else:
        converted = items
    if not converted or converted == [""]:
        return "" if vr not in ("IS", "DS") else None
    return converted[0] if len(converted) == 1 else converted


class RawView:
    """``get(keyword, default)`` over a data set, converting simple raw values directly."""

    def __init__(self, ds: Dataset) -> None:
        self.dataset = ds
        self._dict = ds._dict
        self._little = ds.original_encoding[1] is not False

    def __contains__(self, keyword: str) -> bool:
        return _tag(keyword) in self._dict

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dataset, name)

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = _tag(keyword)
        raw = self._dict.get(tag)  # type: ignore[call-overload]
        if raw is None:
            return default
        if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes):
            vr = raw.VR or dictionary_VR(Tag(tag))
            try:
                return _convert(vr, raw.value, raw.is_little_endian)
            except (ValueError, UnicodeDecodeError, struct.error):
                pass
        return self.dataset.get(keyword, default)
