"""Chat messages as RadLens builds them, and their forms for each consumer.

One neutral form (:class:`Message` with text and image parts) is built once from the study and
the prompt; it becomes the transformers chat-template form (PIL images), the OpenAI
chat-completions form (base64 PNG data URLs), or plain JSON plus PNG files for
``radlens prepare``.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ImagePart",
    "LabelPart",
    "Message",
    "Part",
    "TextPart",
    "png_bytes",
    "to_openai",
    "to_plain",
    "to_transformers",
]


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class LabelPart(TextPart):
    """The label of the image just before it (``"SLICE 3"``): text to every consumer, told
    apart only where tokens are counted (the family's ``label_tokens``)."""


@dataclass(frozen=True, eq=False)
class ImagePart:
    """An RGB uint8 image ``(height, width, 3)``; ``index`` numbers it within the request."""

    pixels: npt.NDArray[np.uint8]
    index: int

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != np.uint8 or p.ndim != 3 or p.shape[2] != 3:
            raise ValueError(
                f"An image part must be uint8 (height, width, 3), not {p.dtype} {p.shape}."
            )


Part = TextPart | ImagePart


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    parts: tuple[Part, ...]

    @classmethod
    def text(cls, role: Literal["system", "user", "assistant"], text: str) -> Message:
        return cls(role, (TextPart(text),))

    @property
    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if isinstance(p, ImagePart)]


def png_bytes(pixels: npt.NDArray[np.uint8]) -> bytes:
    """The image encoded as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def to_transformers(messages: list[Message]) -> list[dict[str, Any]]:
    """The form ``processor.apply_chat_template`` takes (images as PIL images)."""
    from PIL import Image

    out = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            else:
                content.append({"type": "image", "image": Image.fromarray(part.pixels)})
        out.append({"role": message.role, "content": content})
    return out


def to_openai(messages: list[Message]) -> list[dict[str, Any]]:
    """The chat-completions form (images as base64 PNG data URLs)."""
    out = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            else:
                url = "data:image/png;base64," + base64.b64encode(png_bytes(part.pixels)).decode()
                content.append({"type": "image_url", "image_url": {"url": url}})
        out.append({"role": message.role, "content": content})
    return out


def to_plain(
    messages: list[Message], image_name: str = "image_{index:03d}.png"
) -> list[dict[str, Any]]:
    """JSON-ready form with each image replaced by the file name it is saved under."""
    out = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            else:
                content.append({"type": "image", "file": image_name.format(index=part.index)})
        out.append({"role": message.role, "content": content})
    return out
