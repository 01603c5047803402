"""Fixtures shared by the model tests: the tiny checkpoints and one transformers serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.models.serving import Server, serve_tiny_checkpoints
from tests.models.tiny import tiny_checkpoint


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``transformers serve`` for the session, serving both tiny checkpoints."""
    yield from serve_tiny_checkpoints(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("gemma3", tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint("qwen2_5_vl", tmp_path_factory)
