"""Shared fixtures. Tests run offline: no hub, no analytics."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.files import data_file

if TYPE_CHECKING:
    from tests.models.serving import Server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def audit_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every audit line of the session (the app's and the command line's) goes here, never to
    the user's state folder (``RADLENS_AUDIT_LOG`` is read when an AuditLog is made)."""
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    previous = os.environ.get("RADLENS_AUDIT_LOG")
    os.environ["RADLENS_AUDIT_LOG"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("RADLENS_AUDIT_LOG", None)
    else:
        os.environ["RADLENS_AUDIT_LOG"] = previous


Decoded = list[tuple[str, int | None]]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> Decoded:
    """Every DICOM file decode from now on, as (file name, frame or None for all frames)."""
    from dicom_io.pixels import stack as pixels

    calls: Decoded = []
    decode = pixels._decode_file

    def counting(header: Any, frame: int | None = None) -> Any:
        calls.append((Path(header.source.name).name, frame))
        return decode(header, frame)

    monkeypatch.setattr(pixels, "_decode_file", counting)
    return calls


@pytest.fixture
def testdata() -> Callable[[str], Path]:
    """``testdata("CT_small.dcm")``: the path of a real pydicom / pydicom-data test file."""
    return data_file


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Gemma3 (MedGemma architecture) checkpoint folder, built once."""
    from tests.models.tiny import tiny_checkpoint

    return tiny_checkpoint("gemma3", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Qwen2.5-VL (Lingshu architecture) checkpoint folder, built once."""
    from tests.models.tiny import tiny_checkpoint

    return tiny_checkpoint("qwen2_5_vl", tmp_path_factory)


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``transformers serve`` for the session, serving both tiny checkpoints (see
    tests/models/serving.py)."""
    from tests.models.serving import serve_tiny_checkpoints

    yield from serve_tiny_checkpoints(tmp_path_factory)
