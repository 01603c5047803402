"""Qwen2.5-VL's processor quirk: an image-only processor (no video part, no torchvision).

The stock ``Qwen2_5_VLProcessor`` always builds a video processor, and in transformers 5 every
video processor needs torchvision, which does not work beside a CPU-only torch. RadLens sends
images only, so :class:`Qwen2_5_VLImageProcessor` drops the video part: it takes the image
processor and tokenizer alone, and refuses videos with a clear error. The Qwen2.5-VL adapter
names it (:meth:`models.families.qwen2_5_vl.Qwen2_5_VLAdapter.processor_override`) and
:mod:`models.backends.processors` loads it.

This module imports transformers at import time (it subclasses a transformers class): import it
only inside functions, so RadLens starts without transformers.
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen2_5_VLProcessor

__all__ = ["ImageOnlyProcessor", "Qwen2_5_VLImageProcessor"]


class ImageOnlyProcessor:
    """Mixin, first base of a Qwen processor subclass: images and text only, no video processor.

    ``ProcessorMixin`` derives the sub-processors to load and save from ``__init__``'s
    signature (``get_attributes``, read on the subclass, which finds this ``__init__`` first);
    this one names the image processor and the tokenizer alone, so no video processor (and no
    torchvision) is built. Shared by Qwen2.5-VL and Qwen3-VL, whose processors take the same
    three parts.
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
        super().__init__(  # type: ignore[call-arg]  # the next base: a Qwen processor
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
        return super().__call__(*args, **kwargs)  # type: ignore[misc]


class Qwen2_5_VLImageProcessor(ImageOnlyProcessor, Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor for images and text only: no video processor, no torchvision.

    Same tokens, chat template and image handling as ``Qwen2_5_VLProcessor`` (it is a subclass);
    only the ``video_processor`` argument is gone (:class:`ImageOnlyProcessor`).
    """
