"""Clinical tasks: draft a report, compare with a prior, and check a report's reliability.

Each returns a :class:`~models.report.draft.Report`. Technique always comes from the metadata;
what the
model cannot support is marked, never invented. The raw model text is kept in every report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from dicom_io.study import Series
from models.backends.base import Backend, CancelToken, GenerationSettings
from models.grounding.placement import Box, parse_boxes
from models.inputs.model_inputs import InputOptions, ModelInputs, build_inputs, to_messages
from models.registry.lookup import ModelSpec
from models.report.draft import Finding, FindingStatus, Report, StudyRef
from models.report.revision import report_to_text, revise
from models.report.text import ParsedReport, parse_change, parse_report_text, parse_yes_no
from models.tasks.ask import run
from models.tasks.examples import Example, select_examples
from models.tasks.outbound import check_outbound
from models.tasks.prepare import Prepared, prepare, system_text
from models.tasks.technique import describe_technique
from prompts import render, select_template

__all__ = [
    "MAX_GROUNDED_FINDINGS",
    "check",
    "compare",
    "draft_report",
    "from_text",
    "report_to_text",
    "revise",
]

MAX_GROUNDED_FINDINGS = 8
UNABLE_TEXT = "Unable to assess: the model's output could not be read as a report."


def _study_ref(series: Series, prepared: Prepared, study_key: str = "") -> StudyRef:
    return StudyRef(
        study_key=study_key,
        series_key=series.key,
        series_index=series.index,
        modality=series.modality,
        body_part=series.body_part,
        description=series.series_description or series.study_description,
        slices=prepared.inputs.slice_indices,
    )


def _findings(
    parsed: ParsedReport, compare: bool
) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    def make(section: str, text: str) -> Finding:
        change = None
        if compare:
            text, change = parse_change(text)
        return Finding(section=section, text=text, change=change)

    findings = tuple(make(h, t) for h, t in parsed.findings)
    impression = tuple(make("Impression", t) for t in parsed.impression)
    if not findings and not impression:
        findings = (Finding("Report", UNABLE_TEXT, status=FindingStatus.UNABLE),)
    return findings, impression


def from_text(
    series: Series,
    prepared: Prepared,
    raw: str,
    *,
    kind: str = "report",
    indication: str = "",
    language: str = "English",
    settings: GenerationSettings | None = None,
    seconds: float | None = None,
    model_id: str | None = None,
    study_key: str = "",
    comparison: str = "",
) -> Report:
    """A report from a model's raw text for ``prepared`` (also behind ``--from-raw``)."""
    template = select_template(
        kind, series.modality, series.body_part, series.view_position, prepared.spec.family.value
    )
    parsed = parse_report_text(raw, template.findings_sections)
    findings, impression = _findings(parsed, compare=kind == "compare")
    return Report(
        kind=kind,
        title=f"Draft {'comparison ' if kind == 'compare' else ''}report: {template.exam_name}",
        technique=prepared.technique,
        indication=indication,
        findings=findings,
        impression=impression,
        study=_study_ref(series, prepared, study_key),
        model_id=model_id or prepared.spec.id,
        prompt=prepared.prompt.provenance,
        prompt_version=prepared.prompt.version,
        language=language,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        raw=raw,
        settings=settings,
        seconds=seconds,
        comparison=comparison or parsed.comparison,
        notes=parsed.notes,
    )


def _ground(
    report: Report,
    series: Series,
    backend: Backend,
    spec: ModelSpec,
    options: InputOptions | None,
    settings: GenerationSettings,
    cancel: CancelToken | None,
) -> Report:
    """Ask for boxes of each abnormal finding (one call each, at most MAX_GROUNDED_FINDINGS)."""
    inputs = build_inputs(series, spec.family, options, context_limit=spec.context_length)
    todo = [f for f in report.findings if not f.is_normal and f.status is not FindingStatus.UNABLE]
    grounded: dict[int, tuple[Box, ...]] = {}
    notes = list(report.notes)
    for finding in todo[:MAX_GROUNDED_FINDINGS]:
        if cancel is not None and cancel.cancelled:
            break
        prepared = prepare(
            series,
            spec,
            "grounding",
            fields={"target": finding.text},
            inputs=inputs,
            language=report.language,
        )
        result = run(backend, prepared, settings, cancel=cancel)
        boxes = parse_boxes(result.text, spec.grounding, prepared.mappings, prepared.spacing)
        grounded[id(finding)] = tuple(
            replace(b, label=b.label or finding.section) for b in boxes.boxes
        )
        notes.extend(f"{finding.section}: {line}" for line in boxes.dropped)
    if len(todo) > MAX_GROUNDED_FINDINGS:
        notes.append(f"only the first {MAX_GROUNDED_FINDINGS} abnormal findings were localized")
    findings = tuple(replace(f, boxes=grounded.get(id(f), f.boxes)) for f in report.findings)
    calls = min(len(todo), MAX_GROUNDED_FINDINGS)
    checks = (
        *report.checks,
        f"localization: {calls} extra model call(s), one per abnormal finding",
    )
    return replace(report, findings=findings, notes=tuple(notes), checks=checks)


def draft_report(
    series: Series,
    backend: Backend,
    spec: ModelSpec,
    *,
    indication: str = "",
    language: str = "English",
    options: InputOptions | None = None,
    settings: GenerationSettings | None = None,
    ground: bool = True,
    study_key: str = "",
    examples: Sequence[Example] = (),
    on_delta: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> Report:
    """Draft a structured report of ``series``; abnormal findings are then localized (boxes).

    ``examples`` (see :mod:`models.tasks.examples`): the most similar cases, as many as fit a
    quarter
    of the context (at most 2), are shown first with their reports as demonstrations.
    """
    settings = settings or GenerationSettings()
    budget = min((spec.context_length or 32_768) // 4, 8_192)
    chosen = select_examples(examples, series, spec.family, budget) if examples else []
    prepared = prepare(
        series,
        spec,
        "report",
        indication=indication,
        language=language,
        options=options,
        demonstrations=[(inputs, example.report) for example, inputs in chosen],
    )
    start = time.perf_counter()
    result = run(backend, prepared, settings, on_delta, cancel)
    report = from_text(
        series,
        prepared,
        result.text,
        indication=indication,
        language=language,
        settings=settings,
        seconds=time.perf_counter() - start,
        model_id=result.model_id,
        study_key=study_key,
    )
    if examples:
        names = ", ".join(example.name for example, _ in chosen) or "none similar enough"
        report = replace(report, notes=(*report.notes, f"few-shot examples shown: {names}"))
    if ground and result.finish_reason != "cancelled":
        report = _ground(report, series, backend, spec, options, settings, cancel)
    return report


def _prepare_comparison(
    current: Series,
    prior: Series,
    spec: ModelSpec,
    options: InputOptions | None,
    indication: str,
    prior_summary: str,
    language: str,
) -> tuple[Prepared, str]:
    """The comparison request (the prior's images first, then the current ones, as the
    prompt's image_order says) and the prior's technique line."""
    for series in (prior, current):
        check_outbound(series, spec)
    now = build_inputs(current, spec.family, options, context_limit=spec.context_length)
    before = build_inputs(prior, spec.family, options, context_limit=spec.context_length)
    template = select_template(
        "compare",
        current.modality,
        current.body_part,
        current.view_position,
        family=spec.family.value,
        box_format=spec.grounding,
    )
    technique = describe_technique(current, images_sent=len(now.images))
    prior_technique = describe_technique(prior, images_sent=len(before.images))
    prompt = render(
        template,
        technique=technique,
        prior_technique=prior_technique,
        prior_summary=prior_summary,
        indication=indication,
        language=language,
    )
    joined = replace(
        now,
        images=before.images + now.images,
        labels=tuple(f"PRIOR {label}".strip() for label in before.labels)
        + tuple(f"CURRENT {label}".strip() for label in now.labels),
        mappings=before.mappings + now.mappings,
        slice_indices=before.slice_indices + now.slice_indices,
        image_tokens=before.image_tokens + now.image_tokens,
    )
    prepared = Prepared(
        task="compare",
        spec=spec,
        inputs=now,
        prompt=prompt,
        messages=to_messages(joined, prompt.user, system_text(spec, prompt)),
        technique=technique,
        spacing=(current.spacing[1], current.spacing[2]) if current.spacing_known else None,
    )
    return prepared, prior_technique


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
    settings = settings or GenerationSettings()
    prepared, prior_technique = _prepare_comparison(
        current, prior, spec, options, indication, prior_summary, language
    )
    start = time.perf_counter()
    result = run(backend, prepared, settings, on_delta, cancel)
    return from_text(
        current,
        prepared,
        result.text,
        kind="compare",
        indication=indication,
        language=language,
        settings=settings,
        seconds=time.perf_counter() - start,
        model_id=result.model_id,
        comparison=prior_technique,
    )


def _probe(
    series: Series,
    spec: ModelSpec,
    backend: Backend,
    finding: str,
    polarity: str,
    settings: GenerationSettings,
    inputs: ModelInputs,
    blank: bool = False,
    cancel: CancelToken | None = None,
) -> bool | None:
    finding = finding.strip().rstrip(".")
    if blank:
        prepared = prepare(
            series, spec, "check_control", fields={"finding": finding}, inputs=inputs, blank=True
        )
    else:
        fields = {"finding": finding, "polarity": polarity}
        prepared = prepare(series, spec, "check_probe", fields=fields, inputs=inputs)
    result = run(backend, prepared, settings, cancel=cancel)
    return None if result.finish_reason == "cancelled" else parse_yes_no(result.text)


def check(
    report: Report,
    series: Series,
    backend: Backend,
    spec: ModelSpec,
    *,
    options: InputOptions | None = None,
    settings: GenerationSettings | None = None,
    cancel: CancelToken | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Probe each abnormal finding and its negation; flag contradictions and blind answers.

    A finding is verified when the model says yes to "does it show X?" and no to "is it free of
    X?"; anything else, or a finding that could not be localized, marks it unverified. One
    control question about a blank image catches a model that answers without looking.

    ``on_progress(done, total)`` is called before each model call. When ``cancel`` is set the
    check stops after the current call: the findings not probed keep their status and a line of
    :attr:`Report.checks` says how far it got.
    """
    settings = settings or GenerationSettings(max_new_tokens=96)
    inputs = build_inputs(series, spec.family, options, context_limit=spec.context_length)
    abnormal = [
        f for f in report.all_findings if not f.is_normal and f.status is not FindingStatus.UNABLE
    ]
    total = 2 * len(abnormal) + (1 if abnormal else 0)
    calls = 0

    def probe(finding: str, polarity: str, blank: bool = False) -> bool | None:
        nonlocal calls
        if on_progress is not None:
            on_progress(calls, total)
        calls += 1
        return _probe(series, spec, backend, finding, polarity, settings, inputs, blank, cancel)

    def stopped() -> bool:
        return cancel is not None and cancel.cancelled

    checked: dict[int, Finding] = {}
    for finding in abnormal:
        present = probe(finding.text, "present")
        absent = None if stopped() else probe(finding.text, "absent")
        if stopped():
            break
        checked[id(finding)] = _judged(finding, present, absent)
    checks = list(report.checks)
    if abnormal and not stopped():
        control = probe(abnormal[0].text, "present", blank=True)
        if control is not False and not stopped():
            checks.append(
                f"control: asked about a blank image, the model answered {_word(control)} "
                "(expected no): it may answer without looking at the images"
            )
    if stopped():
        checks.append(
            f"check stopped: {len(checked)} of {len(abnormal)} abnormal finding(s) probed, "
            "the others keep their status"
        )
    checks.append(
        f"check: {calls} extra model call(s) (2 probes per abnormal finding + 1 control)"
    )
    return replace(
        report,
        findings=tuple(checked.get(id(f), f) for f in report.findings),
        impression=tuple(checked.get(id(f), f) for f in report.impression),
        checks=tuple(checks),
    )


def _judged(finding: Finding, present: bool | None, absent: bool | None) -> Finding:
    """``finding`` verified when it is seen (yes) and its absence denied (no), and it was
    localized (impression items need no box); else unverified, with the reason in its flags."""
    flags = list(finding.flags)
    if present is True and absent is False:
        status = FindingStatus.VERIFIED
    else:
        status = FindingStatus.UNVERIFIED
        flags.append(f"probe answers: shows it? {_word(present)}; free of it? {_word(absent)}")
    if finding.section != "Impression" and not finding.boxes:
        status = FindingStatus.UNVERIFIED
        flags.append("not localized on the images")
    return replace(finding, status=status, flags=tuple(flags))


def _word(answer: bool | None) -> str:
    return "unclear" if answer is None else ("yes" if answer else "no")
