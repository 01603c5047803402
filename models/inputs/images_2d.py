"""Pixels for the model: intensity to 0..255 per channel, pad, resize, uint8 RGB (MONAI).

Every model image is one source slice put through the same three MONAI array transforms:
``ScaleIntensityRange`` once per output channel (a VOI window, a CT HU window or a data range
mapped to 0..255 and clipped), ``BorderPad`` (zeros, as the family's geometry says) and
``Resize`` (``"area"`` when shrinking, which averages every source pixel like an anti-aliased
filter, ``"bilinear"`` when enlarging). The pad and size are decided from sizes alone by the
family adapter (:meth:`models.families.base.FamilyAdapter.geometry`), so token counts are known
before any voxel is decoded. MONAI is imported inside the functions (~4 s).

Rounding: the scaled values are rounded half to even, as ``np.round`` in MedGemma's CT notebook
(Google-Health/medgemma notebooks/high_dimensional_ct_hugging_face.ipynb, cell iTu1nQneLEvM)
and ``window_accurate`` in its serving code (python/data_processing/image_utils.py), so a slice
that needs no resize gets the notebook's uint8 values exactly. Where a resize is needed, the
values are rounded once, after it (the notebook rounds at the source size and the processor
then resizes the uint8 image): the two differ by interpolation error only.

Speed (see ``bench/prepare.py``): only the selected slices are converted, about one 512x512
slice at a time, so the float32 intermediates stay small; each colour is resized, rounded in
place and cast straight into its place in the output, and a grey image is resized once and
replicated to RGB by that same copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dicom_io.study import Window

__all__ = ["ChannelRanges", "render_images", "window_range"]

# (a_min, a_max) per output channel: a_min maps to 0 and a_max to 255 (a_min > a_max inverts).
# One entry: grey replicated to RGB. None: the source is RGB already and is kept as it is.
ChannelRanges = tuple[tuple[float, float], ...] | None

_CHUNK_PIXELS = 1 << 18  # source pixels converted per step (one 512x512 slice)


def window_range(window: Window, invert: bool = False) -> tuple[float, float]:
    """The values a DICOM linear VOI window maps to black and white (PS3.3 C.11.2.1.2).

    ``invert`` swaps them (MONOCHROME1 shown as displayed: low values white).
    """
    half = max(window.width - 1.0, 1e-6) / 2.0
    low, high = window.center - 0.5 - half, window.center - 0.5 + half
    return (high, low) if invert else (low, high)


def render_images(
    slices: npt.NDArray[Any],
    ranges: ChannelRanges,
    pad: tuple[int, int, int, int],
    model_size: tuple[int, int],
) -> npt.NDArray[np.uint8]:
    """Slices ``(k, rows, columns)`` (or ``(k, rows, columns, 3)`` RGB) to model images.

    Returns ``(k, model_height, model_width, 3)`` uint8.
    """
    import torch

    k, rows, columns = slices.shape[:3]
    width, height = model_size
    out = torch.empty((k, height, width, 3), dtype=torch.uint8)
    step = max(1, _CHUNK_PIXELS // (rows * columns))
    transforms = _transforms(ranges, slices.dtype, rows, columns, pad, model_size)
    for start in range(0, k, step):
        chunk = _as_tensor(slices[start : start + step])
        _render_chunk(chunk, transforms, out[start : start + step])
    result: npt.NDArray[np.uint8] = out.numpy()
    return result


def _transforms(
    ranges: ChannelRanges,
    dtype: np.dtype[Any],
    rows: int,
    columns: int,
    pad: tuple[int, int, int, int],
    model_size: tuple[int, int],
) -> tuple[list[Any], Any, Any]:
    from monai.transforms.croppad.array import BorderPad
    from monai.transforms.intensity.array import ScaleIntensityRange
    from monai.transforms.spatial.array import Resize

    if ranges is None:  # RGB kept as stored: 8-bit as is, wider integers over their full range
        top = float(np.iinfo(dtype).max) if dtype.kind in "iu" else 1.0
        ranges = ((0.0, top),)
    scalers = [
        ScaleIntensityRange(a_min=lo, a_max=hi, b_min=0.0, b_max=255.0, clip=True)
        for lo, hi in ranges
    ]
    left, top_, right, bottom = pad
    padded = (rows + top_ + bottom, columns + left + right)
    # BorderPad with the very numbers the ImageMapping records (rows before/after, columns).
    padder = None if not any(pad) else BorderPad((top_, bottom, left, right), value=0)
    width, height = model_size
    shrinking = height <= padded[0] and width <= padded[1]
    resizer = Resize((height, width), mode="area" if shrinking else "bilinear")
    return scalers, padder, resizer


def _as_tensor(chunk: npt.NDArray[Any]) -> Any:
    """A writable tensor of a dtype torch computes with (no float64, no uint16)."""
    import torch

    if chunk.dtype not in (np.int16, np.int32, np.uint8, np.float32):
        chunk = chunk.astype(np.float32)
    return torch.from_numpy(np.array(chunk, copy=not chunk.flags.writeable))


def _render_chunk(chunk: Any, transforms: tuple[list[Any], Any, Any], out: Any) -> None:
    """Scale, pad and resize one chunk of slices into ``out`` ``(k, height, width, 3)``.

    The ``k`` slices (or one colour plane of each) are the channels MONAI transforms see;
    each output colour is made and written on its own, so no stacked copy is ever built.
    """
    scalers, padder, resizer = transforms
    rgb = chunk.ndim == 4
    for colour in range(3 if rgb or len(scalers) == 3 else 1):
        source = chunk[..., colour] if rgb else chunk
        channels = scalers[colour if len(scalers) == 3 else 0](source)
        if padder is not None:
            channels = padder(channels)
        resized = _plain(resizer(channels)).round_()  # half to even, as np.round
        if rgb or len(scalers) == 3:
            target, value = out[..., colour], resized
        else:  # grey: the one plane into all three colours
            target, value = out, resized.unsqueeze(-1).expand(out.shape)
        target.copy_(value)  # whole numbers in 0..255: the cast to uint8 is exact


def _plain(tensor: Any) -> Any:
    """The plain torch tensor under a MONAI MetaTensor (its metadata is not needed here)."""
    as_tensor = getattr(tensor, "as_tensor", None)
    return as_tensor() if as_tensor is not None else tensor
