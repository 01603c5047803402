"""The models RadLens knows: find one by id, by hub id, or from a local model folder.

A :class:`ModelSpec` (:mod:`models.registry.spec`) is data: an id (``medgemma-1.5-4b``), a source
(hub id, local folder or server URL), the architecture family, the name of its native box
convention, what
an image costs in tokens, licence and gating, the system prompt its card uses, and the size facts
behind a memory estimate. :func:`get_spec` finds one by id, by hub id, or builds one from a local
model folder (family from its ``config.json``: :mod:`models.registry.local_folder`).

Registry: the entries of :mod:`models.registry.known_models` (MedGemma 1.5 4B, MedGemma 4B and
27B, Lingshu-7B and -32B, Qwen2.5-VL-3B and -7B, Qwen3-VL-2B/4B/8B), then ``remote``, an
OpenAI-compatible server named by RADLENS_REMOTE_URL (:mod:`models.registry.remote_entry`).
The default is ``medgemma-1.5-4b`` (:data:`DEFAULT_MODEL_ID`).

Memory estimate (:meth:`ModelSpec.memory_gb`): quantized weights + kept bf16 weights + KV cache
for :data:`KV_TOKENS` tokens + :data:`RUNTIME_OVERHEAD_GB`; the formula and the facts behind it
are in :mod:`models.registry.memory`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from models.errors import ModelNotFoundError, UnknownModelError
from models.registry.known_models import KNOWN_SPECS
from models.registry.local_folder import spec_from_folder
from models.registry.remote_entry import REMOTE_ID, remote_settings, remote_spec
from models.registry.spec import ModelSpec, looks_like_path

__all__ = [
    "DEFAULT_MODEL_ID",
    "default_spec",
    "get_spec",
    "known_ids",
    "list_specs",
    "served_spec",
]

DEFAULT_MODEL_ID = "medgemma-1.5-4b"


def list_specs(environ: Mapping[str, str] | None = None) -> tuple[ModelSpec, ...]:
    """Every registry entry, the default first, the remote one (from ``environ``) last."""
    return (*KNOWN_SPECS, served_spec(environ))


def served_spec(environ: Mapping[str, str] | None = None) -> ModelSpec:
    """The remote entry, with the capabilities of the known model it serves.

    When RADLENS_REMOTE_MODEL names a registry entry (its id or hub id, as vLLM serves it by
    default) of the declared family, the server runs that model: it can do what its card says,
    and it gets the prompts, layout and system prompt its makers use, as the local entry does
    (``recipe``); otherwise the entry keeps its family's conservative default
    (:func:`models.registry.capabilities.family_capabilities`) and RadLens's own prompts.
    """
    spec = remote_spec(environ)
    served = (remote_settings(environ).model or "").strip().lower()
    for known in KNOWN_SPECS:
        if served in (known.id, known.source.lower()) and known.family is spec.family:
            return replace(
                spec,
                capabilities=known.can,
                recipe=known.id,
                system_prompt=known.system_prompt,
            )
    return spec


def known_ids() -> tuple[str, ...]:
    return (*(spec.id for spec in KNOWN_SPECS), REMOTE_ID)


def default_spec() -> ModelSpec:
    return get_spec(DEFAULT_MODEL_ID)


def get_spec(model: str | Path, *, environ: Mapping[str, str] | None = None) -> ModelSpec:
    """The spec for a registry id, a registry hub id, or a local model folder.

    Raises :class:`UnknownModelError` (listing the known ids) for anything else, and
    :class:`ModelNotFoundError` for a path that is not a folder.
    """
    text = str(model).strip()
    if not isinstance(model, Path):
        wanted = text.lower()
        if wanted == REMOTE_ID:
            return served_spec(environ)
        for spec in KNOWN_SPECS:
            if wanted in (spec.id, spec.source.lower()):
                return spec
    path = Path(text).expanduser()
    if text and path.is_dir():
        return spec_from_folder(path)
    if isinstance(model, Path) or looks_like_path(text):
        raise ModelNotFoundError(f"Model {text!r} not found: no folder at {path.resolve()}.")
    raise UnknownModelError(
        f"Unknown model {text!r}: use one of {', '.join(known_ids())}, "
        "or the path of a local model folder (see `radlens models`)."
    )
