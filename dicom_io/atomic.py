"""Write a file so that a failure leaves nothing half-written (temp file, then rename)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dicom_io.errors import InvalidArgumentError

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a hidden temp file in the same folder, then rename.

    Raises:
        InvalidArgumentError: the folder is missing or not writable, or ``path`` is a folder
            (one line naming the path; nothing is left behind).
    """
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"{path}: cannot write there: no folder {path.parent}.")
    if path.is_dir():
        raise InvalidArgumentError(f"{path}: cannot write there: it is a folder.")
    staging = path.parent / f".radlens-{secrets.token_hex(6)}.partial"
    try:
        staging.write_bytes(data)
        os.replace(staging, path)
    except PermissionError as err:
        staging.unlink(missing_ok=True)
        raise InvalidArgumentError(f"{path}: cannot write there: permission denied.") from err
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path
