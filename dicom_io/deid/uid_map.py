"""Consistent, non-reversible UID replacement for de-identification: :class:`UIDMap`.

UIDs are replaced through a keyed hash with a random per-run secret, so the same UID becomes the
same new ``2.25.`` UID in every file of a run (references still resolve) and the new UIDs cannot
be traced back without the secret, which is never stored. The Patient ID becomes a pseudonym made
the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

__all__ = ["UIDMap"]

_UUID_ROOT = "2.25."


class UIDMap:
    """Consistent, non-reversible replacement of UIDs (and patient IDs) for one run.

    The same input always gives the same output for the life of the map, so one map shared by
    all files of a study keeps every reference between them intact. Outputs are keyed hashes
    (HMAC-SHA256 with ``secret``, random unless given) shaped as UUID-derived ``2.25.`` UIDs.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        if secret is not None and len(secret) < 16:
            raise ValueError(f"Argument 'secret' must hold at least 16 bytes, not {len(secret)}.")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._uids: dict[str, str] = {}

    def _digest(self, kind: bytes, value: str) -> bytes:
        return hmac.new(self._secret, kind + value.encode("utf-8"), hashlib.sha256).digest()

    def __call__(self, uid: str) -> str:
        """The replacement of ``uid`` (an empty UID stays empty)."""
        uid = uid.strip("\0 ")
        if not uid:
            return ""
        new = self._uids.get(uid)
        if new is None:
            as_uuid = uuid.UUID(bytes=self._digest(b"uid:", uid)[:16], version=4)
            new = self._uids[uid] = f"{_UUID_ROOT}{as_uuid.int}"
        return new

    def __len__(self) -> int:
        return len(self._uids)

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, str) and uid.strip("\0 ") in self._uids

    def pseudonym(self, value: str) -> str:
        """A stand-in patient ID: ``ANON-`` and 12 hex digits, stable within the run."""
        return "ANON-" + self._digest(b"id:", value.strip()).hex()[:12].upper()
