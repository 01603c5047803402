"""Synthetic, realistic CT series written with pydicom, for ordering, geometry and speed tests.

There is no real multi-hundred-slice CT series offline, so tests and ``bench/`` write one. The
pixels are a deterministic chest phantom (air, a fat layer, soft tissue, a rib ring, a spine, an
aorta and two lungs whose size changes along the volume, plus seeded noise), so every HU value a
reader returns can be checked against :attr:`SyntheticSeries.hu`.

Every identifier is obviously synthetic (``SYNTHETIC^PHANTOM``); UIDs are derived from the seed,
so the same call writes the same files.

    >>> info = write_ct_series(tmp_path, slices=8, rows=64, columns=64)
    >>> info.hu.shape, info.affine[:3, 0]        # (8, 64, 64), step along the normal in mm
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

__all__ = [
    "AXIAL",
    "CORONAL",
    "SAGITTAL",
    "SUPPORTED_SYNTAXES",
    "SyntheticFolder",
    "SyntheticSeries",
    "phantom_slice",
    "write_ct_series",
    "write_multi_series_folder",
]

Orientation6 = tuple[float, float, float, float, float, float]
AXIAL: Orientation6 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
CORONAL: Orientation6 = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
SAGITTAL: Orientation6 = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)

SUPPORTED_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    JPEGLSLossless,
)

# Phantom values in HU.
AIR, FAT, SOFT_TISSUE, LUNG, BONE, AORTA = -1000, -100, 40, -850, 700, 180
HU_RANGE = (-1024, 3071)  # what a 12-bit CT reconstruction can hold

InstanceNumbers = Literal["ordered", "reversed", "shuffled"] | None


@dataclass(frozen=True, eq=False)
class SyntheticSeries:
    """What :func:`write_ct_series` wrote and what a correct reader must return.

    Attributes:
        folder: where the files are.
        paths: every file written, in slice order along the normal (a duplicate right after the
            file it copies).
        slice_paths: one file per row of :attr:`hu`, in the same order.
        hu: expected modality values ``[slice, row, column]`` in slice order along the normal,
            gaps left out and duplicates counted once (int16 when slope and intercept are
            integers, else float64).
        affine: expected 4x4 ``(slice, row, column)`` to LPS mm matrix: the first written slice's
            position and the nominal step between slices (see :attr:`positions` with jitter).
        positions: ``(n, 3)`` ImagePositionPatient of each row of :attr:`hu`.
        indices: each row's index on the nominal grid (differs from ``range(n)`` after gaps).
        spacing: ``(slice, row, column)`` nominal spacing in mm.
        instance_numbers: InstanceNumber of each row of :attr:`hu` (``None`` when omitted).
    """

    folder: Path
    paths: tuple[Path, ...]
    slice_paths: tuple[Path, ...]
    hu: npt.NDArray[np.int16] | npt.NDArray[np.float64]
    affine: npt.NDArray[np.float64]
    positions: npt.NDArray[np.float64]
    indices: tuple[int, ...]
    spacing: tuple[float, float, float]
    series_uid: str
    study_uid: str
    transfer_syntax: UID
    instance_numbers: tuple[int | None, ...]


@dataclass(frozen=True, eq=False)
class SyntheticFolder:
    """A folder holding a CT series, its localizer images and a second reconstruction."""

    folder: Path
    ct: SyntheticSeries
    localizer: tuple[SyntheticSeries, ...]  # one entry per localizer image, same series UID
    second: SyntheticSeries


def _uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=["radlens-synthetic", *map(str, parts)]))


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float):
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def phantom_slice(rows: int, columns: int, w: float) -> npt.NDArray[np.int16]:
    """The noise-free phantom in HU at relative height ``w`` (0 first slice, 1 last)."""
    v, u = np.ogrid[-1.0 : 1.0 : rows * 1j, -1.0 : 1.0 : columns * 1j]
    image = np.full((rows, columns), AIR, dtype=np.int16)
    image[_ellipse(u, v, 0.0, 0.05, 0.86, 0.62)] = FAT
    image[_ellipse(u, v, 0.0, 0.05, 0.80, 0.56)] = BONE  # rib ring, 0.04 thick
    inside = _ellipse(u, v, 0.0, 0.05, 0.76, 0.52)
    image[inside] = SOFT_TISSUE
    scale = float(np.sqrt(max(0.0, 1.0 - ((w - 0.55) / 0.65) ** 2)))  # lungs: ellipsoids
    if scale > 0.05:
        for side in (-1.0, 1.0):
            lung = _ellipse(u, v, side * 0.34, 0.0, 0.25 * scale, 0.33 * scale)
            image[lung & inside] = LUNG
    image[_ellipse(u, v, 0.0, 0.40, 0.09, 0.09)] = BONE  # vertebral body
    image[_ellipse(u, v, 0.08 - 0.04 * w, 0.22, 0.055, 0.055)] = AORTA
    return image


@dataclass(frozen=True)
class _Geometry:
    row_cosine: npt.NDArray[np.float64]
    column_cosine: npt.NDArray[np.float64]
    normal: npt.NDArray[np.float64]
    origin: npt.NDArray[np.float64]
    offsets: npt.NDArray[np.float64]  # distance of each nominal slice along the normal, mm

    def position(self, index: int) -> npt.NDArray[np.float64]:
        return self.origin + self.normal * self.offsets[index]

    def affine(self, first: int, spacing: tuple[float, float, float]) -> npt.NDArray[np.float64]:
        """Index-to-LPS matrix starting at nominal slice ``first``, with the nominal step."""
        affine = np.eye(4)
        affine[:3, 0] = self.normal * spacing[0]
        affine[:3, 1] = self.column_cosine * spacing[1]
        affine[:3, 2] = self.row_cosine * spacing[2]
        affine[:3, 3] = self.position(first)
        return affine


def _geometry(
    slices: int,
    rows: int,
    columns: int,
    spacing: tuple[float, float, float],
    orientation: Sequence[float],
    origin: Sequence[float] | None,
    offsets: Sequence[float] | None,
    jitter: float,
    rng: np.random.Generator,
) -> _Geometry:
    cosines = np.asarray(orientation, dtype=np.float64)
    if cosines.shape != (6,):
        raise ValueError(f"Argument 'orientation' must have 6 values, not {len(cosines)}.")
    row_cos, col_cos = cosines[:3], cosines[3:]
    if not np.allclose([row_cos @ row_cos, col_cos @ col_cos, row_cos @ col_cos], [1, 1, 0]):
        raise ValueError(f"Argument 'orientation' must be two orthonormal vectors: {orientation}.")
    normal = np.cross(row_cos, col_cos)
    if offsets is None:
        steps = np.arange(slices, dtype=np.float64) * spacing[0]
    else:
        steps = np.asarray(offsets, dtype=np.float64)
        if steps.shape != (slices,):
            raise ValueError(f"Argument 'offsets' must have {slices} values, not {steps.size}.")
    if jitter:
        steps = steps + rng.uniform(-jitter, jitter, slices)
    if origin is None:
        centre = row_cos * spacing[2] * (columns - 1) / 2 + col_cos * spacing[1] * (rows - 1) / 2
        first = -centre - normal * spacing[0] * (slices - 1) / 2
    else:
        first = np.asarray(origin, dtype=np.float64)
    return _Geometry(row_cos, col_cos, normal, first, steps)


def _template(
    *,
    rows: int,
    columns: int,
    spacing: tuple[float, float, float],
    orientation: Sequence[float],
    signed: bool,
    slope: float,
    intercept: float,
    windows: Sequence[tuple[float, float]],
    uids: tuple[str, str, str],
    image_type: Sequence[str],
    series_number: int,
    series_description: str,
) -> FileDataset:
    """The dataset every slice shares; only per-slice elements change afterwards."""
    study_uid, series_uid, frame_uid = uids
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = list(image_type)
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20000101"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber = "SYNTH0001"
    ds.Modality = "CT"
    ds.Manufacturer = "RadLens synthetic phantom"
    ds.InstitutionName = "SYNTHETIC INSTITUTION"
    ds.ReferringPhysicianName = "SYNTHETIC^REFERRER"
    ds.StudyDescription = "SYNTHETIC CT CHEST"
    ds.SeriesDescription = series_description
    ds.PatientName = "SYNTHETIC^PHANTOM"
    ds.PatientID = "SYNTH-0001"
    ds.PatientBirthDate = "19000101"
    ds.PatientSex = "O"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = spacing[0]
    ds.KVP = 120
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = (
        study_uid,
        series_uid,
        frame_uid,
    )
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [round(float(x), 6) for x in orientation]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.PixelSpacing = [spacing[1], spacing[2]]
    ds.BitsAllocated = 16
    ds.BitsStored = 16 if signed else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if windows:
        ds.WindowCenter = [c for c, _ in windows] if len(windows) > 1 else windows[0][0]
        ds.WindowWidth = [w for _, w in windows] if len(windows) > 1 else windows[0][1]
    ds.RescaleIntercept = intercept
    ds.RescaleSlope = slope
    ds.RescaleType = "HU"
    return ds


def _stored(
    hu: npt.NDArray[np.int16], slope: float, intercept: float, signed: bool
) -> npt.NDArray[np.int16] | npt.NDArray[np.uint16]:
    """Stored values for ``hu`` (clipped to what the stored type holds)."""
    limits = (-32768, 32767) if signed else (0, 4095)
    values = np.rint((np.clip(hu, *HU_RANGE) - intercept) / slope)
    return np.clip(values, *limits).astype(np.int16 if signed else np.uint16)


def _slice_hu(rows: int, columns: int, index: int, slices: int, noise: float, seed: int):
    image = phantom_slice(rows, columns, index / max(slices - 1, 1))
    if noise:
        rng = np.random.default_rng([seed, index])
        image = image + np.rint(rng.standard_normal((rows, columns), dtype=np.float32) * noise)
    return np.clip(image, *HU_RANGE).astype(np.int16)


def _file_names(
    written: list[tuple[int, int]], shuffle: bool, rng: np.random.Generator
) -> dict[tuple[int, int], str]:
    if not shuffle:
        return {(k, c): f"CT{k + 1:05d}{'_copy' * c}.dcm" for k, c in written}
    names: dict[tuple[int, int], str] = {}
    taken: set[str] = set()
    for item in written:
        name = rng.bytes(8).hex()
        while name in taken:
            name = rng.bytes(8).hex()
        taken.add(name)
        names[item] = name
    return names


def _instance_numbers(
    mode: InstanceNumbers, slices: int, start: int, rng: np.random.Generator
) -> list[int | None]:
    if mode is None:
        return [None] * slices
    if mode == "ordered":
        return [start + k + 1 for k in range(slices)]
    if mode == "reversed":
        return [start + slices - k for k in range(slices)]
    if mode == "shuffled":
        return [start + int(n) + 1 for n in rng.permutation(slices)]
    raise ValueError(
        f"Argument 'instance_numbers' must be 'ordered', 'reversed', 'shuffled' or None, "
        f"not {mode!r}."
    )


def _check_indices(name: str, values: Iterable[int], slices: int) -> frozenset[int]:
    chosen = frozenset(int(v) for v in values)
    bad = sorted(v for v in chosen if not 0 <= v < slices)
    if bad:
        raise ValueError(f"Argument '{name}' has indices outside 0..{slices - 1}: {bad}.")
    return chosen


def _check_arguments(transfer_syntax: str, shape: tuple[int, int, int], slope: float) -> UID:
    syntax = UID(transfer_syntax)
    if syntax not in SUPPORTED_SYNTAXES:
        names = ", ".join(s.name for s in SUPPORTED_SYNTAXES)
        raise ValueError(f"Argument 'transfer_syntax' must be one of {names}, not {syntax!r}.")
    if min(shape) < 1:
        raise ValueError(f"Sizes must be >= 1, not {shape}.")
    if slope == 0:
        raise ValueError("Argument 'slope' must not be 0.")
    return syntax


def write_ct_series(
    folder: str | Path,
    *,
    slices: int = 300,
    rows: int = 512,
    columns: int = 512,
    spacing: tuple[float, float, float] = (1.25, 0.7, 0.7),
    orientation: Sequence[float] = AXIAL,
    origin: Sequence[float] | None = None,
    shuffle_names: bool = True,
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    instance_numbers: InstanceNumbers = "ordered",
    instance_start: int = 0,
    positions: bool = True,
    slice_location: bool = True,
    gaps: Iterable[int] = (),
    duplicates: Iterable[int] = (),
    duplicate_new_uid: bool = False,
    offsets: Sequence[float] | None = None,
    jitter: float = 0.0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    slope: float = 1.0,
    intercept: float = -1024.0,
    signed: bool = True,
    windows: Sequence[tuple[float, float]] = ((40.0, 400.0),),
    noise: float = 10.0,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    series_number: int = 2,
    series_description: str = "SYNTHETIC CHEST 1.25mm",
    seed: int = 0,
) -> SyntheticSeries:
    """Write one CT series, a file per slice, into ``folder`` (created if missing).

    Geometry: slice ``k`` of the nominal grid sits at ``origin + normal * offset[k]`` where
    ``normal`` is the cross product of the two ImageOrientationPatient cosines and ``offset[k]``
    is ``k * spacing[0]`` (or ``offsets[k]``) plus a uniform ``+-jitter`` mm. ``gaps`` leaves
    those indices out; ``duplicates`` writes those indices twice (same SOPInstanceUID unless
    ``duplicate_new_uid``). ``instance_numbers`` is ``"ordered"`` (growing along the normal),
    ``"reversed"``, ``"shuffled"`` or ``None`` (omitted); ``positions=False`` omits
    ImagePositionPatient. Stored values are int16 (``signed``, BitsStored 16) or uint16
    (BitsStored 12) with ``HU = stored * slope + intercept``; ``noise`` is the noise SD in HU.
    Compressed syntaxes (JPEG 2000, RLE, JPEG-LS lossless) are encoded by pydicom's encoders.
    """
    syntax = _check_arguments(transfer_syntax, (slices, rows, columns), slope)
    skip = _check_indices("gaps", gaps, slices)
    twice = _check_indices("duplicates", duplicates, slices) - skip
    if len(skip) == slices:
        raise ValueError("Argument 'gaps' leaves no slice to write.")
    study_uid = study_uid or _uid("study", seed)
    series_uid = series_uid or _uid("series", seed, study_uid)
    frame_uid = frame_uid or _uid("frame", study_uid)
    rng = np.random.default_rng([seed, 7, zlib.crc32(series_uid.encode())])
    geometry = _geometry(slices, rows, columns, spacing, orientation, origin, offsets, jitter, rng)
    numbers = _instance_numbers(instance_numbers, slices, instance_start, rng)
    kept = sorted((k for k in range(slices) if k not in skip), key=lambda k: geometry.offsets[k])
    written = [(k, c) for k in kept for c in range(2 if k in twice else 1)]
    names = _file_names(written, shuffle_names, rng)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clashes = sorted(n for n in names.values() if (folder / n).exists())
    if clashes:
        raise FileExistsError(f"`{folder / clashes[0]}` exists: write into an empty folder.")

    ds = _template(
        rows=rows,
        columns=columns,
        spacing=spacing,
        orientation=orientation,
        signed=signed,
        slope=slope,
        intercept=intercept,
        windows=windows,
        uids=(study_uid, series_uid, frame_uid),
        image_type=image_type,
        series_number=series_number,
        series_description=series_description,
    )
    ds.file_meta.TransferSyntaxUID = syntax
    integral = float(slope).is_integer() and float(intercept).is_integer()
    hu = np.empty((len(kept), rows, columns), dtype=np.int16 if integral else np.float64)
    order = list(range(len(written)))
    if shuffle_names:
        rng.shuffle(order)  # write in random order too, so directory order says nothing
    rank = {k: i for i, k in enumerate(kept)}
    for i in order:
        k, copy = written[i]
        stored = _stored(
            _slice_hu(rows, columns, k, slices, noise, seed), slope, intercept, signed
        )
        if copy == 0:
            values = stored.astype(np.float64) * slope + intercept
            if integral and not (values.min() >= -32768 and values.max() <= 32767):
                raise ValueError("Rescaled values do not fit int16: use a smaller slope.")
            hu[rank[k]] = values
        uid = _uid("instance", series_uid, k, copy if duplicate_new_uid else 0)
        _set_slice(
            ds,
            uid,
            numbers[k],
            geometry.position(k),
            geometry.normal,
            positions,
            slice_location,
            stored,
            syntax,
        )
        pydicom.dcmwrite(folder / names[(k, copy)], ds, enforce_file_format=True)

    return SyntheticSeries(
        folder=folder,
        paths=tuple(folder / names[item] for item in written),
        slice_paths=tuple(folder / names[(k, 0)] for k in kept),
        hu=hu,
        affine=geometry.affine(kept[0], spacing),
        positions=np.array([geometry.position(k) for k in kept]),
        indices=tuple(kept),
        spacing=(float(spacing[0]), float(spacing[1]), float(spacing[2])),
        series_uid=series_uid,
        study_uid=study_uid,
        transfer_syntax=syntax,
        instance_numbers=tuple(numbers[k] for k in kept),
    )


def _set_slice(
    ds: FileDataset,
    uid: str,
    number: int | None,
    position: npt.NDArray[np.float64],
    normal: npt.NDArray[np.float64],
    positions: bool,
    slice_location: bool,
    stored: np.ndarray,
    syntax: UID,
) -> None:
    """Change the per-slice elements of the shared dataset in place."""
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    if number is not None:
        ds.InstanceNumber = number
    elif "InstanceNumber" in ds:
        del ds.InstanceNumber
    if positions:
        ds.ImagePositionPatient = [round(float(x), 4) for x in position]
    elif "ImagePositionPatient" in ds:
        del ds.ImagePositionPatient
    if slice_location:
        ds.SliceLocation = round(float(position @ normal), 4)
    if syntax.is_compressed:
        ds.compress(syntax, stored, generate_instance_uid=False)
    else:
        ds.PixelData = stored.tobytes()
        ds["PixelData"].VR = "OW"


def write_multi_series_folder(
    folder: str | Path,
    *,
    slices: int = 40,
    rows: int = 64,
    columns: int = 64,
    localizer_orientations: Sequence[Sequence[float]] = (CORONAL, SAGITTAL),
    transfer_syntax: str = ExplicitVRLittleEndian,
    seed: int = 0,
) -> SyntheticFolder:
    """Write into one folder: a CT series, its localizer images and a thicker reconstruction.

    The localizer is one series (ImageType ORIGINAL\\PRIMARY\\LOCALIZER, series number 1) with
    one image per entry of ``localizer_orientations`` (1 to 3; coronal and sagittal by default).
    The second series has half the slices at twice the slice spacing (series number 3). All
    three share the study and the frame of reference.
    """
    if not 1 <= len(localizer_orientations) <= 3:
        raise ValueError("Argument 'localizer_orientations' must have 1 to 3 entries.")
    study_uid = _uid("study", seed)
    common: dict[str, Any] = {
        "rows": rows,
        "columns": columns,
        "study_uid": study_uid,
        "transfer_syntax": transfer_syntax,
    }
    ct = write_ct_series(folder, slices=slices, seed=seed, **common)
    localizer_uid = _uid("localizer", seed, study_uid)
    localizer = tuple(
        write_ct_series(
            folder,
            slices=1,
            spacing=(1.0, 1.0, 1.0),
            orientation=orientation,
            origin=(-(columns - 1) / 2, -(rows - 1) / 2, (rows - 1) / 2),
            series_uid=localizer_uid,
            instance_start=i,
            image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
            series_number=1,
            series_description="SYNTHETIC TOPOGRAM",
            seed=seed + 100 + i,
            **common,
        )
        for i, orientation in enumerate(localizer_orientations)
    )
    second = write_ct_series(
        folder,
        slices=max(slices // 2, 1),
        spacing=(2.5, 0.7, 0.7),
        series_number=3,
        series_description="SYNTHETIC CHEST 2.5mm",
        seed=seed + 1,
        **common,
    )
    return SyntheticFolder(Path(folder), ct, localizer, second)
