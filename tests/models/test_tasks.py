"""Report drafting, comparison and checking: realistic model text in, report sections out.

Scripted backends stand in for the model only where a test needs a particular answer (a
contradicting probe, a blind yes); the same flows also run against a tiny real checkpoint.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field, replace

import pytest

from dicom_io.errors import InvalidArgumentError
from dicom_io.loader import load_study
from models.backends.base import CancelToken, GenerationRequest, GenerationSettings, Result
from models.backends.loading import load_model
from models.backends.local import TransformersBackend
from models.grounding.box import Box
from models.inputs.messages import ImagePart, TextPart
from models.registry.lookup import get_spec
from models.report.draft import FindingStatus
from models.report.text import parse_change, parse_report_text, parse_yes_no
from models.tasks.check import check
from models.tasks.compare import compare
from models.tasks.names import TaskName, task_name
from models.tasks.prepare import NO_BOXES_INSTRUCTION, prepare
from models.tasks.report import draft_report, from_text, grounding_target
from models.tasks.technique import describe_technique
from prompts import load_catalogue
from tests.files import REPO
from tests.synthetic import write_ct_series

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"
DEMO_BRAIN = REPO / "assets" / "demo" / "brain_mni152_t1.nii.gz"
CXR_HEADINGS = [
    "Lines and tubes",
    "Lungs",
    "Pleura",
    "Heart and mediastinum",
    "Bones and soft tissues",
]

MEDGEMMA_REPORT = """**Technique:**
Computed radiography of the chest, PA view.

**Findings:**
- **Lines and tubes:** None.
- **Lungs:** Patchy opacity in the right lower zone,
  suspicious for consolidation.
- Pleura: Small right pleural effusion.
- **Heart and mediastinum:** Unremarkable.
- Bones and soft tissues: Unremarkable.

**Impression:**
1. Right lower zone consolidation.
2. Small right pleural effusion.
"""


def test_report_text_is_split_by_section_and_heading():
    parsed = parse_report_text(MEDGEMMA_REPORT, CXR_HEADINGS)
    assert parsed.technique == "Computed radiography of the chest, PA view."
    assert parsed.findings == (
        ("Lines and tubes", "None."),
        ("Lungs", "Patchy opacity in the right lower zone, suspicious for consolidation."),
        ("Pleura", "Small right pleural effusion."),
        ("Heart and mediastinum", "Unremarkable."),
        ("Bones and soft tissues", "Unremarkable."),
    )
    assert parsed.impression == (
        "Right lower zone consolidation.",
        "Small right pleural effusion.",
    )
    assert parsed.notes == ()


def test_unexpected_lines_are_kept_and_missing_sections_noted():
    parsed = parse_report_text("Findings:\nThe film is rotated.\nLungs: clear", CXR_HEADINGS)
    assert parsed.findings == (("Other", "The film is rotated."), ("Lungs", "clear"))
    assert "no Impression section in the model's text" in parsed.notes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("small left effusion [improved]", ("small left effusion", "improved")),
        ("new nodule [NEW]", ("new nodule", "new")),
        ("stable appearance", ("stable appearance", None)),
    ],
)
def test_interval_change_words(text, expected):
    assert parse_change(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It is there.\nFinal Answer: yes", True),
        ("Reasoning... Final Answer: **no**", False),
        ("Yes.", True),
        ("yes or no, hard to say", None),
        ("", None),
    ],
)
def test_yes_no_answers(text, expected):
    assert parse_yes_no(text) is expected


def test_from_raw_report_keeps_technique_from_metadata():
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(series, spec, "report")
    report = from_text(series, prepared, MEDGEMMA_REPORT.replace("PA view", "AP portable view"))
    # The model's technique text is ignored: technique comes from the metadata.
    assert report.technique == "Computed radiography of the chest, PA view, single image."
    assert [f.section for f in report.findings][:3] == ["Lines and tubes", "Lungs", "Pleura"]
    assert [f.text for f in report.impression] == [
        "Right lower zone consolidation.",
        "Small right pleural effusion.",
    ]
    assert report.title == "Draft report: frontal chest radiograph"
    assert report.to_json()["schema"] == "radlens.report/1"
    assert report.disclaimer.startswith("AI-generated draft")


def test_empty_output_is_unable_to_assess_not_a_finding():
    series = load_study(DEMO_CXR).default_series
    prepared = prepare(series, get_spec("medgemma-1.5-4b"), "report")
    report = from_text(series, prepared, "   ")
    (only,) = report.findings
    assert only.status is FindingStatus.UNABLE
    assert only.text.startswith("Unable to assess")
    assert report.impression == ()
    assert report.raw == "   "


@dataclass
class Scripted:
    """A backend that answers from a script keyed by the task template in the prompt."""

    answers: dict[str, list[str]]
    model_id: str = "scripted"
    prompts: list[str] = field(default_factory=list)

    def _answer(self, request: GenerationRequest) -> str:
        text = "\n".join(p.text for m in request.messages for p in m.parts if hasattr(p, "text"))
        self.prompts.append(text)
        for key, queue in self.answers.items():
            if key in text and queue:
                return queue.pop(0)
        raise AssertionError(f"no scripted answer for prompt:\n{text[-300:]}")

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Result:
        text = self._answer(request)
        return Result(text, self.model_id, 10, 5, 0.01, 0.01, "stop")

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> Generator[str, None, Result]:
        result = self.generate(request, cancel)
        yield result.text
        return result


def test_draft_report_localizes_abnormal_findings_only():
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("medgemma-1.5-4b")
    backend = Scripted(
        {
            "Write a radiology report": [MEDGEMMA_REPORT],
            # MedGemma 1.5's own query (cxr_anatomy_localization notebook, cell UterxS4WpY4X),
            # the finding as its object: no full stop, lower-case first letter.
            "Where is the patchy opacity in the right lower zone, suspicious for consolidation?": [
                'Final Answer: [{"box_2d": [600, 100, 800, 400], "label": "opacity"}]'
            ],
            "Where is the small right pleural effusion?": ["Final Answer: []"],
        }
    )
    report = draft_report(series, backend, spec)
    lungs = next(f for f in report.findings if f.section == "Lungs")
    (box,) = lungs.boxes
    # x0 = 100/1000*1955 - 57 = 138.5; y0 = 600/1000*1955 = 1173.0
    # x1 = 400/1000*1955 - 57 = 725.0; y1 = 800/1000*1955 = 1564.0
    assert (box.x0, box.y0, box.x1, box.y1) == (138.5, 1173.0, 725.0, 1564.0)
    heart = next(f for f in report.findings if f.section == "Heart and mediastinum")
    assert heart.boxes == ()
    grounding_calls = [p for p in backend.prompts if "Where is the " in p]
    assert len(grounding_calls) == 2  # lungs and pleura; "None." and "Unremarkable." are normal
    assert any("localization: 2 extra model call(s)" in c for c in report.checks)


def test_check_marks_contradicted_and_ungrounded_findings():
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(series, spec, "report")
    report = from_text(
        series, prepared, MEDGEMMA_REPORT.replace("- **Lines and tubes:** None.\n", "")
    )
    yes, no = "Final Answer: yes", "Final Answer: no"
    backend = Scripted(
        {
            # Lungs: consistent; Pleura: contradicts itself; two impression items consistent.
            "show Patchy opacity": [yes, yes],  # the probe, then the blank-image control
            "free of Patchy opacity": [no],
            "show Small right pleural effusion": [yes, yes],
            "free of Small right pleural effusion": [yes, no],
            "show Right lower zone consolidation": [yes],
            "free of Right lower zone consolidation": [no],
        }
    )
    checked = check(report, series, backend, spec)
    by_section = {f.section: f for f in checked.findings}
    assert by_section["Pleura"].status is FindingStatus.UNVERIFIED
    assert "probe answers: shows it? yes; free of it? yes" in by_section["Pleura"].flags
    # Lungs answered consistently but has no box: not verified either.
    assert by_section["Lungs"].status is FindingStatus.UNVERIFIED
    assert by_section["Lungs"].flags == ("not localized on the images",)
    assert checked.impression[0].status is FindingStatus.VERIFIED
    assert checked.impression[1].status is FindingStatus.VERIFIED
    # The control asked about a blank image and got "yes": the report says so.
    assert any("blank image" in c and "answered yes" in c for c in checked.checks)
    assert any("check: 9 extra model call(s)" in c for c in checked.checks)


def test_check_reports_progress_and_stops_when_cancelled():
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("medgemma-1.5-4b")
    report = from_text(series, prepare(series, spec, "report"), MEDGEMMA_REPORT)
    yes, no = "Final Answer: yes", "Final Answer: no"
    backend = Scripted(
        {
            "show Patchy opacity": [yes],
            "free of Patchy opacity": [no],
            "show Small right pleural effusion": [yes],
        }
    )
    cancel = CancelToken()
    progress: list[tuple[int, int]] = []

    def on_progress(done: int, total: int) -> None:
        progress.append((done, total))
        if done == 2:  # the user stops it once the first finding has been probed
            cancel.cancel()

    checked = check(report, series, backend, spec, cancel=cancel, on_progress=on_progress)
    # 4 abnormal findings: 8 probes + 1 control; the third call ran (cancelled backends finish
    # the call in progress) and nothing after it.
    assert progress == [(0, 9), (1, 9), (2, 9)]
    assert len(backend.prompts) == 3
    lungs = next(f for f in checked.findings if f.section == "Lungs")
    assert lungs.flags == ("not localized on the images",)  # probed: consistent, no box
    untouched = [f for f in checked.all_findings if f.section != "Lungs"]
    assert [f.status for f in untouched] == [f.status for f in report.all_findings[1:]]
    assert "check stopped: 1 of 4 abnormal finding(s) probed" in checked.checks[-2]
    assert checked.checks[-1].startswith("check: 3 extra model call(s)")


def test_compare_reads_interval_changes(tmp_path):
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("lingshu-7b")
    answer = (
        "Comparison:\nPrior radiograph.\n\n"
        "Findings:\nLungs: opacity in the right lower zone [improved]\n"
        "Pleura: Unremarkable, unchanged.\n\nImpression:\n1. Improving consolidation [improved]"
    )
    backend = Scripted({"Compare the current": [answer]})
    report = compare(series, series, backend, spec)
    assert report.kind == "compare"
    lungs = report.findings[0]
    assert (lungs.section, lungs.text, lungs.change) == (
        "Lungs",
        "opacity in the right lower zone",
        "improved",
    )
    assert report.impression[0].change == "improved"
    sent = backend.prompts[0]
    # Each image is labelled with the study it belongs to, the prior's first.
    assert sent.index("PRIOR") < sent.index("CURRENT") < sent.index("Compare the current")
    assert report.comparison.startswith("Computed radiography of the chest")


def test_tiny_model_drafts_and_checks_end_to_end(tiny_gemma3):
    series = load_study(DEMO_CXR).default_series
    spec = get_spec(str(tiny_gemma3))
    backend = TransformersBackend(load_model(tiny_gemma3, "fp32", device="cpu"), spec.id)
    settings = GenerationSettings(max_new_tokens=12)
    deltas: list[str] = []
    report = draft_report(series, backend, spec, settings=settings, on_delta=deltas.append)
    assert "".join(deltas) == report.raw
    assert report.prompt.startswith("report/cxr_frontal ")
    assert report.findings  # random text: either parsed lines or an explicit "unable to assess"
    assert all(f.status in (FindingStatus.REPORTED, FindingStatus.UNABLE) for f in report.findings)
    checked = check(report, series, backend, spec, settings=GenerationSettings(max_new_tokens=4))
    assert checked.checks[-1].startswith("check: ")


def test_tiny_model_compares_two_studies(tiny_qwen):
    current = load_study(DEMO_CXR).default_series
    spec = get_spec(str(tiny_qwen))
    backend = TransformersBackend(load_model(tiny_qwen, "fp32", device="cpu"), spec.id)
    report = compare(
        current, current, backend, spec, settings=GenerationSettings(max_new_tokens=8)
    )
    assert report.kind == "compare"
    assert report.prompt.startswith("compare/cxr_frontal ")
    assert report.findings  # parsed lines or an explicit "unable to assess", never empty


@pytest.fixture(scope="module", params=["gemma3", "qwen2_5_vl", "qwen3_vl"])
def tiny_family(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.models.tiny import tiny_checkpoint

    return request.param, tiny_checkpoint(request.param, tmp_path_factory)


@pytest.mark.parametrize("precision", ["nf4", "bf16"])
def test_every_family_reports_and_compares_end_to_end(tiny_family, precision):
    """Each family's tiny checkpoint through the production path (processor, chat template,
    quantization, generation, parsing) for both whole-study tasks, in the two precisions a
    user runs: a report streamed as it is drafted, and a comparison with a prior."""
    family, folder = tiny_family
    series = load_study(DEMO_CXR).default_series
    spec = get_spec(str(folder))
    assert spec.family.value == family
    backend = TransformersBackend(load_model(folder, precision, device="cpu"), spec.id)
    settings = GenerationSettings(max_new_tokens=8)
    deltas: list[str] = []
    report = draft_report(series, backend, spec, settings=settings, on_delta=deltas.append)
    assert "".join(deltas) == report.raw
    assert (report.kind, report.model_id) == (TaskName.REPORT, spec.id)
    assert report.prompt.startswith("report/cxr_frontal ")
    assert report.findings  # random text: parsed lines or an explicit "unable to assess"
    compared = compare(series, series, backend, spec, settings=settings)
    assert compared.kind is TaskName.COMPARE
    assert compared.prompt.split(" ")[0].startswith("compare")
    assert compared.findings
    assert compared.comparison.startswith("Computed radiography of the chest")


# --------------------------------------------------------------------------- task names


def test_every_prompted_task_name_has_templates_and_no_template_has_another_name():
    catalogue = load_catalogue()
    assert set(catalogue.tasks) == {task.value for task in TaskName if task.prompted}
    assert [task for task in TaskName if not task.prompted] == [TaskName.CHECK, TaskName.EXPORT]


def test_task_names_keep_their_plain_strings():
    assert [task.value for task in TaskName] == [
        "report",
        "ask",
        "compare",
        "check_probe",
        "check_control",
        "grounding",
        "check",
        "export",
    ]
    assert task_name("compare") is TaskName.COMPARE
    assert f"{TaskName.CHECK_PROBE}" == "check_probe"
    with pytest.raises(InvalidArgumentError, match=r"Unknown task 'summary'; use one of report"):
        task_name("summary")


@pytest.mark.parametrize(
    ("task", "kwargs", "message"),
    [
        ("check", {}, "Task 'check' sends no prompt of its own"),
        ("export", {}, "Task 'export' sends no prompt of its own"),
        ("summary", {}, "Unknown task 'summary'"),
        ("ask", {"question": "  "}, "A question is needed"),
        ("compare", {}, "A prior series is needed for, and only for, task 'compare'"),
        ("report", {"prior": "same"}, "A prior series is needed for, and only for"),
        ("report", {"region": Box("", 0, 1, 1, 5, 5)}, "A region can only be given"),
    ],
    ids=[
        "check",
        "export",
        "unknown",
        "empty-question",
        "compare-alone",
        "report-prior",
        "region",
    ],
)
def test_prepare_refuses_what_a_task_cannot_take(task, kwargs, message):
    series = load_study(DEMO_CXR).default_series
    if kwargs.get("prior") == "same":
        kwargs = {**kwargs, "prior": series}
    with pytest.raises(InvalidArgumentError, match=message):
        prepare(series, get_spec("lingshu-7b"), task, **kwargs)


def test_compare_is_prepared_like_every_task_prior_images_first():
    current = load_study(DEMO_CXR).default_series
    prior = load_study(DEMO_BRAIN).default_series
    spec = get_spec("lingshu-7b")
    prepared = prepare(
        current,
        spec,
        "compare",
        prior=prior,
        indication="cough",
        fields={"prior_summary": "Clear lungs."},
    )
    now = prepare(current, spec, "report").inputs
    before = prepare(prior, spec, "report").inputs
    assert prepared.task is TaskName.COMPARE
    assert prepared.prompt.template_id == "compare/cxr_frontal"
    assert prepared.inputs.labels == now.labels  # read back against the current images only
    assert prepared.mappings == now.mappings
    assert prepared.prior_technique == describe_technique(prior, images_sent=len(before.images))
    assert prepared.prior_technique in prepared.prompt.user
    assert "Clear lungs." in prepared.prompt.user
    (system, user) = prepared.messages
    assert system.role == "system"
    images = [part for part in user.parts if isinstance(part, ImagePart)]
    assert [image.index for image in images] == list(range(len(before.images) + 1))
    assert all(
        (a.pixels == b).all() for a, b in zip(images, before.images + now.images, strict=True)
    )
    words = [part.text for part in user.parts if isinstance(part, TextPart)]
    sent = "\n".join(words)
    assert sent.index("PRIOR") < sent.index("CURRENT") < sent.index(prepared.prompt.user)


def test_a_report_knows_its_kind_by_task_name():
    series = load_study(DEMO_CXR).default_series
    spec = get_spec("lingshu-7b")
    report = from_text(series, prepare(series, spec, "report"), MEDGEMMA_REPORT)
    assert report.kind is TaskName.REPORT
    assert report.to_json()["kind"] == "report"
    compared = from_text(
        series, prepare(series, spec, "compare", prior=series), "Findings:\nLungs: clear [new]"
    )
    assert (compared.kind, compared.findings[0].change) == (TaskName.COMPARE, "new")
    assert compared.title.startswith("Draft comparison report: ")
    assert replace(report, kind="compare").kind is TaskName.COMPARE  # a string is converted
    with pytest.raises(InvalidArgumentError, match="kind is 'report' or 'compare', not 'ask'"):
        replace(report, kind="ask")


@pytest.mark.parametrize(
    ("finding", "target"),
    [
        (
            "Patchy opacity in the right lower zone, suspicious for consolidation.",
            "patchy opacity in the right lower zone, suspicious for consolidation",
        ),
        ("A 12 mm nodule in the right upper lobe.", "12 mm nodule in the right upper lobe"),
        ("There is a small left pleural effusion.", "small left pleural effusion"),
        ("ETT tip 4 cm above the carina.", "ETT tip 4 cm above the carina"),
    ],
)
def test_a_finding_becomes_the_object_of_the_localization_query(finding: str, target: str):
    """MedGemma 1.5's localization notebook asks "Where is the {object}?" with a noun phrase
    (cxr_anatomy_localization_with_hugging_face.ipynb, cell UterxS4WpY4X): no article, no
    closing full stop, lower case unless an abbreviation."""
    assert grounding_target(finding) == target


def test_ask_gives_no_box_instructions_where_the_model_does_not_localize(tmp_path):
    """MedGemma 1.5 localizes chest-radiograph anatomy only (its card): a question about a CT
    is not told how to write boxes; on the chest X-ray it is."""
    spec = get_spec("medgemma-1.5-4b")
    write_ct_series(tmp_path / "ct", slices=4, rows=32, columns=32)
    ct = load_study(tmp_path / "ct").default_series
    cxr = load_study(DEMO_CXR).default_series

    def user_text(series):
        prepared = prepare(series, spec, "ask", question="Where is the nodule?")
        return "\n".join(p.text for m in prepared.messages for p in m.parts if hasattr(p, "text"))

    assert NO_BOXES_INSTRUCTION in user_text(ct)
    assert "box_2d" not in user_text(ct)
    shown = user_text(cxr)
    assert NO_BOXES_INSTRUCTION not in shown
    assert "box_2d" in shown


def test_free_text_descriptions_reach_neither_the_model_nor_an_export(tmp_path):
    """Issue 13 item 6. Series and Study Description are free text (here a patient's name, as
    real exports hold); PS3.15's Basic Profile removes both (Table E.1-1, (0008,103E) and
    (0008,1030): X). The Technique line is built from coded attributes only, so neither the
    prompt, nor the report, nor any export (the de-identified SR included) carries them."""
    from models.report.exports import export_report

    secret = "DOE JANE FOLLOW-UP"
    write_ct_series(tmp_path / "ct", slices=6, rows=32, columns=32, series_description=secret)
    series = load_study(tmp_path / "ct").default_series
    assert series.series_description == secret  # still shown in the local series list
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(series, spec, "report")
    sent = " ".join(
        part.text for m in prepared.messages for part in m.parts if isinstance(part, TextPart)
    )
    assert "DOE" not in sent
    assert prepared.technique.startswith("CT of the chest, axial, 6 slices at 1.25 mm")
    report = from_text(series, prepared, "Findings:\nLungs: Clear.\n\nImpression:\n1. Normal.")
    assert "DOE" not in report.technique
    for suffix in (".md", ".json", ".fhir.json", ".dcm", ".pdf"):
        written = export_report(report, tmp_path / f"report{suffix}", series=series)
        assert b"DOE" not in written.read_bytes(), suffix
