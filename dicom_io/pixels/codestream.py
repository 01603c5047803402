"""The frame size a JPEG or JPEG-LS codestream declares, read before any decoder sees it.

Decoders trust their codestream's own header, not the DICOM one. A frame whose start-of-frame
segment declares zero lines (legal JPEG: the height then comes from a later DNL marker) sends
pylibjpeg-libjpeg into a loop that never returns, and it holds the GIL, so no alarm can stop it.
Reading the declared size first lets the caller refuse a frame that does not match Rows x
Columns, which the decoded frame would not fit anyway.
"""

from __future__ import annotations

import struct

__all__ = ["JPEG_FAMILY", "jpeg_frame_size"]

JPEG_FAMILY = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline
        "1.2.840.10008.1.2.4.51",  # JPEG Extended
        "1.2.840.10008.1.2.4.57",  # JPEG Lossless
        "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-lossless
    }
)
"""Transfer syntaxes whose frames are JPEG (ISO/IEC 10918-1) or JPEG-LS (14495-1) codestreams."""

# Start-of-frame markers: SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC); SOF55 (JPEG-LS).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}


def jpeg_frame_size(frame: bytes) -> tuple[int, int] | None:
    """``(lines, samples per line)`` from the frame's start-of-frame segment, or None when the
    markers before it do not parse (the decoder then reports the damage itself)."""
    if frame[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(frame):
        if frame[pos] != 0xFF:
            return None
        marker = frame[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _SOF:
            if pos + 9 > len(frame):
                return None
            lines, columns = struct.unpack_from(">HH", frame, pos + 5)
            return int(lines), int(columns)
        (length,) = struct.unpack_from(">H", frame, pos + 2)
        if length < 2:
            return None
        pos += 2 + length
    return None
