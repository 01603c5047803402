"""Find a family's adapter: by :class:`Family` (or its name) or by a folder's ``model_type``.

:data:`ADAPTERS` lists one adapter per family module; adding a family adds its module, its
:class:`Family` member and one entry here (``tests/models/test_families.py`` checks all three).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from models.families import gemma3, qwen2_5_vl, qwen3_vl, remote
from models.families.base import Family, FamilyAdapter

__all__ = [
    "ADAPTERS",
    "adapter",
    "adapter_for_model_type",
    "local_model_types",
    "unquantized_modules",
]

ADAPTERS: Mapping[Family, FamilyAdapter] = MappingProxyType(
    {a.family: a for a in (gemma3.ADAPTER, qwen2_5_vl.ADAPTER, qwen3_vl.ADAPTER, remote.ADAPTER)}
)


def adapter(family: Family | str) -> FamilyAdapter:
    """The adapter of ``family``; a ValueError for a name that is no :class:`Family`."""
    return ADAPTERS[Family(family)]


def adapter_for_model_type(model_type: str) -> FamilyAdapter | None:
    """The adapter whose local folders have this ``config.json`` ``model_type``, if any."""
    return next((a for a in ADAPTERS.values() if model_type in a.model_types), None)


def local_model_types() -> str:
    """The model types RadLens runs from a folder, for messages: ``"gemma3 (MedGemma) and
    qwen2_5_vl (Qwen2.5-VL, Lingshu)"``."""
    named = [f"{t} ({a.model_names})" for a in ADAPTERS.values() for t in a.model_types]
    return " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)


def unquantized_modules() -> tuple[str, ...]:
    """Every family's modules kept in bf16 when quantizing, each once."""
    return tuple(dict.fromkeys(m for a in ADAPTERS.values() for m in a.unquantized_modules))
