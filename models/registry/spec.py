"""A model RadLens can run, as data: :class:`ModelSpec`.

A spec holds an id (``medgemma-1.5-4b``), a source (hub id, local folder or server URL), the
architecture family, the name of its native box convention (the values of
``models.grounding.conventions.Convention``), what an image costs in tokens, licence and gating,
the system prompt its card uses, and the size facts behind a memory estimate
(:mod:`models.registry.memory`). The box convention and the token note default to the family's
(:mod:`models.families`), so an entry states only what differs. Its capabilities (what its card
says it does, by modality: :mod:`models.registry.capabilities`) default to the family's
conservative ones; :attr:`ModelSpec.can` reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from models.backends.loading import Precision
from models.errors import UnsupportedPrecisionError
from models.families import Family, adapter
from models.registry.capabilities import Capabilities, family_capabilities
from models.registry.memory import KV_TOKENS, RUNTIME_OVERHEAD_GB, Architecture

__all__ = ["CONVENTION_NAME", "ModelSpec", "looks_like_path"]

_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")
CONVENTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ModelSpec:
    """One model RadLens can run, as data. See :mod:`models.registry.memory` for the memory
    formula."""

    id: str
    name: str
    source: str  # hub id, local folder, or the server URL of the remote entry
    family: Family
    architecture: Architecture | None  # None only for the remote entry
    context_length: int | None
    license: str
    gated: bool
    card_url: str
    default_precision: Precision = Precision.AUTO
    system_prompt: str | None = None  # as the model card's example uses it; None: none given
    notes: str = ""
    grounding: str = ""  # a models.grounding.conventions.Convention value; "": the family's
    image_tokens: str = ""  # what an image costs, in words; "": the family's
    max_pixels: int | None = None  # most pixels per image its (serving) processor takes
    capabilities: Capabilities | None = None  # from its card; None: the family's default
    # The registry id whose makers' prompts and layout apply (prompts/templates: templates
    # and model_layouts are keyed by registry id): the remote entry serving a known model
    # takes that model's (models.registry.lookup.served_spec); "": the entry's own id.
    recipe: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "family", Family(self.family))
        family = adapter(self.family)
        object.__setattr__(self, "grounding", self.grounding or family.box_format)
        object.__setattr__(self, "image_tokens", self.image_tokens or family.image_tokens_note)
        object.__setattr__(self, "default_precision", Precision.parse(self.default_precision))
        if self.capabilities is None:
            object.__setattr__(self, "capabilities", family_capabilities(self.family))
        if not _ID.match(self.id):
            raise ValueError(
                f"ModelSpec.id must be lowercase letters, digits, '.', '-': {self.id!r}"
            )
        if not self.name.strip() or not self.source.strip() or not self.license.strip():
            raise ValueError(f"ModelSpec {self.id!r}: name, source and license must not be empty.")
        if not CONVENTION_NAME.match(self.grounding):
            raise ValueError(
                f"ModelSpec {self.id!r}: bad grounding convention {self.grounding!r}."
            )
        if self.max_pixels is not None and self.max_pixels <= 0:
            raise ValueError(f"ModelSpec {self.id!r}: max_pixels must be > 0.")
        if (self.architecture is None) != self.is_remote:
            raise ValueError(f"ModelSpec {self.id!r}: only a remote model has no architecture.")
        if self.context_length is not None and self.context_length <= 0:
            raise ValueError(f"ModelSpec {self.id!r}: context_length must be > 0.")
        if self.card_url and not self.card_url.startswith("https://"):
            raise ValueError(
                f"ModelSpec {self.id!r}: card_url must be https, not {self.card_url!r}."
            )
        if self.system_prompt is not None and not self.system_prompt.strip():
            raise ValueError(f"ModelSpec {self.id!r}: system_prompt is None or non-empty text.")

    @property
    def can(self) -> Capabilities:
        """The entry's capabilities (never None after construction)."""
        return self.capabilities or family_capabilities(self.family)

    @property
    def is_remote(self) -> bool:
        """Served by an OpenAI-compatible server: the remote entry, whose source is the server's
        URL and whose family is the one it declares (or ``remote`` when unknown)."""
        return self.family is Family.REMOTE or self.source.startswith(("http://", "https://"))

    @property
    def local_folder(self) -> Path | None:
        """The folder the model was given as, when it is a local folder rather than a hub id."""
        if self.is_remote or not looks_like_path(self.source):
            return None
        return Path(self.source)

    @property
    def hub_id(self) -> str | None:
        """The Hugging Face hub id, when the model comes from the hub."""
        if self.is_remote or self.local_folder is not None:
            return None
        return self.source

    @property
    def params_b(self) -> float | None:
        return None if self.architecture is None else self.architecture.params_b

    def memory_gb(self, precision: Precision | str, *, tokens: int = KV_TOKENS) -> float:
        """Estimated GPU memory (GB) to run at ``precision`` with ``tokens`` in context.

        0.0 for the remote entry: the model runs on the server.
        """
        chosen = Precision.parse(precision)
        if chosen is Precision.AUTO:
            raise UnsupportedPrecisionError(
                "A memory estimate needs a precision (nf4, int8, bf16, fp32), not 'auto'."
            )
        if self.architecture is None:
            return 0.0
        cache = self.architecture.kv_cache_gb(tokens, 4.0 if chosen is Precision.FP32 else 2.0)
        return self.architecture.weights_gb(chosen) + cache + RUNTIME_OVERHEAD_GB

    def tokens_per_image(self, width: int, height: int) -> int | None:
        """Image tokens one ``width`` x ``height`` image costs; None when the server decides."""
        return adapter(self.family).tokens_per_image(width, height)

    @property
    def gated_note(self) -> str:
        """How to get access, for gated models; empty otherwise."""
        if not self.gated:
            return ""
        return (
            f"Gated: accept the {self.license} on {self.card_url} while logged in to Hugging "
            "Face, then give a token (HF_TOKEN or `hf auth login`) to "
            f"`radlens models pull {self.id}`."
        )


def looks_like_path(text: str) -> bool:
    """A hub id is ``owner/name``; anything else with a separator is meant as a path."""
    return text.startswith(("/", ".", "~")) or "\\" in text or text.count("/") > 1
