"""Identity-free keys for UIDs and studies.

Raw UIDs may encode an institution's root and a date; public objects carry only a salted hash.
"""

from __future__ import annotations

import hashlib

__all__ = ["hash_uid"]

_SALT = b"radlens-key-v1:"


def hash_uid(*parts: str) -> str:
    """A short, stable, non-reversible key for one or more UIDs (16 hex digits)."""
    h = hashlib.sha256(_SALT)
    for part in parts:
        h.update(part.encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()[:16]
