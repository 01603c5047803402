"""VOI windows: presets, the DICOM linear window function, and data-derived defaults.

Pure functions: arrays in, arrays out.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.errors import InvalidArgumentError
from dicom_io.study import Series, Window

__all__ = ["PRESETS", "apply_window", "data_window", "default_window", "parse_window"]

# Width / level pairs used by common viewers (OHIF presets; mediastinum as commonly read).
PRESETS: dict[str, Window] = {
    "soft-tissue": Window(40.0, 400.0, "preset"),
    "mediastinum": Window(50.0, 350.0, "preset"),
    "lung": Window(-600.0, 1500.0, "preset"),
    "liver": Window(90.0, 150.0, "preset"),
    "bone": Window(480.0, 2500.0, "preset"),
    "brain": Window(40.0, 80.0, "preset"),
}
_PAIR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_SAMPLE = 2_000_000


def data_window(values: npt.NDArray[Any]) -> Window:
    """A window spanning the 0.5th to 99.5th percentile of ``values`` (sampled when large)."""
    flat = values.reshape(-1)
    if flat.size > _SAMPLE:
        flat = flat[:: flat.size // _SAMPLE + 1]
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    if flat.size == 0:
        return Window(center=0.5, width=1.0, source="data")
    lo, hi = (float(v) for v in np.percentile(flat, [0.5, 99.5]))
    if not hi > lo:
        lo, hi = float(flat.min()), float(flat.max())
    if not hi > lo:
        # A flat image: one unit wide, or wider where 1.0 is lost to rounding (values ~1e20).
        hi = lo + max(1.0, abs(lo) * 1e-6)
    return Window(center=(lo + hi) / 2.0, width=hi - lo, source="data")


def default_window(series: Series) -> Window:
    """The series' DICOM window (the first of several), else one derived from its voxels."""
    if series.default_window is not None:
        return series.default_window
    return data_window(series.volume.array)


def parse_window(spec: str | Window | None, series: Series) -> Window:
    """Turn a preset name, ``"default"``, ``"C,W"`` or a :class:`Window` into a window.

    Raises:
        InvalidArgumentError: an unknown preset name or a width that is not > 0.
    """
    if isinstance(spec, Window):
        return spec
    if spec is None or spec.strip().lower() == "default":
        return default_window(series)
    key = spec.strip().lower().replace("_", "-").replace(" ", "-")
    if key in PRESETS:
        return PRESETS[key]
    match = _PAIR.match(spec)
    if match is None:
        names = ", ".join([*PRESETS, "default"])
        raise InvalidArgumentError(
            f"Unknown window {spec!r}: use one of {names}, or CENTER,WIDTH."
        )
    center, width = float(match.group(1)), float(match.group(2))
    if width <= 0:
        raise InvalidArgumentError(f"Window width must be > 0, not {width:g}.")
    return Window(center, width, "manual")


def apply_window(
    values: npt.NDArray[Any], window: Window, invert: bool = False
) -> npt.NDArray[np.uint8]:
    """Map values to 0..255 with the DICOM linear VOI function (PS3.3 C.11.2.1.2).

    ``invert`` flips the result (MONOCHROME1 display, or the viewer's invert button).
    """
    c, w = window.center, window.width
    scale = 255.0 / max(w - 1.0, 1e-6)
    out = (values.astype(np.float32) - np.float32(c - 0.5)) * np.float32(scale) + np.float32(127.5)
    np.clip(out, 0.0, 255.0, out=out)
    result = np.rint(out).astype(np.uint8)
    if invert:
        np.subtract(255, result, out=result)
    output: npt.NDArray[np.uint8] = result
    return output
