"""How each task decodes by default: the answer budget (``max_new_tokens``) and greedy decoding.

:func:`default_settings` is the one home of these defaults; the tasks, the CLI and the UI take
them from here unless the user sets a value. The numbers come from the makers' notebooks
(Google-Health/medgemma), the only maker sources that give per-task values:

- ``ask`` 2000: high_dimensional_ct_hugging_face.ipynb cell 4DAf9TNK1gb5 answers a question
  about a CT volume (reasoning, then "Final Answer: ...") with ``max_new_tokens=2000``.
- ``grounding`` 1000: cxr_anatomy_localization_with_hugging_face.ipynb cell WqRPOJe9pr0W
  (reasoning, then "Final Answer:" and the boxes) with ``max_new_tokens=1000``.
- ``report`` 2000: no notebook drafts a structured report; MedGemma 1.5 may think before it
  answers (between ``<unused94>`` and ``<unused95>``, unprompted, as the localization notebook
  notes), so a report gets the CT question's room rather than the old 512, which cut reports off.
- ``compare`` 2000: cxr_longitudinal_comparison_with_hugging_face.ipynb cell 1S8x3TYZpY4X gives
  a free-text comparison 600 tokens; RadLens's comparison is a whole report (the outline plus an
  interval change per finding), so it gets the report's budget.
- ``check_probe`` / ``check_control`` 1000: the same answer shape as localization (a short
  reasoning, then "Final Answer: yes|no"), and the same room for an unprompted thinking trace.

Every notebook decodes greedily (``do_sample=False``: cells 4DAf9TNK1gb5 and WqRPOJe9pr0W; the
longitudinal notebook sets ``generation_config.do_sample = False`` in cell YORs_sDfpY4X), and so
does RadLens: temperature 0. The budgets are the task's, whatever the family: no Qwen2.5-VL,
Qwen3-VL or Lingshu source gives per-task numbers, and greedy decoding stops at the end token
long before the cap when the answer is short, so a larger cap costs nothing then.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from dicom_io.errors import InvalidArgumentError
from models.backends.base import GenerationSettings
from models.tasks.names import TaskName, task_name

__all__ = ["ANSWER_BUDGETS", "default_settings"]

ANSWER_BUDGETS: Mapping[TaskName, int] = MappingProxyType(
    {
        TaskName.REPORT: 2000,
        TaskName.ASK: 2000,
        TaskName.COMPARE: 2000,
        TaskName.GROUNDING: 1000,
        TaskName.CHECK_PROBE: 1000,
        TaskName.CHECK_CONTROL: 1000,
    }
)


def default_settings(task: TaskName | str) -> GenerationSettings:
    """Greedy decoding with the task's answer budget (see the module docstring for sources)."""
    name = task_name(task)
    if name not in ANSWER_BUDGETS:
        raise InvalidArgumentError(
            f"Task {name.value!r} sends no prompt of its own, so it has no decoding defaults."
        )
    return GenerationSettings(max_new_tokens=ANSWER_BUDGETS[name], temperature=0.0)
