"""Read what RadLens needs from one DICOM file's header, without decoding its pixels.

The result, :class:`DicomHeader`, stays inside dicom_io: it holds raw UIDs (for grouping) but never
a patient name, ID or birth date. Every declared size is checked here, before any pixel buffer is
allocated.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.tag import Tag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicom_io.dicom.frame_info import FrameInfo, read_frame_infos
from dicom_io.dicom.raw_values import RawView
from dicom_io.dicom.values import Header, first_number, text_value, voi_window
from dicom_io.errors import (
    CorruptFileError,
    InputTooLargeError,
    MissingPixelDataError,
    RadLensError,
    library_reason,
)
from dicom_io.identity import hash_uid
from dicom_io.limits import Limits
from dicom_io.sources import SourceFile

__all__ = ["DicomHeader", "read_header"]

PIXEL_DATA = Tag(0x7FE0, 0x0010)
FLOAT_PIXEL_DATA = Tag(0x7FE0, 0x0008)
DOUBLE_PIXEL_DATA = Tag(0x7FE0, 0x0009)

NATIVE_SYNTAXES = {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian}

# Storage classes that are images without a slice geometry of their own.
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"


@dataclass(frozen=True)
class DicomHeader:
    """The header facts of one image file (identity-free apart from raw UIDs)."""

    source: SourceFile
    sop_class: str
    study_uid: str
    series_uid: str
    modality: str
    body_part: str
    study_description: str
    series_description: str
    view_position: str
    image_type: tuple[str, ...]
    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    transfer_syntax: str
    instance_number: int | None
    series_number: int | None
    slice_thickness: float | None
    window: tuple[float, float] | None
    burned_in: str
    has_modality_lut_sequence: bool
    frame_infos: tuple[FrameInfo, ...]
    imager_spacing: bool
    enhanced: bool
    pixel_offset: int | None = None
    sop_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    # Who and when, for grouping a folder into studies (never the identity itself): a salted
    # hash of Patient ID, Patient's Name and Birth Date (PS3.3 C.7.1.1), and Study Date.
    patient_key: str = ""
    study_date: str = ""
    value_units: str = ""  # what the rescaled values measure, when the header says: "Gy"

    @property
    def is_native(self) -> bool:
        return self.transfer_syntax in NATIVE_SYNTAXES

    @property
    def is_secondary_capture(self) -> bool:
        return self.sop_class.startswith(_SECONDARY_CAPTURE_PREFIX)


# Everything the header pass reads (parsing only these is ~40% faster than the whole header).
HEADER_KEYWORDS = (
    "SpecificCharacterSet",
    "ImageType",
    "SOPClassUID",
    "PatientName",  # hashed into patient_key, never kept
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "StudyDescription",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "SliceThickness",
    "ViewPosition",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "FrameOfReferenceUID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "BurnedInAnnotation",
    "WindowCenter",
    "WindowWidth",
    "RescaleIntercept",
    "RescaleSlope",
    "GridFrameOffsetVector",  # RT Dose frames (PS3.3 C.8.8.3.2)
    "DoseGridScaling",
    "DoseUnits",
    "ModalityLUTSequence",
    "DirectoryRecordSequence",
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "PixelData",
)


def _dcmread(source: SourceFile) -> Dataset:
    fp = source.path if source.path is not None else source.open()
    tags = list(HEADER_KEYWORDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(fp, defer_size=4096, specific_tags=tags)
        except InvalidDicomError:
            if source.path is None:
                fp = source.open()
            return pydicom.dcmread(fp, defer_size=4096, specific_tags=tags, force=True)


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid:
        return str(tsuid)
    # No (or an empty) file meta: the syntax the data set was actually parsed with.
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _check_sizes(
    source: SourceFile, ds: Header, header_args: dict[str, Any], limits: Limits
) -> None:
    rows, cols = header_args["rows"], header_args["columns"]
    frames, samples = header_args["frames"], header_args["samples"]
    bits = header_args["bits_allocated"]
    if (
        rows <= 0
        or cols <= 0
        or frames <= 0
        or samples not in (1, 3)
        or bits not in (1, 8, 16, 32, 64)
    ):
        raise CorruptFileError(
            f"{source.name}: implausible image size (rows={rows}, columns={cols}, "
            f"frames={frames}, samples={samples}, bits={bits})."
        )
    voxels = rows * cols * frames * samples
    if voxels > limits.max_voxels:
        raise InputTooLargeError(
            f"{source.name}: declares {rows}x{cols}x{frames} pixels ({voxels:,} values), more "
            f"than the limit of {limits.max_voxels:,} (RADLENS_MAX_VOXELS)."
        )
    if samples == 3 and text_value(ds, "PhotometricInterpretation").upper() == "YBR_FULL_422":
        # Uncompressed 4:2:2 (PS3.3 C.7.6.3.1.2): each pair of pixels is stored as Y Y Cb Cr,
        # two values per pixel instead of three.
        voxels = voxels // 3 * 2
    expected = (voxels * bits + 7) // 8
    raw = ds._dict.get(PIXEL_DATA)
    if header_args["transfer_syntax"] in NATIVE_SYNTAXES:
        if expected > source.size:
            raise InputTooLargeError(
                f"{source.name}: declares {expected:,} bytes of pixel data but the file has only "
                f"{source.size:,} bytes."
            )
        length = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        if length is None and isinstance(value, (bytes, bytearray)):
            length = len(value)
        tell = getattr(raw, "value_tell", None)
        if length is not None and length != 0xFFFFFFFF and length < expected:
            raise CorruptFileError(
                f"{source.name}: truncated: {length:,} bytes of pixel data, {expected:,} expected."
            )
        if tell is not None and length is not None and tell + expected > source.size:
            raise CorruptFileError(
                f"{source.name}: truncated: pixel data runs past the end of the file."
            )


# What pydicom raises on damaged bytes, while reading or when converting a value lazily.
_PARSE_ERRORS = (
    InvalidDicomError,
    BytesLengthException,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    TypeError,
    OverflowError,
    NotImplementedError,
    struct.error,
    zlib.error,
)


def read_header(source: SourceFile, limits: Limits) -> DicomHeader:
    """See :func:`_read_header`; pydicom's warnings about odd values are silenced here, and its
    errors on damaged bytes (raised on reading or on first access of a value) become
    :class:`CorruptFileError`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _read_header(source, limits)
        except RadLensError:
            raise
        except _PARSE_ERRORS as err:
            # The class only: pydicom's text can quote an element's bytes (patient data).
            what = "damaged deflate stream" if isinstance(err, zlib.error) else type(err).__name__
            what = "struct.error" if isinstance(err, struct.error) else what
            raise CorruptFileError(
                f"{source.name}: unreadable DICOM file ({what} while parsing)."
            ) from err


def _read_header(source: SourceFile, limits: Limits) -> DicomHeader:
    """Parse ``source``'s header and check every declared size against the file and ``limits``.

    Raises:
        CorruptFileError: unparseable or truncated file, implausible sizes.
        MissingPixelDataError: a DICOM object without an image (SR, RT plan, DICOMDIR, ...).
        InputTooLargeError: declared sizes beyond the file or the limits.
    """
    try:
        dataset = _dcmread(source)
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError) as err:
        reason = library_reason(err)
        raise CorruptFileError(f"{source.name}: unreadable DICOM file ({reason}).") from err
    ds = RawView(dataset)
    sop_class = str(
        ds.get("SOPClassUID", "")
        or getattr(dataset.get("file_meta", None), "MediaStorageSOPClassUID", "")
        or ""
    )
    if PIXEL_DATA not in ds._dict:
        raise _no_image(source, ds, sop_class)
    args = _image_attributes(source, ds, dataset)
    _check_sizes(source, ds, args, limits)
    if not 1 <= args["bits_stored"] <= args["bits_allocated"]:
        raise CorruptFileError(
            f"{source.name}: implausible Bits Stored {args['bits_stored']} for Bits Allocated "
            f"{args['bits_allocated']}."
        )
    raw_pixels = ds._dict.get(PIXEL_DATA)
    offset = getattr(raw_pixels, "value_tell", None) if source.path is not None else None
    frame_infos = read_frame_infos(ds, args["frames"])
    imager = ds.get("PixelSpacing") is None and ds.get("ImagerPixelSpacing") is not None
    return DicomHeader(
        source=source,
        sop_class=sop_class,
        **_descriptions(ds),
        photometric=text_value(ds, "PhotometricInterpretation").upper() or "MONOCHROME2",
        slice_thickness=first_number(ds.get("SliceThickness")),
        window=voi_window(ds),
        burned_in=text_value(ds, "BurnedInAnnotation").upper(),
        has_modality_lut_sequence="ModalityLUTSequence" in ds,
        frame_infos=frame_infos,
        imager_spacing=imager,
        enhanced="SharedFunctionalGroupsSequence" in ds
        or "PerFrameFunctionalGroupsSequence" in ds,
        pixel_offset=offset if getattr(raw_pixels, "value", b"") is None else None,
        sop_instance_uid=text_value(ds, "SOPInstanceUID"),
        frame_of_reference_uid=text_value(ds, "FrameOfReferenceUID"),
        patient_key=_patient_key(ds),
        value_units=_value_units(ds),
        study_date=text_value(ds, "StudyDate")[:8],
        **args,
    )


def _value_units(ds: Header) -> str:
    """RT Dose's Dose Units (3004,0002): "Gy", or "relative dose"; "" for anything else."""
    units = text_value(ds, "DoseUnits").upper()
    return {"GY": "Gy", "RELATIVE": "relative dose"}.get(units, "")


def _patient_key(ds: Header) -> str:
    """A salted hash of the patient's identifying attributes; "" when none is present."""
    parts = [text_value(ds, name) for name in ("PatientID", "PatientName", "PatientBirthDate")]
    return hash_uid("patient", *parts) if any(parts) else ""


def _no_image(source: SourceFile, ds: Header, sop_class: str) -> MissingPixelDataError:
    """The error for a DICOM object without integer pixel data, naming its class if well formed."""
    kind = (
        "floating-point pixel data (not supported)"
        if (FLOAT_PIXEL_DATA in ds._dict or DOUBLE_PIXEL_DATA in ds._dict)
        else "no pixel data"
    )
    # Only a well-formed UID is named: a damaged value can hold any bytes of the file.
    name = (
        (UID(sop_class).name if UID(sop_class).is_valid else "")
        if sop_class
        else ("DICOMDIR" if "DirectoryRecordSequence" in ds else "")
    )
    what = f" ({name})" if name and name != sop_class else ""
    return MissingPixelDataError(f"{source.name}: {kind}{what}; not an image.")


def _image_attributes(source: SourceFile, ds: Header, dataset: Dataset) -> dict[str, Any]:
    """Sizes, bit depths, transfer syntax and instance/series numbers, as DicomHeader fields."""
    try:
        frames_value = ds.get("NumberOfFrames", 1)
        args: dict[str, Any] = {
            "rows": int(ds.get("Rows", 0) or 0),
            "columns": int(ds.get("Columns", 0) or 0),
            "frames": int(frames_value) if frames_value not in (None, "") else 1,
            "samples": int(ds.get("SamplesPerPixel", 1) or 1),
            "bits_allocated": int(ds.get("BitsAllocated", 0) or 0),
            "transfer_syntax": _transfer_syntax(dataset),
        }
        bits_stored = int(ds.get("BitsStored", args["bits_allocated"]) or args["bits_allocated"])
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        instance = ds.get("InstanceNumber")
        instance_number = int(instance) if instance not in (None, "") else None
        series = ds.get("SeriesNumber")
        series_number = int(series) if series not in (None, "") else None
    except (TypeError, ValueError) as err:
        reason = library_reason(err)
        raise CorruptFileError(f"{source.name}: invalid image attribute ({reason}).") from err
    return {
        **args,
        "bits_stored": bits_stored,
        "signed": signed,
        "instance_number": instance_number,
        "series_number": series_number,
    }


def _descriptions(ds: Header) -> dict[str, Any]:
    """The identity-free descriptive text of the header, as DicomHeader fields."""
    return {
        "study_uid": text_value(ds, "StudyInstanceUID"),
        "series_uid": text_value(ds, "SeriesInstanceUID"),
        "modality": text_value(ds, "Modality").upper() or "OT",
        "body_part": text_value(ds, "BodyPartExamined").upper(),
        "study_description": text_value(ds, "StudyDescription"),
        "series_description": text_value(ds, "SeriesDescription"),
        "view_position": text_value(ds, "ViewPosition").upper(),
        "image_type": tuple(v.upper() for v in text_value(ds, "ImageType").split("\\") if v),
    }
