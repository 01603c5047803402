"""The Technique line of a prompt or report, from coded metadata alone (never invented).

Only coded attributes go in: modality, body part, view, plane, slice count and spacing. Series
and Study Description are free text that may name a patient or a clinician, and DICOM PS3.15's
Basic Application Level Confidentiality Profile removes both (Table E.1-1: (0008,103E) and
(0008,1030), action X), as ``radlens deid`` does: the line reaches the model's prompt and every
export, the de-identified SR included, so it must hold nothing the profile would remove.
"""

from __future__ import annotations

from dicom_io.study import Orientation, Series

__all__ = ["describe_technique"]

_MODALITY_NAMES = {
    "CR": "Computed radiography",
    "DX": "Digital radiography",
    "CT": "CT",
    "MR": "MR",
    "US": "Ultrasound",
    "MG": "Mammography",
    "PT": "PET",
    "NM": "Nuclear medicine",
    "XA": "X-ray angiography",
    "RF": "Fluoroscopy",
    "OT": "Image",
}


def describe_technique(series: Series, images_sent: int | None = None) -> str:
    """One sentence: modality, body part, view or plane, image count and spacing, as recorded.

    >>> # "CT of the CHEST, axial, 300 slices at 1.25 mm; 85 of them shown to the model."
    """
    parts = [_MODALITY_NAMES.get(series.modality, series.modality)]
    if series.body_part:
        parts.append(f"of the {series.body_part.lower()}")
    text = " ".join(parts)
    details = []
    if series.view_position:
        details.append(f"{series.view_position} view")
    if series.is_volume and series.orientation not in (Orientation.UNKNOWN,):
        details.append(series.orientation.value)
    count = series.slice_count
    if series.is_volume:
        spacing = f" at {series.spacing[0]:g} mm" if series.spacing_known else ""
        details.append(f"{count} slices{spacing}")
    else:
        details.append("single image")
    sentence = ", ".join([text, *details])
    if images_sent is not None and series.is_volume:
        sentence += f"; {images_sent} of them shown to the model"
    return sentence + "."
