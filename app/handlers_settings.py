"""Settings pane: model, precision, what the model is shown, decoding and language.

Settings are per user: they are the widgets' values, read into a :class:`UserSettings` each
time a model runs. The model list labels each entry with its memory estimate and whether its
weights are here; the token count of the images the model would receive is shown live.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from app.errors import user_error
from app.services import STATUS_PRECISION, Services
from dicom_io.errors import RadLensError
from dicom_io.study import Series
from models.backends.base import GenerationSettings
from models.backends.loading import Precision
from models.families import adapter
from models.grounding.box import Box
from models.inputs.model_inputs import InputMode, InputOptions, estimate_tokens
from models.registry.spec import ModelSpec
from models.tasks.decoding import default_settings
from models.tasks.names import TaskName

__all__ = [
    "LANGUAGES",
    "MODES",
    "PRECISIONS",
    "WIDGET_ORDER",
    "UserSettings",
    "build_widgets",
    "model_choices",
    "model_info",
    "model_status",
    "on_model_change",
    "range_updates",
    "token_estimate",
]

PRECISIONS = [p.value for p in Precision]
MODES = [m.value for m in InputMode]
LANGUAGES = ["English", "French", "German", "Spanish", "Italian", "Portuguese", "Dutch"]
MAX_SLICES_LIMIT = 128
_ANSWER_TOKENS = 1024  # prompt text and answer, beside the images, for the memory estimate


@dataclass(frozen=True)
class UserSettings:
    """One user's settings, as the widgets hold them (slice numbers are 0-based, inclusive)."""

    model_id: str
    precision: str = "auto"
    mode: str = "auto"
    max_slices: int | None = None
    first_slice: int | None = None
    last_slice: int | None = None
    max_new_tokens: int = 0  # 0: the task's own budget (models.tasks.decoding)
    temperature: float = 0.0
    language: str = "English"

    @classmethod
    def from_widgets(cls, *values: Any) -> UserSettings:
        """From the settings widgets' values, in :data:`WIDGET_ORDER`."""
        model_id, precision, mode, slices, first, last, max_new, temperature, language = values
        return cls(
            model_id=str(model_id),
            precision=str(precision or "auto"),
            mode=str(mode or "auto"),
            max_slices=None if slices is None else int(slices),
            first_slice=None if first is None else int(first),
            last_slice=None if last is None else int(last),
            max_new_tokens=int(max_new or 0),
            temperature=float(temperature or 0.0),
            language=str(language or "English").strip() or "English",
        )

    def generation(self, task: TaskName | str = TaskName.REPORT) -> GenerationSettings:
        """Decoding settings for ``task`` (greedy at temperature 0; the task's answer budget
        unless the user set one)."""
        budget = self.max_new_tokens or default_settings(task).max_new_tokens
        return GenerationSettings(max_new_tokens=budget, temperature=self.temperature)

    def for_task(
        self,
        services: Services,
        series: Series,
        current_slice: int | None,
        region: Box | None = None,
        *,
        whole: bool = False,
        task: TaskName | str = TaskName.REPORT,
    ) -> tuple[ModelSpec, InputOptions, GenerationSettings]:
        """The model, what it is shown of ``series`` (see :meth:`options`; ``whole``: no slice
        range, for a comparison whose prior has another geometry) and the decoding settings;
        a :class:`gr.Error` with the one-line reason when a setting is invalid."""
        try:
            spec = services.spec(self.model_id)
            options = self.options(series, current_slice, region)
            if whole:
                options = replace(options, slice_range=None)
            return spec, options, self.generation(task)
        except (RadLensError, ValueError) as err:
            raise user_error(err) from None

    def options(
        self, series: Series, current_slice: int | None, region: Box | None = None
    ) -> InputOptions:
        """What the model is shown of ``series``.

        ``current_slice`` is the slice the viewer shows (None when the viewer is in a
        reformatted plane: the middle one is used). A region forces its slice in: ``volume``
        and ``auto`` become a slab around it.
        """
        count = series.shape[0]
        mode = InputMode(self.mode)
        if region is not None:
            current_slice = region.slice
            if count > 1 and mode in (InputMode.AUTO, InputMode.VOLUME):
                mode = InputMode.SLAB
        return InputOptions(
            mode=mode,
            current_slice=current_slice,
            max_slices=self.max_slices,
            slice_range=self._range(count) if mode in (InputMode.AUTO, InputMode.VOLUME) else None,
        )

    def _range(self, count: int) -> tuple[int, int] | None:
        first = 0 if self.first_slice is None else self.first_slice
        last = count - 1 if self.last_slice is None else self.last_slice
        if (first, last) == (0, count - 1) or count == 1:
            return None
        return first, last + 1


WIDGET_ORDER = (
    "model",
    "precision",
    "mode",
    "max_slices",
    "first_slice",
    "last_slice",
    "max_new_tokens",
    "temperature",
    "language",
)


def _memory(spec: ModelSpec, precision: str, tokens: int) -> str:
    if spec.is_remote:
        return "runs on the server"
    chosen = Precision.parse(precision)
    shown = [STATUS_PRECISION, Precision.BF16] if chosen is Precision.AUTO else [chosen]
    return " / ".join(f"~{spec.memory_gb(p, tokens=tokens):.1f} GB {p.value}" for p in shown)


def _label(services: Services, spec: ModelSpec) -> str:
    if spec.is_remote:
        return f"{spec.name} (remote server)"
    here = "downloaded" if not services.missing(spec) else "not downloaded"
    memory = spec.memory_gb(STATUS_PRECISION)
    return f"{spec.name} · ~{memory:.1f} GB {STATUS_PRECISION.value} · {here}"


def model_choices(services: Services) -> list[tuple[str, str]]:
    """(label, id) for the model dropdown: memory estimate and download state in the label."""
    return [(_label(services, spec), spec.id) for spec in services.specs()]


def model_info(services: Services, model_id: str) -> str:
    """Licence, access, capabilities and notes of the chosen model (Markdown)."""
    try:
        spec = services.spec(model_id)
    except RadLensError as err:
        return str(err)
    lines = [f"**{spec.name}** ({spec.id}) · {spec.license}"]
    if spec.gated:
        lines.append(spec.gated_note)
    lines.append("Can do (from its card): " + "; ".join(spec.can.summary()))
    if spec.notes:
        lines.append(spec.notes)
    return "  \n".join(lines)


def model_status(services: Services, model_id: str, precision: str) -> str:
    """The one line above the assistant panes: how to get the model, or its state."""
    try:
        spec = services.spec(model_id)
    except RadLensError as err:
        return f"⚠ {err}"
    gone = services.missing(spec)
    if gone:
        return f"⚠ {gone}"
    if services.is_loaded(spec, precision):
        return services.load_note()
    if spec.is_remote:
        return f"{spec.name} at {spec.source}: used on the first request."
    return f"{spec.name}: loads on the first request ({_memory(spec, precision, 8192)})."


def range_updates(series: Series | None) -> tuple[Any, Any]:
    """The first/last slice sliders for ``series`` (whole series selected)."""
    count = 1 if series is None else series.shape[0]
    top = max(count - 1, 1)
    enabled = count > 1
    return (
        gr.update(minimum=0, maximum=top, value=0, interactive=enabled),
        gr.update(minimum=0, maximum=top, value=count - 1, interactive=enabled),
    )


def on_model_change(services: Services, model_id: str, precision: str) -> tuple[Any, ...]:
    """Model chosen: its family's default slice count, its info and status."""
    try:
        spec = services.spec(model_id)
    except RadLensError as err:
        raise user_error(err) from None
    slices = adapter(spec.family).default_max_slices
    return (
        gr.update(value=slices),
        model_info(services, model_id),
        model_status(services, model_id, precision),
    )


def token_estimate(
    services: Services,
    series: Series | None,
    settings: UserSettings,
    current_slice: int | None,
) -> str:
    """The image token count (and memory) of what the model would be sent (Markdown)."""
    if series is None:
        return ""
    try:
        spec = services.spec(settings.model_id)
        tokens = estimate_tokens(
            series,
            spec.family,
            settings.options(series, current_slice),
            context_limit=spec.context_length,
        )
    except RadLensError as err:
        return f"⚠ {err}"
    context = f" of a {spec.context_length:,}-token context" if spec.context_length else ""
    answer = settings.generation().max_new_tokens
    memory = _memory(spec, settings.precision, tokens + _ANSWER_TOKENS + answer)
    return f"Images: **≈ {tokens:,} tokens**{context} · memory {memory}"


def build_widgets(services: Services) -> tuple[list[Any], Any, Any]:
    """The Settings tab: (widgets in :data:`WIDGET_ORDER`, model info, token estimate)."""
    spec = services.spec()
    model = gr.Dropdown(
        choices=[(spec.name, spec.id)], value=spec.id, label="Model", elem_id="model"
    )
    info = gr.Markdown(elem_id="model-info")
    precision = gr.Radio(
        PRECISIONS, value=services.precision, label="Precision", elem_id="precision"
    )
    mode = gr.Radio(
        MODES,
        value="auto",
        label="Images sent (auto: the volume for a CT/MR stack, else the slice shown)",
        elem_id="input-mode",
    )
    slices = gr.Slider(
        1,
        MAX_SLICES_LIMIT,
        value=adapter(spec.family).default_max_slices,
        step=1,
        label="Slices sent (3D volume)",
        elem_id="max-slices",
    )
    with gr.Row():
        first = gr.Slider(0, 1, value=0, step=1, label="From slice", elem_id="first-slice")
        last = gr.Slider(0, 1, value=1, step=1, label="To slice", elem_id="last-slice")
    tokens = gr.Markdown(elem_id="tokens")
    max_new = gr.Slider(
        0,
        4096,
        value=0,
        step=16,
        label="Max new tokens (0 = the task's own budget)",
        elem_id="max-new-tokens",
    )
    temperature = gr.Slider(
        0, 2, value=0, step=0.05, label="Temperature (0 = greedy)", elem_id="temperature"
    )
    language = gr.Dropdown(
        LANGUAGES,
        value="English",
        label="Language of the answers",
        allow_custom_value=True,
        elem_id="language",
    )
    widgets = [model, precision, mode, slices, first, last, max_new, temperature, language]
    return widgets, info, tokens
