"""Mutators for the robustness fuzzer: the ways real files get damaged, and the ways inputs lie.

A mutator takes a seeded random generator and a file's bytes and returns the damaged bytes, or
``None`` when it does not apply (no such element, nothing left to cut). Byte-level mutators work
on any file, with positions biased towards the header, where parsers make their decisions.
Structure-aware mutators find DICOM elements (:mod:`tests.robustness.dicom_layout`), NIfTI header
fields (offsets from nibabel's own header dtypes) or PNG chunks, and change one thing: a length
field, a declared size, a value, an element deleted or duplicated. A ``.nii.gz`` is damaged
inside (decompressed, mutated, recompressed) and as a gzip stream.

:func:`mutate` draws one to three mutators and applies them; everything depends only on the
generator, so a seed and an index reproduce an input exactly.
"""

from __future__ import annotations

import gzip
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from tests.robustness.dicom_layout import is_dicom, read_layout
from tests.robustness.dicom_mutations import (
    dicom_delete,
    dicom_duplicate,
    dicom_fragments,
    dicom_length,
    dicom_number_text,
    dicom_photometric,
    dicom_size,
    dicom_syntax,
    dicom_vr,
)

__all__ = ["MUTATORS", "Mutator", "gunzip", "gzip_bytes", "mutate"]

Mutator = Callable[[random.Random, bytes], bytes | None]

_INTERESTING = (0, 1, 2, 3, 7, 8, 15, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x10000)
_INTERESTING += (0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no time stamp), fast level: the fuzzer recompresses often."""
    return gzip.compress(data, compresslevel=1, mtime=0)


def gunzip(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data)


# -- where the header ends (byte mutations aim there more often) -------------------------------


def _header_end(data: bytes) -> int:
    """Where the pixel data (DICOM) or voxels (NIfTI) begin; the whole file otherwise."""
    if is_dicom(data):
        pixels = read_layout(data).pixel_data()
        return pixels.value_offset if pixels is not None else len(data)
    found = _nifti_layout(data)
    if found is not None:
        return min(len(data), 352 if found[0].itemsize == 348 else 544)
    return len(data)


def _position(rng: random.Random, data: bytes) -> int:
    """A position in ``data``: within the header seven times in ten."""
    end = _header_end(data)
    if rng.random() < 0.7 and end > 0:
        return rng.randrange(end)
    return rng.randrange(max(len(data), 1))


# -- byte-level ---------------------------------------------------------------------------------


def bit_flip(rng: random.Random, data: bytes) -> bytes | None:
    if not data:
        return None
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8, 32))):
        out[_position(rng, data)] ^= 1 << rng.randrange(8)
    return bytes(out)


def byte_insert(rng: random.Random, data: bytes) -> bytes:
    at = _position(rng, data) if data else 0
    count = rng.choice((1, 2, 4, 8, 16, 128))
    filler = rng.choice((b"\0", b"\xff", b" ", None))
    chunk = filler * count if filler is not None else rng.randbytes(count)
    return data[:at] + chunk + data[at:]


def byte_delete(rng: random.Random, data: bytes) -> bytes | None:
    if not data:
        return None
    at = _position(rng, data)
    return data[:at] + data[at + rng.choice((1, 2, 3, 4, 8, 16, 128)) :]


def overwrite_int(rng: random.Random, data: bytes) -> bytes | None:
    size = rng.choice((2, 4, 8))
    if len(data) < size:
        return None
    at = min(_position(rng, data), len(data) - size)
    value = rng.choice(_INTERESTING) & ((1 << (8 * size)) - 1)
    packed = value.to_bytes(size, rng.choice(("little", "big")))
    return data[:at] + packed + data[at + size :]


def copy_block(rng: random.Random, data: bytes) -> bytes | None:
    if len(data) < 8:
        return None
    size = rng.choice((4, 8, 16, 64, 256))
    src, dst = _position(rng, data), _position(rng, data)
    block = data[src : src + size]
    return data[:dst] + block + data[dst + len(block) :]


def truncate(rng: random.Random, data: bytes) -> bytes | None:
    return data[: rng.randrange(len(data))] if data else None


def truncate_header(rng: random.Random, data: bytes) -> bytes | None:
    end = _header_end(data)
    return data[: rng.randrange(end)] if end > 0 else None


def truncate_pixels(rng: random.Random, data: bytes) -> bytes | None:
    end = _header_end(data)
    return data[: rng.randrange(end, len(data))] if end < len(data) else None


# -- NIfTI ---------------------------------------------------------------------------------------

_NIFTI_FIELDS = (
    "sizeof_hdr",
    "dim",
    "dim",
    "dim",
    "datatype",
    "bitpix",
    "vox_offset",
    "vox_offset",
    "pixdim",
    "scl_slope",
    "scl_inter",
    "qform_code",
    "sform_code",
    "quatern_b",
    "quatern_c",
    "quatern_d",
    "qoffset_x",
    "srow_x",
    "srow_y",
    "srow_z",
    "dim_info",
    "xyzt_units",
    "cal_min",
    "cal_max",
    "intent_code",
    "magic",
)
_DATATYPES = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304)
_DATATYPES += (3, 7, 9999, -1)
_FLOATS = (0.0, -0.0, float("nan"), float("inf"), -float("inf"), 1e-30, 1e30, -1.0, 3.4e38)
_FLOATS += (2.0**31, 2.0**63, 352.0, 351.0, 348.0, 0.5, 1e-7, 543.0, 544.0, 1e6)
_NIFTI_INTS = (0, 1, -1, 2, 3, 4, 5, 7, 8, 255, 256, 32767, -32768, 2**31 - 1, -(2**31))
_NIFTI_INTS += (2**40, 2**62, 2**63 - 1)


def _nifti_layout(data: bytes) -> tuple[np.dtype, str] | None:
    if len(data) < 348:
        return None
    for endian in "<>":
        (size,) = struct.unpack(endian + "i", data[:4])
        if size == 348:
            return nib.nifti1.header_dtype.newbyteorder(endian), endian
        if size == 540 and len(data) >= 540:
            return nib.nifti2.header_dtype.newbyteorder(endian), endian
    return None


def _pack_field(rng: random.Random, base: np.dtype, endian: str, original: object) -> bytes:
    """An interesting value of one scalar field's type, packed in the file's byte order."""
    kind = base.kind
    if kind == "f":
        number = float(original)  # type: ignore[arg-type]
        value: object = rng.choice((*_FLOATS, number * 2, number + 1))
    elif kind in "iu":
        info = np.iinfo(base)
        whole = int(original)  # type: ignore[call-overload]
        value = rng.choice((*_NIFTI_INTS, whole + 1, whole * 10))
        value = min(max(int(value), int(info.min)), int(info.max))
    else:
        return rng.randbytes(base.itemsize)
    return np.array([value], dtype=base.newbyteorder(endian)).tobytes()


def nifti_field(rng: random.Random, data: bytes) -> bytes | None:
    """Overwrite one header field (dims, datatype, bitpix, vox_offset, pixdim, xforms, ...)."""
    found = _nifti_layout(data)
    if found is None:
        return None
    dtype, endian = found
    name = rng.choice(_NIFTI_FIELDS)
    field_dtype, offset = dtype.fields[name][:2]
    if name == "magic":
        value = rng.choice((b"n+1\0", b"ni1\0", b"n+2\0", b"\0\0\0\0", b"n+1\0\r\n\x1a\n"))
        return data[:offset] + value[: field_dtype.itemsize] + data[offset + len(value) :]
    if field_dtype.subdtype is not None:  # dim, pixdim, srow_*: one entry
        base, (count,) = field_dtype.subdtype
        index = rng.randrange(count)
        offset += index * base.itemsize
    else:
        base = field_dtype
    original = np.frombuffer(data, dtype=base.newbyteorder(endian), count=1, offset=offset)[0]
    if name == "datatype":
        packed = np.array([rng.choice(_DATATYPES)], dtype=base.newbyteorder(endian)).tobytes()
    else:
        packed = _pack_field(rng, base, endian, original)
    return data[:offset] + packed + data[offset + len(packed) :]


# -- PNG -----------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, data length, type) of each chunk until the bytes stop parsing."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return []
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunks.append((pos, length, data[pos + 4 : pos + 8]))
        pos += 12 + length
    return chunks


def _with_crc(chunk_type: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + chunk_type
        + body
        + struct.pack(">I", zlib.crc32(chunk_type + body))
    )


def png_header(rng: random.Random, data: bytes) -> bytes | None:
    """Change IHDR: width, height, bit depth, colour type or interlace (CRC fixed or not)."""
    chunks = _png_chunks(data)
    if not chunks or chunks[0][2] != b"IHDR" or chunks[0][1] != 13:
        return None
    start = chunks[0][0] + 8
    if len(data) < start + 17:
        return None
    fields = list(struct.unpack(">IIBBBBB", data[start : start + 13]))
    index = rng.randrange(7)
    if index < 2:
        fields[index] = rng.choice((0, 1, 2**31 - 1, 2**32 - 1, 100_000, fields[index] + 1))
        fields[index] &= 0xFFFFFFFF
    else:
        fields[index] = rng.choice((0, 1, 2, 3, 4, 6, 7, 8, 16, 32, 255))
    body = struct.pack(">IIBBBBB", *fields)
    if rng.random() < 0.8:
        return data[: start - 8] + _with_crc(b"IHDR", body) + data[start + 17 :]
    return data[:start] + body + data[start + 13 :]


def png_chunk(rng: random.Random, data: bytes) -> bytes | None:
    """Lie in a chunk's length, drop a chunk, or repeat one."""
    chunks = _png_chunks(data)
    if not chunks:
        return None
    offset, length, _ = rng.choice(chunks)
    end = offset + 12 + length
    action = rng.choice(("length", "drop", "repeat"))
    if action == "drop":
        return data[:offset] + data[end:]
    if action == "repeat":
        return data[:end] + data[offset:end] + data[end:]
    new = rng.choice((0, 1, length - 1, length + 1, 2**31 - 1, 2**32 - 1, rng.getrandbits(32)))
    return data[:offset] + struct.pack(">I", min(max(new, 0), 2**32 - 1)) + data[offset + 4 :]


# -- gzip ----------------------------------------------------------------------------------------


def gzip_flip(rng: random.Random, data: bytes) -> bytes | None:
    """Flip bits in the deflate stream, near its start (the NIfTI header) more often."""
    if len(data) < 20:
        return None
    out = bytearray(data)
    span = len(data) - 18
    for _ in range(rng.choice((1, 2, 8))):
        at = 10 + (rng.randrange(min(span, 600)) if rng.random() < 0.6 else rng.randrange(span))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def gzip_truncate(rng: random.Random, data: bytes) -> bytes | None:
    return data[: rng.randrange(len(data))] if data else None


def gzip_trailer(rng: random.Random, data: bytes) -> bytes | None:
    """Wrong CRC-32 or ISIZE in the trailer."""
    if len(data) < 18:
        return None
    at = len(data) - rng.choice((8, 4))
    value = rng.choice((0, 1, 0xFFFFFFFF, rng.getrandbits(32)))
    return data[:at] + struct.pack("<I", value) + data[at + 4 :]


def gzip_header(rng: random.Random, data: bytes) -> bytes | None:
    """Set header flags (FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT, reserved) or the method byte."""
    if len(data) < 10:
        return None
    at, value = rng.choice(((3, rng.getrandbits(8)), (2, rng.choice((0, 7, 9, 255)))))
    return data[:at] + bytes([value]) + data[at + 1 :]


def gzip_append(rng: random.Random, data: bytes) -> bytes:
    """Trailing garbage, or a second gzip member, after the stream."""
    if rng.random() < 0.5:
        return data + rng.randbytes(rng.choice((1, 7, 64)))
    return data + gzip_bytes(rng.randbytes(rng.choice((0, 10, 5000))))


# -- registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    name: str
    formats: frozenset[str]
    apply: Mutator


_ANY = frozenset({"dicom", "nifti", "png"})
MUTATORS: tuple[Mutation, ...] = (
    Mutation("bit_flip", _ANY, bit_flip),
    Mutation("byte_insert", _ANY, byte_insert),
    Mutation("byte_delete", _ANY, byte_delete),
    Mutation("overwrite_int", _ANY, overwrite_int),
    Mutation("copy_block", _ANY, copy_block),
    Mutation("truncate", _ANY, truncate),
    Mutation("truncate_header", _ANY, truncate_header),
    Mutation("truncate_pixels", _ANY, truncate_pixels),
    Mutation("dicom_length", frozenset({"dicom"}), dicom_length),
    Mutation("dicom_delete", frozenset({"dicom"}), dicom_delete),
    Mutation("dicom_duplicate", frozenset({"dicom"}), dicom_duplicate),
    Mutation("dicom_size", frozenset({"dicom"}), dicom_size),
    Mutation("dicom_number_text", frozenset({"dicom"}), dicom_number_text),
    Mutation("dicom_vr", frozenset({"dicom"}), dicom_vr),
    Mutation("dicom_syntax", frozenset({"dicom"}), dicom_syntax),
    Mutation("dicom_photometric", frozenset({"dicom"}), dicom_photometric),
    Mutation("dicom_fragments", frozenset({"dicom"}), dicom_fragments),
    Mutation("nifti_field", frozenset({"nifti"}), nifti_field),
    Mutation("png_header", frozenset({"png"}), png_header),
    Mutation("png_chunk", frozenset({"png"}), png_chunk),
    Mutation("gzip_flip", frozenset({"gzip"}), gzip_flip),
    Mutation("gzip_truncate", frozenset({"gzip"}), gzip_truncate),
    Mutation("gzip_trailer", frozenset({"gzip"}), gzip_trailer),
    Mutation("gzip_header", frozenset({"gzip"}), gzip_header),
    Mutation("gzip_append", frozenset({"gzip"}), gzip_append),
)


def mutate(
    rng: random.Random, data: bytes, fmt: str, gzipped: bool = False
) -> tuple[bytes, tuple[str, ...]]:
    """Apply one to three mutators that fit ``fmt`` (and gzip mutators to a gzipped file).

    Returns the mutated bytes and the names of the mutators that changed something, in order.
    Mutators that do not apply are redrawn (a few times at most).
    """
    pool = [m for m in MUTATORS if fmt in m.formats or (gzipped and "gzip" in m.formats)]
    wanted = [rng.choice(pool) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
    # Damage the content first, then the gzip stream that carries it.
    wanted.sort(key=lambda m: "gzip" in m.formats)
    payload = gunzip(data) if gzipped else data
    applied: list[str] = []
    compressed: bytes | None = None
    for mutation in wanted:
        is_gzip = "gzip" in mutation.formats
        if is_gzip and compressed is None:
            compressed = gzip_bytes(payload)
        for attempt in range(4):
            candidate = mutation if attempt == 0 else rng.choice(_same_layer(pool, is_gzip))
            data_in = compressed if is_gzip and compressed is not None else payload
            result = candidate.apply(rng, data_in)
            if result is not None:
                if is_gzip:
                    compressed = result
                else:
                    payload = result
                applied.append(candidate.name)
                break
    if gzipped:
        return (compressed if compressed is not None else gzip_bytes(payload)), tuple(applied)
    return payload, tuple(applied)


def _same_layer(pool: list[Mutation], is_gzip: bool) -> list[Mutation]:
    return [m for m in pool if ("gzip" in m.formats) == is_gzip]
