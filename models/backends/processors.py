"""Processors (image preprocessing + tokenizer + chat template) for the supported model families.

The stock ``Qwen2_5_VLProcessor`` always builds a video processor, and in transformers 5 every
video processor needs torchvision, which does not work beside a CPU-only torch. RadLens sends
images only, so :class:`Qwen2_5_VLImageProcessor` drops the video part: it takes the image
processor and tokenizer alone, and refuses videos with a clear error.

:func:`load_processor` is how RadLens loads every processor. It cannot just call
``AutoProcessor.from_pretrained``: real Qwen2.5-VL and Lingshu repositories name
``"processor_class": "Qwen2_5_VLProcessor"`` in ``preprocessor_config.json``, and AutoProcessor
resolves such a name to the stock class before it looks at its registry. So the override is
chosen from the model's config type, through the registry filled by :func:`register_processors`.

This module imports transformers at import time (it subclasses a transformers class): import it
only inside functions, as :mod:`models.backends.loading` does, so RadLens starts without
transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoProcessor, Qwen2_5_VLConfig, Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

__all__ = [
    "PROCESSOR_OVERRIDES",
    "Qwen2_5_VLImageProcessor",
    "load_processor",
    "register_processors",
]


class Qwen2_5_VLImageProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor for images and text only: no video processor, no torchvision.

    Same tokens, chat template and image handling as ``Qwen2_5_VLProcessor`` (it is a subclass);
    only the ``video_processor`` argument is gone. ``ProcessorMixin`` derives the sub-processors
    to load and save from this ``__init__`` signature.
    """

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        # The parent sets the image/video token strings and ids, then hands its three
        # sub-processors to ProcessorMixin, which pairs them with get_attributes() (read from
        # this signature: image_processor, tokenizer), so the absent video processor is dropped.
        super().__init__(  # type: ignore[no-untyped-call]
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )

    def __call__(self, *args: Any, videos: Any = None, **kwargs: Any) -> Any:
        if videos is not None:
            raise ValueError(
                f"{type(self).__name__} handles images only; pass each frame as an image "
                "instead of `videos`."
            )
        return super().__call__(*args, **kwargs)


# Config class -> processor class used instead of the stock one for that config.
PROCESSOR_OVERRIDES: dict[type[Any], type[ProcessorMixin]] = {
    Qwen2_5_VLConfig: Qwen2_5_VLImageProcessor,
}


def register_processors() -> None:
    """Register RadLens' processor overrides with ``AutoProcessor`` (idempotent).

    After this, ``AutoProcessor.from_pretrained`` returns the override for a folder whose files
    name no processor class or name the override itself (as ``save_pretrained`` writes it).
    Folders that name the stock class need :func:`load_processor`.
    """
    for config_class, processor_class in PROCESSOR_OVERRIDES.items():
        AutoProcessor.register(  # type: ignore[no-untyped-call]
            config_class, processor_class, exist_ok=True
        )


def load_processor(folder: str | Path, config: Any = None, **kwargs: Any) -> Any:
    """Load the full processor (image processor, tokenizer, chat template) of a local folder.

    ``config`` is the model's config if already loaded; ``kwargs`` go to ``from_pretrained``.
    Files are only read from ``folder``: nothing is downloaded.
    """
    register_processors()
    if config is None:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    override = PROCESSOR_OVERRIDES.get(type(config))
    if override is not None:
        return override.from_pretrained(folder, local_files_only=True, **kwargs)
    return AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        folder, local_files_only=True, **kwargs
    )
