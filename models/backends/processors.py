"""Load processors (image preprocessing + tokenizer + chat template) for every model family.

A family whose stock processor does not suit RadLens names its replacement in its adapter
(:meth:`~models.families.base.FamilyAdapter.processor_override`; today the image-only
processors of Qwen2.5-VL and Qwen3-VL, :mod:`models.families.qwen2_5_vl_processor` and
:mod:`models.families.qwen3_vl_processor`).

:func:`load_processor` is how RadLens loads every processor. It cannot just call
``AutoProcessor.from_pretrained``: real Qwen2.5-VL and Lingshu repositories name
``"processor_class": "Qwen2_5_VLProcessor"`` in ``preprocessor_config.json``, and AutoProcessor
resolves such a name to the stock class before it looks at its registry. So the override is
chosen from the model's config type, through the registry filled by :func:`register_processors`.

This module imports transformers at import time: import it only inside functions, as
:mod:`models.backends.loading` does, so RadLens starts without transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoProcessor

from models.families import ADAPTERS

__all__ = ["load_processor", "processor_overrides", "register_processors"]


def processor_overrides() -> dict[type[Any], type[Any]]:
    """Config class -> processor class used instead of the stock one, from every family."""
    pairs = (a.processor_override() for a in ADAPTERS.values())
    return dict(pair for pair in pairs if pair is not None)


def register_processors() -> None:
    """Register RadLens' processor overrides with ``AutoProcessor`` (idempotent).

    After this, ``AutoProcessor.from_pretrained`` returns the override for a folder whose files
    name no processor class or name the override itself (as ``save_pretrained`` writes it).
    Folders that name the stock class need :func:`load_processor`.
    """
    for config_class, processor_class in processor_overrides().items():
        AutoProcessor.register(  # type: ignore[no-untyped-call]
            config_class, processor_class, exist_ok=True
        )


def load_processor(folder: str | Path, config: Any = None, **kwargs: Any) -> Any:
    """Load the full processor (image processor, tokenizer, chat template) of a local folder.

    ``config`` is the model's config if already loaded; ``kwargs`` go to ``from_pretrained``.
    Files are only read from ``folder``: nothing is downloaded.
    """
    register_processors()
    if config is None:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    override = processor_overrides().get(type(config))
    if override is not None:
        return override.from_pretrained(folder, local_files_only=True, **kwargs)
    return AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        folder, local_files_only=True, **kwargs
    )
