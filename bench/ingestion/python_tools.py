"""RadLens, SimpleITK and MONAI loading the series in this process: one measured load, or one
profiled RadLens load.

The library is imported first (imports are not timed), then the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs``); a load reports wall and CPU seconds, the peak RSS above the
post-import RSS, and the summary of its output.
"""

from __future__ import annotations

import gc
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.ingestion.summary import summary
from tests.memory import peak_bytes, reset_peak, rss_bytes

__all__ = ["measure_python", "profile_radlens"]


def _prepare_radlens() -> Callable[[Path], Any]:
    try:
        from dicom_io.loader import load_study
    except ImportError as err:
        raise RuntimeError(
            f"cannot import dicom_io.loader.load_study ({err}); is the loader finished?"
        ) from err

    def run(folder: Path) -> Any:
        return load_study(folder).default_series.volume

    return run


def _prepare_simpleitk() -> Callable[[Path], Any]:
    import SimpleITK as sitk

    def run(folder: Path) -> Any:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        return reader.Execute()

    return run


def _prepare_monai() -> Callable[[Path], Any]:
    from monai.transforms import LoadImage

    loader = LoadImage(reader="PydicomReader", image_only=True)
    return lambda folder: loader(str(folder))


def _to_array(tool: str, result: Any) -> np.ndarray:
    if tool == "radlens":
        return np.asarray(result.array)
    if tool == "simpleitk":
        import SimpleITK as sitk

        return sitk.GetArrayViewFromImage(result)
    return np.asarray(result.numpy() if hasattr(result, "numpy") else result)


def measure_python(tool: str, folder: Path) -> dict[str, Any]:
    run = {
        "radlens": _prepare_radlens,
        "simpleitk": _prepare_simpleitk,
        "monai": _prepare_monai,
    }[tool]()
    gc.collect()
    base = rss_bytes()
    exact = reset_peak()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, wall = time.process_time(), time.perf_counter()
    result = run(folder)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = peak_bytes() - base
    # Worker processes (RadLens decodes large compressed series in them) count too: their CPU,
    # and the largest worker's peak RSS (imports included) for each worker that ran.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if after.ru_maxrss > children.ru_maxrss or (after.ru_utime > children.ru_utime):
        workers = min(os.cpu_count() or 1, 8)
        peak += after.ru_maxrss * 1024 * workers
    return {"seconds": wall, "cpu": cpu, "peak": peak, "peak_exact": exact} | summary(
        _to_array(tool, result)
    )


def profile_radlens(folder: Path, top: int) -> None:
    """Profile one RadLens load: main thread and decoder worker threads, merged."""
    import cProfile
    import pstats
    import threading

    run = _prepare_radlens()
    workers: list[cProfile.Profile] = []

    def start_worker(*_: object) -> None:
        profile = cProfile.Profile()
        workers.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread

    threading.setprofile(start_worker)
    main = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    main.enable()
    run(folder)
    main.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    threading.setprofile(None)  # type: ignore[arg-type]
    stats = pstats.Stats(main)
    for profile in workers:
        stats.add(profile)
    print(f"RadLens load of {folder}: {wall:.3f} s wall, {cpu:.3f} s CPU (profiled, slower)")
    print(f"main thread + {len(workers)} worker thread(s); times are summed over threads")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
