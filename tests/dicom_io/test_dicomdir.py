"""Opening a DICOMDIR on its own (issue 12 item 9): the files it lists, as its folder would open.

PS3.10 8.6: a DICOMDIR's Directory Record Sequence lists the media's files, each by its
Referenced File ID (0004,1500), path components relative to the DICOMDIR's folder. Real files:
pydicom's dicomdirtests (a DICOMDIR over 31 referenced images of 2 patients) and its
DICOMDIR-empty.dcm (a directory with no record).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from dicom_io.dicom.dicomdir import referenced_files
from dicom_io.errors import EmptyInputError, UnsafeArchiveError
from dicom_io.loader import load_studies
from tests.files import data_file, sha256_tree


def _summary(studies) -> list[tuple[str, list[tuple[str, tuple[int, int, int]]]]]:  # type: ignore[no-untyped-def]
    return [(s.key, sorted((x.modality, x.shape) for x in s.series)) for s in studies]


def test_a_dicomdir_opens_the_studies_it_lists() -> None:
    dicomdir = data_file("DICOMDIR")
    listed = referenced_files(dicomdir)
    assert listed is not None
    records = pydicom.dcmread(dicomdir).DirectoryRecordSequence
    named = [r for r in records if "ReferencedFileID" in r]
    assert (len(listed.files), listed.missing) == (len(named), 0) == (31, 0)
    before = sha256_tree(dicomdir.parent)
    from_dicomdir = load_studies(dicomdir)
    from_folder = load_studies(dicomdir.parent)  # the folder also holds READMEs and DICOMDIRs
    assert _summary(from_dicomdir) == _summary(from_folder)
    assert len(from_dicomdir) == 6
    assert from_dicomdir[0].source_name == "dicomdirtests"
    assert all(not s.skipped for s in from_dicomdir)  # only the listed images were read
    assert sha256_tree(dicomdir.parent) == before


def test_an_empty_dicomdir_says_to_open_the_folder() -> None:
    with pytest.raises(EmptyInputError, match=r"DICOMDIR-empty.dcm: a DICOMDIR listing no image"):
        load_studies(data_file("DICOMDIR-empty.dcm"))


def test_a_plain_dicom_file_is_no_dicomdir() -> None:
    assert referenced_files(data_file("CT_small.dcm")) is None


def test_a_referenced_file_id_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cd"
    folder.mkdir()
    ds = pydicom.dcmread(data_file("DICOMDIR"))
    record = next(r for r in ds.DirectoryRecordSequence if "ReferencedFileID" in r)
    record.ReferencedFileID = ["..", "SECRET"]
    ds.save_as(folder / "DICOMDIR")
    (tmp_path / "SECRET").write_bytes(b"outside the media")
    with pytest.raises(UnsafeArchiveError, match="could leave its folder"):
        referenced_files(folder / "DICOMDIR")


def test_missing_referenced_files_are_counted(tmp_path: Path) -> None:
    copy = tmp_path / "dicomdirtests"
    shutil.copytree(data_file("DICOMDIR").parent, copy)
    shutil.rmtree(copy / "77654033" / "CR1")
    listed = referenced_files(copy / "DICOMDIR")
    assert listed is not None
    assert (len(listed.files), listed.missing) == (30, 1)
