"""Model-input benchmark: RadLens build_inputs (MONAI) against plain numpy + PIL, same steps.

    python bench/prepare.py                    # best of 5; CT 300 x 512 x 512 and RG1_UNCR.dcm
    python bench/prepare.py --repeat 9 --dir /tmp/prepare   # keep/reuse the synthetic CT
    python bench/prepare.py --profile          # add a cProfile of one CT build

Cases: the MedGemma CT recipe on a synthetic 300-slice 512 x 512 chest CT (85 slices sampled,
three HU windows, 896 x 896, Gemma3), and the real 1955 x 1841 MONOCHROME1 radiograph
RG1_UNCR.dcm (pydicom-data) for Gemma3 (pad to a square, 896 x 896) and Qwen2.5-VL (952 x 1008).
The voxels are decoded before timing (ingest is bench/ingest.py's business), MONAI is imported
and each function run once before timing, then each is timed ``--repeat`` times, round robin,
and the best wall time is kept.

The peer does the same steps the way a notebook would: numpy float32 windows to uint8 RGB,
numpy zero padding, PIL bilinear resize (anti-aliased when shrinking). Its pixels are compared
with RadLens' (mean and largest absolute difference), so both sides do the same work.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dicom_io.loader import load_study  # noqa: E402
from dicom_io.study import Series  # noqa: E402
from dicom_io.windowing import default_window  # noqa: E402
from models.families.gemma3 import square_pad  # noqa: E402
from models.families.qwen2_5_vl import qwen_resized_size  # noqa: E402
from models.inputs.images_2d import window_range  # noqa: E402
from models.inputs.model_inputs import InputOptions, build_inputs  # noqa: E402
from models.inputs.slices_3d import CT_WINDOWS, sample_slices  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    target_s: float
    radlens: Callable[[], list[np.ndarray]]
    peer: Callable[[], list[np.ndarray]]


# ---------------------------------------------------------------- the numpy + PIL peer


def _peer_resize(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def _peer_scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    out = (values.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    np.clip(out, 0.0, 255.0, out=out)
    return np.rint(out).astype(np.uint8)


def peer_ct(series: Series, max_slices: int = 85, side: int = 896) -> list[np.ndarray]:
    array = series.volume.array
    images = []
    for k in sample_slices(array.shape[0], max_slices):
        rgb = np.stack([_peer_scale(array[k], lo, hi) for lo, hi in CT_WINDOWS], axis=-1)
        images.append(_peer_resize(rgb, (side, side)))
    return images


def peer_radiograph(series: Series, family: str) -> list[np.ndarray]:
    window = default_window(series)
    low, high = window_range(window, invert=series.photometric == "MONOCHROME1")
    grey = _peer_scale(series.volume.array[0], low, high)
    rows, columns = grey.shape
    if family == "gemma3":
        left, top, right, bottom = square_pad(columns, rows)
        grey = np.pad(grey, ((top, bottom), (left, right)))
        size = (896, 896)
    else:
        size = qwen_resized_size(columns, rows)
    resized = _peer_resize(grey, size)
    return [np.repeat(resized[..., None], 3, axis=-1)]


# ---------------------------------------------------------------- running


def _ct_series(folder: Path, slices: int, size: int) -> Series:
    from tests.synthetic import write_ct_series

    folder.mkdir(parents=True, exist_ok=True)
    if not any(folder.iterdir()):
        print(f"writing a synthetic CT, {slices} x {size} x {size}, to {folder} ...", flush=True)
        write_ct_series(folder, slices=slices, rows=size, columns=size)
    series = load_study(folder).default_series
    series.volume  # noqa: B018  (decode now: ingest is not what this measures)
    return series


def _cases(ct: Series, rg1: Series, max_slices: int) -> list[Case]:
    def radlens(series: Series, family: str, **options: Any) -> Callable[[], list[np.ndarray]]:
        return lambda: list(build_inputs(series, family, InputOptions(**options)).images)

    n = ct.shape[0]
    return [
        Case(
            f"CT {n}x{ct.shape[1]}x{ct.shape[2]}: {max_slices} slices, 3 windows, Gemma3 896",
            1.0,
            radlens(ct, "gemma3", mode="volume", max_slices=max_slices),
            lambda: peer_ct(ct, max_slices),
        ),
        Case(
            "RG1 1841x1955 MONOCHROME1, Gemma3 896x896",
            0.2,
            radlens(rg1, "gemma3"),
            lambda: peer_radiograph(rg1, "gemma3"),
        ),
        Case(
            "RG1 1841x1955 MONOCHROME1, Qwen2.5-VL 952x1008",
            0.2,
            radlens(rg1, "qwen2_5_vl"),
            lambda: peer_radiograph(rg1, "qwen2_5_vl"),
        ),
    ]


def _best(functions: list[Callable[[], Any]], repeat: int) -> list[float]:
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for i, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def _difference(ours: list[np.ndarray], theirs: list[np.ndarray]) -> str:
    if [a.shape for a in ours] != [b.shape for b in theirs]:
        return "shapes differ"
    pairs = zip(ours, theirs, strict=True)
    diff = np.concatenate([np.abs(a.astype(np.int16) - b).ravel() for a, b in pairs])
    return f"{diff.mean():.2f} / {diff.max()}"


def run(args: argparse.Namespace) -> int:
    from tests.files import data_file

    start = time.perf_counter()
    import monai.transforms  # noqa: F401  (what the first build_inputs in a process pays)

    monai_import = time.perf_counter() - start
    if args.dir:
        ct = _ct_series(Path(args.dir), args.slices, args.size)
    else:
        with tempfile.TemporaryDirectory(prefix="radlens-prepare-") as tmp:
            ct = _ct_series(Path(tmp), args.slices, args.size)
    rg1 = load_study(data_file("RG1_UNCR.dcm")).default_series
    rg1.volume  # noqa: B018
    cases = _cases(ct, rg1, args.max_slices)
    checks = [_difference(case.radlens(), case.peer()) for case in cases]  # also warms up
    times = _best([f for case in cases for f in (case.radlens, case.peer)], args.repeat)
    load = os.getloadavg()
    print(
        f"\nbuild_inputs, best of {args.repeat} (cores: {os.cpu_count()}, torch threads: "
        f"{_torch_threads()}, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}); "
        f"MONAI import {monai_import:.2f} s once per process, not included\n"
    )
    header = f"{'case':<58} {'RadLens s':>9} {'target':>7} {'':4} {'numpy+PIL s':>11} "
    header += f"{'ratio':>6}  {'|diff| mean / max':>17}"
    print(header)
    print("-" * len(header))
    for i, case in enumerate(cases):
        ours, theirs = times[2 * i], times[2 * i + 1]
        verdict = "ok" if ours < case.target_s else "SLOW"
        print(
            f"{case.name:<58} {ours:>9.3f} {'<' + format(case.target_s, 'g'):>7} {verdict:4} "
            f"{theirs:>11.3f} {theirs / ours:>6.2f}  {checks[i]:>17}"
        )
    print("\nratio = numpy+PIL seconds / RadLens seconds (> 1: RadLens is faster).")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(cases[0].radlens)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    return 0


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--slices", type=int, default=300, help="slices of the synthetic CT (300)")
    p.add_argument("--size", type=int, default=512, help="rows = columns of the CT (512)")
    p.add_argument("--max-slices", type=int, default=85, help="slices sampled for the CT (85)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per function; best wins")
    p.add_argument("--dir", help="write the CT here and reuse it on later runs (temp dir)")
    p.add_argument("--profile", action="store_true", help="cProfile one RadLens CT build")
    p.add_argument("--top", type=int, default=25, help="profile entries to print (25)")
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
