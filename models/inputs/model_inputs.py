"""The exact images a model receives for a series, the mapping back, and what they cost.

:func:`build_inputs` is a pure function: (series or volume, slice selection, model family,
options) to :class:`ModelInputs`, the uint8 RGB images in the order the model sees them, one
:class:`~models.inputs.mapping.ImageMapping` per image (pad and resize recorded, so boxes land
on source pixels), the source slice of each image, its text label and the token cost. The
pixels are made with MONAI array transforms (:mod:`models.inputs.images_2d`), the slices chosen
by :mod:`models.inputs.slices_3d`.

Modes (:class:`InputMode`):

- ``current``: one slice (a radiograph, a photo, or the slice the viewer shows).
- ``volume``: up to ``max_slices`` of ``slice_range``, sampled as MedGemma's CT notebook
  samples them (:func:`~models.inputs.slices_3d.sample_slices`).
- ``slab``: the volume recipe on ``current_slice +- slab_half_width``.
- ``auto``: ``volume`` for a grey stack of several slices, else ``current``.

Intensities, in every mode, follow the family's maker (:attr:`FamilyAdapter.image_encoding`):

- ``ImageEncoding.MEDGEMMA`` (Gemma3): every CT image, a single slice too, as MedGemma's three
  HU windows, one per RGB channel (:data:`~models.inputs.slices_3d.CT_WINDOWS`), since its
  serving code windows every CT image that way (Google-Health/medgemma
  python/data_accessors/local_file_handlers/generic_dicom_handler.py); MR min-max over the
  slices sent (:func:`~models.inputs.slices_3d.acquisition_range`); anything else as the viewer.
- ``ImageEncoding.VIEWER`` (Qwen2.5-VL, Lingshu, an unknown remote model): as the viewer shows
  it, in grey.
- "As the viewer": the series' DICOM window, else one derived from the data; MONOCHROME1
  inverted; colour images kept as RGB; the whole field of view.
- A ``window`` option is the user's explicit choice and wins for every family: that one window
  in grey. For MedGemma that sends a CT or MR in an encoding it was not trained on; the
  description says so.

Geometry (pad and resize, within ``qwen_min_pixels..qwen_max_pixels`` where the family resizes
to an area), token cost, label tokens and the default ``max_slices`` are the family adapter's
(:mod:`models.families`); nothing here branches on the family. ``slab_half_width`` 4: nine slices,
about a centimetre of a thin-slice CT. The current slice defaults to the middle one.

Labels and order follow MedGemma's CT notebook (cell h57n3PWsznxy) for every family: each image
is FOLLOWED by its label ``"SLICE n"``, ``n = 1..N`` its position among the images sent, and the
question comes after the last one (:func:`to_messages`; the maintainers say in
Google-Health/medgemma#76 that MedGemma 1.5 falls back to a chest-radiograph report when the
query does not follow the last slice). A box the model puts on ``"slice": n`` is resolved to the
n-th image's mapping and so to its source slice (:mod:`models.grounding.placement`). A single
image has no label.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Orientation, Series, Window
from dicom_io.volume import Volume
from dicom_io.windowing import parse_window
from models.errors import ContextOverflowError
from models.families import Family, FamilyAdapter, adapter
from models.families.base import ImageEncoding
from models.families.qwen2_5_vl import MAX_PIXELS as QWEN_MAX_PIXELS
from models.families.qwen2_5_vl import MIN_PIXELS as QWEN_MIN_PIXELS
from models.inputs.images_2d import ChannelRanges, render_images, window_range
from models.inputs.mapping import ImageMapping
from models.inputs.messages import ImagePart, LabelPart, Message, Part, TextPart
from models.inputs.slices_3d import (
    CT_WINDOWS,
    acquisition_range,
    check_range,
    sample_slices,
    slab_slices,
)

__all__ = [
    "DEFAULT_SLAB_HALF_WIDTH",
    "InputMode",
    "InputOptions",
    "ModelInputs",
    "build_inputs",
    "estimate_tokens",
    "slice_labels",
    "to_messages",
]

DEFAULT_SLAB_HALF_WIDTH = 4


class InputMode(StrEnum):
    AUTO = "auto"
    CURRENT = "current"
    SLAB = "slab"
    VOLUME = "volume"


@dataclass(frozen=True)
class InputOptions:
    """What to show the model; see the module docstring for the modes and defaults.

    Attributes:
        mode: ``"auto"``, ``"current"``, ``"slab"`` or ``"volume"``.
        current_slice: 0-based slice for ``current`` and ``slab`` (``None``: the middle one).
        slab_half_width: slices on each side of the current one in ``slab`` mode.
        max_slices: most images for ``volume`` and ``slab`` (``None``: the family's default).
        slice_range: half-open ``(start, stop)`` the volume is sampled from (``None``: all).
        qwen_max_pixels, qwen_min_pixels: area bounds of each Qwen image.
        window: a preset name, ``"C,W"``, ``"default"`` or a :class:`Window` replacing the
            automatic intensity mapping.
    """

    mode: InputMode | str = InputMode.AUTO
    current_slice: int | None = None
    slab_half_width: int = DEFAULT_SLAB_HALF_WIDTH
    max_slices: int | None = None
    slice_range: tuple[int, int] | None = None
    qwen_max_pixels: int = QWEN_MAX_PIXELS
    qwen_min_pixels: int = QWEN_MIN_PIXELS
    window: str | Window | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", InputMode(self.mode))
        except ValueError as err:
            names = ", ".join(m.value for m in InputMode)
            raise InvalidArgumentError(
                f"Argument 'mode' must be one of {names}, not {self.mode!r}."
            ) from err
        for name, low in (("current_slice", 0), ("slab_half_width", 0), ("max_slices", 1)):
            value = getattr(self, name)
            if value is not None and value < low:
                raise InvalidArgumentError(f"Argument '{name}' must be >= {low}, not {value}.")
        if not 0 < self.qwen_min_pixels <= self.qwen_max_pixels:
            raise InvalidArgumentError(
                f"Arguments 'qwen_min_pixels' ({self.qwen_min_pixels}) and 'qwen_max_pixels' "
                f"({self.qwen_max_pixels}) must satisfy 0 < min <= max."
            )

    def slices_for(self, family: Family | str) -> int:
        """``max_slices``, or the family's default when unset."""
        if self.max_slices is not None:
            return self.max_slices
        return adapter(family).default_max_slices


@dataclass(frozen=True, eq=False)
class ModelInputs:
    """The images a model receives, in order, and how they relate to the source.

    Attributes:
        images: ``(height, width, 3)`` uint8 RGB arrays (read-only).
        mappings: model image -> source slice pixels, one per image.
        slice_indices: the 0-based source slice of each image.
        labels: the text part sent after each image (``"SLICE n"``, n its 1-based position;
            ``""`` for none).
        image_tokens: tokens the images and their labels take in the prompt (labels estimated).
        family: the model family the images were made for.
        description: one line for the UI, e.g. ``"85 of 300 slices, CT windows ..., 896x896"``.
    """

    images: tuple[npt.NDArray[np.uint8], ...]
    mappings: tuple[ImageMapping, ...]
    slice_indices: tuple[int, ...]
    labels: tuple[str, ...]
    image_tokens: int
    family: Family
    description: str

    def __post_init__(self) -> None:
        n = len(self.images)
        if n == 0:
            raise ValueError("ModelInputs needs at least one image.")
        if not len(self.mappings) == len(self.slice_indices) == len(self.labels) == n:
            raise ValueError(
                f"ModelInputs needs one mapping, slice index and label per image ({n} images)."
            )


@dataclass(frozen=True)
class _Plan:
    """Everything decided from the metadata alone, before decoding any voxel."""

    mode: InputMode
    count: int
    indices: tuple[int, ...]
    labels: tuple[str, ...]
    source_size: tuple[int, int]
    pad: tuple[int, int, int, int]
    model_size: tuple[int, int]
    partial: bool = False  # a slab or a slice range short of the whole volume


def estimate_tokens(
    source: Series | Volume,
    family: Family | str,
    options: InputOptions | None = None,
    *,
    modality: str | None = None,
    photometric: str | None = None,
    context_limit: int | None = None,
) -> int:
    """Tokens :func:`build_inputs` would spend on images and labels, without decoding voxels
    (the whole request, text and answer included, is counted by ``models.tasks.prepare``).

    Raises:
        ContextOverflowError: the count exceeds ``context_limit``.
        InvalidArgumentError: a slice or slice range outside the series.
    """
    chosen = adapter(family)
    options = options or InputOptions()
    plan = _plan(_as_series(source, modality, photometric), chosen, options)
    tokens = _plan_tokens(plan, chosen)
    if context_limit is not None:
        _check_context(tokens, plan, chosen, context_limit)
    return tokens


def build_inputs(
    source: Series | Volume,
    family: Family | str,
    options: InputOptions | None = None,
    *,
    modality: str | None = None,
    photometric: str | None = None,
    context_limit: int | None = None,
) -> ModelInputs:
    """The images ``family`` receives for ``source`` under ``options``, with their mappings.

    A bare :class:`Volume` takes its metadata from ``modality`` (default ``"CT"`` when its units
    are HU, else ``"OT"``) and ``photometric`` (default ``"RGB"`` or ``"MONOCHROME2"``); its
    default window is derived from the data. Both are ignored for a :class:`Series`.

    Raises:
        ContextOverflowError: the images would exceed ``context_limit`` tokens (checked before
            any pixel work).
        InvalidArgumentError: a slice, slice range or window that does not fit the series.
    """
    chosen = adapter(family)
    options = options or InputOptions()
    series = _as_series(source, modality, photometric)
    plan = _plan(series, chosen, options)
    if context_limit is not None:
        _check_context(_plan_tokens(plan, chosen), plan, chosen, context_limit)
    slices = np.take(series.volume.array, plan.indices, axis=0)
    ranges, intensity = _intensity(series, chosen.image_encoding, options, slices)
    pixels = render_images(slices, ranges, plan.pad, plan.model_size)
    pixels.flags.writeable = False
    width, height = plan.source_size
    mappings = tuple(
        ImageMapping(k, plan.source_size, (0, 0, width, height), plan.pad, plan.model_size)
        for k in plan.indices
    )
    images = tuple(pixels[i] for i in range(len(plan.indices)))
    tokens = sum(
        chosen.image_tokens((image.shape[1], image.shape[0])) + chosen.label_tokens(label)
        for image, label in zip(images, plan.labels, strict=True)
    )
    return ModelInputs(
        images=images,
        mappings=mappings,
        slice_indices=plan.indices,
        labels=plan.labels,
        image_tokens=tokens,
        family=chosen.family,
        description=_describe(plan, intensity),
    )


def slice_labels(count: int, prefix: str = "") -> tuple[str, ...]:
    """The labels of ``count`` images of one study: ``"SLICE 1"`` .. ``"SLICE count"`` (after
    ``prefix``, e.g. ``"PRIOR"``), or just the prefix (``""`` without one) for a single image."""
    if count == 1:
        return (prefix,)
    return tuple(f"{prefix} SLICE {n}".strip() for n in range(1, count + 1))


def to_messages(
    inputs: ModelInputs,
    prompt_text: str,
    system_text: str | None = None,
    *,
    instruction: str = "",
    text_first: bool = False,
) -> list[Message]:
    """The chat as MedGemma's CT notebook lays it out (Google-Health/medgemma
    notebooks/high_dimensional_ct_hugging_face.ipynb, cell h57n3PWsznxy).

    A system message only when ``system_text`` has text; then one user message: the
    ``instruction`` (when given), each image FOLLOWED by its label (when it has one), and the
    query ``prompt_text`` last. ``text_first`` (MedGemma 1's card: text, then the image) puts
    the instruction and the query before the images.
    """
    shown: list[Part] = []
    for index, (label, image) in enumerate(zip(inputs.labels, inputs.images, strict=True)):
        shown.append(ImagePart(image, index))
        if label:
            shown.append(LabelPart(label))
    head: list[Part] = [TextPart(instruction)] if instruction else []
    query: list[Part] = [TextPart(prompt_text)] if prompt_text else []
    parts = [*head, *query, *shown] if text_first else [*head, *shown, *query]
    messages = [Message.text("system", system_text)] if system_text and system_text.strip() else []
    messages.append(Message("user", tuple(parts)))
    return messages


def _as_series(source: Series | Volume, modality: str | None, photometric: str | None) -> Series:
    if isinstance(source, Series):
        return source
    if not isinstance(source, Volume):
        raise TypeError(
            f"Argument 'source' must be a Series or a Volume, not {type(source).__name__}."
        )
    volume = source

    def loader() -> Volume:
        return volume

    return Series(
        index=0,
        key="volume",
        modality=modality or ("CT" if volume.units == "HU" else "OT"),
        shape=volume.shape,
        spacing=volume.spacing,
        spacing_known=volume.spacing_known,
        orientation=Orientation.UNKNOWN,
        photometric=photometric or ("RGB" if volume.is_rgb else "MONOCHROME2"),
        loader=loader,
    )


def _plan(series: Series, family: FamilyAdapter, options: InputOptions) -> _Plan:
    count, rows, columns = series.shape
    mode = InputMode(options.mode)
    if mode is InputMode.AUTO:
        grey_stack = count > 1 and series.photometric != "RGB"
        mode = InputMode.VOLUME if grey_stack else InputMode.CURRENT
    current = count // 2 if options.current_slice is None else options.current_slice
    if not 0 <= current < count:
        raise InvalidArgumentError(f"Current slice {current} is outside 0..{count - 1}.")
    max_slices = options.slices_for(family.family)
    if mode is InputMode.CURRENT:
        indices: tuple[int, ...] = (current,)
    elif mode is InputMode.SLAB:
        half = options.slab_half_width
        indices = slab_slices(count, current, half, max_slices, options.slice_range)
    else:
        indices = sample_slices(count, max_slices, options.slice_range)
    pad, model_size = family.geometry(
        columns, rows, min_pixels=options.qwen_min_pixels, max_pixels=options.qwen_max_pixels
    )
    labels = slice_labels(len(indices))
    partial = mode is InputMode.SLAB or (
        mode is InputMode.VOLUME and check_range(count, options.slice_range) != (0, count)
    )
    return _Plan(mode, count, indices, labels, (columns, rows), pad, model_size, partial)


def _plan_tokens(plan: _Plan, family: FamilyAdapter) -> int:
    per_image = family.image_tokens(plan.model_size)
    return sum(per_image + family.label_tokens(label) for label in plan.labels)


def _check_context(tokens: int, plan: _Plan, family: FamilyAdapter, context_limit: int) -> None:
    if tokens <= context_limit:
        return
    n = len(plan.indices)
    per_image = -(-tokens // n)
    fit = context_limit // per_image
    if fit >= 1 and plan.mode is not InputMode.CURRENT:
        advice = f"lower max_slices to {fit} or fewer, or narrow slice_range"
    else:
        advice = family.overflow_advice()
    raise ContextOverflowError(
        f"The images alone need about {tokens:,} tokens ({n} x ~{per_image:,}) but the "
        f"context limit is {context_limit:,} tokens: {advice}."
    )


def _intensity(
    series: Series, encoding: ImageEncoding, options: InputOptions, slices: npt.NDArray[Any]
) -> tuple[ChannelRanges, str]:
    """Channel ranges for :func:`render_images` and their description (see the module
    docstring: the family's encoding, unless the user chose a window)."""
    if slices.ndim == 4:
        return None, "RGB as stored"
    invert = series.photometric == "MONOCHROME1"
    inverted = ", inverted (MONOCHROME1)" if invert else ""
    medgemma = encoding is ImageEncoding.MEDGEMMA and series.modality in ("CT", "MR")
    if options.window is None and medgemma and series.modality == "CT":
        r, g, b = (f"{lo:g}..{hi:g}" for lo, hi in CT_WINDOWS)
        return CT_WINDOWS, f"CT windows R {r} / G {g} / B {b}"
    if options.window is None and medgemma:
        low, high = acquisition_range(slices)
        ranges = ((high, low),) if invert else ((low, high),)
        return ranges, f"MR min-max {low:g}..{high:g} over the slices sent{inverted}"
    window = parse_window(options.window, series)
    text = f"window {window.center:g}/{window.width:g} (C/W, {window.source}){inverted}"
    if medgemma:  # the user's window replaces the encoding MedGemma was trained on
        trained = "three CT windows" if series.modality == "CT" else "MR min-max scaling"
        text += f", in grey instead of MedGemma's {trained}"
    return (window_range(window, invert),), text


def _describe(plan: _Plan, intensity: str) -> str:
    n, count = len(plan.indices), plan.count
    if count == 1:
        what = "1 image"
    elif plan.mode is InputMode.CURRENT:
        what = f"slice {plan.indices[0]} of {count}"
    else:
        what = f"{n} of {count} slices"
        if plan.partial:
            what += f" ({plan.indices[0]}..{plan.indices[-1]})"
    width, height = plan.model_size
    size = f"{width}x{height}"
    if any(plan.pad):
        size += " (padded {}/{}/{}/{} px)".format(*plan.pad)
    return f"{what}, {intensity}, {size}"
