"""Everything about vision-language models: which ones RadLens knows, how they are fed, how they
run, and what is read back from them. Uses :mod:`dicom_io` and :mod:`prompts`; never gradio.

Importing the package (or any front door below) loads no torch, transformers or bitsandbytes:
only :mod:`models.backends.loading` does, inside the function that loads a model.

What the app (``app/``) uses, by home:

- :mod:`models.registry`: ``get_spec``, ``default_spec``, ``list_specs`` (``.lookup``),
  ``ModelSpec`` (``.spec``), memory estimates (``.memory``), downloads (``.hub``), the remote
  entry (``.remote_entry``).
- :mod:`models.families`: ``adapter(family)``, the facts of one model family.
- :mod:`models.backends`: ``open_backend`` (``.engine``), ``Backend``, ``GenerationSettings``,
  ``CancelToken`` (``.base``), ``Precision`` (``.loading``).
- :mod:`models.inputs`: ``InputOptions``, ``InputMode``, ``estimate_tokens`` (``.model_inputs``),
  chat messages (``.messages``).
- :mod:`models.tasks`: ``TaskName`` (``.names``), ``prepare``, ``ask``, ``draft_report``,
  ``compare``, ``check``, each in its own module, plus few-shot ``examples`` and ``technique``.
- :mod:`models.report`: ``Report`` and ``Finding`` (``.draft``), ``revise`` (``.revision``), and
  ``EXPORTERS`` / ``export_report`` (``.exports``).
- :mod:`models.grounding`: ``Box`` (``.box``), what the viewer draws.
- :mod:`models.errors`: every error of the model side.
"""
