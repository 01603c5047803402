"""Open the backend a :class:`~models.registry.spec.ModelSpec` names: local weights or a
server."""

from __future__ import annotations

from dicom_io.errors import InvalidArgumentError
from models.backends.base import Backend
from models.backends.loading import Precision
from models.registry.remote_entry import remote_settings
from models.registry.spec import ModelSpec

__all__ = ["open_backend"]


def open_backend(
    spec: ModelSpec, precision: Precision | str = Precision.AUTO, device: str | None = None
) -> Backend:
    """A ready backend: the remote server of the ``remote`` entry, else the model loaded here.

    Loading is offline-first: a model missing from the cache fails at once with the
    ``radlens models pull`` command to run.
    """
    if spec.is_remote:
        from models.backends.remote import OpenAIBackend

        settings = remote_settings()
        if not settings.model:
            raise InvalidArgumentError(
                "Set RADLENS_REMOTE_MODEL to the model name the server serves "
                f"(RADLENS_REMOTE_URL is {settings.url})."
            )
        return OpenAIBackend(
            settings.url, settings.model, settings.api_key, timeout=settings.timeout
        )
    from models.backends.loading import load_model
    from models.backends.local import TransformersBackend

    loaded = load_model(spec.source, precision, device, model_id=spec.id)
    return TransformersBackend(loaded, spec.id)
