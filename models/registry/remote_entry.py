"""The registry's ``remote`` entry: an OpenAI-compatible server named by the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from dicom_io.errors import InvalidArgumentError
from models.families import Family
from models.families.remote import ADAPTER as REMOTE
from models.registry.spec import CONVENTION_NAME, ModelSpec

__all__ = ["REMOTE_ID", "RemoteSettings", "remote_settings", "remote_spec"]

REMOTE_ID = "remote"
_REMOTE_DEFAULT_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` listens by default


@dataclass(frozen=True)
class RemoteSettings:
    """The OpenAI-compatible server of the ``remote`` entry, from the environment."""

    url: str
    model: str | None
    api_key: str | None = field(default=None, repr=False)
    grounding: str = REMOTE.box_format
    timeout: float = 120.0  # seconds without a byte from the server (the first token included)

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_URL must be an http(s) URL such as {_REMOTE_DEFAULT_URL}, "
                f"not {self.url!r}."
            )
        if not CONVENTION_NAME.match(self.grounding):
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_GROUNDING must be a convention name such as 'qwen_abs', "
                f"not {self.grounding!r}."
            )
        if not 0 < self.timeout <= 3600:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_TIMEOUT must be seconds within (0, 3600], not {self.timeout:g}."
            )


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(
            f"RADLENS_REMOTE_TIMEOUT must be a number of seconds such as 300, not {text!r}."
        ) from None


def remote_settings(environ: Mapping[str, str] | None = None) -> RemoteSettings:
    """Read RADLENS_REMOTE_URL, _MODEL, _API_KEY, _GROUNDING and _TIMEOUT (default:
    ``os.environ``)."""
    env = os.environ if environ is None else environ
    timeout = env.get("RADLENS_REMOTE_TIMEOUT", "").strip()
    return RemoteSettings(
        url=env.get("RADLENS_REMOTE_URL", "").strip() or _REMOTE_DEFAULT_URL,
        model=env.get("RADLENS_REMOTE_MODEL", "").strip() or None,
        api_key=env.get("RADLENS_REMOTE_API_KEY") or None,
        grounding=env.get("RADLENS_REMOTE_GROUNDING", "").strip() or REMOTE.box_format,
        timeout=_seconds(timeout) if timeout else 120.0,
    )


def remote_spec(environ: Mapping[str, str] | None) -> ModelSpec:
    settings = remote_settings(environ)
    served = settings.model or "the server's first model"
    return ModelSpec(
        id=REMOTE_ID,
        name=f"Remote: {served}",
        source=settings.url,
        family=Family.REMOTE,
        grounding=settings.grounding,
        architecture=None,
        context_length=None,
        license="that of the served model",
        gated=False,
        card_url="",
        notes=(
            "Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, transformers serve): "
            "RADLENS_REMOTE_URL, RADLENS_REMOTE_MODEL, RADLENS_REMOTE_API_KEY, "
            "RADLENS_REMOTE_GROUNDING, RADLENS_REMOTE_TIMEOUT. Images are sent to that server: "
            "use one you control."
        ),
    )
