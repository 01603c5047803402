"""What the viewer shows: slices in a chosen plane, windowed, with square pixels, and boxes
drawn on them.

- :mod:`.planes`: the array axes a plane shows, the slice through it, and where it lies.
- :mod:`.render`: a slice rendered as the viewer shows it, and the voxel under a point of it.
- :mod:`.overlays`: source-pixel boxes drawn on a rendered slice.

:func:`render_slice` is the package's documented entry point (``from dicom_io.display import
render_slice``); it is imported on first use, so importing a submodule stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["render_slice"]


def __getattr__(name: str) -> Any:
    if name == "render_slice":
        from dicom_io.display.render import render_slice

        return render_slice
    raise AttributeError(f"module 'dicom_io.display' has no attribute {name!r}")
