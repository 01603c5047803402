"""A box on a source slice, in source pixels: what grounding yields and the viewer draws."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from dicom_io.errors import InvalidArgumentError

__all__ = ["Box"]


@dataclass(frozen=True)
class Box:
    """A box on a source slice, in source pixels (``x`` right, ``y`` down, pixel edges).

    ``mm`` is ``(x0, y0, x1, y1)`` in millimetres from the slice's top-left corner when the
    pixel spacing is known (not patient coordinates).
    """

    label: str
    slice: int
    x0: float
    y0: float
    x1: float
    y1: float
    mm: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        corners = (self.x0, self.y0, self.x1, self.y1)
        if not all(math.isfinite(v) for v in corners):
            raise InvalidArgumentError(f"Box corners must be finite, not {corners}.")
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            raise InvalidArgumentError(
                f"Box corners must satisfy x0 < x1 and y0 < y1, not {corners}."
            )
        if self.slice < 0:
            raise InvalidArgumentError(f"Box slice must be >= 0, not {self.slice}.")
        if self.mm is not None and (
            len(self.mm) != 4 or not all(math.isfinite(v) for v in self.mm)
        ):
            raise InvalidArgumentError(f"Box mm must be 4 finite numbers, not {self.mm}.")

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form, coordinates rounded to 0.01 (pixels) and 0.01 mm."""
        return {
            "label": self.label,
            "slice": self.slice,
            "x0": round(self.x0, 2),
            "y0": round(self.y0, 2),
            "x1": round(self.x1, 2),
            "y1": round(self.y1, 2),
            "mm": None if self.mm is None else [round(v, 2) for v in self.mm],
        }
