"""The registry's ``remote`` entry: an OpenAI-compatible server named by the environment.

The server runs a model RadLens cannot inspect, so the environment declares what it is:

- ``RADLENS_REMOTE_FAMILY``: ``gemma3`` (MedGemma), ``qwen2_5_vl`` (Qwen2.5-VL, Lingshu),
  ``qwen3_vl``, any other :class:`~models.families.Family` value, or ``unknown`` (the
  default). The entry's ``family`` is then that family, so the images, the prompts and the box
  convention are the ones a local model of that family gets (MedGemma: the square padding and
  the three CT windows; Qwen: the smart resize). ``unknown`` is the ``remote`` family
  (:mod:`models.families.remote`).
- ``RADLENS_REMOTE_MAX_PIXELS``: the most pixels per image the server's processor keeps
  (vLLM's ``--mm-processor-kwargs '{"max_pixels": ...}'``). RadLens resizes each image within
  it before sending (:func:`models.tasks.prepare.inputs_for`), so the server's own resize is
  the identity and a Qwen2.5-VL's ``bbox_2d`` pixels are in the frame the mapping records.
  Default ``28 * 28 * 1280`` = 1,003,520, the Qwen2-VL/Qwen2.5-VL image processor's default
  ``longest_edge`` (transformers 5.24.0,
  ``src/transformers/models/qwen2_vl/image_processing_qwen2_vl.py``, ``size =
  {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280}``), which is also RadLens' own cap
  (:data:`models.families.qwen2_5_vl.MAX_PIXELS`), so by default nothing changes.
- ``RADLENS_REMOTE_GROUNDING``: a box convention, when the served model writes boxes another
  way than its family (default: the family's; see below for ``unknown``).
- ``RADLENS_REMOTE_CONCURRENCY``: how many requests RadLens sends at once (default 8; vLLM and
  SGLang batch concurrent requests, so throughput grows with it; the UI's model queue and
  ``radlens report`` batches use it).
- ``RADLENS_REMOTE_URL``, ``_MODEL``, ``_API_KEY``, ``_TIMEOUT``: where, what, the key, and
  seconds without a byte.

The box convention follows the declared family: a Qwen3-VL (or Qwen2-VL) writes 0-1000
relative boxes and must not be read as absolute pixels. An ``unknown`` model gets
``qwen_norm_1000`` (``bbox_2d`` on 0-1000, x first): a relative frame stays right whatever the
server resizes to, while absolute pixels are only right in a frame RadLens cannot know; the
entry's capabilities (the registry's) offer no localization for an unknown family, so this
matters only when a user asks for boxes anyway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlparse

from dicom_io.errors import InvalidArgumentError
from models.families import Family
from models.families.lookup import ADAPTERS, adapter
from models.registry.known_models import MAIRA2_CAPABILITIES
from models.registry.spec import CONVENTION_NAME, ModelSpec

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_PIXELS",
    "REMOTE_ID",
    "RemoteSettings",
    "remote_settings",
    "remote_spec",
]

REMOTE_ID = "remote"
UNKNOWN = "unknown"
_REMOTE_DEFAULT_URL = "http://127.0.0.1:8000/v1"  # where `vllm serve` listens by default
DEFAULT_MAX_PIXELS = 28 * 28 * 1280  # Qwen2-VL / Qwen2.5-VL image processor default (above)
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256


@dataclass(frozen=True)
class RemoteSettings:
    """The OpenAI-compatible server of the ``remote`` entry, from the environment.

    ``family`` is :attr:`Family.REMOTE` for an unknown model; ``grounding`` None means the
    family's own convention (:attr:`convention`).
    """

    url: str
    model: str | None
    api_key: str | None = field(default=None, repr=False)
    grounding: str | None = None
    timeout: float = 120.0  # seconds without a byte from the server (the first token included)
    family: Family = Family.REMOTE
    max_pixels: int = DEFAULT_MAX_PIXELS
    concurrency: int = DEFAULT_CONCURRENCY

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.family))
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_URL must be an http(s) URL such as {_REMOTE_DEFAULT_URL}, "
                f"not {self.url!r}."
            )
        if self.grounding is not None and not CONVENTION_NAME.match(self.grounding):
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_GROUNDING must be a convention name such as 'qwen_abs', "
                f"not {self.grounding!r}."
            )
        if not 0 < self.timeout <= 3600:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_TIMEOUT must be seconds within (0, 3600], not {self.timeout:g}."
            )
        if self.max_pixels < 28 * 28:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_MAX_PIXELS must be at least 784 (one 28 x 28 patch), "
                f"not {self.max_pixels}."
            )
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise InvalidArgumentError(
                f"RADLENS_REMOTE_CONCURRENCY must be within 1..{MAX_CONCURRENCY}, "
                f"not {self.concurrency}."
            )

    @property
    def convention(self) -> str:
        """The box convention answers are read with: the declared one, else the family's."""
        return self.grounding or adapter(self.family).box_format


def _setting(env: Mapping[str, str], name: str) -> str:
    return env.get(f"RADLENS_REMOTE_{name}", "").strip()


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(
            f"RADLENS_REMOTE_TIMEOUT must be a number of seconds such as 300, not {text!r}."
        ) from None


def _whole(name: str, text: str, example: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(
            f"RADLENS_REMOTE_{name} must be a whole number such as {example}, not {text!r}."
        ) from None


def _family(text: str) -> Family:
    name = text.strip().lower() or UNKNOWN
    if name == UNKNOWN:
        return Family.REMOTE
    try:
        return adapter(name).family
    except ValueError:
        known = ", ".join(f.value for f in ADAPTERS if f is not Family.REMOTE)
        raise InvalidArgumentError(
            f"RADLENS_REMOTE_FAMILY must be one of {known} or {UNKNOWN}, not {text.strip()!r}."
        ) from None


def remote_settings(environ: Mapping[str, str] | None = None) -> RemoteSettings:
    """Read the RADLENS_REMOTE_* settings (default: ``os.environ``); see the module docstring."""
    env = os.environ if environ is None else environ
    timeout, pixels, at_once = (_setting(env, n) for n in ("TIMEOUT", "MAX_PIXELS", "CONCURRENCY"))
    return RemoteSettings(
        url=_setting(env, "URL") or _REMOTE_DEFAULT_URL,
        model=_setting(env, "MODEL") or None,
        api_key=env.get("RADLENS_REMOTE_API_KEY") or None,
        grounding=_setting(env, "GROUNDING") or None,
        timeout=_seconds(timeout) if timeout else 120.0,
        family=_family(_setting(env, "FAMILY")),
        max_pixels=_whole("MAX_PIXELS", pixels, DEFAULT_MAX_PIXELS)
        if pixels
        else DEFAULT_MAX_PIXELS,
        concurrency=_whole("CONCURRENCY", at_once, 8) if at_once else DEFAULT_CONCURRENCY,
    )


def remote_spec(environ: Mapping[str, str] | None) -> ModelSpec:
    """The ``remote`` entry: the declared family's recipe, sent to the server's URL."""
    settings = remote_settings(environ)
    served = settings.model or "the server's first model"
    family = adapter(settings.family)
    declared = (
        "family not declared (RADLENS_REMOTE_FAMILY)"
        if settings.family is Family.REMOTE
        else f"served as {settings.family.value} ({family.model_names})"
    )
    return ModelSpec(
        id=REMOTE_ID,
        name=f"Remote: {served}",
        source=settings.url,
        family=settings.family,
        grounding=settings.convention,
        architecture=None,
        context_length=None,
        license="that of the served model",
        gated=False,
        card_url="",
        max_pixels=settings.max_pixels,
        capabilities=MAIRA2_CAPABILITIES if settings.convention == "maira2" else None,
        notes=(
            f"Any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, transformers "
            f"serve), {declared}, up to {settings.concurrency} requests at once: "
            "RADLENS_REMOTE_URL, _MODEL, _API_KEY, _FAMILY, _MAX_PIXELS, _GROUNDING, "
            "_CONCURRENCY, _TIMEOUT. Images are sent to that server: use one you control."
        ),
    )
