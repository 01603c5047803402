"""The clinician's edits: unchanged findings keep their boxes and status, edits are marked."""

from __future__ import annotations

from dicom_io.loader import load_study
from models.conversation import prepare
from models.grounding import Box
from models.registry import get_spec
from models.report import FindingStatus
from models.tasks import from_text, report_to_text, revise
from tests.files import REPO
from tests.models.test_tasks import MEDGEMMA_REPORT

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"


def _report():
    series = load_study(DEMO_CXR).default_series
    prepared = prepare(series, get_spec("medgemma-1.5-4b"), "report")
    report = from_text(series, prepared, MEDGEMMA_REPORT)
    lungs = next(f for f in report.findings if f.section == "Lungs")
    boxed = lungs.__class__(
        lungs.section,
        lungs.text,
        (Box("opacity", 0, 10, 20, 30, 40),),
        FindingStatus.UNVERIFIED,
        ("probe answers: shows it? no; free of it? no",),
    )
    return report.__class__(
        **{
            **report.__dict__,
            "findings": tuple(boxed if f is lungs else f for f in report.findings),
        }
    )


def test_text_round_trip_changes_nothing():
    report = _report()
    text = report_to_text(report)
    assert "Lungs: [unverified] Patchy opacity" in text
    assert revise(report, text) is report


def test_edits_are_marked_and_unchanged_findings_keep_their_boxes():
    report = _report()
    text = report_to_text(report)
    text = text.replace("Small right pleural effusion.\n", "Moderate right pleural effusion.\n", 1)
    text = text.replace("2. Small right pleural effusion.", "2. Moderate right pleural effusion.")
    revised = revise(report, text)
    by_section = {f.section: f for f in revised.findings}
    lungs = by_section["Lungs"]
    assert lungs.boxes == (Box("opacity", 0, 10, 20, 30, 40),)
    assert lungs.status is FindingStatus.UNVERIFIED  # the mark was read back, not kept as text
    assert lungs.text.startswith("Patchy opacity")
    pleura = by_section["Pleura"]
    assert pleura.text == "Moderate right pleural effusion."
    assert pleura.flags == ("edited by the clinician",)
    assert pleura.boxes == ()
    assert [f.text for f in revised.impression] == [
        "Right lower zone consolidation.",
        "Moderate right pleural effusion.",
    ]
    assert revised.notes[-1] == "edited by the clinician: 2 finding(s) changed or added, 0 removed"
    assert revised.raw == report.raw  # the model's own text is kept


def test_removed_findings_are_gone():
    report = _report()
    text = report_to_text(report).replace("Bones and soft tissues: Unremarkable.\n", "")
    revised = revise(report, text)
    assert "Bones and soft tissues" not in [f.section for f in revised.findings]
    assert revised.notes[-1].endswith("1 removed")
