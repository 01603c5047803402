"""Few-shot examples: the most similar case is shown first, as a demonstration turn."""

from __future__ import annotations

import shutil

import pytest

from dicom_io.errors import EmptyInputError
from dicom_io.loader import load_study
from models.inputs.messages import ImagePart
from models.registry.lookup import get_spec
from models.tasks.examples import load_examples, select_examples
from models.tasks.report import draft_report
from tests.files import REPO
from tests.models.test_tasks import MEDGEMMA_REPORT, Scripted
from tests.synthetic import write_ct_series

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"
CXR_HOUSE_STYLE = "Findings:\nLungs: Clear.\n\nImpression:\n1. Normal chest. (house style)"
CT_HOUSE_STYLE = "Findings:\nLungs: No nodule.\n\nImpression:\n1. Normal CT. (house style)"


@pytest.fixture
def examples_folder(tmp_path):
    folder = tmp_path / "examples"
    folder.mkdir()
    shutil.copy(DEMO_CXR, folder / "cxr_case.dcm")
    (folder / "cxr_case.md").write_text(CXR_HOUSE_STYLE)
    write_ct_series(folder / "ct_case", slices=4, rows=32, columns=32)
    (folder / "ct_case" / "report.md").write_text(CT_HOUSE_STYLE)
    (folder / "notes.txt").write_text("not a case")
    shutil.copy(DEMO_CXR, folder / "no_report.dcm")
    return folder


def test_examples_are_read_with_their_reports(examples_folder):
    examples = {e.name: e for e in load_examples(examples_folder)}
    assert sorted(examples) == ["ct_case", "cxr_case.dcm"]
    assert examples["cxr_case.dcm"].report == CXR_HOUSE_STYLE
    assert examples["ct_case"].series.modality == "CT"
    assert examples["ct_case"].series.shape == (4, 32, 32)


def test_the_most_similar_example_is_chosen(examples_folder):
    examples = load_examples(examples_folder)
    cxr = load_study(DEMO_CXR).default_series
    chosen = select_examples(examples, cxr, "gemma3", budget_tokens=8192)
    assert [e.name for e, _ in chosen] == ["cxr_case.dcm"]  # the CT is another modality
    assert len(chosen[0][1].images) == 1
    assert select_examples(examples, cxr, "gemma3", budget_tokens=100) == []  # over budget


def test_draft_report_shows_the_example_as_a_demonstration(examples_folder):
    cxr = load_study(DEMO_CXR).default_series
    backend = Scripted({"Write a radiology report": [MEDGEMMA_REPORT]})
    sent = []
    original = backend.generate

    def spy(request, cancel=None):
        sent.append(request.messages)
        return original(request, cancel)

    backend.generate = spy  # type: ignore[method-assign]
    report = draft_report(
        cxr,
        backend,
        get_spec("medgemma-1.5-4b"),
        examples=load_examples(examples_folder),
        ground=False,
    )
    messages = sent[0]
    # MedGemma 1.5 gets no system message (its notebooks): the example's turn comes first
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert messages[1].parts[0].text == CXR_HOUSE_STYLE
    images = [p.index for m in messages for p in m.parts if isinstance(p, ImagePart)]
    assert images == [0, 1]  # the example's image, then the study's
    assert "few-shot examples shown: cxr_case.dcm" in report.notes


def test_a_folder_without_cases_is_refused(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing")
    with pytest.raises(EmptyInputError, match="no example case with a study and its report"):
        load_examples(tmp_path)
