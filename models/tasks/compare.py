"""The compare task: :func:`compare` reports the interval change of a series since a prior one.

The request is built by :func:`~models.tasks.prepare.prepare` like every other (the prior's
images first, then the current ones); it is run and read like a drafted report
(:func:`~models.tasks.report.run_report`) into a report of kind ``compare``, one change word per
finding, with the prior's technique line as its comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dicom_io.study import Series
from models.backends.base import Backend, CancelToken, GenerationSettings
from models.inputs.model_inputs import InputOptions
from models.registry.spec import ModelSpec
from models.report.draft import Report
from models.tasks.decoding import default_settings
from models.tasks.names import TaskName
from models.tasks.prepare import prepare
from models.tasks.report import run_report

__all__ = ["compare"]


def compare(
    current: Series,
    prior: Series,
    backend: Backend,
    spec: ModelSpec,
    *,
    indication: str = "",
    prior_summary: str = "",
    language: str = "English",
    options: InputOptions | None = None,
    settings: GenerationSettings | None = None,
    on_delta: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Report:
    """Compare ``current`` with ``prior`` (same body part): interval change per finding."""
    settings = settings or default_settings(TaskName.COMPARE)
    prepared = prepare(
        current,
        spec,
        TaskName.COMPARE,
        prior=prior,
        indication=indication,
        language=language,
        options=options,
        fields={"prior_summary": prior_summary},
        answer_tokens=settings.max_new_tokens,
    )
    report, _result = run_report(
        current, prepared, backend, settings, indication, language, "", on_delta, cancel
    )
    # A warning, not a refusal: comparing two studies is reading two sets of images, which
    # every model here does; only MedGemma 1.5 was trained and evaluated on it (chest X-rays),
    # so elsewhere the report says the interval changes need extra care.
    if warning := spec.can.comparison_note(spec.name, current.modality):
        report = replace(report, notes=(*report.notes, warning))
    return report
