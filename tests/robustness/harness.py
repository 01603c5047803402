"""Run one (mutated) input through RadLens the way the viewer does, and judge the outcome.

The rule: an input either loads (and its default series' middle slice renders, and every series'
volume decodes), or RadLens refuses it with a :class:`RadLensError` whose message is one line
naming the file and quoting no patient name or ID. Anything else is a crash: another exception
(``IndexError``, ``struct.error``, ``MemoryError``, ``RecursionError``...), a refusal that does
not name the file (or quotes an identifier), more than ``timeout_s`` seconds, or peak resident
memory growing by more than ``memory_bound`` bytes.

Seeds are real files written by others (pydicom's test files and pydicom-data, MIT; nibabel's
test data, MIT) plus two small synthetic PNGs written here. A case is fully determined by
``(seed name, base seed, index)``, so any input can be rebuilt from its id.
"""

from __future__ import annotations

import io
import random
import signal
import sys
import time
import traceback
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import FrameType

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image

from dicom_io.display.render import render_slice
from dicom_io.errors import RadLensError
from dicom_io.limits import Limits
from dicom_io.loader import load_study
from tests.files import data_file
from tests.memory import peak_bytes, reset_peak, rss_bytes
from tests.robustness.mutations import mutate

__all__ = [
    "MEMORY_BOUND",
    "TIMEOUT_S",
    "Case",
    "Outcome",
    "Seed",
    "exercise",
    "make_case",
    "patient_identifiers",
    "peak_bytes",
    "reset_peak",
    "rss_bytes",
    "seeds",
    "write_case",
]

MEMORY_BOUND = 1024**3
"""Largest growth of peak RSS one input may cause with default :class:`Limits` (1 GiB)."""

TIMEOUT_S = 10.0
"""Longest one input may take (load, render, decode every series)."""

_DICOM_SEEDS = (
    "CT_small.dcm",  # Explicit VR LE, CT, 16 bit, rescale
    "MR_small.dcm",  # Explicit VR LE, MR
    "MR_small_implicit.dcm",  # Implicit VR LE
    "MR_small_bigendian.dcm",  # Explicit VR BE
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
    "MR_small_RLE.dcm",  # RLE
    "emri_small.dcm",  # enhanced MR, 10 frames
    "emri_small_jpeg_2k_lossless.dcm",  # enhanced MR, 10 frames, JPEG 2000
    "JPEG2000.dcm",  # JPEG 2000 (lossy), 1024 x 256
    "JPGExtended.dcm",  # JPEG extended (12 bit)
    "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline, YBR_FULL_422 colour
    "SC_rgb_rle.dcm",  # RLE colour
    "image_dfl.dcm",  # deflated explicit VR LE
    "US1_UNCR.dcm",  # pydicom-data: ultrasound, RGB 640 x 480
)
_PAIR = ("dicomdirtests/77654033/CT2/17106", "dicomdirtests/77654033/CT2/17136")
_NIFTI_SEEDS = ("anatomical.nii", "example4d.nii.gz", "example_nifti2.nii.gz")


@dataclass(frozen=True)
class Seed:
    """A real file (or a folder of two) to mutate; ``fmt`` is dicom, nifti or png."""

    name: str
    fmt: str
    files: tuple[tuple[str, bytes], ...]
    gzipped: bool = False
    folder: str | None = None


@dataclass(frozen=True)
class Case:
    """One mutated input: its files, the mutators applied, and how it is handed to RadLens."""

    seed: Seed
    index: int
    files: tuple[tuple[str, bytes], ...]
    mutators: tuple[str, ...]
    zipped: bool

    @property
    def id(self) -> str:
        return f"{self.seed.name}#{self.index}"


@dataclass(frozen=True)
class Outcome:
    """``status`` is loaded, refused (a RadLensError) or crash; ``kind`` the error's class."""

    status: str
    kind: str
    message: str
    seconds: float
    peak_growth: int
    where: str = ""
    traceback: str = ""

    @property
    def signature(self) -> str:
        """What identifies a crash across inputs: its class and where it was raised."""
        return f"{self.kind} at {self.where}" if self.where else f"{self.kind}: {self.message}"


def _png(mode: str, array: np.ndarray, exif_orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array, mode=mode) if mode != "I;16" else Image.fromarray(array)
    exif = Image.Exif()
    if exif_orientation is not None:
        exif[0x0112] = exif_orientation
    image.save(buffer, format="PNG", exif=exif.tobytes() if exif_orientation else b"")
    return buffer.getvalue()


@cache
def seeds() -> tuple[Seed, ...]:
    """The seed corpus (read once per process)."""
    found = [Seed(n, "dicom", ((n, data_file(n).read_bytes()),)) for n in _DICOM_SEEDS]
    pair = tuple((Path(p).name, data_file(p).read_bytes()) for p in _PAIR)
    found.append(Seed("CT2_pair", "dicom", pair, folder="CT2_pair"))
    nifti_dir = Path(nib.__file__).parent / "tests" / "data"
    for name in _NIFTI_SEEDS:
        data = (nifti_dir / name).read_bytes()
        found.append(Seed(name, "nifti", ((name, data),), gzipped=name.endswith(".gz")))
    ramp = np.arange(40 * 24, dtype=np.uint16).reshape(24, 40) * 60
    found.append(Seed("grey16.png", "png", (("grey16.png", _png("I;16", ramp)),)))
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[..., 0], rgb[5:15, 10:20, 1] = 200, 255
    found.append(Seed("rgb_exif.png", "png", (("rgb_exif.png", _png("RGB", rgb, 6)),)))
    return tuple(found)


@cache
def patient_identifiers() -> tuple[str, ...]:
    """The seeds' patient names (and their parts) and IDs, four characters or longer: no
    refusal may quote them (exception text never carries patient identifiers)."""
    found: set[str] = set()
    for seed in seeds():
        if seed.fmt != "dicom":
            continue
        for _, data in seed.files:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
            name, patient_id = str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))
            found.update(part for part in (name, *name.split("^"), patient_id) if len(part) >= 4)
    return tuple(sorted(p for p in found if p.strip("^")))


def make_case(seed: Seed, base_seed: int, index: int) -> Case:
    """The ``index``-th mutation of ``seed`` under ``base_seed`` (deterministic)."""
    rng = random.Random(f"{base_seed}:{seed.name}:{index}")
    files = list(seed.files)
    targets = range(len(files)) if len(files) > 1 and rng.random() < 0.2 else None
    targets = targets or [rng.randrange(len(files))]
    applied: list[str] = []
    for k in targets:
        name, data = files[k]
        mutated, names = mutate(rng, data, seed.fmt, seed.gzipped)
        files[k] = (name, mutated)
        applied.extend(names)
    return Case(seed, index, tuple(files), tuple(applied), zipped=rng.random() < 0.15)


def write_case(case: Case, directory: Path) -> tuple[Path, tuple[str, ...]]:
    """Write the case's input under ``directory``; returns its path and the names a message
    may use to name it (the input's own name, or a member's)."""
    directory.mkdir(parents=True, exist_ok=True)
    folder = case.seed.folder
    members = [(f"{folder}/{name}" if folder else name, data) for name, data in case.files]
    if case.zipped:
        path = directory / f"{Path(case.seed.name).name.split('.')[0]}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    else:
        for name, data in members:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)
        path = directory / (folder or members[0][0])
    return path, (path.name, *(Path(name).name for name, _ in case.files))


class _Timeout(BaseException):
    """Raised by the alarm: a BaseException, so no ``except Exception`` in a library eats it."""


@contextmanager
def _time_guard(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: FrameType | None) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, ring)
    # Keep an outer timer (pytest-timeout's, for one) running: restore what is left of it.
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))


def _check_loaded(path: Path, limits: Limits) -> None:
    """Load, render the default series' middle slice, decode every series; check shapes."""
    study = load_study(path, limits)
    series = study.default_series
    image = render_slice(series, series.shape[0] // 2)
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.shape[2:] == (3,)):
        raise AssertionError(f"render_slice gave {image.dtype} {image.shape}")
    for item in study.series:
        volume = item.volume
        if volume.shape != item.shape:
            raise AssertionError(f"series shape {item.shape} but volume shape {volume.shape}")


def exercise(
    path: Path,
    names: tuple[str, ...],
    limits: Limits | None = None,
    timeout_s: float = TIMEOUT_S,
    memory_bound: int = MEMORY_BOUND,
    forbidden: tuple[str, ...] | None = None,
) -> Outcome:
    """Run ``path`` through RadLens and classify what happened (never raises for the input).

    ``names``: what a refusal must name (one of them); ``forbidden``: what it must never quote
    (by default the seeds' patient names and IDs).
    """
    limits = limits or Limits()
    forbidden = patient_identifiers() if forbidden is None else forbidden
    # Without a resettable peak mark, growth is measured above the process's earlier peak
    # (a lower bound: an input that stays under that peak shows no growth).
    base = rss_bytes() if reset_peak() else peak_bytes()
    start = time.perf_counter()
    status, kind, message, where, trace = "loaded", "", "", "", ""
    try:
        with _time_guard(timeout_s):
            _check_loaded(path, limits)
    except RadLensError as err:
        status, kind, message = "refused", type(err).__name__, str(err)
        if "\n" in message or not any(name in message for name in names):
            status, where = "crash", f"message does not name {names[0]!r} on one line"
        elif any(identifier in message for identifier in forbidden):
            status, where = "crash", "message quotes a patient identifier"
    except _Timeout:
        status, kind, message = "crash", "Timeout", f"took more than {timeout_s:g} s"
        where, trace = _innermost(), traceback.format_exc()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # every other exception is a crash (pyo3 panics included)
        status, kind = "crash", type(err).__name__
        message = " ".join(str(err).split())[:300]
        where, trace = _innermost(), traceback.format_exc()
    seconds = time.perf_counter() - start
    growth = max(0, peak_bytes() - base)
    if status != "crash" and growth > memory_bound:
        status, kind = "crash", "MemoryBound"
        message = (
            f"peak RSS grew by {growth / 1024**2:.0f} MiB (bound {memory_bound / 1024**2:.0f})"
        )
    return Outcome(status, kind, message, seconds, growth, where, trace)


def _innermost() -> str:
    """``file:line function`` of the frame that raised the exception being handled."""
    frames = traceback.extract_tb(sys.exc_info()[2])
    if not frames:
        return ""
    frame = frames[-1]
    parts = Path(frame.filename).parts
    short = "/".join(parts[-2:])
    return f"{short}:{frame.lineno} {frame.name}"
