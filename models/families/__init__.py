"""Model families: one module per architecture, each the single home of that family's facts.

- :mod:`.base`: the :class:`Family` vocabulary and the :class:`FamilyAdapter` protocol (image
  geometry, token cost, slice budget, label tokens, box convention, modules kept unquantized,
  config defaults, sliding attention, processor quirks).
- :mod:`.gemma3`, :mod:`.qwen2_5_vl` and :mod:`.qwen3_vl` (with :mod:`.qwen2_5_vl_processor`
  and :mod:`.qwen3_vl_processor`, imported only when a model loads), :mod:`.remote`: one
  adapter each, as ``ADAPTER``.
- :mod:`.lookup`: :func:`adapter` by family, :func:`adapter_for_model_type` for local folders.

Nothing here imports the rest of models/ (inputs, registry and backends ask the adapters).
"""

from __future__ import annotations

from models.families.base import Family, FamilyAdapter
from models.families.lookup import ADAPTERS, adapter, adapter_for_model_type

__all__ = ["ADAPTERS", "Family", "FamilyAdapter", "adapter", "adapter_for_model_type"]
