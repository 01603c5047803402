"""A folder holding several patients or studies (issue 12 item 5): grouped, listed, one opened.

PS3.3 C.7.1.1 (Patient Module) identifies the patient by Patient ID, Patient's Name and Birth
Date; C.7.2.1 (General Study Module) the study by Study Instance UID. RadLens groups a folder's
files by a salted hash of the former, then by the latter, before any series or stack is built.

Real files: pydicom's own test files CT_small.dcm (patient 1CT1), MR_small.dcm (4MR1) and
MR2_J2KI.dcm (5MR2), three patients in one folder (an export or a CD): one "study" of three
series before. The same-series case is built faithfully from CT_small: a copy whose patient
attributes, SOP Instance UID and position along the normal differ, so the two files would stack
into one 2-slice volume if patients were not told apart. Studies are listed patient by patient
in the order their files are met (the folder's sorted names), each patient's oldest first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest

from app.cli import main
from dicom_io.errors import InvalidArgumentError, MultipleStudiesError
from dicom_io.loader import load_studies, load_study
from dicom_io.study import Series
from models.registry.lookup import get_spec
from models.tasks.prepare import prepare
from tests.files import data_file, sha256_tree


def _read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)


@pytest.fixture
def three_patients(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm", "MR2_J2KI.dcm"):
        shutil.copyfile(data_file(name), folder / name)
    return folder


def test_real_files_of_three_patients_are_three_studies(three_patients: Path) -> None:
    before = sha256_tree(three_patients)
    studies = load_studies(three_patients)
    assert len(studies) == 3
    assert len({s.patient_key for s in studies}) == 3
    shapes = sorted((s.series[0].modality, s.series[0].shape) for s in studies)
    assert shapes == [("CT", (1, 128, 128)), ("MR", (1, 64, 64)), ("MR", (1, 1024, 1024))]
    assert all(len(s.series) == 1 for s in studies)
    assert [s.study_date for s in studies] == ["20040119", "20040826", "20040826"]
    assert sha256_tree(three_patients) == before  # the files are only read


def test_load_study_refuses_to_choose_and_lists_them(three_patients: Path) -> None:
    with pytest.raises(MultipleStudiesError) as caught:
        load_study(three_patients)
    message = str(caught.value)
    assert message.startswith("export: holds 3 studies of 3 patients; open one (--study N): ")
    assert "1) CT, 1 series, 1 image(s), patient 1" in message
    assert "\n" not in message
    for name in ("1CT1", "4MR1", "5MR2", "CompressedSamples"):  # no identity in the message
        assert name not in message
    assert isinstance(caught.value, InvalidArgumentError)
    chosen = load_study(three_patients, study=2)  # MR2_J2KI.dcm sorts before MR_small.dcm
    assert chosen.series[0].shape == (1, 1024, 1024)
    with pytest.raises(InvalidArgumentError, match=r"--study 4: export holds 3 studies \(1..3\)"):
        load_study(three_patients, study=4)


def test_one_series_split_between_two_patients_is_never_stacked(tmp_path: Path) -> None:
    folder = tmp_path / "broken-export"
    folder.mkdir()
    shutil.copyfile(data_file("CT_small.dcm"), folder / "a.dcm")
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.PatientID, ds.PatientName = "OTHER-77", "Other^Patient"
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    position = [float(v) for v in ds.ImagePositionPatient]
    ds.ImagePositionPatient = [position[0], position[1], position[2] + 5.0]
    ds.save_as(folder / "b.dcm")
    assert _read(folder / "a.dcm").SeriesInstanceUID == _read(folder / "b.dcm").SeriesInstanceUID
    studies = load_studies(folder)
    assert [s.series[0].shape for s in studies] == [(1, 128, 128), (1, 128, 128)]
    # the same patient again: the two files are one 2-slice series, 5 mm apart
    ds.PatientID, ds.PatientName = (
        _read(folder / "a.dcm").PatientID,
        _read(folder / "a.dcm").PatientName,
    )
    ds.save_as(folder / "b.dcm")
    (study,) = load_studies(folder)
    assert study.series[0].shape == (2, 128, 128)
    assert study.series[0].spacing[0] == pytest.approx(5.0)


def test_two_studies_of_one_patient(tmp_path: Path) -> None:
    folder = tmp_path / "one-patient"
    folder.mkdir()
    shutil.copyfile(data_file("CT_small.dcm"), folder / "first.dcm")
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = (
        pydicom.uid.generate_uid(),
        pydicom.uid.generate_uid(),
    )
    ds.SOPInstanceUID, ds.StudyDate = pydicom.uid.generate_uid(), "20050301"
    ds.save_as(folder / "second.dcm")
    studies = load_studies(folder)
    assert [s.study_date for s in studies] == ["20040119", "20050301"]  # oldest first
    assert len({s.patient_key for s in studies}) == 1
    with pytest.raises(MultipleStudiesError, match=r"holds 2 studies; open one"):
        load_study(folder)


def test_cli_lists_the_studies_and_opens_the_one_asked(
    three_patients: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(three_patients)]) == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[0] == "export: 3 studies of 3 patients"
    assert "   2  2004-08-26  MR, 1 series, 1 image(s), patient 2" in listed
    assert main(["info", str(three_patients), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "radlens.studies/1"
    assert [s["patient"] for s in data["studies"]] == [1, 2, 3]
    out = tmp_path / "slice.png"
    assert main(["render", str(three_patients), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("radlens: error: export: holds 3 studies of 3 patients")
    assert not out.exists()
    assert main(["render", str(three_patients), "--study", "2", "--out", str(out)]) == 0
    assert "MR" in capsys.readouterr().out


def _series_of(patient_id: str, folder: Path) -> Series:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.PatientID = patient_id
    folder.mkdir()
    ds.save_as(folder / "ct.dcm")
    return load_study(folder).default_series


def test_comparison_refuses_a_prior_of_another_patient(tmp_path: Path) -> None:
    current = _series_of("1CT1", tmp_path / "now")
    same = _series_of("1CT1", tmp_path / "then")
    other = _series_of("SOMEONE-ELSE", tmp_path / "other")
    spec = get_spec("medgemma-1.5-4b")
    assert prepare(current, spec, "compare", prior=same).task.value == "compare"
    with pytest.raises(InvalidArgumentError, match="belongs to another patient"):
        prepare(current, spec, "compare", prior=other)
