"""Each model offers boxes only where its card says it localizes (issue 16 item 6).

Sources the expectations come from:
- MedGemma 1.5 (https://huggingface.co/google/medgemma-1.5-4b-it, Model information >
  Description): CT/MRI volumes, longitudinal chest X-rays, anatomical localization in chest
  X-rays; its localization notebook (Google-Health/medgemma
  notebooks/cxr_anatomy_localization_with_hugging_face.ipynb) trains and evaluates on Chest
  ImaGenome and feeds a PNG radiograph.
- MedGemma 1 (https://huggingface.co/google/medgemma-4b-it, Description): 2D images, no boxes.
- Lingshu (https://huggingface.co/lingshu-medical-mllm/Lingshu-7B, Highlights; MedEvalKit
  eval.sh at 9b12e3b): VQA and report generation, no grounding benchmark.
- Qwen2.5-VL (https://huggingface.co/Qwen/Qwen2.5-VL-7B-Instruct, Key Enhancements): boxes for
  general objects, not trained on medical slices.
"""

from __future__ import annotations

import html
import json
from collections.abc import Generator
from dataclasses import dataclass, field

import pytest

from dicom_io.loader import load_study
from dicom_io.study import Series
from models.backends.base import CancelToken, GenerationRequest, Result
from models.registry.capabilities import Capabilities, Capability, family_capabilities
from models.registry.known_models import KNOWN_SPECS
from models.registry.lookup import get_spec
from models.report.exports.dicom_sr import sr_content
from models.report.exports.fhir import to_fhir_json
from models.report.exports.markdown import to_markdown
from models.tasks.ask import ask
from models.tasks.compare import compare
from models.tasks.report import draft_report
from tests.files import REPO
from tests.synthetic import write_ct_series

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"
CT_REPORT = """Findings:
Lungs: A 2 cm spiculated nodule in the right upper lobe.
Pleura: Small right pleural effusion.
Heart: Unremarkable.

Impression:
1. Right upper lobe nodule.
"""


@dataclass
class Sequenced:
    """A backend answering each call with the next scripted text (the report first)."""

    answers: list[str]
    model_id: str = "sequenced"
    prompts: list[str] = field(default_factory=list)

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None) -> Result:
        text = "\n".join(p.text for m in request.messages for p in m.parts if hasattr(p, "text"))
        self.prompts.append(text)
        if not self.answers:
            raise AssertionError(f"call {len(self.prompts)} was not expected:\n{text[-300:]}")
        return Result(self.answers.pop(0), self.model_id, 10, 5, 0.01, 0.01, "stop")

    def stream(
        self, request: GenerationRequest, cancel: CancelToken | None = None
    ) -> Generator[str, None, Result]:
        result = self.generate(request, cancel)
        yield result.text
        return result


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> Series:
    folder = tmp_path_factory.mktemp("ct")
    write_ct_series(folder, slices=12, rows=64, columns=64)
    return load_study(folder).default_series


@pytest.mark.parametrize(
    ("model", "modality", "body_part", "stack", "expected"),
    [
        ("medgemma-1.5-4b", "CR", "CHEST", False, ""),
        ("medgemma-1.5-4b", "OT", "", False, ""),  # the notebook's own input is a PNG
        (
            "medgemma-1.5-4b",
            "DX",
            "KNEE",
            False,
            "localization not offered by MedGemma 1.5 4B-it for DX KNEE: it localizes "
            "chest-radiograph anatomy (trained and evaluated on Chest ImaGenome) only",
        ),
        (
            "medgemma-1.5-4b",
            "CT",
            "CHEST",
            True,
            "localization not offered by MedGemma 1.5 4B-it for CT CHEST slices: it localizes "
            "chest-radiograph anatomy (trained and evaluated on Chest ImaGenome) only",
        ),
        (
            "medgemma-4b",
            "CR",
            "CHEST",
            False,
            "localization not offered by MedGemma 4B-it for CR CHEST: MedGemma 1 is not trained "
            "for box localization (MedGemma 1.5 is, on chest radiographs)",
        ),
        (
            "lingshu-7b",
            "CR",
            "",
            False,
            "localization not offered by Lingshu-7B for CR: neither Lingshu's card nor its "
            "evaluation (MedEvalKit) covers grounding",
        ),
        ("qwen2.5-vl-7b", "DX", "", False, ""),
        (
            "qwen2.5-vl-7b",
            "CT",
            "",
            True,
            "localization not offered by Qwen2.5-VL-7B-Instruct for CT slices: it localizes "
            "general objects in 2D images (not medical-trained) only",
        ),
    ],
    ids=lambda v: str(v) if isinstance(v, str) and len(v) < 20 else "",
)
def test_each_entry_localizes_only_what_its_card_says(model, modality, body_part, stack, expected):
    can = get_spec(model).can
    assert can.localization_note(get_spec(model).name, modality, body_part, stack=stack) == (
        expected
    )
    assert can.localizes(modality, body_part, stack=stack) is (expected == "")


def test_volumes_and_longitudinal_are_medgemma_1_5_only():
    by_id = {spec.id: spec.can for spec in KNOWN_SPECS}
    assert [i for i, c in by_id.items() if c.volumes] == ["medgemma-1.5-4b"]
    assert [i for i, c in by_id.items() if c.compares("CR")] == ["medgemma-1.5-4b"]
    assert not by_id["medgemma-1.5-4b"].compares("CT")  # longitudinal chest X-rays only


def test_every_declared_localization_cites_a_card_section():
    for spec in KNOWN_SPECS:
        source = spec.can.source(Capability.LOCALIZATION)
        assert source.startswith("https://"), spec.id
        assert ", " in source, spec.id  # URL, then the section or file


def test_unknown_remote_and_local_gemma3_offer_no_boxes_but_a_served_medgemma_does():
    unknown = get_spec("remote", environ={})
    assert unknown.can.localization == frozenset()
    assert "RADLENS_REMOTE_FAMILY" in unknown.can.no_localization
    assert family_capabilities("gemma3").localization == frozenset()
    served = get_spec(
        "remote",
        environ={
            "RADLENS_REMOTE_FAMILY": "gemma3",
            "RADLENS_REMOTE_MODEL": "google/medgemma-1.5-4b-it",
        },
    )
    assert served.can is get_spec("medgemma-1.5-4b").can
    assert served.can.localizes("CR", "CHEST")
    # A name of another family is not taken as the served model.
    mismatched = get_spec(
        "remote",
        environ={"RADLENS_REMOTE_FAMILY": "qwen2_5_vl", "RADLENS_REMOTE_MODEL": "medgemma-4b"},
    )
    assert mismatched.can == family_capabilities("qwen2_5_vl")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"localization": frozenset({"C T"})}, ValueError, "not a DICOM modality code"),
        ({"localization": "CT"}, TypeError, "modality codes, not the string"),
        ({"localization": frozenset({"CR"})}, ValueError, "localization_scope must say"),
        (
            {"sources": ((Capability.VQA, "the card"),)},
            ValueError,
            r"sources\[vqa\] must start with its https URL",
        ),
        ({"sources": (("boxes", "https://x"),)}, ValueError, "'boxes' is not a valid"),
    ],
    ids=["bad-code", "string", "no-scope", "no-url", "unknown-capability"],
)
def test_bad_capabilities_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        Capabilities(**kwargs)


@pytest.mark.parametrize("model", ["medgemma-4b", "qwen2.5-vl-7b", "lingshu-7b"])
def test_ct_report_from_a_model_that_cannot_localize_ct_has_no_boxes_and_says_why(ct, model):
    spec = get_spec(model)
    backend = Sequenced([CT_REPORT])  # a grounding call would find no answer and fail
    report = draft_report(ct, backend, spec)
    assert len(backend.prompts) == 1
    assert [f.text for f in report.findings if not f.is_normal] == [
        "A 2 cm spiculated nodule in the right upper lobe.",
        "Small right pleural effusion.",
    ]
    assert report.boxes == ()
    note = spec.can.localization_note(spec.name, "CT", ct.body_part, stack=True)
    assert note.startswith(f"localization not offered by {spec.name} for CT")
    assert note in report.notes
    assert f"3D volumes are not documented for {spec.name}" in " ".join(report.notes)
    # Every export says so where the boxes would be looked for.
    assert f"**Boxes:** {note}" in to_markdown(report)
    narrative = json.loads(to_fhir_json(report))["text"]["div"]
    assert f"<b>Boxes:</b> {html.escape(note)}" in narrative
    nodule = sr_content(report).findings[0]
    assert nodule.notes == (note,)


def test_cxr_report_from_medgemma_1_5_still_asks_for_boxes():
    series = load_study(DEMO_CXR).default_series
    backend = Sequenced(
        [
            CT_REPORT,
            'Final Answer: ```json\n[{"box_2d": [100, 500, 300, 800], "label": "nodule"}]\n```',
            "Final Answer: []",
        ]
    )
    report = draft_report(series, backend, get_spec("medgemma-1.5-4b"))
    assert len(backend.prompts) == 3  # the report, then one grounding call per abnormal finding
    (box,) = report.boxes
    # y 100/1000*1955 = 195.5, x 500/1000*1955 - 57 = 920.5 (57 = (1955 - 1841) // 2 padding)
    assert (box.x0, box.y0) == (920.5, 195.5)
    assert not [n for n in report.notes if n.startswith("localization not offered")]


def test_ask_drops_boxes_a_model_wrote_for_a_modality_it_does_not_localize(ct):
    spec = get_spec("medgemma-4b")
    backend = Sequenced(
        [
            'There is a nodule. ```json\n[{"box_2d": [400, 400, 600, 600], '
            '"label": "nodule", "slice": 3}]\n```'
        ]
    )
    answer = ask(ct, "Is there a nodule?", backend, spec)
    assert answer.boxes == ()
    note = spec.can.localization_note(spec.name, "CT", ct.body_part, stack=True)
    assert answer.dropped[-1] == f"box 'nodule': {note}"
    assert answer.text.startswith("There is a nodule.")


def test_ask_keeps_boxes_where_the_model_localizes():
    series = load_study(DEMO_CXR).default_series
    backend = Sequenced(['Final Answer: [{"box_2d": [600, 100, 800, 400], "label": "opacity"}]'])
    answer = ask(series, "Where is the opacity?", backend, get_spec("medgemma-1.5-4b"))
    (box,) = answer.boxes
    assert (box.x0, box.y0, box.x1, box.y1) == (138.5, 1173.0, 725.0, 1564.0)


@pytest.mark.parametrize(
    ("model", "warned"),
    [("medgemma-1.5-4b", False), ("lingshu-7b", True)],
)
def test_compare_warns_where_the_card_documents_no_comparison(model, warned):
    series = load_study(DEMO_CXR).default_series
    spec = get_spec(model)
    answer = "Findings:\nLungs: opacity in the right lower zone [improved]\n"
    report = compare(series, series, Sequenced([answer]), spec)
    warning = (
        f"longitudinal comparison not documented for {spec.name} on CR (its card documents "
        "no longitudinal comparison): read the interval changes with extra care"
    )
    assert (warning in report.notes) is warned
    assert not [n for n in report.notes if n.startswith("longitudinal")] or warned
