"""De-identification (PS3.15 Annex E Basic Profile): tag by tag, file by file, byte by byte."""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian

from dicom_io.deid.dataset import deidentify_dataset
from dicom_io.deid.files import DeidReport, deidentify
from dicom_io.deid.options import DeidOptions
from dicom_io.deid.profile import BASIC_PROFILE, Action, action_for, choose_action
from dicom_io.deid.uid_map import UIDMap
from dicom_io.errors import (
    CorruptFileError,
    EmptyInputError,
    RadLensError,
    UnsafeOutputError,
    UnsupportedFileError,
)

# --- the sentinel study -----------------------------------------------------------------------

ROOT = "1.2.999.424242"  # every original UID lives under this root; none may survive
STUDY_UID = f"{ROOT}.1"
SERIES_UIDS = (f"{ROOT}.2.1", f"{ROOT}.2.2")
SOP_UIDS = (f"{ROOT}.3.1", f"{ROOT}.3.2", f"{ROOT}.3.3")
FRAME_UID = f"{ROOT}.4"

SENTINELS = {
    "PatientName": "Zyxwvut^Qwertyzz",
    "PatientID": "PID-8675309-SENT",
    "PatientBirthDate": "19230417",
    "AccessionNumber": "ACC-SENT-4242",
    "InstitutionName": "Sentinelia General Hospital",
    "InstitutionAddress": "12 Sentinel Road, Sentinelton",
    "ReferringPhysicianName": "Drsentinel^Ophelia",
    "PerformingPhysicianName": "Perfsentinel^Paul",
    "NameOfPhysiciansReadingStudy": "Readsentinel^Rita",
    "OperatorsName": "Opsentinel^Otto",
    "StationName": "SENTSTATION1",
    "DeviceSerialNumber": "SN-SENT-777",
    "StudyID": "STUDYSENT9",
    "OtherPatientIDs": "OPID-SENT-1",
    "StudyDescription": "Sentdesc study of Zyxwvut",
    "SeriesDescription": "Sentdesc series",
    "ImageComments": "Sentcomment about the patient",
    "StudyDate": "20210315",
    "SeriesDate": "20210316",
    "AcquisitionDate": "20210317",
    "ContentDate": "20210318",
}
EXTRA_SENTINELS = [
    "PRIVATE-SENT-SECRET",
    "NESTED-PRIVATE-SENT",
    "REQPROC-SENT-55",
    "OVLCOMMENT-SENT",
    "CURVE-SENT",
    "Evalsentinel^Eve",
    "PREAMBLE-SENT",
    "SENTAE",
    "Zyxwvut",
    ROOT,
]
PIXELS = bytes(range(256)) * 32  # 8 KiB: a 64x64 16-bit image


def _sentinel_dataset(index: int) -> Dataset:
    series = 0 if index < 2 else 1
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = SOP_UIDS[index]
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UIDS[series]
    ds.FrameOfReferenceUID = FRAME_UID
    ds.Modality = "CT"
    ds.Manufacturer = "Acme Scanners"
    for keyword, value in SENTINELS.items():
        setattr(ds, keyword, value)
    ds.StudyTime = "101112"
    ds.AcquisitionDateTime = "20210317101112.5+0100"
    ds.PatientSex = "F"
    ds.PatientAge = "097Y"
    ds.PatientWeight = "61.5"
    ds.SeriesNumber = series + 1
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = [0.0, 0.0, float(index)]
    ds.add_new(0x00142006, "PN", "Evalsentinel^Eve")  # Evaluator Name: a name the table misses
    request = Dataset()
    request.RequestedProcedureID = "REQPROC-SENT-55"
    ds.RequestAttributesSequence = Sequence([request])
    code = Dataset()
    code.CodeValue = "T-D4000"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "Abdomen"
    code.add_new(0x00190010, "LO", "SENTINEL CORP")
    code.add_new(0x00191001, "LO", "NESTED-PRIVATE-SENT")
    ds.AnatomicRegionSequence = Sequence([code])
    ds.add_new(0x00290010, "LO", "SENTINEL CORP")
    ds.add_new(0x00291001, "LO", "PRIVATE-SENT-SECRET")
    ds.add_new(0x60000010, "US", 64)  # Overlay Rows
    ds.add_new(0x60003000, "OW", b"\x01\x00" * 256)  # Overlay Data
    ds.add_new(0x60004000, "LT", "OVLCOMMENT-SENT")  # Overlay Comments
    ds.add_new(0x50002500, "LO", "CURVE-SENT")  # Curve Label
    if index == 2:  # the third image points at the first
        ref = Dataset()
        ref.ReferencedSOPClassUID = CTImageStorage
        ref.ReferencedSOPInstanceUID = SOP_UIDS[0]
        ds.ReferencedImageSequence = Sequence([ref])
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = PIXELS
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID(SOP_UIDS[index])
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "SENTAE"
    ds.preamble = b"PREAMBLE-SENT".ljust(128, b"\0")
    return ds


def _write_sentinel_study(folder: Path) -> list[Path]:
    """Three files, two series; file names and a folder name carry the patient's name."""
    paths = []
    for index in range(3):
        path = folder / "Zyxwvut_Qwertyzz" / f"Zyxwvut_{index}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        pydicom.dcmwrite(path, _sentinel_dataset(index), enforce_file_format=True)
        paths.append(path)
    (folder / "Zyxwvut_notes.txt").write_text("Zyxwvut Qwertyzz called on Monday\n")
    return paths


def _sha256_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass
class Run:
    src: Path
    out: Path
    before: dict[str, str]
    report: DeidReport

    def read(self, rel: str) -> Dataset:
        return pydicom.dcmread(self.out / rel)


def _run(tmp: Path, options: DeidOptions) -> Run:
    src = tmp / "in"
    _write_sentinel_study(src)
    before = _sha256_tree(src)
    report = deidentify(src, tmp / "out", options)
    return Run(src, tmp / "out", before, report)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("default"), DeidOptions())


@pytest.fixture(scope="module")
def first(default_run: Run) -> Dataset:
    """The de-identified first image."""
    return default_run.read("study-001/series-001/IM-00001.dcm")


def _real(name: str) -> Path:
    found = pydicom.data.get_testdata_file(name, download=False)
    if found is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is missing; install pydicom-data.")
    return Path(str(found))


# --- the profile, tag by tag ------------------------------------------------------------------

REMOVED = [
    "OtherPatientIDs",
    "InstitutionAddress",
    "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy",
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "PatientAge",
    "PatientWeight",
    "RequestAttributesSequence",
]
EMPTIED = [
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "AcquisitionDate",  # X/Z: empty, as the IOD may need it
]
DUMMIES = {
    "InstitutionName": "ANONYMIZED",
    "OperatorsName": "ANONYMIZED",
    "StationName": "ANONYMIZED",
    "DeviceSerialNumber": "ANONYMIZED",
    "SeriesDate": "19000101",
    "ContentDate": "19000101",
    "AcquisitionDateTime": "19000101000000",  # X/Z/D: a dummy, as the IOD may need one
}
KEPT = {
    "Modality": "CT",
    "Manufacturer": "Acme Scanners",
    "SOPClassUID": CTImageStorage,
    "Rows": 64,
    "InstanceNumber": 1,
    "SeriesNumber": 1,
    "ImagePositionPatient": [0.0, 0.0, 0.0],
    "SpecificCharacterSet": "ISO_IR 100",
}


@pytest.mark.parametrize("keyword", REMOVED)
def test_action_x_removes(first: Dataset, keyword: str) -> None:
    assert keyword not in first


@pytest.mark.parametrize("keyword", EMPTIED)
def test_action_z_empties(first: Dataset, keyword: str) -> None:
    assert keyword in first
    assert first[keyword].is_empty


@pytest.mark.parametrize(("keyword", "expected"), DUMMIES.items(), ids=list(DUMMIES))
def test_action_d_puts_a_dummy(first: Dataset, keyword: str, expected: str) -> None:
    assert first[keyword].value == expected


def test_action_d_gives_patient_id_a_pseudonym_shared_by_the_study(default_run: Run) -> None:
    ids = {str(pydicom.dcmread(p).PatientID) for p in sorted(default_run.out.rglob("*.dcm"))}
    assert len(ids) == 1
    (pseudonym,) = ids
    assert pseudonym.startswith("ANON-")
    assert len(pseudonym) == 17


@pytest.mark.parametrize(("keyword", "expected"), KEPT.items(), ids=list(KEPT))
def test_action_k_keeps(first: Dataset, keyword: str, expected: object) -> None:
    assert first[keyword].value == expected


def test_kept_sequence_is_walked(first: Dataset) -> None:
    (item,) = first.AnatomicRegionSequence
    assert (item.CodeValue, item.CodeMeaning) == ("T-D4000", "Abdomen")
    assert [elem.tag for elem in item if elem.tag.is_private] == []


@pytest.mark.parametrize(
    "keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"]
)
def test_action_u_replaces_uids(first: Dataset, keyword: str) -> None:
    value = str(first[keyword].value)
    assert value.startswith("2.25.")
    assert not value.startswith(ROOT)
    assert len(value) <= 64


def test_names_the_table_misses_are_emptied(first: Dataset) -> None:
    assert first[0x00142006].is_empty


def test_private_curve_and_overlay_groups_are_gone(default_run: Run) -> None:
    for path in default_run.out.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        tags = [elem.tag for elem in ds.iterall()]
        assert [t for t in tags if t.is_private] == []
        assert [t for t in tags if 0x5000 <= t.group <= 0x60FF] == []


def test_marks_identity_removed(first: Dataset) -> None:
    assert first.PatientIdentityRemoved == "YES"
    assert "PS3.15 Basic Application Level Confidentiality Profile" in first.DeidentificationMethod
    assert "Dates removed" in first.DeidentificationMethod
    codes = [
        (c.CodeValue, c.CodingSchemeDesignator) for c in first.DeidentificationMethodCodeSequence
    ]
    assert codes == [("113100", "DCM")]
    assert first.LongitudinalTemporalInformationModified == "REMOVED"


def test_file_meta_and_preamble_are_replaced(default_run: Run, first: Dataset) -> None:
    raw = (default_run.out / "study-001/series-001/IM-00001.dcm").read_bytes()
    assert raw[:128] == b"\0" * 128
    assert "SourceApplicationEntityTitle" not in first.file_meta
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    assert first.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


# --- the study as a whole ---------------------------------------------------------------------


def test_output_names_say_nothing_and_non_dicom_is_skipped(default_run: Run) -> None:
    written = sorted(str(p.relative_to(default_run.out)) for p in default_run.out.rglob("*"))
    assert written == [
        "study-001",
        "study-001/series-001",
        "study-001/series-001/IM-00001.dcm",
        "study-001/series-001/IM-00002.dcm",
        "study-001/series-002",
        "study-001/series-002/IM-00001.dcm",
    ]
    report = default_run.report
    assert [(s.name, s.reason) for s in report.skipped] == [
        ("Zyxwvut_notes.txt", "not a DICOM file (unknown)")
    ]
    assert len(report.written) == 3
    assert report.warnings == ()
    assert report.summary() == f"{default_run.out}: 3 files de-identified, 1 skipped, 0 warnings."


def test_uids_stay_consistent_and_references_resolve(default_run: Run) -> None:
    a1, a2, b1 = (
        default_run.read(rel)
        for rel in (
            "study-001/series-001/IM-00001.dcm",
            "study-001/series-001/IM-00002.dcm",
            "study-001/series-002/IM-00001.dcm",
        )
    )
    assert a1.StudyInstanceUID == a2.StudyInstanceUID == b1.StudyInstanceUID
    assert a1.SeriesInstanceUID == a2.SeriesInstanceUID != b1.SeriesInstanceUID
    assert a1.FrameOfReferenceUID == b1.FrameOfReferenceUID
    assert len({a1.SOPInstanceUID, a2.SOPInstanceUID, b1.SOPInstanceUID}) == 3
    (ref,) = b1.ReferencedImageSequence
    assert ref.ReferencedSOPInstanceUID == a1.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == CTImageStorage


def test_no_sentinel_survives_in_any_output_byte(default_run: Run) -> None:
    needles = [v.encode("latin-1") for v in SENTINELS.values()]
    needles += [v.encode("latin-1") for v in EXTRA_SENTINELS]
    needles += [v.split("^")[0].encode("latin-1") for v in SENTINELS.values() if "^" in v]
    outputs = sorted(default_run.out.rglob("*.dcm"))
    assert len(outputs) == 3
    for path in outputs:
        raw = path.read_bytes()
        assert [n for n in needles if n in raw] == [], path.name


def test_input_is_untouched(default_run: Run) -> None:
    assert _sha256_tree(default_run.src) == default_run.before
    assert not any(p.name.startswith(".radlens") for p in default_run.out.parent.iterdir())


def test_pixel_data_is_kept_byte_for_byte(first: Dataset) -> None:
    assert first.PixelData == PIXELS


def test_zip_input_gives_the_same_layout(tmp_path: Path) -> None:
    src = tmp_path / "in"
    paths = _write_sentinel_study(src)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in paths:
            zf.write(path, path.relative_to(src).as_posix())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    report = deidentify(archive, tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in report.written] == [
        "study-001/series-001/IM-00001.dcm",
        "study-001/series-001/IM-00002.dcm",
        "study-001/series-002/IM-00001.dcm",
    ]
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == digest


# --- options ----------------------------------------------------------------------------------


def test_keep_dates_keeps_dates_but_not_the_birth_date(tmp_path: Path) -> None:
    run = _run(tmp_path, DeidOptions(keep_dates=True))
    ds = run.read("study-001/series-001/IM-00001.dcm")
    assert (ds.StudyDate, ds.SeriesDate, ds.StudyTime) == ("20210315", "20210316", "101112")
    assert ds.AcquisitionDateTime == "20210317101112.5+0100"
    assert ds.PatientBirthDate == ""
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    codes = [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113106"]


def test_date_shift_moves_every_date_alike(tmp_path: Path) -> None:
    run = _run(tmp_path, DeidOptions(date_shift_days=-20))
    a1 = run.read("study-001/series-001/IM-00001.dcm")
    b1 = run.read("study-001/series-002/IM-00001.dcm")
    for ds in (a1, b1):
        assert (ds.StudyDate, ds.SeriesDate, ds.ContentDate) == (
            "20210223",
            "20210224",
            "20210226",
        )
        assert ds.AcquisitionDate == "20210225"
        assert ds.AcquisitionDateTime == "20210225101112.5+0100"  # time and offset kept
        assert ds.StudyTime == "101112"
        assert ds.PatientBirthDate == ""
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [c.CodeValue for c in a1.DeidentificationMethodCodeSequence] == ["113100", "113107"]
    assert "Dates shifted" in a1.DeidentificationMethod
    # The shift itself is recorded nowhere: it would give the true dates back.
    assert "LongitudinalTemporalOffsetFromEvent" not in a1
    assert [t for t in a1.DeidentificationMethod if "20" in t] == []


def test_date_shift_crosses_months_years_and_leap_days() -> None:
    ds = Dataset()
    ds.StudyDate = "20240301"
    ds.add_new(0x00140102, "DA", ["20200101", "20241231"])  # Secondary Review Date (unlisted)
    warnings = deidentify_dataset(ds, UIDMap(), DeidOptions(date_shift_days=-1))
    assert warnings == []
    assert ds.StudyDate == "20240229"
    assert list(ds[0x00140102].value) == ["20191231", "20241230"]


def test_date_shift_empties_what_is_not_a_date_and_warns() -> None:
    ds = Dataset()
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        ds.StudyDate = "2021.03.15"  # an ACR-NEMA style date
    warnings = deidentify_dataset(ds, UIDMap(), DeidOptions(date_shift_days=3))
    assert ds["StudyDate"].is_empty
    assert warnings == [
        "A date in (0008,0020) could not be read as a date, so it was emptied, not shifted."
    ]


def test_keep_patient_characteristics(tmp_path: Path) -> None:
    run = _run(tmp_path, DeidOptions(keep_patient_characteristics=True))
    ds = run.read("study-001/series-001/IM-00001.dcm")
    assert (ds.PatientSex, ds.PatientAge, ds.PatientWeight) == ("F", "097Y", 61.5)
    assert ds.PatientName == ""
    assert [c.CodeValue for c in ds.DeidentificationMethodCodeSequence] == ["113100", "113108"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"keep_dates": True, "date_shift_days": 5}, ValueError, "exclude each other"),
        ({"date_shift_days": True}, TypeError, "must be an int"),
        ({"date_shift_days": 10**6}, ValueError, "must be within"),
    ],
    ids=["keep-and-shift", "bool-shift", "huge-shift"],
)
def test_options_are_validated(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        DeidOptions(**kwargs)  # type: ignore[arg-type]


# --- the table and its choices ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "is_sequence", "expected"),
    [
        ("X", False, Action.REMOVE),
        ("Z", False, Action.EMPTY),
        ("D", False, Action.DUMMY),
        ("U", False, Action.UID),
        ("X/Z", False, Action.EMPTY),
        ("X/D", False, Action.DUMMY),
        ("Z/D", False, Action.DUMMY),
        ("X/Z/D", False, Action.DUMMY),
        ("X/Z/U*", True, Action.UID),
        ("D", True, Action.EMPTY),
        ("X/Z/D", True, Action.EMPTY),
        ("X/D", True, Action.REMOVE),
        ("X", True, Action.REMOVE),
    ],
)
def test_choose_action(code: str, is_sequence: bool, expected: Action) -> None:
    assert choose_action(code, is_sequence=is_sequence) is expected


def test_table_covers_the_attributes_named_in_the_brief() -> None:
    named = {
        0x00100010: "Z",  # Patient's Name
        0x00100020: "Z/D",  # Patient ID
        0x00100030: "Z",  # Patient's Birth Date
        0x00100040: "Z",  # Patient's Sex
        0x00101000: "X",  # Other Patient IDs
        0x00080050: "Z",  # Accession Number
        0x00080080: "X/Z/D",  # Institution Name
        0x00080081: "X",  # Institution Address
        0x00080090: "Z",  # Referring Physician's Name
        0x00081050: "X",  # Performing Physician's Name
        0x00081060: "X",  # Name of Physician(s) Reading Study
        0x00081070: "X/Z/D",  # Operators' Name
        0x00081010: "X/Z/D",  # Station Name
        0x00181000: "X/Z/D",  # Device Serial Number
        0x00200010: "Z",  # Study ID
        0x00081030: "X",  # Study Description
        0x0020000D: "U",  # Study Instance UID
        0x0020000E: "U",  # Series Instance UID
        0x00080018: "U",  # SOP Instance UID
        0x00200052: "U",  # Frame of Reference UID
        0x00081155: "U",  # Referenced SOP Instance UID
        0x00020003: "U",  # Media Storage SOP Instance UID
    }
    assert {tag: BASIC_PROFILE[tag][0] for tag in named} == named
    assert len(BASIC_PROFILE) > 600


@pytest.mark.parametrize(
    ("tag", "vr", "expected"),
    [
        (0x00291001, "LO", Action.REMOVE),  # private
        (0x00080000, "UL", Action.REMOVE),  # group length
        (0x60023000, "OW", Action.REMOVE),  # overlay data, second overlay
        (0x60020010, "US", Action.REMOVE),  # overlay rows: the whole group goes
        (0x50000005, "US", Action.REMOVE),  # curve dimensions
        (0x00142006, "PN", Action.EMPTY),  # a person name the table misses
        (0x00081150, "UI", Action.KEEP),  # Referenced SOP Class UID
        (0x0008010C, "UI", Action.KEEP),  # Coding Scheme UID
        (0x00081167, "UI", Action.UID),  # Multi-frame Source SOP Instance UID (unlisted)
        (0x00280010, "US", Action.KEEP),  # Rows
    ],
)
def test_rules_beyond_the_table(tag: int, vr: str, expected: Action) -> None:
    assert action_for(pydicom.tag.Tag(tag), vr) is expected


def test_dummy_leaves_an_empty_value_empty() -> None:
    ds = Dataset()
    ds.InstitutionName = ""
    ds.PatientID = ""
    deidentify_dataset(ds, UIDMap(), DeidOptions())
    assert ds.InstitutionName == ""
    assert ds.PatientID == ""


# --- UIDMap -----------------------------------------------------------------------------------


def test_uid_map_is_consistent_keyed_and_well_formed() -> None:
    secret = b"k" * 32
    one, same, other = UIDMap(secret), UIDMap(secret), UIDMap()
    uid = "1.2.840.113619.2.1.1.322987881.621.736170080.681"
    assert one(uid) == one(uid) == same(uid)
    assert other(uid) != one(uid)
    assert one(uid + "\0") == one(uid)
    assert one("") == ""
    assert len(one) == 1
    assert uid in one
    new = one(uid)
    assert new.startswith("2.25.")
    assert len(new) <= 64
    assert pydicom.uid.UID(new).is_valid
    assert one.pseudonym("PID-1") == same.pseudonym("PID-1") != one.pseudonym("PID-2")


def test_one_uid_map_links_two_runs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    paths = _write_sentinel_study(src)
    uid_map = UIDMap()
    first = deidentify(paths[0], tmp_path / "a.dcm", uid_map=uid_map).written[0]
    third = deidentify(paths[2], tmp_path / "c.dcm", uid_map=uid_map).written[0]
    a, c = pydicom.dcmread(first), pydicom.dcmread(third)
    assert a.StudyInstanceUID == c.StudyInstanceUID
    assert c.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    other = pydicom.dcmread(deidentify(paths[0], tmp_path / "b.dcm").written[0])
    assert other.StudyInstanceUID != a.StudyInstanceUID  # a new run, a new secret


def test_uid_map_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        UIDMap(b"short")


# --- real files -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "US1_J2KR.dcm", "image_dfl.dcm"],
)
def test_real_file_pixels_and_syntax_kept_identity_gone(tmp_path: Path, name: str) -> None:
    src = _real(name)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    original = pydicom.dcmread(src)
    out = tmp_path / "anon.dcm"
    report = deidentify(src, out)
    assert report.written == (out,)
    ds = pydicom.dcmread(out)
    assert ds.PixelData == original.PixelData
    assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert ds.SOPInstanceUID != original.SOPInstanceUID
    assert ds.PatientName == ""
    raw = out.read_bytes()
    assert raw[:128] == b"\0" * 128
    if name != "image_dfl.dcm":  # deflated: the data set bytes are compressed
        assert str(original.PatientName).encode() not in raw
        assert str(original.PatientID).encode() not in raw
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_rtplan_references_are_replaced(tmp_path: Path) -> None:
    src = _real("rtplan.dcm")
    original = pydicom.dcmread(src)
    ds = pydicom.dcmread(deidentify(src, tmp_path / "plan.dcm").written[0])
    old_refs = {
        str(e.value) for e in original.iterall() if e.keyword == "ReferencedSOPInstanceUID"
    }
    new_refs = {str(e.value) for e in ds.iterall() if e.keyword == "ReferencedSOPInstanceUID"}
    assert len(new_refs) == len(old_refs) == 2
    assert all(uid.startswith("2.25.") for uid in new_refs)
    assert ds.OperatorsName == "ANONYMIZED"
    assert b"Last^First" not in (tmp_path / "plan.dcm").read_bytes()


def test_structured_report_content_is_emptied(tmp_path: Path) -> None:
    ds = pydicom.dcmread(deidentify(_real("test-SR.dcm"), tmp_path / "sr.dcm").written[0])
    assert ds.ContentSequence == Sequence()
    assert [e for e in ds.iterall() if e.VR == "PN" and not e.is_empty] == []


def test_dicomdir_folder(tmp_path: Path) -> None:
    src = _real("dicomdirtests")
    names = {
        str(pydicom.dcmread(p, stop_before_pixels=True).PatientName).encode()
        for p in sorted(src.rglob("*"))
        if p.is_file() and p.parent != src and "DICOMDIR" not in p.name and p.name != "README"
    }
    studies = {
        pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID
        for p in sorted(src.rglob("*"))
        if p.is_file() and p.parent != src and "DICOMDIR" not in p.name and p.name != "README"
    }
    report = deidentify(src, tmp_path / "out")
    assert len(report.written) == 81
    assert sorted(s.name for s in report.skipped if "DICOMDIR index" in s.reason) == [
        "DICOMDIR",
        "DICOMDIR-bigEnd",
        "DICOMDIR-empty.dcm",
        "DICOMDIR-implicit",
        "DICOMDIR-nooffset",
        "DICOMDIR-nopatient",
        "DICOMDIR-reordered",
        "TINY_ALPHA/DICOMDIR",
    ]
    assert len(list((tmp_path / "out").glob("study-*"))) == len(studies)
    for path in report.written:
        raw = path.read_bytes()
        assert [n for n in names if n and n in raw] == [], path.name


def test_ultrasound_without_statement_is_flagged(tmp_path: Path) -> None:
    report = deidentify(_real("US1_UNCR.dcm"), tmp_path / "us.dcm")
    assert report.warnings == (
        "us.dcm: Ultrasound without a Burned In Annotation statement: it may have patient text "
        "burned into the pixels; not removed.",
    )


@pytest.mark.parametrize(
    ("modality", "sop_class", "burned_in", "expected"),
    [
        ("CT", CTImageStorage, "YES", "declares burned-in annotation"),
        ("US", "1.2.840.10008.5.1.4.1.1.6.1", "NO", None),
        ("OT", "1.2.840.10008.5.1.4.1.1.7", None, "Secondary capture without"),
        ("OT", "1.2.840.10008.5.1.4.1.1.7.4", None, "Secondary capture without"),
        ("US", "1.2.840.10008.5.1.4.1.1.3.1", None, "Ultrasound without"),
        ("CT", CTImageStorage, None, None),
    ],
    ids=["declared", "us-says-no", "secondary-capture", "sc-multiframe", "us-multiframe", "ct"],
)
def test_burned_in_warnings(
    modality: str, sop_class: str, burned_in: str | None, expected: str | None
) -> None:
    ds = Dataset()
    ds.Modality = modality
    ds.SOPClassUID = sop_class
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    warnings = deidentify_dataset(ds, UIDMap(), DeidOptions())
    if expected is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert expected in warning
        assert "may have patient text burned into the pixels; not removed" in warning


# --- refusals ---------------------------------------------------------------------------------


def test_refuses_output_inside_or_equal_to_the_input(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _write_sentinel_study(src)
    before = _sha256_tree(src)
    with pytest.raises(UnsafeOutputError, match="inside the input folder"):
        deidentify(src, src / "anon")
    with pytest.raises(UnsafeOutputError, match="the output is the input"):
        deidentify(src, src)
    single = src / "Zyxwvut_Qwertyzz" / "Zyxwvut_0.dcm"
    with pytest.raises(UnsafeOutputError, match="the output is the input"):
        deidentify(single, single)
    assert _sha256_tree(src) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_refuses_an_output_that_holds_files(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _write_sentinel_study(src)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(UnsafeOutputError, match="not an empty folder"):
        deidentify(src, taken)
    with pytest.raises(UnsafeOutputError, match="already exists"):
        deidentify(src / "Zyxwvut_Qwertyzz" / "Zyxwvut_0.dcm", taken / "keep.txt")
    assert (taken / "keep.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(deidentify(src, empty).written) == 3


@pytest.mark.parametrize("cut", [700, 3000], ids=["in-header", "in-pixels"])
def test_unreadable_dicom_is_named_and_nothing_is_left(tmp_path: Path, cut: int) -> None:
    src = tmp_path / "in"
    paths = _write_sentinel_study(src)
    paths[1].write_bytes(paths[1].read_bytes()[:cut])
    with pytest.raises(CorruptFileError, match=r"^Zyxwvut_Qwertyzz/Zyxwvut_1\.dcm: ") as info:
        deidentify(src, tmp_path / "out")
    assert isinstance(info.value, RadLensError)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no partial output


def test_a_single_non_dicom_file_is_refused(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello")
    with pytest.raises(UnsupportedFileError, match=r"^note\.txt: not a DICOM file"):
        deidentify(note, tmp_path / "out.dcm")


def test_a_folder_without_dicom_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("hello")
    with pytest.raises(EmptyInputError, match="holds no DICOM file"):
        deidentify(tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()
