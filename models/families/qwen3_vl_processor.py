"""Qwen3-VL's processor quirk: an image-only processor (no video part, no torchvision).

The stock ``Qwen3VLProcessor`` (transformers 5.24 ``models/qwen3_vl/processing_qwen3_vl.py``)
takes an image processor, a tokenizer and a video processor, and AutoProcessor always builds the
last one: ``Qwen3VLVideoProcessor``, which needs torchvision, which does not work beside a
CPU-only torch. RadLens sends images only, so :class:`Qwen3VLImageOnlyProcessor` drops the video
part: it takes the image processor and tokenizer alone, and refuses videos with a clear error.
The Qwen3-VL adapter names it (:meth:`models.families.qwen3_vl.Qwen3VLAdapter.processor_override`)
and :mod:`models.backends.processors` loads it.

This module imports transformers at import time (it subclasses a transformers class): import it
only inside functions, so RadLens starts without transformers.
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen3VLProcessor

__all__ = ["Qwen3VLImageOnlyProcessor"]


class Qwen3VLImageOnlyProcessor(Qwen3VLProcessor):
    """Qwen3-VL processor for images and text only: no video processor, no torchvision.

    Same tokens, chat template and image handling as ``Qwen3VLProcessor`` (it is a subclass);
    only the ``video_processor`` argument is gone. ``ProcessorMixin`` derives the sub-processors
    to load and save from this ``__init__`` signature. Named apart from transformers' image
    processors (``Qwen2VLImageProcessor`` serves Qwen3-VL) so the two are not confused.
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
