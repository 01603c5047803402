"""The report reader on shapes real models write (issue 11 items 1-6), and negation-aware labels.

Shapes: the corpus files tests/models/corpus/reports_*.json (each case says where its shape was
seen: the MedGemma notebooks, bowang-lab/MedRAX issue 5, ibtihajahmadkhan/PDCP
reports/task2/generated_reports.md, the MedGemma model card, MiniMedMind/openi, an R2Gen gist)
run through ``radlens report --from-raw`` in tests/models/test_output_corpus.py; this file tests
the reader's parts. Labels: negspacy's NegEx scoping (https://github.com/jenojp/negspacy
README), see models/report/assertion.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dicom_io.loader import load_study
from models.registry.lookup import get_spec
from models.report.assertion import classify
from models.report.draft import Finding, FindingStatus
from models.report.exports.dicom_sr import sr_content
from models.report.exports.fhir import to_fhir_json
from models.report.exports.markdown import to_markdown
from models.report.sections import is_instruction, section_of
from models.report.text import clean_text, parse_report_text, place, split_sentences
from models.tasks.prepare import prepare
from models.tasks.report import from_text
from tests.files import REPO
from tests.synthetic import write_ct_series

CORPUS = Path(__file__).parent / "corpus"
CASES = [
    case for path in sorted(CORPUS.glob("reports_*.json")) for case in json.loads(path.read_text())
]
DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"
CXR = ["Lines and tubes", "Lungs", "Pleura", "Heart and mediastinum", "Bones and soft tissues"]
_MARKUP = re.compile(r"\*\*|##|`|^\s*[-*•]\s|^\s*\d+[.)]\s")


@pytest.fixture(scope="module")
def series_by_study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("ct")
    write_ct_series(folder, slices=6, rows=32, columns=32)
    return {
        "cxr": load_study(DEMO_CXR).default_series,
        "ct": load_study(folder).default_series,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CXR
        ("No pleural effusion or pneumothorax.", "normal"),
        ("The lungs are clear without focal consolidation.", "normal"),
        ("No acute cardiopulmonary process.", "normal"),
        ("Heart size is within normal limits.", "normal"),
        ("Unremarkable.", "normal"),
        ("The osseous structures appear normal.", "normal"),
        ("The lungs are clear.", "normal"),
        ("Normal heart size.", "normal"),
        ("None.", "normal"),
        ("Lungs are clear of focal airspace disease.", "normal"),
        ("Small right pleural effusion.", "abnormal"),
        ("Mild cardiomegaly.", "abnormal"),
        ("No pleural effusion, but there is a small right pneumothorax.", "abnormal"),
        ("Opacity may represent atelectasis.", "uncertain"),
        ("Cannot exclude a small nodule.", "uncertain"),
        ("Possible left lower lobe pneumonia.", "uncertain"),
        ("Findings suggestive of pulmonary edema.", "uncertain"),
        ("Likely atelectasis.", "uncertain"),
        # CT
        ("A 2 cm spiculated nodule in the right upper lobe.", "abnormal"),
        ("The liver is normal in size without focal lesion.", "normal"),
        ("There is no hydronephrosis.", "normal"),
        ("Small hiatal hernia.", "abnormal"),
        ("No evidence of pulmonary embolism.", "normal"),
        ("Pneumothorax cannot be excluded.", "uncertain"),
        ("Mediastinal lymph nodes are not enlarged.", "normal"),
        # MR
        ("No evidence of intracranial hemorrhage, mass effect or midline shift.", "normal"),
        ("Ventricles are normal in size.", "normal"),
        ("Chronic lacunar infarct in the left basal ganglia.", "abnormal"),
        (
            "Scattered white matter hyperintensities, likely chronic small vessel disease.",
            "uncertain",
        ),
        ("No restricted diffusion to suggest acute infarct.", "normal"),
        ("Small disc protrusion at L4-L5.", "abnormal"),
        ("The cruciate ligaments are intact.", "normal"),
    ],
)
def test_findings_are_classified_by_negation_and_hedges(text, expected):
    assert classify(text) == expected


def test_finding_derives_is_normal_from_its_assertion():
    assert Finding("Lungs", "No focal consolidation.").is_normal
    assert not Finding("Lungs", "Right lower lobe consolidation.").is_normal
    assert Finding("Lungs", "Opacity.", assertion="normal").is_normal  # given wins
    data = Finding("Lungs", "Possible nodule.").assertion
    assert data == "uncertain"


@pytest.mark.parametrize(
    ("heading", "section"),
    [
        ("**Findings:**", "findings"),
        ("## Key Findings", "findings"),
        ("3. Specific findings:", "findings"),
        ("POTENTIAL ISSUES", "findings"),
        ("**Overall Impression:**", "impression"),
        ("Interpretation", "impression"),
        ("Comparison and key takeaways:", "impression"),
        ("Comparison:", "comparison"),
        ("Next steps:", "recommendations"),
        ("Recommendations", "recommendations"),
        ("Lungs", None),
    ],
)
def test_headings_are_read_by_meaning(heading, section):
    assert section_of(heading) == section


def test_radlens_own_outline_is_recognised_as_instruction():
    assert is_instruction('Lungs: <what the images show there, or "Unremarkable.">')
    assert is_instruction("2-4 bullet points.")
    assert is_instruction(
        "Follow the outline below exactly: keep each heading, in English, at the start"
    )
    assert not is_instruction("Small right pleural effusion.")


def test_markup_is_stripped_and_prose_split_and_placed():
    assert clean_text("- **Lungs:** _clear_ `ok`") == "Lungs: clear ok"
    assert clean_text("## 2. Heart") == "Heart"
    assert split_sentences("A 2.5 cm nodule. No effusion.") == ["A 2.5 cm nodule.", "No effusion."]
    assert place("Blunting of the left costophrenic angle.", CXR) == "Pleura"
    assert place("The film is rotated.", CXR) is None


def test_disclaimer_is_a_note_and_nothing_is_dropped_silently():
    parsed = parse_report_text(
        "Findings:\nLungs: Clear.\nImpression:\n1. Normal.\n"
        "I am an AI and this is not medical advice.",
        CXR,
    )
    assert parsed.findings == (("Lungs", "Clear."),)
    assert parsed.impression == ("Normal.",)
    assert any("disclaimer" in n and "not medical advice" in n for n in parsed.notes)


def test_unable_only_when_nothing_clinical(series_by_study):
    series = series_by_study["cxr"]
    prepared = prepare(series, get_spec("medgemma-4b"), "report")
    empty = from_text(series, prepared, "  \n")
    assert empty.findings[0].status is FindingStatus.UNABLE
    prose = from_text(series, prepared, "There is a small left pneumothorax.")
    assert prose.findings[0].status is not FindingStatus.UNABLE
    assert prose.findings[0].section == "Pleura"


def test_recommendations_reach_json_and_markdown(series_by_study):
    series = series_by_study["cxr"]
    prepared = prepare(series, get_spec("medgemma-4b"), "report")
    raw = "Findings:\nLungs: Nodule.\n\nRecommendations:\nCT chest in 3 months."
    report = from_text(series, prepared, raw)
    data = report.to_json()
    assert data["recommendations"][0]["text"] == "CT chest in 3 months."
    assert data["findings"][0]["assertion"] == "abnormal"
    assert "## Recommendations" in to_markdown(report)
    assert "CT chest in 3 months." in to_markdown(report)
    narrative = json.loads(to_fhir_json(report))["text"]["div"]
    assert "<b>Recommendations</b>" in narrative
    assert "CT chest in 3 months." in narrative
    from models.report.exports import pdf

    story = pdf._text_flowables(report, pdf._styles(*pdf._fonts()))
    texts = [str(getattr(p, "text", "")) for p in story]
    assert "Recommendations" in texts
    assert any("CT chest in 3 months." in t for t in texts)
    sr = sr_content(report)
    assert [(f.section, f.text) for f in sr.findings][-1] == (
        "Recommendations",
        "CT chest in 3 months.",
    )


def test_check_probes_only_abnormal_and_uncertain_findings():
    """check skips findings classified normal ("The lungs are clear without focal
    consolidation.", "No pleural effusion or pneumothorax.") and says how many it skipped."""
    from models.tasks.check import check
    from tests.models.test_tasks import Scripted

    series = load_study(DEMO_CXR).default_series
    spec = get_spec("medgemma-1.5-4b")
    raw = (
        "Findings:\nLungs: The lungs are clear without focal consolidation.\n"
        "Pleura: No pleural effusion or pneumothorax.\n"
        "Heart and mediastinum: Possible mild cardiomegaly.\n"
        "Bones and soft tissues: Healing fracture of the left 6th rib.\n"
    )
    report = from_text(series, prepare(series, spec, "report"), raw)
    yes, no = "Final Answer: yes", "Final Answer: no"
    backend = Scripted(
        {
            "show Possible mild cardiomegaly": [yes, no],  # the probe, then the control
            "free of Possible mild cardiomegaly": [no],
            "show Healing fracture": [yes],
            "free of Healing fracture": [no],
        }
    )
    checked = check(report, series, backend, spec)
    probed = [p for p in backend.prompts if "clear without focal" in p or "No pleural" in p]
    assert probed == []
    by_section = {f.section: f for f in checked.findings}
    assert by_section["Lungs"].status is FindingStatus.REPORTED
    assert by_section["Pleura"].status is FindingStatus.REPORTED
    assert by_section["Bones and soft tissues"].status is FindingStatus.UNVERIFIED  # no box
    assert any(
        "5 extra model call(s)" in c and "2 finding(s) classified normal not probed" in c
        for c in checked.checks
    )
