"""Generation backends: a model in this process, or an OpenAI-compatible server.

- :mod:`.base`: the contract every backend fulfils (:class:`~.base.Backend`) and the values that
  cross it (requests, settings, results, the cancel token);
- :mod:`.local`: :class:`~.local.TransformersBackend`, a model loaded in this process;
- :mod:`.remote`: :class:`~.remote.OpenAIBackend`, any OpenAI-compatible server;
- :mod:`.loading`, :mod:`.processors`: loading a checkpoint and its processor at a precision;
- :mod:`.engine`: the backend a :class:`~models.registry.spec.ModelSpec` names.

Importing this package imports none of them, so ``models.backends.loading.Precision`` is cheap
for the command line; torch and transformers load only when a model does. What a backend
raises lives in :mod:`models.errors`.
"""
