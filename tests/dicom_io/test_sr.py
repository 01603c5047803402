"""DICOM SR writing: content tree, SCOORD rectangles, references to the source, identity."""

from __future__ import annotations

from pathlib import Path

import highdicom
import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset

from dicom_io import load_study
from dicom_io.deid.files import deidentify
from dicom_io.deid.uid_map import UIDMap
from dicom_io.errors import InvalidArgumentError
from dicom_io.sr.content import SRContent, SRFinding, SRRegion
from dicom_io.sr.document import SERIES_DESCRIPTION, write_sr
from dicom_io.study import Series
from tests.synthetic import SyntheticSeries, write_ct_series

DISCLAIMER = (
    "AI-generated draft, not for diagnostic use; requires review by a qualified clinician."
)
SECRET = b"radlens-test-secret-0123456789"
NODULE = SRRegion(3, 10.5, 12.0, 20.25, 30.0, "nodule")
EFFUSION = SRRegion(7, 1.0, 2.0, 31.0, 4.5, "effusion")


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticSeries, Series]:
    folder = tmp_path_factory.mktemp("ct")
    info = write_ct_series(folder, slices=10, rows=32, columns=32)
    return info, load_study(folder).series[0]


def _content(**changes: object) -> SRContent:
    fields: dict[str, object] = {
        "title": "CT chest draft report",
        "model_id": "medgemma-1.5-4b-it",
        "disclaimer": DISCLAIMER,
        "findings": (
            SRFinding("Lungs", "8 mm nodule in the right upper lobe.", "reported", (NODULE,)),
            SRFinding(
                "Pleura",
                "Small left pleural effusion.",
                "unverified",
                (EFFUSION,),
                ("flag: negation probe also answered yes",),
            ),
        ),
        "impression": (SRFinding("Impression", "Right upper lobe nodule.", "reported"),),
        "technique": "CT CHEST, 10 slices",
        "indication": "cough",
        "created": "2026-01-02T03:04:05Z",
    }
    fields.update(changes)
    return SRContent(**fields)  # type: ignore[arg-type]


def _walk(items: Dataset | list[Dataset]) -> list[Dataset]:
    """Every content item under ``items``, depth first."""
    found: list[Dataset] = []
    for item in items if isinstance(items, list) else [items]:
        for child in item.get("ContentSequence", []):
            found.append(child)
            found += _walk(child)
    return found


def _meaning(item: Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeMeaning)


def _findings(ds: Dataset) -> dict[str, Dataset]:
    return {
        str(item.TextValue): item
        for item in _walk(ds)
        if item.ValueType == "TEXT" and _meaning(item) in ("Finding", "Impression")
    }


def _write(series: Series, tmp_path: Path, **kwargs: object) -> Dataset:
    path = write_sr(series, _content(), tmp_path / "sr.dcm", **kwargs)  # type: ignore[arg-type]
    return pydicom.dcmread(path)


def test_document_title_flags_and_disclaimer(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    ds = _write(ct[1], tmp_path)
    title = ds.ConceptNameCodeSequence[0]
    assert (title.CodeValue, title.CodingSchemeDesignator) == ("18748-4", "LN")
    assert title.CodeMeaning == "Diagnostic Imaging Report"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert (ds.Modality, ds.SeriesDescription) == ("SR", SERIES_DESCRIPTION)
    assert (ds.CompletionFlag, ds.VerificationFlag, ds.PreliminaryFlag) == (
        "PARTIAL",
        "UNVERIFIED",
        "PRELIMINARY",
    )
    root_texts = [
        str(i.TextValue)
        for i in ds.ContentSequence
        if i.ValueType == "TEXT" and i.RelationshipType == "CONTAINS"
    ]
    assert root_texts[:2] == [DISCLAIMER, "CT chest draft report"]
    assert (ds.ContentDate, ds.ContentTime) == ("20260102", "030405")
    parsed = highdicom.sr.ComprehensiveSR.from_dataset(ds)  # highdicom reads its tree back
    assert parsed.content[0].name.value == "18748-4"


def test_content_tree_holds_sections_and_findings(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    ds = _write(ct[1], tmp_path)
    headings = [_meaning(i) for i in ds.ContentSequence if i.ValueType == "CONTAINER"]
    assert headings == [
        "Indications for Procedure",
        "Current Procedure Descriptions",
        "Findings",
        "Impressions",
    ]
    findings = _findings(ds)
    assert sorted(findings) == [
        "Impression: Right upper lobe nodule.",
        "Lungs: 8 mm nodule in the right upper lobe.",
        "Pleura: Small left pleural effusion.",
    ]
    effusion = findings["Pleura: Small left pleural effusion."]
    comments = [str(i.TextValue) for i in effusion.ContentSequence if i.ValueType == "TEXT"]
    assert comments == [
        "status: unverified",
        "flag: negation probe also answered yes",
        "region 1 (slice 7): effusion",
    ]
    assert [i.RelationshipType for i in effusion.ContentSequence] == [
        "HAS PROPERTIES",
        "HAS PROPERTIES",
        "HAS PROPERTIES",
        "INFERRED FROM",
    ]


def test_observer_is_the_radlens_device(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    ds = _write(ct[1], tmp_path)
    context = {
        _meaning(i): i for i in ds.ContentSequence if i.RelationshipType == "HAS OBS CONTEXT"
    }
    assert context["Observer Type"].ConceptCodeSequence[0].CodeMeaning == "Device"
    assert context["Device Observer Name"].TextValue == "RadLens medgemma-1.5-4b-it"
    assert context["Device Observer Model Name"].TextValue == "medgemma-1.5-4b-it"


def test_scoord_is_the_closed_box_rectangle_in_pixel_edges(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    ds = _write(ct[1], tmp_path)
    findings = _findings(ds)
    for text, region in (
        ("Lungs: 8 mm nodule in the right upper lobe.", NODULE),
        ("Pleura: Small left pleural effusion.", EFFUSION),
    ):
        (scoord,) = [i for i in findings[text].ContentSequence if i.ValueType == "SCOORD"]
        assert scoord.GraphicType == "POLYLINE"
        assert _meaning(scoord) == "Image Region"
        x0, y0, x1, y1 = region.x0, region.y0, region.x1, region.y1
        # (column, row) pairs, (0, 0) = top left corner of the top left pixel: Box edges as is.
        assert list(scoord.GraphicData) == [x0, y0, x1, y0, x1, y1, x0, y1, x0, y0]


def _referenced_uid(ds: Dataset, text: str) -> str:
    (scoord,) = [i for i in _findings(ds)[text].ContentSequence if i.ValueType == "SCOORD"]
    (image,) = scoord.ContentSequence
    assert (image.RelationshipType, image.ValueType) == ("SELECTED FROM", "IMAGE")
    return str(image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)


def test_references_point_at_the_slice_files_through_the_uid_map(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    info, series = ct
    uid_map = UIDMap(SECRET)
    ds = _write(series, tmp_path, uid_map=uid_map)
    slice3 = pydicom.dcmread(info.slice_paths[3], stop_before_pixels=True)
    slice7 = pydicom.dcmread(info.slice_paths[7], stop_before_pixels=True)
    nodule = _referenced_uid(ds, "Lungs: 8 mm nodule in the right upper lobe.")
    effusion = _referenced_uid(ds, "Pleura: Small left pleural effusion.")
    assert nodule == UIDMap(SECRET)(slice3.SOPInstanceUID)
    assert effusion == UIDMap(SECRET)(slice7.SOPInstanceUID)
    evidence = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert evidence.StudyInstanceUID == ds.StudyInstanceUID == uid_map(info.study_uid)
    (ref_series,) = evidence.ReferencedSeriesSequence
    assert ref_series.SeriesInstanceUID == uid_map(info.series_uid)
    assert {str(i.ReferencedSOPInstanceUID) for i in ref_series.ReferencedSOPSequence} == {
        nodule,
        effusion,
    }


def test_references_resolve_in_a_deid_copy_made_with_the_same_map(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    info, series = ct
    uid_map = UIDMap(SECRET)
    ds = _write(series, tmp_path, uid_map=uid_map)
    deidentify(info.folder, tmp_path / "deid", uid_map=uid_map)
    copies = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p
        for p in (tmp_path / "deid").rglob("*.dcm")
    }
    target = copies[_referenced_uid(ds, "Lungs: 8 mm nodule in the right upper lobe.")]
    copy = pydicom.dcmread(target)
    original = pydicom.dcmread(info.slice_paths[3])
    np.testing.assert_array_equal(copy.pixel_array, original.pixel_array)
    assert copy.PatientID == ds.PatientID  # the same pseudonym


def test_default_sr_is_deidentified(ct: tuple[SyntheticSeries, Series], tmp_path: Path) -> None:
    info, series = ct
    ds = _write(series, tmp_path)
    assert ds.PatientName == "ANONYMIZED"
    assert str(ds.PatientID).startswith("ANON-")
    assert (ds.PatientBirthDate, ds.PatientSex, ds.AccessionNumber) == ("", "", "")
    assert ds.PatientIdentityRemoved == "YES"
    raw = (tmp_path / "sr.dcm").read_bytes()
    originals = [info.study_uid, info.series_uid]
    originals += [
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in info.paths
    ]
    identity = ["SYNTHETIC^PHANTOM", "PHANTOM", "SYNTH-0001", "SYNTH0001", "19000101"]
    identity += ["SYNTHETIC INSTITUTION", "SYNTHETIC^REFERRER"]
    for value in identity + originals:
        assert value.encode() not in raw, value


def test_keep_identity_keeps_patient_and_uids(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    info, series = ct
    ds = _write(series, tmp_path, keep_identity=True)
    assert (ds.PatientName, ds.PatientID, ds.PatientBirthDate) == (
        "SYNTHETIC^PHANTOM",
        "SYNTH-0001",
        "19000101",
    )
    assert ds.StudyInstanceUID == info.study_uid
    slice3 = pydicom.dcmread(info.slice_paths[3], stop_before_pixels=True)
    nodule = _referenced_uid(ds, "Lungs: 8 mm nodule in the right upper lobe.")
    assert nodule == slice3.SOPInstanceUID


def test_multiframe_regions_reference_their_frame(testdata, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    series = load_study(testdata("eCT_Supplemental.dcm")).series[0]
    source = pydicom.dcmread(testdata("eCT_Supplemental.dcm"), stop_before_pixels=True)
    region = SRRegion(0, 100.0, 120.0, 200.0, 260.0, "lesion")
    content = _content(findings=(SRFinding("Liver", "Lesion.", "reported", (region,)),))
    ds = pydicom.dcmread(write_sr(series, content, tmp_path / "mf.dcm", keep_identity=True))
    (scoord,) = [i for i in _findings(ds)["Liver: Lesion."].ContentSequence if "GraphicData" in i]
    ref = scoord.ContentSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
    # Slice 0 along the normal is the second stored frame of this file.
    assert ref.ReferencedFrameNumber == 2


def test_non_dicom_study_is_refused(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(tmp_path / "x.png")
    series = load_study(tmp_path / "x.png").series[0]
    with pytest.raises(InvalidArgumentError, match="DICOM SR needs a DICOM study"):
        write_sr(series, _content(findings=()), tmp_path / "sr.dcm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


def test_region_outside_the_series_is_refused(
    ct: tuple[SyntheticSeries, Series], tmp_path: Path
) -> None:
    content = _content(findings=(SRFinding("Lungs", "x", "", (SRRegion(10, 0, 0, 1, 1),)),))
    with pytest.raises(
        InvalidArgumentError, match=r"slice 10 is outside the series \(slices 0..9\)"
    ):
        write_sr(ct[1], content, tmp_path / "sr.dcm")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("corners", "message"),
    [((5, 0, 5, 1), "x0 < x1"), ((0, 3, 1, 2), "y0 < y1")],
    ids=["zero-width", "upside-down"],
)
def test_bad_region_is_refused(corners: tuple[float, ...], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        SRRegion(0, *corners)


def test_series_shows_no_source_references(ct: tuple[SyntheticSeries, Series]) -> None:
    info, series = ct
    sop = str(pydicom.dcmread(info.slice_paths[3], stop_before_pixels=True).SOPInstanceUID)
    assert sop not in repr(series)
    assert info.series_uid not in repr(series)
    assert series.slice_references()[3].sop_instance_uid == sop
