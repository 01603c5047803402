"""Caps that keep memory bounded whatever the input declares.

Every size read from a header is checked against these before anything is allocated. The defaults
fit a workstation; a demo server can lower them (``RADLENS_MAX_VOXELS`` and friends).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ValueError(f"Environment variable {name} must be an integer, not {raw!r}.") from err
    if value <= 0:
        raise ValueError(f"Environment variable {name} must be > 0, not {value}.")
    return value


@dataclass(frozen=True)
class Limits:
    """Input caps.

    Attributes:
        max_voxels: largest number of voxels (times samples per pixel) of one series.
        max_files: largest number of files read from a folder or archive.
        max_archive_members: largest number of members a zip may list.
        max_archive_bytes: largest total uncompressed size of a zip's members.
        max_compression_ratio: largest uncompressed/compressed ratio of a zip member.
        max_image_pixels: largest plain image (PNG/JPEG) in pixels (Pillow's bomb guard).
    """

    max_voxels: int = 1_500_000_000
    max_files: int = 20_000
    max_archive_members: int = 20_000
    max_archive_bytes: int = 8 * 1024**3
    max_compression_ratio: int = 200
    max_image_pixels: int = 178_956_970

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"Argument '{name}' must be > 0, not {value}.")

    @classmethod
    def from_env(cls) -> Limits:
        d = cls()
        return cls(
            max_voxels=_env_int("RADLENS_MAX_VOXELS", d.max_voxels),
            max_files=_env_int("RADLENS_MAX_FILES", d.max_files),
            max_archive_members=_env_int("RADLENS_MAX_ARCHIVE_MEMBERS", d.max_archive_members),
            max_archive_bytes=_env_int("RADLENS_MAX_ARCHIVE_BYTES", d.max_archive_bytes),
            max_compression_ratio=_env_int(
                "RADLENS_MAX_COMPRESSION_RATIO", d.max_compression_ratio
            ),
            max_image_pixels=_env_int("RADLENS_MAX_IMAGE_PIXELS", d.max_image_pixels),
        )


DEFAULT_LIMITS = Limits()
