"""The tasks: one module per task, every request built by :func:`.prepare.prepare`.

- ``names``: :class:`~.names.TaskName`, the one vocabulary of task names (templates, reports,
  audit lines, ``radlens prepare``);
- ``prepare``: the images, prompt and messages of any task (compare's prior series included),
  pure, so ``radlens prepare`` shows exactly what is sent;
- ``ask``, ``report``, ``compare``, ``check``: run a task on a backend and read its answer
  (``report`` also reads a raw model text into a Report: ``from_text``);
- ``examples`` (few-shot cases), ``technique`` (the Technique line from metadata), ``outbound``
  (what may be sent to a remote model).

Adding a task: a member of ``TaskName``, its module here and its template in
``prompts/templates/``.
"""
