"""The clinician's edits: unchanged findings keep their boxes and status, edits are marked."""

from __future__ import annotations

from dicom_io.loader import load_study
from models.grounding.box import Box
from models.registry.lookup import get_spec
from models.report.draft import FindingStatus
from models.report.revision import report_to_text, revise
from models.tasks.prepare import prepare
from models.tasks.report import from_text
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


def _compared():
    report = _report()
    changes = {"Lungs": "worse", "Pleura": "improved"}
    return report.__class__(
        **{
            **report.__dict__,
            "comparison": "Prior radiograph of the chest.",
            "findings": tuple(
                f.__class__(**{**f.__dict__, "change": changes.get(f.section)})
                for f in report.findings
            ),
        }
    )


def test_a_comparison_round_trips_with_its_interval_changes():
    compared = _compared()
    text = report_to_text(compared)
    assert "Lungs: [unverified] Patchy opacity in the right lower zone, suspicious for " in text
    assert "consolidation. [worse]\n" in text
    assert "Pleura: Small right pleural effusion. [improved]" in text
    assert revise(compared, text) is compared


def test_an_edited_interval_change_is_the_clinicians_and_keeps_the_box():
    compared = _compared()
    text = report_to_text(compared).replace("[improved]", "[unchanged]")
    text = text.replace("Lines and tubes: None.", "Lines and tubes: New right chest drain [new]")
    revised = revise(compared, text)
    by_section = {f.section: f for f in revised.findings}
    lungs = next(f for f in compared.findings if f.section == "Lungs")
    assert by_section["Lungs"] is lungs  # untouched, box and all
    pleura = by_section["Pleura"]
    assert (pleura.text, pleura.change) == ("Small right pleural effusion.", "unchanged")
    assert pleura.flags[-1] == "edited by the clinician"
    tubes = by_section["Lines and tubes"]
    assert (tubes.text, tubes.change, tubes.flags) == (
        "New right chest drain",
        "new",
        ("edited by the clinician",),
    )


def test_brackets_in_a_plain_report_are_words():
    report = _report()
    text = report_to_text(report).replace("Lines and tubes: None.", "Lines and tubes: [new] line")
    tubes = next(f for f in revise(report, text).findings if f.section == "Lines and tubes")
    assert (tubes.text, tubes.change) == ("[new] line", None)
