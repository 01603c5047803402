"""De-identify one data set in place: the Basic Application Level Confidentiality Profile
(PS3.15 Annex E).

Every attribute of the profile's table (:mod:`dicom_io.deid.profile`, PS3.15 Table E.1-1) is
removed, emptied, given a dummy value or has its UIDs replaced, at every depth of every sequence.
Where the table leaves the choice to the IOD (``X/Z/D``...), the choice valid in any IOD is
taken (see :func:`dicom_io.deid.profile.choose_action`). Beyond the table: private attributes,
curve groups (50xx), whole overlay groups (60xx: an overlay plane cannot stand without its
removed data), group lengths and command elements are removed; person names it does not list
are emptied; dates it does not list are treated like listed ones; instance UIDs it does not list
are replaced (class, transfer syntax and coding UIDs are kept) through a
:class:`~dicom_io.deid.uid_map.UIDMap`. File Meta Information and the preamble are written anew.
Dates follow the :class:`~dicom_io.deid.options.DeidOptions`.

Pixel data is never touched, byte for byte: text burned into the pixels stays. Instances that
declare burned-in annotation, and ultrasound or secondary capture that do not say, get a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicom_io.deid.options import DeidOptions
from dicom_io.deid.profile import BASIC_PROFILE, Action, action_for, dummy_value
from dicom_io.deid.uid_map import UIDMap

__all__ = ["DeidWalk", "deidentify_dataset"]

_DICOM_UID_ROOT = "1.2.840.10008."
_PATIENT_ID = 0x00100020
_BURNED_IN_WARNING = "may have patient text burned into the pixels; not removed"
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # and its multi-frame kinds, .7.1 to .7.4
_ULTRASOUND_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.6.2", "1.2.840.10008.5.1.4.1.1.3.1"}
)


@dataclass
class DeidWalk:
    uid_map: UIDMap
    options: DeidOptions
    warnings: list[str] = field(default_factory=list)

    def action(self, elem: DataElement) -> Action:
        return action_for(
            elem.tag,
            elem.VR,
            keep_dates=self.options.keep_dates,
            shift_dates=self.options.date_shift_days is not None,
            keep_patient_characteristics=self.options.keep_patient_characteristics,
        )


def _values(value: object) -> list[str]:
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]


def _set_values(elem: DataElement, values: list[str]) -> None:
    elem.value = values if len(values) > 1 else values[0]


def _shift_date(value: str, vr: str, days: int) -> str | None:
    """``value`` (DA, or DT from the day on) moved by ``days``; ``None`` if not a full date."""
    text = value.strip()
    head, tail = text[:8], text[8:]
    if len(head) < 8 or not head.isdigit() or (vr == "DA" and tail):
        return None
    try:
        day = date(int(head[:4]), int(head[4:6]), int(head[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    return f"{day.year:04d}{day.month:02d}{day.day:02d}{tail}"


def _clean(elem: DataElement, walk: DeidWalk) -> None:
    """Action C: shift dates (the only cleaning RadLens does); times and the rest are kept."""
    days = walk.options.date_shift_days
    if elem.VR not in ("DA", "DT") or days is None or elem.value in (None, ""):
        return
    shifted = [_shift_date(v, elem.VR, days) if v else "" for v in _values(elem.value)]
    if any(s is None for s in shifted):
        elem.value = None
        walk.warnings.append(
            f"A date in {elem.tag} could not be read as a date, so it was emptied, not shifted."
        )
        return
    _set_values(elem, [s for s in shifted if s is not None])


def _replace_uids(elem: DataElement, walk: DeidWalk, *, keep_registered: bool) -> None:
    if elem.value in (None, ""):
        return
    new = [
        v if keep_registered and v.startswith(_DICOM_UID_ROOT) else walk.uid_map(v)
        for v in _values(elem.value)
    ]
    _set_values(elem, new)


def _dummy(elem: DataElement, walk: DeidWalk) -> None:
    """Action D. An empty value stays empty: where it was allowed, empty (Z) is allowed too."""
    if elem.is_empty:
        return
    if elem.tag == _PATIENT_ID:
        elem.value = walk.uid_map.pseudonym(str(elem.value))
    elif elem.VR == "UI":
        _replace_uids(elem, walk, keep_registered=False)
    else:
        elem.value = dummy_value(elem.VR)


def _apply(ds: Dataset, elem: DataElement, action: Action, walk: DeidWalk) -> None:
    if action is Action.REMOVE:
        del ds[elem.tag]
    elif action is Action.EMPTY:
        elem.value = Sequence() if elem.VR == "SQ" else None
    elif action is Action.DUMMY:
        _dummy(elem, walk)
    elif elem.VR == "SQ":
        for item in elem.value or ():
            _walk_dataset(item, walk)
    elif action is Action.UID:
        _replace_uids(elem, walk, keep_registered=int(elem.tag) not in BASIC_PROFILE)
    elif action is Action.CLEAN:
        _clean(elem, walk)


def _walk_dataset(ds: Dataset, walk: DeidWalk) -> None:
    for tag in list(ds.keys()):
        elem = ds[tag]
        _apply(ds, elem, walk.action(elem), walk)


def _burned_in_warning(ds: Dataset) -> str | None:
    burned_in = str(ds.get("BurnedInAnnotation", "")).strip().upper()
    sop_class = str(ds.get("SOPClassUID", ""))
    if burned_in == "YES":
        return f"The image declares burned-in annotation: it {_BURNED_IN_WARNING}."
    if burned_in:
        return None
    if str(ds.get("Modality", "")).upper() == "US" or sop_class in _ULTRASOUND_CLASSES:
        return f"Ultrasound without a Burned In Annotation statement: it {_BURNED_IN_WARNING}."
    if sop_class == _SECONDARY_CAPTURE or sop_class.startswith(_SECONDARY_CAPTURE + "."):
        return (
            f"Secondary capture without a Burned In Annotation statement: it {_BURNED_IN_WARNING}."
        )
    return None


def _mark_deidentified(ds: Dataset, options: DeidOptions) -> None:
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = options.method_text
    items = []
    for value, meaning in options.method_codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    if options.keep_dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif options.date_shift_days is not None:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        return UID(str(meta.TransferSyntaxUID))
    implicit, little = ds.original_encoding
    if little is False:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def _replace_file_meta(ds: Dataset) -> None:
    """New File Meta Information and an empty preamble (both may carry identity, E.1.1 step 7)."""
    meta = FileMetaDataset()
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = _transfer_syntax(ds)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.preamble = b"\0" * 128


def deidentify_dataset(ds: Dataset, uid_map: UIDMap, options: DeidOptions) -> list[str]:
    """De-identify ``ds`` in place (pass a copy) with the Basic Profile; return the warnings.

    Warnings name no patient, file or UID: the caller adds where they came from.
    """
    walk = DeidWalk(uid_map=uid_map, options=options)
    burned_in = _burned_in_warning(ds)
    if burned_in is not None:
        walk.warnings.append(burned_in)
    if str(ds.get("RecognizableVisualFeatures", "")).strip().upper() == "YES":
        walk.warnings.append(
            "The image declares recognizable visual features (a face?): not removed."
        )
    _walk_dataset(ds, walk)
    _mark_deidentified(ds, options)
    if getattr(ds, "file_meta", None) is not None or getattr(ds, "preamble", None) is not None:
        _replace_file_meta(ds)
    return walk.warnings
