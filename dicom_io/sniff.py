"""Recognise a file by its first bytes (never by its name alone)."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from enum import StrEnum

__all__ = ["FileKind", "sniff"]

HEAD_BYTES = 1024


class FileKind(StrEnum):
    DICOM = "dicom"
    NIFTI = "nifti"
    PNG = "png"
    JPEG = "jpeg"
    ZIP = "zip"
    UNKNOWN = "unknown"


# Groups that may open a DICOM data set written without the 128-byte preamble.
_NO_PREAMBLE_GROUPS = {0x0002, 0x0008}
_VRS = {
    b"AE",
    b"AS",
    b"AT",
    b"CS",
    b"DA",
    b"DS",
    b"DT",
    b"FD",
    b"FL",
    b"IS",
    b"LO",
    b"LT",
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"PN",
    b"SH",
    b"SL",
    b"SQ",
    b"SS",
    b"ST",
    b"SV",
    b"TM",
    b"UC",
    b"UI",
    b"UL",
    b"UN",
    b"UR",
    b"US",
    b"UT",
    b"UV",
}


def _looks_like_nifti(head: bytes) -> bool:
    if len(head) < 348:
        return False
    for endian in "<>":
        (size,) = struct.unpack(endian + "i", head[:4])
        if size == 348 and head[344:347] in (b"n+1", b"ni1"):
            return True
        if size == 540 and head[4:7] in (b"n+2", b"ni2"):
            return True
    return False


def _looks_like_dicom_without_preamble(head: bytes) -> bool:
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    if group not in _NO_PREAMBLE_GROUPS:
        return False
    # Explicit VR (two letters) or implicit VR (a 4-byte length that fits the header).
    if head[4:6] in _VRS:
        return True
    (length,) = struct.unpack("<I", head[4:8])
    return bool(element <= 0x0100 and length < 1024)


def _gunzip_head(head: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(head)) as gz:
            return gz.read(HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return b""


def sniff(head: bytes) -> FileKind:
    """The kind of file whose first bytes (at least 1 KiB when available) are ``head``."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return FileKind.DICOM
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FileKind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return FileKind.JPEG
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return FileKind.ZIP
    if head.startswith(b"\x1f\x8b"):
        return FileKind.NIFTI if _looks_like_nifti(_gunzip_head(head)) else FileKind.UNKNOWN
    if _looks_like_nifti(head):
        return FileKind.NIFTI
    if _looks_like_dicom_without_preamble(head):
        return FileKind.DICOM
    return FileKind.UNKNOWN
