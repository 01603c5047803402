"""The attribute table of the DICOM Basic Application Level Confidentiality Profile, as data.

One entry per attribute of DICOM PS3.15 Table E.1-1 (edition 2025a): the Basic Profile's action
code and the options that change it. Wildcard rows (private groups, curve groups 50xx, overlay
data and comments 60xx) are handled by rule in :mod:`dicom_io.deid.files`, not listed here.

Action codes (PS3.15 E.1.1): ``D`` replace with a non-empty dummy value, ``Z`` replace with an
empty (or dummy) value, ``X`` remove, ``K`` keep, ``C`` clean, ``U`` replace UIDs consistently.
Codes such as ``X/Z/D`` leave the choice to the IOD (remove if Type 3, empty if Type 2, dummy if
Type 1); ``X/Z/U*`` on a sequence means keep it and replace the UIDs inside.

Option flags (one letter per option column of the table that is not blank):

- ``T``: Retain Longitudinal Temporal Information (K with Full Dates, C with Modified Dates).
- ``P`` / ``p``: Retain Patient Characteristics, K / C.
- ``V`` / ``v``: Retain Device Identity, K / C.
- ``I``: Retain Institution Identity, K.
- ``R``: Retain UIDs, K.
- ``N``: Clean Descriptors, C.
- ``S``: Clean Structured Content, C.
- ``G``: Clean Graphics, C.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydicom.datadict import keyword_for_tag
from pydicom.tag import BaseTag

__all__ = [
    "BASIC_PROFILE",
    "DUMMY_TEXT",
    "PROFILE_EDITION",
    "Action",
    "action_for",
    "choose_action",
    "dummy_value",
]

PROFILE_EDITION: Final = "2025a"
DUMMY_TEXT: Final = "ANONYMIZED"


class Action(StrEnum):
    """What happens to one attribute (PS3.15 E.1.1)."""

    DUMMY = "D"
    EMPTY = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"


def choose_action(code: str, *, is_sequence: bool) -> Action:
    """One action from a table code, without knowing the attribute's Type in the IOD.

    Where the table leaves a choice (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``), the choice that keeps
    any IOD valid is taken: a dummy where offered, else an empty value. Both carry no identity.
    Sequences are never given dummy items (an item built from nothing could not be trusted to
    hold no identity): a sequence coded ``D`` or ``X/Z/D`` is emptied, one coded ``X/D`` removed.
    ``X/Z/U*`` keeps the sequence and replaces the UIDs inside.
    """
    if code == "X/Z/U*":
        return Action.UID
    choices = code.split("/")
    if is_sequence:
        return Action.EMPTY if ("Z" in choices or choices == ["D"]) else Action.REMOVE
    if "D" in choices:
        return Action.DUMMY
    if "Z" in choices:
        return Action.EMPTY
    return Action(choices[0])


_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_DUMMIES: Final[dict[str, str | int | float | bytes]] = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    **dict.fromkeys(("US", "SS", "UL", "SL", "UV", "SV"), 0),
    **dict.fromkeys(("FL", "FD"), 0.0),
    **dict.fromkeys(("OB", "OW", "OD", "OF", "OL", "OV", "UN"), b"\x00" * 8),
}


def dummy_value(vr: str) -> str | int | float | bytes | None:
    """A non-empty value of ``vr`` that says nothing (``None`` where no dummy fits, e.g. AT)."""
    if vr in _TEXT_VRS:
        return DUMMY_TEXT
    return _DUMMIES.get(vr)


# Unlisted UIDs naming a kind of thing, not an instance: kept.
_NON_INSTANCE_UID_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "ContextUID",
        "ContextGroupExtensionCreatorUID",
        "CreatorVersionUID",
        "ImplementationClassUID",
        "MappingResourceUID",
        "PrivateInformationCreatorUID",
    }
)


def _unlisted_action(tag: BaseTag, vr: str) -> Action:
    """The action for an attribute the table does not list."""
    group, element = tag.group, tag.element
    if tag.is_private or element == 0 or group == 0:
        return Action.REMOVE  # private, group length, command element
    if group % 2 == 0 and (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF):
        return Action.REMOVE  # curves (50xx,xxxx); overlays, whole groups (60xx,xxxx)
    if vr == "PN":
        return Action.EMPTY
    if vr == "UI":
        keyword = keyword_for_tag(tag)
        kind_of_thing = (
            keyword in _NON_INSTANCE_UID_KEYWORDS
            or "ClassUID" in keyword
            or "SOPClasses" in keyword
            or "TransferSyntax" in keyword
        )
        return Action.KEEP if kind_of_thing else Action.UID
    return Action.KEEP


def action_for(
    tag: BaseTag,
    vr: str,
    *,
    keep_dates: bool = False,
    shift_dates: bool = False,
    keep_patient_characteristics: bool = False,
) -> Action:
    """The action for one attribute under the Basic Profile and the options given.

    Beyond the table: private attributes, group lengths, command elements, curve groups and
    whole overlay groups are removed; person names are emptied; dates are treated like listed
    dates; instance UIDs are replaced (class, transfer syntax and coding UIDs kept); the rest is
    kept (sequences then have their items walked).
    """
    rule = BASIC_PROFILE.get(int(tag))
    if rule is None:
        if vr not in ("DA", "DT"):
            return _unlisted_action(tag, vr)
        rule = ("X", "T")
    code, flags = rule
    if "T" in flags and keep_dates:
        return Action.KEEP
    if "T" in flags and shift_dates:
        return Action.CLEAN
    if "P" in flags and keep_patient_characteristics:
        return Action.KEEP
    return choose_action(code, is_sequence=vr == "SQ")


# tag: (Basic Profile action, option flags)  # attribute name
BASIC_PROFILE: Final[dict[int, tuple[str, str]]] = {
    0x00001000: ("X", "R"),  # Affected SOP Instance UID
    0x00001001: ("U", "R"),  # Requested SOP Instance UID
    0x00020003: ("U", "R"),  # Media Storage SOP Instance UID
    0x00041511: ("U", "R"),  # Referenced SOP Instance UID in File
    0x00080012: ("X/D", "T"),  # Instance Creation Date
    0x00080013: ("X/Z/D", "T"),  # Instance Creation Time
    0x00080014: ("U", "R"),  # Instance Creator UID
    0x00080015: ("X", "T"),  # Instance Coercion DateTime
    0x00080017: ("U", "R"),  # Acquisition UID
    0x00080018: ("U", "R"),  # SOP Instance UID
    0x00080019: ("U", "R"),  # Pyramid UID
    0x00080020: ("Z", "T"),  # Study Date
    0x00080021: ("X/D", "T"),  # Series Date
    0x00080022: ("X/Z", "T"),  # Acquisition Date
    0x00080023: ("Z/D", "T"),  # Content Date
    0x00080024: ("X", "T"),  # Overlay Date
    0x00080025: ("X", "T"),  # Curve Date
    0x0008002A: ("X/Z/D", "T"),  # Acquisition DateTime
    0x00080030: ("Z", "T"),  # Study Time
    0x00080031: ("X/D", "T"),  # Series Time
    0x00080032: ("X/Z", "T"),  # Acquisition Time
    0x00080033: ("Z/D", "T"),  # Content Time
    0x00080034: ("X", "T"),  # Overlay Time
    0x00080035: ("X", "T"),  # Curve Time
    0x00080050: ("Z", ""),  # Accession Number
    0x00080054: ("X", "v"),  # Retrieve AE Title
    0x00080055: ("X", "v"),  # Station AE Title
    0x00080058: ("U", "R"),  # Failed SOP Instance UID List
    0x00080080: ("X/Z/D", "I"),  # Institution Name
    0x00080081: ("X", "I"),  # Institution Address
    0x00080082: ("X/Z/D", "I"),  # Institution Code Sequence
    0x00080090: ("Z", ""),  # Referring Physician's Name
    0x00080092: ("X", ""),  # Referring Physician's Address
    0x00080094: ("X", ""),  # Referring Physician's Telephone Numbers
    0x00080096: ("X", ""),  # Referring Physician Identification Sequence
    0x0008009C: ("Z", ""),  # Consulting Physician's Name
    0x0008009D: ("X", ""),  # Consulting Physician Identification Sequence
    0x00080106: ("D", "T"),  # Context Group Version
    0x00080107: ("D", "T"),  # Context Group Local Version
    0x00080201: ("X", "T"),  # Timezone Offset From UTC
    0x00081000: ("X", "v"),  # Network ID
    0x00081010: ("X/Z/D", "V"),  # Station Name
    0x00081030: ("X", "N"),  # Study Description
    0x0008103E: ("X", "N"),  # Series Description
    0x00081040: ("X", "I"),  # Institutional Department Name
    0x00081041: ("X", "I"),  # Institutional Department Type Code Sequence
    0x00081048: ("X", ""),  # Physician(s) of Record
    0x00081049: ("X", ""),  # Physician(s) of Record Identification Sequence
    0x00081050: ("X", ""),  # Performing Physician's Name
    0x00081052: ("X", ""),  # Performing Physician Identification Sequence
    0x00081060: ("X", ""),  # Name of Physician(s) Reading Study
    0x00081062: ("X", ""),  # Physician(s) Reading Study Identification Sequence
    0x00081070: ("X/Z/D", ""),  # Operators' Name
    0x00081072: ("X/D", ""),  # Operator Identification Sequence
    0x00081080: ("X", "N"),  # Admitting Diagnoses Description
    0x00081084: ("X", "N"),  # Admitting Diagnoses Code Sequence
    0x00081088: ("X", "N"),  # Pyramid Description
    0x00081110: ("X/Z", "R"),  # Referenced Study Sequence
    0x00081111: ("X/Z/D", "R"),  # Referenced Performed Procedure Step Sequence
    0x00081120: ("X", "R"),  # Referenced Patient Sequence
    0x00081140: ("X/Z/U*", "R"),  # Referenced Image Sequence
    0x00081155: ("U", "R"),  # Referenced SOP Instance UID
    0x00081195: ("U", "R"),  # Transaction UID
    0x00082111: ("X", "N"),  # Derivation Description
    0x00082112: ("X/Z/U*", "R"),  # Source Image Sequence
    0x00083010: ("U", "R"),  # Irradiation Event UID
    0x00084000: ("X", "N"),  # Identifying Comments
    0x00100010: ("Z", ""),  # Patient's Name
    0x00100020: ("Z/D", ""),  # Patient ID
    0x00100021: ("X", ""),  # Issuer of Patient ID
    0x00100030: ("Z", ""),  # Patient's Birth Date
    0x00100032: ("X", ""),  # Patient's Birth Time
    0x00100040: ("Z", "P"),  # Patient's Sex
    0x00100050: ("X", ""),  # Patient's Insurance Plan Code Sequence
    0x00100101: ("X", ""),  # Patient's Primary Language Code Sequence
    0x00100102: ("X", ""),  # Patient's Primary Language Modifier Code Sequence
    0x00101000: ("X", ""),  # Other Patient IDs
    0x00101001: ("X", ""),  # Other Patient Names
    0x00101002: ("X", ""),  # Other Patient IDs Sequence
    0x00101005: ("X", ""),  # Patient's Birth Name
    0x00101010: ("X", "P"),  # Patient's Age
    0x00101020: ("X", "P"),  # Patient's Size
    0x00101030: ("X", "P"),  # Patient's Weight
    0x00101040: ("X", ""),  # Patient's Address
    0x00101050: ("X", ""),  # Insurance Plan Identification
    0x00101060: ("X", ""),  # Patient's Mother's Birth Name
    0x00101080: ("X", ""),  # Military Rank
    0x00101081: ("X", ""),  # Branch of Service
    0x00101090: ("X", ""),  # Medical Record Locator
    0x00101100: ("X", ""),  # Referenced Patient Photo Sequence
    0x00102000: ("X", "N"),  # Medical Alerts
    0x00102110: ("X", "pN"),  # Allergies
    0x00102150: ("X", ""),  # Country of Residence
    0x00102152: ("X", ""),  # Region of Residence
    0x00102154: ("X", ""),  # Patient's Telephone Numbers
    0x00102155: ("X", ""),  # Patient's Telecom Information
    0x00102160: ("X", "P"),  # Ethnic Group
    0x00102180: ("X", "N"),  # Occupation
    0x001021A0: ("X", "P"),  # Smoking Status
    0x001021B0: ("X", "N"),  # Additional Patient History
    0x001021C0: ("X", "P"),  # Pregnancy Status
    0x001021D0: ("X", "T"),  # Last Menstrual Date
    0x001021F0: ("X", ""),  # Patient's Religious Preference
    0x00102203: ("X/Z", "P"),  # Patient's Sex Neutered
    0x00102297: ("X", ""),  # Responsible Person
    0x00102299: ("X", ""),  # Responsible Organization
    0x00104000: ("X", "N"),  # Patient Comments
    0x00120010: ("D", ""),  # Clinical Trial Sponsor Name
    0x00120020: ("D", ""),  # Clinical Trial Protocol ID
    0x00120021: ("Z", ""),  # Clinical Trial Protocol Name
    0x00120022: ("X", ""),  # Issuer of Clinical Trial Protocol ID
    0x00120023: ("X", ""),  # Other Clinical Trial Protocol IDs Sequence
    0x00120030: ("Z", "I"),  # Clinical Trial Site ID
    0x00120031: ("Z", "I"),  # Clinical Trial Site Name
    0x00120032: ("X", ""),  # Issuer of Clinical Trial Site ID
    0x00120040: ("D", ""),  # Clinical Trial Subject ID
    0x00120041: ("X", ""),  # Issuer of Clinical Trial Subject ID
    0x00120042: ("D", ""),  # Clinical Trial Subject Reading ID
    0x00120043: ("X", ""),  # Issuer of Clinical Trial Subject Reading ID
    0x00120050: ("Z", ""),  # Clinical Trial Time Point ID
    0x00120051: ("X", "N"),  # Clinical Trial Time Point Description
    0x00120055: ("X", ""),  # Issuer of Clinical Trial Time Point ID
    0x00120060: ("Z", "I"),  # Clinical Trial Coordinating Center Name
    0x00120071: ("X", ""),  # Clinical Trial Series ID
    0x00120072: ("X", "N"),  # Clinical Trial Series Description
    0x00120073: ("X", ""),  # Issuer of Clinical Trial Series ID
    0x00120081: ("D", "I"),  # Clinical Trial Protocol Ethics Committee Name
    0x00120082: ("X", ""),  # Clinical Trial Protocol Ethics Committee Approval Number
    0x00120086: ("X", "T"),  # Ethics Committee Approval Effectiveness Start Date
    0x00120087: ("X", "T"),  # Ethics Committee Approval Effectiveness End Date
    0x0014407C: ("X", "TV"),  # Calibration Time
    0x0014407E: ("X", "TV"),  # Calibration Date
    0x0016002B: ("X", "N"),  # Maker Note
    0x0016004B: ("X", "N"),  # Device Setting Description
    0x0016004D: ("X", ""),  # Camera Owner Name
    0x0016004E: ("X", "V"),  # Lens Specification
    0x0016004F: ("X", "V"),  # Lens Make
    0x00160050: ("X", "V"),  # Lens Model
    0x00160051: ("X", "V"),  # Lens Serial Number
    0x00160070: ("X", ""),  # GPS Version ID
    0x00160071: ("X", ""),  # GPS Latitude Ref
    0x00160072: ("X", ""),  # GPS Latitude
    0x00160073: ("X", ""),  # GPS Longitude Ref
    0x00160074: ("X", ""),  # GPS Longitude
    0x00160075: ("X", ""),  # GPS Altitude Ref
    0x00160076: ("X", ""),  # GPS Altitude
    0x00160077: ("X", ""),  # GPS Time Stamp
    0x00160078: ("X", ""),  # GPS Satellites
    0x00160079: ("X", ""),  # GPS Status
    0x0016007A: ("X", ""),  # GPS Measure Mode
    0x0016007B: ("X", ""),  # GPS DOP
    0x0016007C: ("X", ""),  # GPS Speed Ref
    0x0016007D: ("X", ""),  # GPS Speed
    0x0016007E: ("X", ""),  # GPS Track Ref
    0x0016007F: ("X", ""),  # GPS Track
    0x00160080: ("X", ""),  # GPS Img Direction Ref
    0x00160081: ("X", ""),  # GPS Img Direction
    0x00160082: ("X", ""),  # GPS Map Datum
    0x00160083: ("X", ""),  # GPS Dest Latitude Ref
    0x00160084: ("X", ""),  # GPS Dest Latitude
    0x00160085: ("X", ""),  # GPS Dest Longitude Ref
    0x00160086: ("X", ""),  # GPS Dest Longitude
    0x00160087: ("X", ""),  # GPS Dest Bearing Ref
    0x00160088: ("X", ""),  # GPS Dest Bearing
    0x00160089: ("X", ""),  # GPS Dest Distance Ref
    0x0016008A: ("X", ""),  # GPS Dest Distance
    0x0016008B: ("X", ""),  # GPS Processing Method
    0x0016008C: ("X", ""),  # GPS Area Information
    0x0016008D: ("X", "T"),  # GPS Date Stamp
    0x0016008E: ("X", ""),  # GPS Differential
    0x00180010: ("Z/D", "N"),  # Contrast/Bolus Agent
    0x00180027: ("X", "T"),  # Intervention Drug Stop Time
    0x00180035: ("X", "T"),  # Intervention Drug Start Time
    0x00181000: ("X/Z/D", "V"),  # Device Serial Number
    0x00181002: ("U", "VR"),  # Device UID
    0x00181004: ("X", "V"),  # Plate ID
    0x00181005: ("X", "V"),  # Generator ID
    0x00181007: ("X", "V"),  # Cassette ID
    0x00181008: ("X", "V"),  # Gantry ID
    0x00181009: ("X", "V"),  # Unique Device Identifier
    0x0018100A: ("X", "V"),  # UDI Sequence
    0x0018100B: ("U", "VR"),  # Manufacturer's Device Class UID
    0x00181012: ("X", "T"),  # Date of Secondary Capture
    0x00181014: ("X", "T"),  # Time of Secondary Capture
    0x00181030: ("X/D", "N"),  # Protocol Name
    0x00181042: ("X", "T"),  # Contrast/Bolus Start Time
    0x00181043: ("X", "T"),  # Contrast/Bolus Stop Time
    0x00181072: ("X", "T"),  # Radiopharmaceutical Start Time
    0x00181073: ("X", "T"),  # Radiopharmaceutical Stop Time
    0x00181078: ("X", "T"),  # Radiopharmaceutical Start DateTime
    0x00181079: ("X", "T"),  # Radiopharmaceutical Stop DateTime
    0x001811BB: ("D", "N"),  # Acquisition Field Of View Label
    0x00181200: ("X", "TV"),  # Date of Last Calibration
    0x00181201: ("X", "TV"),  # Time of Last Calibration
    0x00181202: ("X", "TV"),  # DateTime of Last Calibration
    0x00181203: ("Z", "TV"),  # Calibration DateTime
    0x00181204: ("X", "TV"),  # Date of Manufacture
    0x00181205: ("X", "TV"),  # Date of Installation
    0x00181400: ("X/D", "N"),  # Acquisition Device Processing Description
    0x00182042: ("U", "R"),  # Target UID
    0x00184000: ("X", "N"),  # Acquisition Comments
    0x00185011: ("X", "V"),  # Transducer Identification Sequence
    0x0018700A: ("X/D", "V"),  # Detector ID
    0x0018700C: ("X/D", "TV"),  # Date of Last Detector Calibration
    0x0018700E: ("X/D", "TV"),  # Time of Last Detector Calibration
    0x00189074: ("D", "T"),  # Frame Acquisition DateTime
    0x00189151: ("D", "T"),  # Frame Reference DateTime
    0x00189185: ("X", "N"),  # Respiratory Motion Compensation Technique Description
    0x00189367: ("D", "V"),  # X-Ray Source ID
    0x00189369: ("D", "T"),  # Source Start DateTime
    0x0018936A: ("D", "T"),  # Source End DateTime
    0x00189371: ("D", "V"),  # X-Ray Detector ID
    0x00189373: ("X", "V"),  # X-Ray Detector Label
    0x0018937B: ("X", "N"),  # Multi-energy Acquisition Description
    0x0018937F: ("X", "N"),  # Decomposition Description
    0x00189424: ("X", "N"),  # Acquisition Protocol Description
    0x00189516: ("X/D", "T"),  # Start Acquisition DateTime
    0x00189517: ("X/D", "T"),  # End Acquisition DateTime
    0x00189623: ("D", "T"),  # Functional Sync Pulse
    0x00189701: ("D", "T"),  # Decay Correction DateTime
    0x00189804: ("D", "T"),  # Exclusion Start DateTime
    0x00189919: ("Z/D", "T"),  # Instruction Performed DateTime
    0x00189937: ("X", "N"),  # Requested Series Description
    0x0018A002: ("X", "T"),  # Contribution DateTime
    0x0018A003: ("X", "N"),  # Contribution Description
    0x0020000D: ("U", "R"),  # Study Instance UID
    0x0020000E: ("U", "R"),  # Series Instance UID
    0x00200010: ("Z", ""),  # Study ID
    0x00200027: ("X", "N"),  # Pyramid Label
    0x00200052: ("U", "R"),  # Frame of Reference UID
    0x00200200: ("U", "R"),  # Synchronization Frame of Reference UID
    0x00203401: ("X", "V"),  # Modifying Device ID
    0x00203403: ("X", "T"),  # Modified Image Date
    0x00203405: ("X", "T"),  # Modified Image Time
    0x00203406: ("X", ""),  # Modified Image Description
    0x00204000: ("X", "N"),  # Image Comments
    0x00209158: ("X", "N"),  # Frame Comments
    0x00209161: ("U", "R"),  # Concatenation UID
    0x00209164: ("U", "R"),  # Dimension Organization UID
    0x00281199: ("U", "R"),  # Palette Color Lookup Table UID
    0x00281214: ("U", "R"),  # Large Palette Color Lookup Table UID
    0x00284000: ("X", ""),  # Image Presentation Comments
    0x00320012: ("X", ""),  # Study ID Issuer
    0x00320032: ("X", "T"),  # Study Verified Date
    0x00320033: ("X", "T"),  # Study Verified Time
    0x00320034: ("X", "T"),  # Study Read Date
    0x00320035: ("X", "T"),  # Study Read Time
    0x00321000: ("X", "T"),  # Scheduled Study Start Date
    0x00321001: ("X", "T"),  # Scheduled Study Start Time
    0x00321010: ("X", "T"),  # Scheduled Study Stop Date
    0x00321011: ("X", "T"),  # Scheduled Study Stop Time
    0x00321020: ("X", "V"),  # Scheduled Study Location
    0x00321021: ("X", "v"),  # Scheduled Study Location AE Title
    0x00321030: ("X", "N"),  # Reason for Study
    0x00321032: ("X", ""),  # Requesting Physician
    0x00321033: ("X", ""),  # Requesting Service
    0x00321040: ("X", "T"),  # Study Arrival Date
    0x00321041: ("X", "T"),  # Study Arrival Time
    0x00321050: ("X", "T"),  # Study Completion Date
    0x00321051: ("X", "T"),  # Study Completion Time
    0x00321060: ("X/Z", "N"),  # Requested Procedure Description
    0x00321066: ("X", "N"),  # Reason for Visit
    0x00321067: ("X", "N"),  # Reason for Visit Code Sequence
    0x00321070: ("X", "N"),  # Requested Contrast Agent
    0x00324000: ("X", "N"),  # Study Comments
    0x00340001: ("D", ""),  # Flow Identifier Sequence
    0x00340002: ("D", ""),  # Flow Identifier
    0x00340005: ("D", ""),  # Source Identifier
    0x00340007: ("D", "T"),  # Frame Origin Timestamp
    0x00380004: ("X", ""),  # Referenced Patient Alias Sequence
    0x00380010: ("X", ""),  # Admission ID
    0x00380011: ("X", ""),  # Issuer of Admission ID
    0x00380014: ("X", ""),  # Issuer of Admission ID Sequence
    0x0038001A: ("X", "T"),  # Scheduled Admission Date
    0x0038001B: ("X", "T"),  # Scheduled Admission Time
    0x0038001C: ("X", "T"),  # Scheduled Discharge Date
    0x0038001D: ("X", "T"),  # Scheduled Discharge Time
    0x0038001E: ("X", ""),  # Scheduled Patient Institution Residence
    0x00380020: ("X", "T"),  # Admitting Date
    0x00380021: ("X", "T"),  # Admitting Time
    0x00380030: ("X", "T"),  # Discharge Date
    0x00380032: ("X", "T"),  # Discharge Time
    0x00380040: ("X", "N"),  # Discharge Diagnosis Description
    0x00380050: ("X", "p"),  # Special Needs
    0x00380060: ("X", ""),  # Service Episode ID
    0x00380061: ("X", ""),  # Issuer of Service Episode ID
    0x00380062: ("X", "N"),  # Service Episode Description
    0x00380064: ("X", ""),  # Issuer of Service Episode ID Sequence
    0x00380300: ("X", ""),  # Current Patient Location
    0x00380400: ("X", ""),  # Patient's Institution Residence
    0x00380500: ("X", "pN"),  # Patient State
    0x00384000: ("X", "N"),  # Visit Comments
    0x003A0310: ("U", "R"),  # Multiplex Group UID
    0x003A0314: ("D", "T"),  # Impedance Measurement DateTime
    0x003A0329: ("X", "N"),  # Waveform Filter Description
    0x003A032B: ("X", "N"),  # Filter Lookup Table Description
    0x00400001: ("X", "v"),  # Scheduled Station AE Title
    0x00400002: ("X", "T"),  # Scheduled Procedure Step Start Date
    0x00400003: ("X", "T"),  # Scheduled Procedure Step Start Time
    0x00400004: ("X", "T"),  # Scheduled Procedure Step End Date
    0x00400005: ("X", "T"),  # Scheduled Procedure Step End Time
    0x00400006: ("X", ""),  # Scheduled Performing Physician's Name
    0x00400007: ("X", "N"),  # Scheduled Procedure Step Description
    0x00400009: ("X", ""),  # Scheduled Procedure Step ID
    0x0040000B: ("X", ""),  # Scheduled Performing Physician Identification Sequence
    0x00400010: ("X", "V"),  # Scheduled Station Name
    0x00400011: ("X", "V"),  # Scheduled Procedure Step Location
    0x00400012: ("X", "p"),  # Pre-Medication
    0x00400241: ("X", "v"),  # Performed Station AE Title
    0x00400242: ("X", "V"),  # Performed Station Name
    0x00400243: ("X", ""),  # Performed Location
    0x00400244: ("X", "T"),  # Performed Procedure Step Start Date
    0x00400245: ("X", "T"),  # Performed Procedure Step Start Time
    0x00400250: ("X", "T"),  # Performed Procedure Step End Date
    0x00400251: ("X", "T"),  # Performed Procedure Step End Time
    0x00400253: ("X", ""),  # Performed Procedure Step ID
    0x00400254: ("X", "N"),  # Performed Procedure Step Description
    0x00400275: ("X", "N"),  # Request Attributes Sequence
    0x00400280: ("X", "N"),  # Comments on the Performed Procedure Step
    0x00400310: ("X", "N"),  # Comments on Radiation Dose
    0x0040050A: ("X", ""),  # Specimen Accession Number
    0x00400512: ("D", ""),  # Container Identifier
    0x00400513: ("Z", ""),  # Issuer of the Container Identifier Sequence
    0x0040051A: ("X", "N"),  # Container Description
    0x00400551: ("D", ""),  # Specimen Identifier
    0x00400554: ("U", "R"),  # Specimen UID
    0x00400555: ("X/Z", "S"),  # Acquisition Context Sequence
    0x00400562: ("Z", ""),  # Issuer of the Specimen Identifier Sequence
    0x00400600: ("X", "N"),  # Specimen Short Description
    0x00400602: ("X", "N"),  # Specimen Detailed Description
    0x00400610: ("Z", "S"),  # Specimen Preparation Sequence
    0x004006FA: ("X", ""),  # Slide Identifier
    0x00401001: ("X", ""),  # Requested Procedure ID
    0x00401002: ("X", "N"),  # Reason for the Requested Procedure
    0x00401004: ("X", ""),  # Patient Transport Arrangements
    0x00401005: ("X", ""),  # Requested Procedure Location
    0x0040100A: ("X", "N"),  # Reason for Requested Procedure Code Sequence
    0x00401010: ("X", ""),  # Names of Intended Recipients of Results
    0x00401011: ("X", ""),  # Intended Recipients of Results Identification Sequence
    0x00401101: ("D", ""),  # Person Identification Code Sequence
    0x00401102: ("X", ""),  # Person's Address
    0x00401103: ("X", ""),  # Person's Telephone Numbers
    0x00401104: ("X", ""),  # Person's Telecom Information
    0x00401400: ("X", "N"),  # Requested Procedure Comments
    0x00402001: ("X", "N"),  # Reason for the Imaging Service Request
    0x00402004: ("X", "T"),  # Issue Date of Imaging Service Request
    0x00402005: ("X", "T"),  # Issue Time of Imaging Service Request
    0x00402008: ("X", ""),  # Order Entered By
    0x00402009: ("X", ""),  # Order Enterer's Location
    0x00402010: ("X", ""),  # Order Callback Phone Number
    0x00402011: ("X", ""),  # Order Callback Telecom Information
    0x00402016: ("Z", ""),  # Placer Order Number / Imaging Service Request
    0x00402017: ("Z", ""),  # Filler Order Number / Imaging Service Request
    0x00402400: ("X", "N"),  # Imaging Service Request Comments
    0x00403001: ("X", ""),  # Confidentiality Constraint on Patient Data Description
    0x00404005: ("X", "T"),  # Scheduled Procedure Step Start DateTime
    0x00404008: ("X", "T"),  # Scheduled Procedure Step Expiration DateTime
    0x00404010: ("X", "T"),  # Scheduled Procedure Step Modification DateTime
    0x00404011: ("X", "T"),  # Expected Completion DateTime
    0x00404023: ("U", "R"),  # Referenced General Purpose Scheduled Procedure Step Transaction UID
    0x00404025: ("X", "V"),  # Scheduled Station Name Code Sequence
    0x00404027: ("X", "V"),  # Scheduled Station Geographic Location Code Sequence
    0x00404028: ("X", "V"),  # Performed Station Name Code Sequence
    0x00404030: ("X", "V"),  # Performed Station Geographic Location Code Sequence
    0x00404034: ("X", ""),  # Scheduled Human Performers Sequence
    0x00404035: ("X", ""),  # Actual Human Performers Sequence
    0x00404036: ("X", ""),  # Human Performer's Organization
    0x00404037: ("X", ""),  # Human Performer's Name
    0x00404050: ("X", "T"),  # Performed Procedure Step Start DateTime
    0x00404051: ("X", "T"),  # Performed Procedure Step End DateTime
    0x00404052: ("X", "T"),  # Procedure Step Cancellation DateTime
    0x0040A023: ("X", "T"),  # Findings Group Recording Date (Trial)
    0x0040A024: ("X", "T"),  # Findings Group Recording Time (Trial)
    0x0040A027: ("D", ""),  # Verifying Organization
    0x0040A030: ("D", "T"),  # Verification DateTime
    0x0040A032: ("X/D", "T"),  # Observation DateTime
    0x0040A033: ("X", "T"),  # Observation Start DateTime
    0x0040A073: ("D", ""),  # Verifying Observer Sequence
    0x0040A075: ("D", ""),  # Verifying Observer Name
    0x0040A078: ("X", ""),  # Author Observer Sequence
    0x0040A07A: ("X", ""),  # Participant Sequence
    0x0040A07C: ("X", ""),  # Custodial Organization Sequence
    0x0040A082: ("Z", "T"),  # Participation DateTime
    0x0040A088: ("Z", ""),  # Verifying Observer Identification Code Sequence
    0x0040A110: ("X", "T"),  # Date of Document or Verbal Transaction (Trial)
    0x0040A112: ("X", "T"),  # Time of Document Creation or Verbal Transaction (Trial)
    0x0040A120: ("D", "T"),  # DateTime
    0x0040A121: ("D", "T"),  # Date
    0x0040A122: ("D", "T"),  # Time
    0x0040A123: ("D", ""),  # Person Name
    0x0040A124: ("U", ""),  # UID
    0x0040A13A: ("D", "T"),  # Referenced DateTime
    0x0040A171: ("U", "R"),  # Observation UID
    0x0040A172: ("U", "R"),  # Referenced Observation UID (Trial)
    0x0040A192: ("X", "T"),  # Observation Date (Trial)
    0x0040A193: ("X", "T"),  # Observation Time (Trial)
    0x0040A307: ("X", ""),  # Current Observer (Trial)
    0x0040A352: ("X", ""),  # Verbal Source (Trial)
    0x0040A353: ("X", ""),  # Address (Trial)
    0x0040A354: ("X", ""),  # Telephone Number (Trial)
    0x0040A358: ("X", ""),  # Verbal Source Identifier Code Sequence (Trial)
    0x0040A402: ("U", "R"),  # Observation Subject UID (Trial)
    0x0040A730: ("D", "S"),  # Content Sequence
    0x0040DB06: ("X", "T"),  # Template Version
    0x0040DB07: ("X", "T"),  # Template Local Version
    0x0040DB0C: ("U", "R"),  # Template Extension Organization UID
    0x0040DB0D: ("U", "R"),  # Template Extension Creator UID
    0x0040E004: ("X", "T"),  # HL7 Document Effective Time
    0x00420011: ("D", ""),  # Encapsulated Document
    0x00440004: ("X", "T"),  # Approval Status DateTime
    0x0044000B: ("X", "T"),  # Product Expiration DateTime
    0x00440010: ("X", "T"),  # Substance Administration DateTime
    0x00440104: ("D", "T"),  # Assertion DateTime
    0x00440105: ("X", "T"),  # Assertion Expiration DateTime
    0x0050001B: ("X", ""),  # Container Component ID
    0x00500020: ("X", "V"),  # Device Description
    0x00500021: ("X", "N"),  # Long Device Description
    0x00620021: ("U", "R"),  # Tracking UID
    0x00640003: ("U", "R"),  # Source Frame of Reference UID
    0x00686226: ("D", "T"),  # Effective DateTime
    0x00686270: ("D", "T"),  # Information Issue DateTime
    0x006A0003: ("D", "R"),  # Annotation Group UID
    0x006A0005: ("D", "N"),  # Annotation Group Label
    0x006A0006: ("X", "N"),  # Annotation Group Description
    0x00700001: ("D", "G"),  # Graphic Annotation Sequence
    0x00700082: ("X", "T"),  # Presentation Creation Date
    0x00700083: ("X", "T"),  # Presentation Creation Time
    0x00700084: ("Z/D", ""),  # Content Creator's Name
    0x00700086: ("X", ""),  # Content Creator's Identification Code Sequence
    0x0070031A: ("U", "R"),  # Fiducial UID
    0x00701101: ("U", "R"),  # Presentation Display Collection UID
    0x00701102: ("U", "R"),  # Presentation Sequence Collection UID
    0x0072000A: ("D", "T"),  # Hanging Protocol Creation DateTime
    0x0072005E: ("D", "v"),  # Selector AE Value
    0x0072005F: ("D", "P"),  # Selector AS Value
    0x00720061: ("D", "T"),  # Selector DA Value
    0x00720063: ("D", "T"),  # Selector DT Value
    0x00720065: ("D", ""),  # Selector OB Value
    0x00720066: ("D", "N"),  # Selector LO Value
    0x00720068: ("D", "N"),  # Selector LT Value
    0x0072006A: ("D", ""),  # Selector PN Value
    0x0072006B: ("D", "T"),  # Selector TM Value
    0x0072006C: ("D", "N"),  # Selector SH Value
    0x0072006D: ("D", ""),  # Selector UN Value
    0x0072006E: ("D", "N"),  # Selector ST Value
    0x00720070: ("D", "N"),  # Selector UT Value
    0x00720071: ("D", ""),  # Selector UR Value
    0x00741234: ("X", "v"),  # Receiving AE
    0x00741236: ("X", "v"),  # Requesting AE
    0x00880140: ("U", "R"),  # Storage Media File-set UID
    0x00880200: ("X", ""),  # Icon Image Sequence (see Note 11)
    0x00880904: ("X", ""),  # Topic Title
    0x00880906: ("X", ""),  # Topic Subject
    0x00880910: ("X", ""),  # Topic Author
    0x00880912: ("X", ""),  # Topic Keywords
    0x01000420: ("X", "T"),  # SOP Authorization DateTime
    0x04000100: ("U", ""),  # Digital Signature UID
    0x04000105: ("D", "T"),  # Digital Signature DateTime
    0x04000115: ("D", ""),  # Certificate of Signer
    0x04000310: ("X", "T"),  # Certified Timestamp
    0x04000402: ("X", ""),  # Referenced Digital Signature Sequence
    0x04000403: ("X", ""),  # Referenced SOP Instance MAC Sequence
    0x04000404: ("X", ""),  # MAC
    0x04000550: ("X", ""),  # Modified Attributes Sequence
    0x04000551: ("X", ""),  # Nonconforming Modified Attributes Sequence
    0x04000552: ("X", ""),  # Nonconforming Data Element Value
    0x04000561: ("X", ""),  # Original Attributes Sequence
    0x04000562: ("D", "T"),  # Attribute Modification DateTime
    0x04000563: ("D", "V"),  # Modifying System
    0x04000564: ("Z", "I"),  # Source of Previous Values
    0x04000565: ("D", "N"),  # Reason for the Attribute Modification
    0x04000600: ("X", ""),  # Instance Origin Status
    0x20300020: ("X", ""),  # Text String
    0x21000040: ("X", "T"),  # Creation Date
    0x21000050: ("X", "T"),  # Creation Time
    0x21000070: ("X", "v"),  # Originator
    0x21000140: ("D", "v"),  # Destination AE
    0x22000002: ("X/Z", "N"),  # Label Text
    0x22000005: ("X/Z", ""),  # Barcode Value
    0x30020121: ("X", "N"),  # Position Acquisition Template Name
    0x30020123: ("X", "N"),  # Position Acquisition Template Description
    0x30060002: ("D", "N"),  # Structure Set Label
    0x30060004: ("X", "N"),  # Structure Set Name
    0x30060006: ("X", "N"),  # Structure Set Description
    0x30060008: ("Z", "T"),  # Structure Set Date
    0x30060009: ("Z", "T"),  # Structure Set Time
    0x30060024: ("U", "R"),  # Referenced Frame of Reference UID
    0x30060026: ("Z", "N"),  # ROI Name
    0x30060028: ("X", "N"),  # ROI Description
    0x3006002D: ("X", "T"),  # ROI DateTime
    0x3006002E: ("X", "T"),  # ROI Observation DateTime
    0x30060038: ("X", "N"),  # ROI Generation Description
    0x3006004D: ("X", ""),  # ROI Creator Sequence
    0x3006004E: ("X", ""),  # ROI Interpreter Sequence
    0x30060085: ("X", "N"),  # ROI Observation Label
    0x30060088: ("X", "N"),  # ROI Observation Description
    0x300600A6: ("Z", ""),  # ROI Interpreter
    0x300600C2: ("U", "R"),  # Related Frame of Reference UID
    0x30080024: ("D", "T"),  # Treatment Control Point Date
    0x30080025: ("D", "T"),  # Treatment Control Point Time
    0x30080054: ("X/D", "T"),  # First Treatment Date
    0x30080056: ("X/D", "T"),  # Most Recent Treatment Date
    0x30080105: ("X/Z", "V"),  # Source Serial Number
    0x30080162: ("D", "T"),  # Safe Position Exit Date
    0x30080164: ("D", "T"),  # Safe Position Exit Time
    0x30080166: ("D", "T"),  # Safe Position Return Date
    0x30080168: ("D", "T"),  # Safe Position Return Time
    0x30080250: ("X/D", "T"),  # Treatment Date
    0x30080251: ("X/D", "T"),  # Treatment Time
    0x300A0002: ("D", "N"),  # RT Plan Label
    0x300A0003: ("X", "N"),  # RT Plan Name
    0x300A0004: ("X", "N"),  # RT Plan Description
    0x300A0006: ("X/D", "T"),  # RT Plan Date
    0x300A0007: ("X/D", "T"),  # RT Plan Time
    0x300A000B: ("X", "N"),  # Treatment Sites
    0x300A000E: ("X", "N"),  # Prescription Description
    0x300A0013: ("U", "R"),  # Dose Reference UID
    0x300A0016: ("X", "N"),  # Dose Reference Description
    0x300A0072: ("X", "N"),  # Fraction Group Description
    0x300A0083: ("U", "R"),  # Referenced Dose Reference UID
    0x300A00B2: ("X/Z", "V"),  # Treatment Machine Name
    0x300A00C3: ("X", "N"),  # Beam Description
    0x300A00DD: ("X", "N"),  # Bolus Description
    0x300A0196: ("X", "N"),  # Fixation Device Description
    0x300A01A6: ("X", "N"),  # Shielding Device Description
    0x300A01B2: ("X", "N"),  # Setup Technique Description
    0x300A0216: ("X", "V"),  # Source Manufacturer
    0x300A022C: ("D", "T"),  # Source Strength Reference Date
    0x300A022E: ("D", "T"),  # Source Strength Reference Time
    0x300A02EB: ("X", "N"),  # Compensator Description
    0x300A0608: ("D", "N"),  # Treatment Position Group Label
    0x300A0609: ("U", "R"),  # Treatment Position Group UID
    0x300A0611: ("Z", ""),  # RT Accessory Holder Slot ID
    0x300A0615: ("Z", ""),  # RT Accessory Device Slot ID
    0x300A0619: ("D", "N"),  # Radiation Dose Identification Label
    0x300A0623: ("D", "N"),  # Radiation Dose In-Vivo Measurement Label
    0x300A062A: ("D", "N"),  # RT Tolerance Set Label
    0x300A0650: ("U", "R"),  # Patient Setup UID
    0x300A0676: ("X", "N"),  # Equipment Frame of Reference Description
    0x300A067C: ("D", "N"),  # Radiation Generation Mode Label
    0x300A067D: ("Z", "N"),  # Radiation Generation Mode Description
    0x300A0700: ("U", "R"),  # Treatment Session UID
    0x300A0734: ("D", "N"),  # Treatment Tolerance Violation Description
    0x300A0736: ("D", "T"),  # Treatment Tolerance Violation DateTime
    0x300A073A: ("D", "T"),  # Recorded RT Control Point DateTime
    0x300A0741: ("D", "T"),  # Interlock DateTime
    0x300A0742: ("D", "N"),  # Interlock Description
    0x300A0760: ("D", "T"),  # Override DateTime
    0x300A0783: ("D", "N"),  # Interlock Origin Description
    0x300A0785: ("U", "R"),  # Referenced Treatment Position Group UID
    0x300A078E: ("X", "N"),  # Patient Treatment Preparation Procedure Parameter Description
    0x300A0792: ("X", "N"),  # Patient Treatment Preparation Method Description
    0x300A0794: ("X", "N"),  # Patient Setup Photo Description
    0x300A079A: ("X", "N"),  # Displacement Reference Label
    0x300C0113: ("X", "N"),  # Reason for Omission Description
    0x300C0127: ("D", "TV"),  # Beam Hold Transition DateTime
    0x300E0004: ("Z", "T"),  # Review Date
    0x300E0005: ("Z", "T"),  # Review Time
    0x300E0008: ("X/Z", ""),  # Reviewer Name
    0x30100006: ("U", "R"),  # Conceptual Volume UID
    0x3010000B: ("U", "R"),  # Referenced Conceptual Volume UID
    0x3010000F: ("Z", "N"),  # Conceptual Volume Combination Description
    0x30100013: ("U", "R"),  # Constituent Conceptual Volume UID
    0x30100015: ("U", "R"),  # Source Conceptual Volume UID
    0x30100017: ("Z", "N"),  # Conceptual Volume Description
    0x3010001B: ("Z", ""),  # Device Alternate Identifier
    0x3010002D: ("D", "V"),  # Device Label
    0x30100031: ("U", "R"),  # Referenced Fiducials UID
    0x30100033: ("D", "N"),  # User Content Label
    0x30100034: ("D", "N"),  # User Content Long Label
    0x30100035: ("D", "N"),  # Entity Label
    0x30100036: ("X", "N"),  # Entity Name
    0x30100037: ("X", "N"),  # Entity Description
    0x30100038: ("D", "N"),  # Entity Long Label
    0x3010003B: ("U", "R"),  # RT Treatment Phase UID
    0x30100043: ("Z", "V"),  # Manufacturer's Device Identifier
    0x3010004C: ("X/D", "T"),  # Intended Phase Start Date
    0x3010004D: ("X/D", "T"),  # Intended Phase End Date
    0x30100054: ("D", "N"),  # RT Prescription Label
    0x30100056: ("X/D", "N"),  # RT Treatment Approach Label
    0x3010005A: ("Z", "N"),  # RT Physician Intent Narrative
    0x3010005C: ("Z", "N"),  # Reason for Superseding
    0x30100061: ("X", "N"),  # Prior Treatment Dose Description
    0x3010006E: ("U", "R"),  # Dosimetric Objective UID
    0x3010006F: ("U", "R"),  # Referenced Dosimetric Objective UID
    0x30100077: ("X/D", "N"),  # Treatment Site
    0x3010007A: ("Z", "N"),  # Treatment Technique Notes
    0x3010007B: ("Z", "N"),  # Prescription Notes
    0x3010007F: ("Z", "N"),  # Fractionation Notes
    0x30100081: ("Z", "N"),  # Prescription Notes Sequence
    0x30100085: ("X", "T"),  # Intended Fraction Start Time
    0x40000010: ("X", ""),  # Arbitrary
    0x40004000: ("X", ""),  # Text Comments
    0x40080040: ("X", ""),  # Results ID
    0x40080042: ("X", ""),  # Results ID Issuer
    0x40080100: ("X", "T"),  # Interpretation Recorded Date
    0x40080101: ("X", "T"),  # Interpretation Recorded Time
    0x40080102: ("X", ""),  # Interpretation Recorder
    0x40080108: ("X", "T"),  # Interpretation Transcription Date
    0x40080109: ("X", "T"),  # Interpretation Transcription Time
    0x4008010A: ("X", ""),  # Interpretation Transcriber
    0x4008010B: ("X", "N"),  # Interpretation Text
    0x4008010C: ("X", ""),  # Interpretation Author
    0x40080111: ("X", ""),  # Interpretation Approver Sequence
    0x40080112: ("X", "T"),  # Interpretation Approval Date
    0x40080113: ("X", "T"),  # Interpretation Approval Time
    0x40080114: ("X", ""),  # Physician Approving Interpretation
    0x40080115: ("X", "N"),  # Interpretation Diagnosis Description
    0x40080118: ("X", ""),  # Results Distribution List Sequence
    0x40080119: ("X", ""),  # Distribution Name
    0x4008011A: ("X", ""),  # Distribution Address
    0x40080200: ("X", ""),  # Interpretation ID
    0x40080202: ("X", ""),  # Interpretation ID Issuer
    0x40080300: ("X", "N"),  # Impressions
    0x40084000: ("X", "N"),  # Results Comments
    0xFFFAFFFA: ("X", ""),  # Digital Signatures Sequence
    0xFFFCFFFC: ("X", ""),  # Data Set Trailing Padding
}
