"""The check task: :func:`check` probes each abnormal finding of a report and its negation
(task ``check_probe``), plus one control question about a blank image (``check_control``).

A finding is verified when the model confirms it and rejects its negation, and it was localized;
anything else leaves it unverified with the reason in its flags. What was run and what it cost
goes into :attr:`~models.report.draft.Report.checks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dicom_io.study import Series
from models.backends.base import Backend, CancelToken, GenerationSettings
from models.inputs.model_inputs import InputOptions, ModelInputs
from models.registry.spec import ModelSpec
from models.report.draft import Finding, FindingStatus, Report
from models.report.text import parse_yes_no
from models.tasks.ask import localization_note, run
from models.tasks.decoding import default_settings
from models.tasks.names import TaskName
from models.tasks.prepare import inputs_for, prepare

__all__ = ["check"]


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
            series,
            spec,
            TaskName.CHECK_CONTROL,
            fields={"finding": finding},
            inputs=inputs,
            blank=True,
            answer_tokens=settings.max_new_tokens,
        )
    else:
        fields = {"finding": finding, "polarity": polarity}
        prepared = prepare(
            series,
            spec,
            TaskName.CHECK_PROBE,
            fields=fields,
            inputs=inputs,
            answer_tokens=settings.max_new_tokens,
        )
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
    X?"; anything else, or a finding that could not be localized by a model that localizes this
    series, marks it unverified. One
    control question about a blank image catches a model that answers without looking.

    ``on_progress(done, total)`` is called before each model call. When ``cancel`` is set the
    check stops after the current call: the findings not probed keep their status and a line of
    :attr:`Report.checks` says how far it got.
    """
    settings = settings or default_settings(TaskName.CHECK_PROBE)
    inputs = inputs_for(series, spec, options)
    # Findings classified normal (models.report.assertion) are not probed: only abnormal and
    # uncertain ones are.
    abnormal = [
        f for f in report.all_findings if not f.is_normal and f.status is not FindingStatus.UNABLE
    ]
    skipped = sum(1 for f in report.all_findings if f.is_normal)
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

    # A missing box counts against a finding only where the model localizes this series (its
    # declared capabilities): elsewhere no finding has one, and the report says why.
    localizes = not localization_note(spec, series)
    checked: dict[int, Finding] = {}
    for finding in abnormal:
        present = probe(finding.text, "present")
        absent = None if stopped() else probe(finding.text, "absent")
        if stopped():
            break
        checked[id(finding)] = _judged(finding, present, absent, localizes)
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
        f"check: {calls} extra model call(s) (2 probes per abnormal or uncertain finding"
        f" + 1 control); {skipped} finding(s) classified normal not probed"
    )
    return replace(
        report,
        findings=tuple(checked.get(id(f), f) for f in report.findings),
        impression=tuple(checked.get(id(f), f) for f in report.impression),
        checks=tuple(checks),
    )


def _judged(
    finding: Finding, present: bool | None, absent: bool | None, localizes: bool = True
) -> Finding:
    """``finding`` verified when it is seen (yes) and its absence denied (no), and, where the
    model ``localizes`` the series, it was localized (impression items need no box); else
    unverified, with the reason in its flags."""
    flags = list(finding.flags)
    if present is True and absent is False:
        status = FindingStatus.VERIFIED
    else:
        status = FindingStatus.UNVERIFIED
        flags.append(f"probe answers: shows it? {_word(present)}; free of it? {_word(absent)}")
    if localizes and finding.section != "Impression" and not finding.boxes:
        status = FindingStatus.UNVERIFIED
        flags.append("not localized on the images")
    return replace(finding, status=status, flags=tuple(flags))


def _word(answer: bool | None) -> str:
    return "unclear" if answer is None else ("yes" if answer else "no")
