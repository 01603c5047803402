"""Models on disk: the Hugging Face cache, local folders, and ``radlens models pull``.

:func:`is_downloaded` and :func:`snapshot_folder` only look at the local cache (the same one
:func:`models.backends.loading.load_model` reads, ``HF_HUB_CACHE``): no network, no hub import, a
few ``stat`` calls. A snapshot counts as downloaded when it has ``config.json`` and every weight
file
its ``model.safetensors.index.json`` names (or a ``*.safetensors`` file when there is no index).

:func:`pull` downloads with ``huggingface_hub.snapshot_download`` (tqdm progress bars on stderr),
fetching only what RadLens loads (:data:`ALLOW_PATTERNS`: safetensors weights, JSON configs,
tokenizer files, chat templates). Refusals become one-line errors:

- gated model without access -> :class:`~models.errors.GatedModelError` naming the page where
  the terms are accepted, the token page, and ``HF_TOKEN`` / ``hf auth login``;
- ``HF_HUB_OFFLINE=1`` -> :class:`~models.errors.DownloadUnavailableError` at once (nothing is
  attempted; an already downloaded model is returned as is);
- hub unreachable -> :class:`~models.errors.DownloadUnavailableError`;
- unknown repository -> :class:`~models.errors.ModelNotFoundError`.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from dicom_io.errors import InvalidArgumentError
from models.errors import DownloadUnavailableError, GatedModelError, ModelNotFoundError
from models.registry.spec import ModelSpec

__all__ = [
    "ALLOW_PATTERNS",
    "TOKEN_URL",
    "cache_location",
    "default_cache_dir",
    "is_downloaded",
    "is_offline",
    "pull",
    "snapshot_folder",
]

# What a model needs: weights, configs (model, generation, processor, tokenizer, chat template
# as JSON), Jinja chat templates, SentencePiece (Gemma) and BPE (Qwen) tokenizer files. Leaves
# out duplicate weight formats (*.bin, *.gguf, original/), images and notebooks.
ALLOW_PATTERNS = (
    "*.safetensors",
    "*.json",
    "*.jinja",
    "tokenizer.model",
    "merges.txt",
    "vocab.txt",
)
TOKEN_URL = "https://huggingface.co/settings/tokens"
_TRUE = ("1", "on", "yes", "true")


def default_cache_dir() -> Path:
    """The Hugging Face hub cache, from the environment as it is now (as huggingface_hub does)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.path.expandvars(os.environ[name])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(xdg).expanduser() / "huggingface" / "hub"


def is_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids talking to the hub."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def cache_location(spec: ModelSpec, cache_dir: str | Path | None = None) -> Path:
    """Where ``spec`` lives: its cache folder ``models--owner--name``, or its local folder."""
    if spec.is_remote:
        raise InvalidArgumentError(
            f"Model {spec.id!r} runs on a server ({spec.source}); it has no local files."
        )
    if spec.local_folder is not None:
        return spec.local_folder
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return base / ("models--" + spec.source.replace("/", "--"))


def snapshot_folder(spec: ModelSpec, cache_dir: str | Path | None = None) -> Path | None:
    """The complete local folder of ``spec`` (cache snapshot or local folder), else None."""
    if spec.is_remote:
        return None
    location = cache_location(spec, cache_dir)
    if spec.local_folder is not None:
        return location if _is_complete(location) else None
    candidates: list[Path] = []
    ref = location / "refs" / "main"
    if ref.is_file():
        candidates.append(location / "snapshots" / ref.read_text(encoding="ascii").strip())
    snapshots = location / "snapshots"
    if snapshots.is_dir():
        others = sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
        candidates += [p for p in others if p not in candidates]
    return next((folder for folder in candidates if _is_complete(folder)), None)


def is_downloaded(spec: ModelSpec, cache_dir: str | Path | None = None) -> bool:
    """Whether ``spec`` can be loaded offline now. Always False for the remote entry."""
    return snapshot_folder(spec, cache_dir) is not None


def pull(
    spec: ModelSpec,
    progress: bool = True,
    *,
    cache_dir: str | Path | None = None,
    token: str | None = None,
) -> Path:
    """Download ``spec`` into the Hugging Face cache and return its snapshot folder.

    ``token`` defaults to huggingface_hub's own lookup (``HF_TOKEN``, then the saved login).
    A local folder is returned as it is; the remote entry has nothing to download.
    """
    if spec.is_remote:
        raise InvalidArgumentError(
            f"Model {spec.id!r} runs on a server ({spec.source}); there is nothing to download."
        )
    if spec.local_folder is not None:
        folder = snapshot_folder(spec)
        if folder is None:
            raise ModelNotFoundError(
                f"Model folder {spec.local_folder}: no config.json or weight files; "
                "a local folder cannot be pulled, copy the complete model there."
            )
        return folder
    if is_offline():
        cached = snapshot_folder(spec, cache_dir)
        if cached is not None:
            return cached
        raise DownloadUnavailableError(_offline_message(spec))
    return _download(spec, progress, cache_dir, token)


def _download(
    spec: ModelSpec, progress: bool, cache_dir: str | Path | None, token: str | None
) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    target = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    unreachable: tuple[type[Exception], ...] = (LocalEntryNotFoundError, *_network_errors())
    try:
        folder = snapshot_download(
            spec.source,
            cache_dir=target,
            allow_patterns=list(ALLOW_PATTERNS),
            token=token,
            tqdm_class=None if progress else _quiet_tqdm(),
        )
    except GatedRepoError as err:
        raise GatedModelError(_gated_message(spec)) from err
    except RepositoryNotFoundError as err:
        if spec.gated or _status(err) in (401, 403):
            raise GatedModelError(_gated_message(spec)) from err
        raise ModelNotFoundError(
            f"Model {spec.id!r}: the hub has no repository {spec.source!r} (or it is private)."
        ) from err
    except OfflineModeIsEnabled as err:
        raise DownloadUnavailableError(_offline_message(spec)) from err
    except HfHubHTTPError as err:
        if _status(err) in (401, 403):
            raise GatedModelError(_gated_message(spec)) from err
        raise DownloadUnavailableError(_unreachable_message(spec, f"HTTP {_status(err)}")) from err
    except unreachable as err:
        cause = err.__cause__ or err
        if isinstance(cause, OfflineModeIsEnabled):
            raise DownloadUnavailableError(_offline_message(spec)) from err
        raise DownloadUnavailableError(_unreachable_message(spec, type(cause).__name__)) from err
    return Path(folder)


def _network_errors() -> tuple[type[Exception], ...]:
    """Connection failures, including those of the HTTP client huggingface_hub uses."""
    errors: list[type[Exception]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _gated_message(spec: ModelSpec) -> str:
    page = spec.card_url or f"https://huggingface.co/{spec.source}"
    terms = f"accept the {spec.license}" if spec.gated else "request access"
    return (
        f"{spec.source} is gated and this machine has no access: open {page} while logged in "
        f"and {terms}, create a read token at {TOKEN_URL}, then set HF_TOKEN=<token> (or run "
        f"`hf auth login`) and run `radlens models pull {spec.id}` again."
    )


def _offline_message(spec: ModelSpec) -> str:
    return (
        f"Cannot download {spec.id} ({spec.source}): downloads are disabled "
        "(HF_HUB_OFFLINE=1). Unset HF_HUB_OFFLINE on a machine that can reach huggingface.co, "
        "or copy a downloaded model folder here and pass its path as --model."
    )


def _unreachable_message(spec: ModelSpec, reason: str) -> str:
    return (
        f"Cannot download {spec.id} ({spec.source}): huggingface.co cannot be reached ({reason}). "
        "Check the network or proxy (HTTPS_PROXY), or copy a downloaded model folder here and "
        "pass its path as --model."
    )


def _status(err: Exception) -> int | None:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _is_complete(folder: Path) -> bool:
    """``config.json`` and every weight file the index names (or some safetensors file)."""
    if not (folder / "config.json").is_file():
        return False
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map: dict[str, Any] = json.loads(index.read_text(encoding="utf-8"))[
                "weight_map"
            ]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return all((folder / str(name)).is_file() for name in set(weight_map.values()))
    return any(folder.glob("*.safetensors"))


def _quiet_tqdm() -> type:
    """A tqdm class that draws nothing (``progress=False``)."""
    from tqdm.auto import tqdm

    class _Quiet(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return _Quiet
