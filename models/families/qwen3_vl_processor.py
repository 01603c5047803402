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

from transformers import Qwen3VLProcessor

from models.families.qwen2_5_vl_processor import ImageOnlyProcessor

__all__ = ["Qwen3VLImageOnlyProcessor"]


class Qwen3VLImageOnlyProcessor(ImageOnlyProcessor, Qwen3VLProcessor):
    """Qwen3-VL processor for images and text only: no video processor, no torchvision.

    Same tokens, chat template and image handling as ``Qwen3VLProcessor`` (it is a subclass);
    only the ``video_processor`` argument is gone (:class:`ImageOnlyProcessor`). Named apart
    from transformers' image processors (``Qwen2VLImageProcessor`` serves Qwen3-VL) so the two
    are not confused.
    """
