"""What a model was trained and documented to do, by modality: :class:`Capabilities`.

Each registry entry declares, from its model card, the modalities it drafts reports for and
answers questions on, whether its card covers CT/MR volumes sent as slices, where it gives
boxes (modalities, body parts, single 2D images or slices of a stack) and where it compares a
study with a prior. The tasks read them: report drafting asks for boxes only where the model
localizes (else the report says why, :meth:`Capabilities.localization_note`), an answer's boxes
for a modality the model does not localize are dropped with that reason, and a comparison the
card does not cover carries a warning. Modalities are DICOM codes (CT, MR, CR, DX, ...); a
plain PNG/JPEG is ``OT``; :data:`ANY` means every modality.

Entries that declare nothing get their family's conservative default
(:func:`family_capabilities`): a local folder or a remote server of an unknown model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from models.families import Family
from models.families.base import PLANAR_2D
from models.families.lookup import adapter

__all__ = [
    "ANY",
    "CHEST_RADIOGRAPH",
    "NOT_OFFERED",
    "PLANAR_2D",
    "Capabilities",
    "Capability",
    "family_capabilities",
    "not_offered_notes",
]

ANY = "*"
# Projection radiographs, and a plain image, which is how MedGemma's own localization notebook
# feeds a chest X-ray (a PNG from Wikimedia: cxr_anatomy_localization_with_hugging_face.ipynb).
CHEST_RADIOGRAPH = frozenset({"CR", "DX", "OT"})
NOT_OFFERED = "localization not offered by"  # how every note of a withheld box starts


class Capability(StrEnum):
    """The capabilities an entry declares (and cites a source for)."""

    REPORT = "report"
    VQA = "vqa"
    VOLUMES = "volumes"
    LOCALIZATION = "localization"
    LONGITUDINAL = "longitudinal"


def _codes(name: str, values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        raise TypeError(f"Capabilities.{name} takes modality codes, not the string {values!r}.")
    codes = frozenset(v.strip().upper() for v in values)
    for code in codes:
        if code != ANY and not (code.isalnum() and 1 < len(code) <= 4):
            raise ValueError(
                f"Capabilities.{name}: {code!r} is not a DICOM modality code (CT, MR, CR...)."
            )
    return codes


def _matches(codes: frozenset[str], modality: str) -> bool:
    return ANY in codes or modality.strip().upper() in codes


def _listed(codes: frozenset[str]) -> str:
    if ANY in codes:
        return "any modality"
    if codes == PLANAR_2D:
        return "2D images (radiographs, ultrasound, photographs, plain images; not CT/MR)"
    if codes == CHEST_RADIOGRAPH:
        return "chest radiographs (CR, DX or a plain image)"
    return ", ".join(sorted(codes)) or "none"


@dataclass(frozen=True)
class Capabilities:
    """What a model does, by modality (DICOM codes; :data:`ANY` for all).

    Attributes:
        report: modalities it drafts reports for.
        vqa: modalities it answers questions on.
        volumes: its card covers CT/MR volumes sent as a stack of slices.
        localization: modalities it gives boxes on (empty: none).
        localization_body_parts: body parts (DICOM BodyPartExamined) it localizes; empty: any.
            A series without a body part is given the benefit of the doubt.
        localization_stacks: it localizes on the slices of a 3D stack, not only on 2D images.
        localization_scope: what it localizes, in words ("chest-radiograph anatomy").
        no_localization: why it gives no boxes elsewhere, in words (shown to the user).
        longitudinal: modalities it compares with a prior study.
        sources: (capability, "card URL, section") for each capability declared.
    """

    report: frozenset[str] = frozenset({ANY})
    vqa: frozenset[str] = frozenset({ANY})
    volumes: bool = False
    localization: frozenset[str] = frozenset()
    localization_body_parts: frozenset[str] = frozenset()
    localization_stacks: bool = False
    localization_scope: str = ""
    no_localization: str = "not trained for box localization"
    longitudinal: frozenset[str] = frozenset()
    sources: tuple[tuple[Capability, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("report", "vqa", "localization", "longitudinal"):
            object.__setattr__(self, name, _codes(name, getattr(self, name)))
        parts = frozenset(p.strip().upper() for p in self.localization_body_parts)
        object.__setattr__(self, "localization_body_parts", parts)
        sources = tuple((Capability(c), text) for c, text in self.sources)
        object.__setattr__(self, "sources", sources)
        if self.localization and not self.localization_scope.strip():
            raise ValueError("Capabilities.localization_scope must say what the model localizes.")
        if not self.no_localization.strip():
            raise ValueError("Capabilities.no_localization must say why boxes are withheld.")
        for capability, text in sources:
            if not text.startswith("https://"):
                raise ValueError(
                    f"Capabilities.sources[{capability.value}] must start with its https URL, "
                    f"not {text!r}."
                )

    def reports(self, modality: str) -> bool:
        return _matches(self.report, modality)

    def answers(self, modality: str) -> bool:
        return _matches(self.vqa, modality)

    def compares(self, modality: str) -> bool:
        return _matches(self.longitudinal, modality)

    def localizes(self, modality: str, body_part: str = "", *, stack: bool = False) -> bool:
        """True when the model gives boxes on this kind of image (``stack``: a slice of a 3D
        series)."""
        return not self._withheld(modality, body_part, stack)

    def _withheld(self, modality: str, body_part: str, stack: bool) -> str:
        """Why boxes are withheld for this image, or "" when the model localizes it."""
        if not _matches(self.localization, modality):
            if not self.localization:
                return self.no_localization
            return f"it localizes {self.localization_scope} only"
        part = body_part.strip().upper()
        if part and self.localization_body_parts and part not in self.localization_body_parts:
            return f"it localizes {self.localization_scope} only"
        if stack and not self.localization_stacks:
            return (
                f"it localizes {self.localization_scope} on single 2D images, not on the "
                "slices of a 3D series"
            )
        return ""

    def localization_note(
        self, model: str, modality: str, body_part: str = "", *, stack: bool = False
    ) -> str:
        """``"localization not offered by <model> for <modality>: <why>"``; "" when it
        localizes this kind of image."""
        why = self._withheld(modality, body_part, stack)
        if not why:
            return ""
        what = modality.strip().upper() or "this image"
        if body_part.strip():
            what += f" {body_part.strip().upper()}"
        if stack:
            what += " slices"
        return f"{NOT_OFFERED} {model} for {what}: {why}"

    def comparison_note(self, model: str, modality: str) -> str:
        """A warning when the card does not document comparing ``modality`` studies; "" when
        it does."""
        if self.compares(modality):
            return ""
        documented = (
            f"its card documents {_listed(self.longitudinal)} only"
            if self.longitudinal
            else "its card documents no longitudinal comparison"
        )
        return (
            f"longitudinal comparison not documented for {model} on "
            f"{modality.strip().upper() or 'this modality'} ({documented}): read the interval "
            "changes with extra care"
        )

    def volume_note(self, model: str) -> str:
        """A warning for a 3D series when the card does not cover volumes; "" when it does."""
        if self.volumes:
            return ""
        return f"3D volumes are not documented for {model}: its slices are sent as separate images"

    def summary(self) -> tuple[str, ...]:
        """One line per capability, for ``radlens models`` and the Settings pane."""
        if self.localization:
            where = _listed(self.localization)
            if self.localization_body_parts:
                where += f" ({', '.join(sorted(self.localization_body_parts))})"
            if not self.localization_stacks and self.localization != PLANAR_2D:
                where += ", 2D images only"
            boxes = f"{where}: {self.localization_scope}"
        else:
            boxes = f"none ({self.no_localization})"
        return (
            f"reports: {_listed(self.report)}",
            f"questions: {_listed(self.vqa)}",
            f"3D volumes as slices: {'documented' if self.volumes else 'not documented'}",
            f"boxes: {boxes}",
            f"comparison with a prior: {_listed(self.longitudinal)}",
        )

    def source(self, capability: Capability | str) -> str:
        """The source cited for ``capability``; "" when none was given."""
        wanted = Capability(capability)
        return next((text for c, text in self.sources if c is wanted), "")


@cache
def family_capabilities(family: Family | str) -> Capabilities:
    """The conservative default of a family, for entries that declare nothing (local folders,
    the remote entry)."""
    return Capabilities(**adapter(family).default_capabilities)


def not_offered_notes(notes: Iterable[str]) -> tuple[str, ...]:
    """The notes saying boxes were withheld (they start with :data:`NOT_OFFERED`)."""
    return tuple(n for n in notes if n.startswith(NOT_OFFERED))
