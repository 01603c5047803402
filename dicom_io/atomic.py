"""Write a file so that a failure leaves nothing half-written (temp file, then rename)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a hidden temp file in the same folder, then rename."""
    staging = path.parent / f".radlens-{secrets.token_hex(6)}.partial"
    try:
        staging.write_bytes(data)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path
