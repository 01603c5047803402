"""The geometric record that links an image a model saw back to the source slice.

Every model input image is made from one source slice (acquired plane, full field of view by
default) by: an optional crop, padding (zeros) to the model's preferred shape, and a resize to the
exact pixel size the model receives. :class:`ImageMapping` records those steps so that a box the
model emits, in whatever convention it uses, lands on the right source pixels.

A model whose own processor keeps only part of the image it is sent (MAIRA-2 centre-crops every
image to a square, :meth:`ImageMapping.centre_square_view`) has that part recorded as the
mapping's ``view``: its normalized coordinates run over the view, not the whole model image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
        view: ``(x0, y0, x1, y1)`` of the model image that the model's own processor keeps
            (half-open, model pixels), over which its normalized coordinates run; None: all.
    """

    slice_index: int
    source_size: tuple[int, int]
    crop: tuple[int, int, int, int]
    pad: tuple[int, int, int, int]
    model_size: tuple[int, int]
    view: tuple[int, int, int, int] | None = None

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
        if self.view is not None:
            vx0, vy0, vx1, vy1 = self.view
            mw, mh = self.model_size
            if not (0 <= vx0 < vx1 <= mw and 0 <= vy0 < vy1 <= mh):
                raise ValueError(
                    f"Argument 'view' {self.view} must lie inside the model image "
                    f"{self.model_size}."
                )

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
        """A point normalized to ``0..full`` over the view (the model image) to source pixels."""
        vx0, vy0, vx1, vy1 = self.view_box
        return self.to_source(vx0 + nx / full * (vx1 - vx0), vy0 + ny / full * (vy1 - vy0))

    def source_to_normalized(self, x: float, y: float, full: float) -> tuple[float, float]:
        """A point in source pixels to ``0..full`` over the view (the model image)."""
        mx, my = self.to_model(x, y)
        vx0, vy0, vx1, vy1 = self.view_box
        return ((mx - vx0) / (vx1 - vx0) * full, (my - vy0) / (vy1 - vy0) * full)

    @property
    def view_box(self) -> tuple[int, int, int, int]:
        """The view, or the whole model image when none is recorded."""
        mw, mh = self.model_size
        return self.view if self.view is not None else (0, 0, mw, mh)

    @property
    def seen_region(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` of the source slice the model saw: the crop, cut to the view."""
        vx0, vy0, vx1, vy1 = self.view_box
        sx0, sy0 = self.to_source(vx0, vy0)
        sx1, sy1 = self.to_source(vx1, vy1)
        cx0, cy0, cx1, cy1 = self.crop
        return (
            float(max(cx0, sx0)),
            float(max(cy0, sy0)),
            float(min(cx1, sx1)),
            float(min(cy1, sy1)),
        )

    def centre_square_view(self) -> ImageMapping:
        """This mapping with MAIRA-2's centre crop recorded as its view.

        MAIRA-2's image processor centre-crops every image it is given to a square on its
        shortest side, and its ``Maira2Processor.adjust_box_for_original_image_size`` maps a box
        back with side ``min(width, height)`` and offsets ``(width - side) // 2``,
        ``(height - side) // 2`` in pixels of the image it was given (microsoft/maira-2
        ``processing_maira2.py``, read in the copy at johannes2moll/maira_rrg
        ``processing_maira2.py``, commit f8c7a71fc4af44452e0d7ab77a9e6ef5c2138906). That image
        is the model image here, so the same integers are the view. Its image processor
        (``BitImageProcessor``: resize the shortest edge, then centre-crop a square, per the
        ``preprocessor_config.json`` of optimum-intel-internal-testing/tiny-random-maira2, which
        mirrors the layout) scales the square evenly afterwards, which changes nothing in
        normalized coordinates, so its square size is not needed here. Two differences from the
        maker, both under one pixel of the image sent: corners stay sub-pixel floats where
        ``adjust_box_for_original_image_size`` truncates them with ``int()``, and the offsets are
        that function's (RadLens reads boxes the way the maker says to read them, not by
        re-deriving the processor's resize rounding). Already square: the whole image.
        """
        mw, mh = self.model_size
        side = min(mw, mh)
        x0, y0 = (mw - side) // 2, (mh - side) // 2
        return replace(self, view=(x0, y0, x0 + side, y0 + side))
