"""Fixtures of the model tests: one transformers serve for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.models.serving import Server, serve_tiny_checkpoints


@pytest.fixture(scope="session")
def transformers_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``transformers serve`` for the session, serving both tiny checkpoints."""
    yield from serve_tiny_checkpoints(tmp_path_factory)
