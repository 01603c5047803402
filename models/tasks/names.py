"""The task names: the one vocabulary for every task RadLens runs, from the prompt templates to
the audit log, the report's ``kind`` and ``radlens prepare``'s ``request.json``.

:class:`TaskName` is the single home of these names. It lives here, in models, and not in
prompts, because arrows only point down (app -> models -> prompts): prompts knows nothing but its
data files, whose ``"task"`` strings key the templates, while several tasks here have no template
of their own (``check`` runs ``check_probe`` and ``check_control``; ``export`` writes a file and
calls no model), so prompts could not hold the whole vocabulary without knowing the tasks built on
it. The templates are checked against this enum (every task with ``prompted`` true has a template
in the catalogue, and the catalogue has no other task) in ``tests/models/test_tasks.py``.

Being a StrEnum, a name is its plain string in JSON, f-strings and comparisons, so the schemas
and audit lines keep their exact values. Adding a task: a member here, its module in
``models/tasks/`` and its template in ``prompts/templates/``.
"""

from __future__ import annotations

from enum import StrEnum

from dicom_io.errors import InvalidArgumentError

__all__ = ["TaskName", "task_name"]


class TaskName(StrEnum):
    """Every task, by the name its template, its report and its audit line carry."""

    REPORT = "report"  # draft a structured report
    ASK = "ask"  # answer a question, boxes on the slices
    COMPARE = "compare"  # a report of the interval change since a prior study
    CHECK_PROBE = "check_probe"  # check: is a finding shown (or its absence)?
    CHECK_CONTROL = "check_control"  # check: the same question about a blank image
    GROUNDING = "grounding"  # report: boxes for one finding
    CHECK = "check"  # probes and a control per report (no template of its own)
    EXPORT = "export"  # a report written to a file (no model call; recorded by the audit log)

    @property
    def prompted(self) -> bool:
        """Whether the task sends its own prompt (and so has a template in prompts/)."""
        return self not in (TaskName.CHECK, TaskName.EXPORT)


def task_name(value: TaskName | str) -> TaskName:
    """``value`` as a :class:`TaskName` (the boundary where plain strings come in)."""
    try:
        return TaskName(value)
    except ValueError:
        choices = ", ".join(task.value for task in TaskName)
        raise InvalidArgumentError(f"Unknown task {value!r}; use one of {choices}.") from None
