"""Series thumbnails: one decoded slice per series against decoding every series whole.

    python bench/thumbnails.py                       # 4 series x 200 x 512 x 512, uncompressed
    python bench/thumbnails.py --syntax j2k --slices 100
    python bench/thumbnails.py --one slice DIR       # one measurement (what the parent runs)

Two ways to draw the same thumbnails of a synthetic multi-series CT study, each measured in a
fresh child process after ``load_study`` (headers only) and the imports:

- ``whole``: the middle slice rendered from ``Series.volume`` (every series decoded and kept, as
  the viewer's thumbnails were drawn before ``Series.preview``);
- ``slice``: ``app.handlers_viewer.thumbnails`` (one slice decoded per series).

The child resets the kernel's peak-RSS mark, draws the thumbnails and reports wall seconds, the
peak RSS above the RSS before, and a checksum of the pictures; the parent checks that both ways
drew the same pictures. The series carry a DICOM window, so the pictures must be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.memory import peak_bytes, reset_peak, rss_bytes  # noqa: E402 - needs ROOT on the path

SYNTAXES = {"plain": "1.2.840.10008.1.2.1", "j2k": "1.2.840.10008.1.2.4.90"}
MODES = ("whole", "slice")
MIB = 1024 * 1024


def write_study(folder: Path, series: int, slices: int, size: int, syntax: str) -> None:
    """``series`` CT series of one study, each in its own sub-folder."""
    from tests.synthetic import write_ct_series

    for n in range(series):
        write_ct_series(
            folder / f"s{n}",
            slices=slices,
            rows=size,
            columns=size,
            study_uid="2.25.1234567890",
            series_number=n + 2,
            series_description=f"SYNTHETIC SERIES {n + 1}",
            transfer_syntax=SYNTAXES[syntax],
            seed=n,
        )


def _whole_series_thumbnails(study: Any) -> list[np.ndarray]:
    from PIL import Image

    from app.handlers_viewer import THUMBNAIL_SIZE
    from dicom_io.display.render import render_slice

    pictures = []
    for series in study.series:
        image = render_slice(series, series.shape[0] // 2, "acquired", "default")
        picture = Image.fromarray(image)
        picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.BILINEAR)
        pictures.append(np.asarray(picture))
    return pictures


def measure(mode: str, folder: Path) -> dict[str, Any]:
    """Draw the thumbnails of the study in ``folder`` one way; time, peak memory, checksum."""
    from app.handlers_viewer import thumbnails
    from dicom_io.loader import load_study

    study = load_study(folder)
    before = rss_bytes()
    reset_peak()
    start = time.perf_counter()
    if mode == "whole":
        pictures = _whole_series_thumbnails(study)
    else:
        pictures = [picture for picture, _ in thumbnails(study)]
    seconds = time.perf_counter() - start
    peak = peak_bytes() - before
    digest = hashlib.sha256()
    for picture in pictures:
        digest.update(np.ascontiguousarray(picture).tobytes())
    decoded = sum(series.is_decoded for series in study.series)
    return {
        "mode": mode,
        "seconds": seconds,
        "peak_mib": peak / MIB,
        "series": len(study.series),
        "decoded_volumes": decoded,
        "sha256": digest.hexdigest(),
    }


def _child(mode: str, folder: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", mode, str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--size", type=int, default=512, help="rows and columns")
    parser.add_argument("--syntax", choices=sorted(SYNTAXES), default="plain")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode; best is shown")
    parser.add_argument("--one", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        mode, folder = args.one
        if mode not in MODES:
            parser.error(f"MODE must be one of {', '.join(MODES)}, not {mode!r}")
        print(json.dumps(measure(mode, Path(folder))))
        return 0
    with tempfile.TemporaryDirectory(prefix="radlens-thumbs-") as tmp:
        folder = Path(tmp)
        shape = f"{args.series} x {args.slices} x {args.size} x {args.size}"
        print(f"writing {shape} ({args.syntax}) ...", file=sys.stderr)
        write_study(folder, args.series, args.slices, args.size, args.syntax)
        best: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):
            for mode in MODES:  # interleaved, so both see the same page cache and load
                result = _child(mode, folder)
                kept = best.get(mode)
                if kept is None or result["seconds"] < kept["seconds"]:
                    best[mode] = result
    if best["whole"]["sha256"] != best["slice"]["sha256"]:
        print("FAIL: the two ways drew different thumbnails", file=sys.stderr)
        return 1
    print(f"study: {shape}, {args.syntax}; best of {args.repeat}, each in a fresh process")
    print(f"{'mode':<6} {'seconds':>8} {'peak MiB':>9} {'volumes decoded':>16}")
    for mode in MODES:
        r = best[mode]
        decoded = f"{r['decoded_volumes']} / {r['series']}"
        print(f"{mode:<6} {r['seconds']:>8.3f} {r['peak_mib']:>9.1f} {decoded:>16}")
    whole, one = best["whole"], best["slice"]
    print(
        f"slice vs whole: {whole['seconds'] / one['seconds']:.0f}x faster, "
        f"peak {whole['peak_mib']:.0f} -> {one['peak_mib']:.0f} MiB; same pictures"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
