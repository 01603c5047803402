"""Where a DICOM file's elements lie: tag, VR, length field and value, found by a tolerant walk.

The fuzzer's structure-aware mutators need byte offsets (to overwrite a length field, delete or
duplicate an element, or change a value in place), which pydicom does not expose. The walk below
follows PS3.5 section 7: the file meta group in Explicit VR Little Endian, then the data set in
the transfer syntax it declares, sequences (defined or undefined length) and encapsulated pixel
data fragments included. It never raises: on bytes that no longer parse it stops and returns what
it found so far, which is what a mutator working on already damaged input needs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR

__all__ = [
    "PIXEL_DATA",
    "UNDEFINED",
    "DicomLayout",
    "Element",
    "encode_element",
    "is_dicom",
    "read_layout",
    "replace_value",
    "write_length",
]

UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
TRANSFER_SYNTAX = 0x00020010
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_MAX_DEPTH = 8
_MAX_ELEMENTS = 20_000


@dataclass(frozen=True)
class Element:
    """One element, sequence item or pixel data fragment, with its byte positions.

    ``vr`` is the two-letter VR read from the file (explicit VR), the dictionary VR (implicit VR),
    or ``""`` for items and fragments. ``end`` is where the element stops in the file, after its
    value, its items or its sequence delimiter.
    """

    tag: int
    vr: str
    offset: int
    length_offset: int
    length_size: int
    value_offset: int
    length: int
    end: int
    depth: int
    little: bool


@dataclass(frozen=True)
class DicomLayout:
    """The elements found, in file order, and the data set's encoding."""

    elements: tuple[Element, ...]
    little: bool
    implicit: bool
    dataset_start: int
    transfer_syntax: str

    def top_level(self) -> list[Element]:
        return [el for el in self.elements if el.depth == 0 and el.tag >> 16 != 0xFFFE]

    def find(self, tag: int) -> Element | None:
        """The first top-level element with ``tag``."""
        return next((el for el in self.top_level() if el.tag == tag), None)

    def pixel_data(self) -> Element | None:
        return self.find(PIXEL_DATA)


class _Walker:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.found: list[Element] = []

    def _unpack(self, fmt: str, pos: int) -> tuple[int, ...]:
        return struct.unpack_from(fmt, self.data, pos)

    def elements(
        self, pos: int, end: int, little: bool, implicit: bool, depth: int, meta: bool = False
    ) -> int:
        """Walk a data set from ``pos`` until ``end``, a delimiter or unparseable bytes."""
        e = "<" if little else ">"
        while pos + 8 <= end and len(self.found) < _MAX_ELEMENTS:
            group, number = self._unpack(e + "HH", pos)
            if (meta and group != 2) or group == 0xFFFE:
                return pos
            tag = group << 16 | number
            vr_bytes = self.data[pos + 4 : pos + 6]
            if implicit and not meta:
                vr, length_at, size, value_at = _dictionary_vr(tag), pos + 4, 4, pos + 8
            elif vr_bytes in _LONG_VRS:
                vr, length_at, size, value_at = vr_bytes.decode(), pos + 8, 4, pos + 12
            elif len(vr_bytes) == 2 and vr_bytes.isalpha() and vr_bytes.isupper():
                vr, length_at, size, value_at = vr_bytes.decode(), pos + 6, 2, pos + 8
            else:
                return pos
            if value_at > end:
                return pos
            (length,) = self._unpack(e + ("I" if size == 4 else "H"), length_at)
            if length == UNDEFINED and size == 4:
                if tag == PIXEL_DATA:
                    stop = self.items(value_at, end, little, implicit, depth + 1, fragments=True)
                else:
                    stop = self.items(value_at, end, little, implicit, depth + 1)
            else:
                stop = value_at + length
                if vr == "SQ" and depth < _MAX_DEPTH:
                    self.items(value_at, min(stop, end), little, implicit, depth + 1)
            self.found.append(
                Element(tag, vr, pos, length_at, size, value_at, length, stop, depth, little)
            )
            if stop <= pos:
                return pos
            pos = stop
        return pos

    def items(
        self,
        pos: int,
        end: int,
        little: bool,
        implicit: bool,
        depth: int,
        fragments: bool = False,
    ) -> int:
        """Walk sequence items (or encapsulated fragments) up to the sequence delimiter."""
        e = "<" if little else ">"
        while pos + 8 <= end and depth <= _MAX_DEPTH and len(self.found) < _MAX_ELEMENTS:
            group, number, length = self._unpack(e + "HHI", pos)
            tag = group << 16 | number
            if tag == SEQUENCE_END:
                return pos + 8
            if tag != ITEM:
                return pos
            value_at = pos + 8
            if length == UNDEFINED and not fragments:
                stop = self.elements(value_at, end, little, implicit, depth)
                if stop + 8 <= end and self._unpack(e + "HH", stop) == (0xFFFE, 0xE00D):
                    stop += 8
            else:
                stop = value_at + length
                if not fragments:
                    self.elements(value_at, min(stop, end), little, implicit, depth)
            self.found.append(
                Element(ITEM, "", pos, pos + 4, 4, value_at, length, stop, depth, little)
            )
            if stop <= pos:
                return pos
            pos = stop
        return pos


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag)).split(" or ")[0]
    except KeyError:
        return "UN"


def is_dicom(data: bytes) -> bool:
    """A Part 10 file (``DICM`` after the preamble), or a bare data set opening with group 2
    or 8."""
    return data[128:132] == b"DICM" or data[:2] in (b"\x08\x00", b"\x02\x00")


def read_layout(data: bytes) -> DicomLayout:
    """Every element the walk can reach in ``data`` (a Part 10 file, or a bare data set)."""
    walker = _Walker(data)
    pos = 132 if data[128:132] == b"DICM" else 0
    start = walker.elements(pos, len(data), little=True, implicit=False, depth=0, meta=True)
    syntax = ""
    for el in walker.found:
        if el.tag == TRANSFER_SYNTAX:
            value = data[el.value_offset : el.value_offset + min(el.length, 64)]
            syntax = value.rstrip(b"\0 ").decode("ascii", "replace")
    if syntax == "1.2.840.10008.1.2.1.99":  # deflated: the data set is a zlib stream
        return DicomLayout(tuple(walker.found), True, False, start, syntax)
    little = syntax != "1.2.840.10008.1.2.2"
    if syntax:
        implicit = syntax == "1.2.840.10008.1.2"
    else:  # no meta: guess from the first element (a VR needs two upper-case letters)
        vr = data[start + 4 : start + 6]
        implicit = not (len(vr) == 2 and vr.isalpha() and vr.isupper())
    walker.elements(start, len(data), little, implicit, depth=0)
    found = sorted(walker.found, key=lambda el: el.offset)
    return DicomLayout(tuple(found), little, implicit, start, syntax)


def write_length(data: bytes, element: Element, length: int) -> bytes:
    """``data`` with ``element``'s length field set to ``length`` (clipped to the field)."""
    size = element.length_size
    length = max(0, min(length, 0xFFFF if size == 2 else 0xFFFFFFFF))
    fmt = ("<" if element.little else ">") + ("H" if size == 2 else "I")
    at = element.length_offset
    return data[:at] + struct.pack(fmt, length) + data[at + size :]


def replace_value(data: bytes, element: Element, value: bytes) -> bytes:
    """``data`` with ``element``'s value replaced and its length field rewritten.

    Enclosing sequence and item lengths are left as they were: callers replace top-level values,
    or values of the same length.
    """
    if element.length_size == 2:
        value = value[:0xFFFE]
    start = element.value_offset
    stop = min(start + element.length, len(data)) if element.length != UNDEFINED else element.end
    patched = write_length(data, element, len(value))
    return patched[:start] + value + patched[stop:]


def encode_element(tag: int, vr: str, value: bytes, little: bool, implicit: bool) -> bytes:
    """A new element in the data set's encoding (value padded to an even length)."""
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB", "UN") else b" "
    e = "<" if little else ">"
    head = struct.pack(e + "HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return head + struct.pack(e + "I", len(value)) + value
    if vr.encode() in _LONG_VRS:
        return head + vr.encode() + b"\0\0" + struct.pack(e + "I", len(value)) + value
    return head + vr.encode() + struct.pack(e + "H", min(len(value), 0xFFFF)) + value
