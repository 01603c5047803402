"""The geometric record that links an image a model saw back to the source slice.

Every model input image is made from one source slice (acquired plane, full field of view by
default) by: an optional crop, padding (zeros) to the model's preferred shape, and a resize to the
exact pixel size the model receives. :class:`ImageMapping` records those steps so that a box the
model emits, in whatever convention it uses, lands on the right source pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageMapping"]


@dataclass(frozen=True)
class ImageMapping:
    """Source slice -> crop -> pad -> resize -> model image, and back.

    Attributes:
        slice_index: index of the source slice along the series' slice axis (0-based).
        source_size: ``(width, height)`` of the whole source slice in pixels.
        crop: ``(x0, y0, x1, y1)`` region of the source slice used (half-open, source pixels).
        pad: ``(left, top, right, bottom)`` zeros added around the crop, in source pixels.
        model_size: ``(width, height)`` of the image the model receives.
    """

    slice_index: int
    source_size: tuple[int, int]
    crop: tuple[int, int, int, int]
    pad: tuple[int, int, int, int]
    model_size: tuple[int, int]

    def __post_init__(self) -> None:
        sw, sh = self.source_size
        x0, y0, x1, y1 = self.crop
        if sw <= 0 or sh <= 0:
            raise ValueError(f"Argument 'source_size' must be positive, not {self.source_size}.")
        if not (0 <= x0 < x1 <= sw and 0 <= y0 < y1 <= sh):
            raise ValueError(f"Argument 'crop' {self.crop} must lie inside {self.source_size}.")
        if min(self.pad) < 0:
            raise ValueError(f"Argument 'pad' must be >= 0, not {self.pad}.")
        if min(self.model_size) <= 0:
            raise ValueError(f"Argument 'model_size' must be positive, not {self.model_size}.")
        if self.slice_index < 0:
            raise ValueError(f"Argument 'slice_index' must be >= 0, not {self.slice_index}.")

    @classmethod
    def identity(cls, slice_index: int, width: int, height: int) -> ImageMapping:
        """The model sees the whole slice at its own size."""
        return cls(
            slice_index, (width, height), (0, 0, width, height), (0, 0, 0, 0), (width, height)
        )

    @property
    def padded_size(self) -> tuple[int, int]:
        """``(width, height)`` after crop and pad, before the resize (source pixel units)."""
        x0, y0, x1, y1 = self.crop
        left, top, right, bottom = self.pad
        return (x1 - x0 + left + right, y1 - y0 + top + bottom)

    @property
    def scale(self) -> tuple[float, float]:
        """Source pixels per model pixel, ``(x, y)``."""
        pw, ph = self.padded_size
        mw, mh = self.model_size
        return (pw / mw, ph / mh)

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """A point in model-image pixels to source-slice pixels (may fall outside the slice)."""
        sx, sy = self.scale
        return (x * sx - self.pad[0] + self.crop[0], y * sy - self.pad[1] + self.crop[1])

    def to_model(self, x: float, y: float) -> tuple[float, float]:
        """A point in source-slice pixels to model-image pixels."""
        sx, sy = self.scale
        return ((x - self.crop[0] + self.pad[0]) / sx, (y - self.crop[1] + self.pad[1]) / sy)

    def normalized_to_source(
        self, nx: float, ny: float, full: float = 1000.0
    ) -> tuple[float, float]:
        """A point normalized to ``0..full`` over the model image to source pixels."""
        mw, mh = self.model_size
        return self.to_source(nx / full * mw, ny / full * mh)
