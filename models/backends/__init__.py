"""Generation backends: a model in this process, or an OpenAI-compatible server.

Importing this package does not import torch or transformers (the local backend imports them
when it first generates). What a backend raises lives in :mod:`models.errors`.
"""

from __future__ import annotations

from models.backends.base import (
    Backend,
    CancelToken,
    FinishReason,
    GenerationRequest,
    GenerationSettings,
    Result,
    drain,
)
from models.backends.local import TransformersBackend
from models.backends.remote import OpenAIBackend

__all__ = [
    "Backend",
    "CancelToken",
    "FinishReason",
    "GenerationRequest",
    "GenerationSettings",
    "OpenAIBackend",
    "Result",
    "TransformersBackend",
    "drain",
]
