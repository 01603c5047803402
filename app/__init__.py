"""The face of RadLens: the ``radlens`` command line and the Gradio UI, the only package that
imports gradio. Thin: it turns arguments and widget values into calls of :mod:`models` and
:mod:`dicom_io`, and their results into text, files and widgets.

- :mod:`app.cli` and ``commands_*``: one module per group of subcommands;
  :mod:`app.commands_common` holds the arguments and helpers they share.
- :mod:`app.server`, :mod:`app.ui`, :mod:`app.ui_events`: start the web app, its layout, and
  which handler runs on which event.
- ``handlers_*``: one module per pane; :func:`app.handlers_model.run_task` is the one way a pane
  runs a model task, streams it and shows its status.
- :mod:`app.services`, :mod:`app.audit`, :mod:`app.errors`, :mod:`app.retention`: what the
  handlers share, the audit log, the messages users read, and what a closed page lets go of.
"""
