"""Template selection and rendering, on the packaged data and on broken copies of it."""

from __future__ import annotations

import ast
import doctest
import itertools
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import prompts
from dicom_io.errors import RadLensError
from prompts import (
    PROMPTS_VERSION,
    PromptError,
    PromptFieldError,
    RenderedPrompt,
    Template,
    TemplateDataError,
    load_catalogue,
    render,
    select_template,
)

PACKAGE = Path(prompts.__file__).parent
DATA = PACKAGE / "templates"
PLACEHOLDER = re.compile(r"\{[a-z_][a-z0-9_]*\}")
TASKS = load_catalogue().tasks  # checked against models.tasks.names.TaskName in tests/models

MODALITIES = ["CR", "DX", "CT", "MR", "US", "PT", "MG", "XA", "OT", "", "ct", "Mr"]
BODY_PARTS = [
    "CHEST", "THORAX", "LUNG", "HEAD", "BRAIN", "SKULL", "ABDOMEN", "PELVIS", "ABDOMENPELVIS",
    "Abd-Pelvis", "ABD", "SPINE", "CSPINE", "TSPINE", "L-Spine", "KNEE", "SHOULDER", "HIP",
    "ANKLE", "WRIST", "ELBOW", "JOINT", "BREAST", "NECK", "EXTREMITY", "", "UNKNOWN", "chest pa",
]  # fmt: skip
VIEWS = ["PA", "AP", "LATERAL", "LL", "RL", "Lateral", "", "OBLIQUE"]
BOX_FORMATS = ["gemma_box_2d", "qwen_abs", "qwen_norm_1000", "medrega", "maira2"]


def fill(template: Template) -> dict[str, str]:
    """A value for every field of the template (optional ones too)."""
    values = {name: f"<{name} value>" for name in template.fields}
    for name, spec in template.fields.items():
        if spec.choices:
            values[name] = next(iter(spec.choices))
    return values


def lines(text: str) -> list[str]:
    return text.split("\n")


# --------------------------------------------------------------------------- selection

SELECTION = [
    # modality, body part, view -> exam
    ("CR", "CHEST", "PA", "cxr_frontal"),
    ("DX", "CHEST", "AP", "cxr_frontal"),
    ("CR", "CHEST", "", "cxr_frontal"),
    ("DX", "Chest", "LATERAL", "cxr_lateral"),
    ("CR", "CHEST", "LL", "cxr_lateral"),
    ("DX", "THORAX", "RL", "cxr_lateral"),
    ("CR", "KNEE", "AP", "radiograph_other"),
    ("DX", "", "LATERAL", "radiograph_other"),
    ("CT", "HEAD", "", "ct_head"),
    ("ct", "Brain", "", "ct_head"),
    ("CT", "CHEST", "", "ct_chest"),
    ("CT", "THORAX", "PA", "ct_chest"),
    ("CT", "LUNG", "LATERAL", "ct_chest"),
    ("CT", "ABDOMEN", "", "ct_abdomen_pelvis"),
    ("CT", "PELVIS", "", "ct_abdomen_pelvis"),
    ("CT", "ABDOMENPELVIS", "", "ct_abdomen_pelvis"),
    ("CT", "abd_pelvis", "", "ct_abdomen_pelvis"),
    ("CT", "KNEE", "", "ct_other"),
    ("CT", "", "", "ct_other"),
    ("CT", "UNKNOWN", "PA", "ct_other"),
    ("MR", "HEAD", "", "mr_brain"),
    ("MR", "BRAIN", "", "mr_brain"),
    ("MR", "SPINE", "", "mr_spine"),
    ("MR", "CSPINE", "", "mr_spine"),
    ("MR", "TSPINE", "", "mr_spine"),
    ("MR", "L-SPINE", "", "mr_spine"),
    ("MR", "KNEE", "", "mr_joint"),
    ("MR", "SHOULDER", "", "mr_joint"),
    ("MR", "hip", "", "mr_joint"),
    ("MR", "ANKLE", "", "mr_joint"),
    ("MR", "WRIST", "", "mr_joint"),
    ("MR", "ELBOW", "", "mr_joint"),
    ("MR", "JOINT", "", "mr_joint"),
    ("MR", "ABDOMEN", "", "mr_other"),
    ("MR", "", "", "mr_other"),
    ("US", "ABDOMEN", "", "ultrasound"),
    ("US", "", "", "ultrasound"),
    ("PT", "CHEST", "", "other"),
    ("MG", "BREAST", "", "other"),
    ("", "", "", "other"),
]


@pytest.mark.parametrize(
    ("modality", "body_part", "view", "exam"),
    SELECTION,
    ids=[f"{m or '-'}-{b or '-'}-{v or '-'}" for m, b, v, _ in SELECTION],
)
def test_exam_is_chosen_by_modality_body_part_and_view(
    modality: str, body_part: str, view: str, exam: str
) -> None:
    for task in TASKS:
        template = select_template(task, modality, body_part, view, box_format="gemma_box_2d")
        assert template.exam == exam
        assert template.id == f"{task}/{exam}"


CT_CASES = list(itertools.product(BODY_PARTS, VIEWS))


@pytest.mark.parametrize("task", list(TASKS), ids=str)
def test_ct_never_gets_a_radiograph_template(task: str) -> None:
    for body_part, view in CT_CASES:
        template = select_template(task, "CT", body_part, view, box_format="gemma_box_2d")
        assert template.exam.startswith("ct_"), (body_part, view, template.id)
        assert template.applies_to.modalities == ("CT",)
        prompt = render(template, **fill(template))
        assert "radiograph" not in (prompt.system + prompt.user).lower(), template.id


@pytest.mark.parametrize(
    ("task", "box_format"), list(itertools.product(TASKS, BOX_FORMATS)), ids=lambda v: str(v)
)
def test_every_combination_renders_with_all_fields(task: str, box_format: str) -> None:
    catalogue = load_catalogue()
    templates: dict[str, Template] = {}
    for modality, body_part, view in itertools.product(MODALITIES, BODY_PARTS, VIEWS):
        template = select_template(task, modality, body_part, view, box_format=box_format)
        assert template.exam == catalogue.exam_for(modality, body_part, view).id
        assert templates.setdefault(template.id, template) == template
    assert {t.exam for t in templates.values()} == {exam.id for exam in catalogue.exams}
    for template in templates.values():  # a template renders the same for every series
        choices = [(n, c) for n, f in template.fields.items() for c in f.choices] or [("", "")]
        for name, choice in choices:
            values = fill(template) | ({name: choice} if name else {})
            prompt = render(template, **values)
            assert not PLACEHOLDER.search(prompt.system + prompt.user), template.id
            for field, spec in template.fields.items():
                assert spec.choices or f"<{field} value>" in prompt.user, (template.id, field)
            assert (prompt.template_id, prompt.version) == (template.id, template.version)


def test_unknown_task_or_box_format_is_refused() -> None:
    with pytest.raises(PromptError, match=r"Unknown task 'summary'; use one of ask, check_"):
        select_template("summary", "CT", box_format="gemma_box_2d")
    with pytest.raises(PromptError, match=r"Unknown box format 'paligemma_loc'.*gemma_box_2d"):
        select_template("grounding", "CR", "CHEST", box_format="paligemma_loc")
    # MAIRA-2's markup has a format of its own (a remote server declared with
    # RADLENS_REMOTE_GROUNDING=maira2 gets prompts that describe it).
    maira2 = select_template("grounding", "CR", "CHEST", box_format="maira2")
    assert "<obj>" in render(maira2, target="left pleural effusion").user
    with pytest.raises(TypeError, match="box_format"):  # prompts knows no family's default
        select_template("report", "CT", family="gemma3")
    assert issubclass(PromptError, ValueError)


# --------------------------------------------------------------------------- report structure

CHEST_RADIOGRAPH = (
    "Lines and tubes",
    "Lungs",
    "Pleura",
    "Heart and mediastinum",
    "Bones and soft tissues",
)
ANATOMY = [
    ("CT", "HEAD", "", "ct_head", (
        "Brain parenchyma", "Ventricles and cisterns", "Extra-axial spaces", "Skull and scalp",
        "Paranasal sinuses, mastoids and orbits",
    )),
    ("CR", "CHEST", "PA", "cxr_frontal", CHEST_RADIOGRAPH),
    ("DX", "CHEST", "LATERAL", "cxr_lateral", CHEST_RADIOGRAPH),
    ("MR", "BRAIN", "", "mr_brain", (
        "Brain parenchyma", "White matter", "Ventricles and cisterns", "Extra-axial spaces",
        "Vascular flow voids", "Pituitary and midline structures", "Skull, sinuses and orbits",
    )),
]  # fmt: skip


@pytest.mark.parametrize(
    ("modality", "body_part", "view", "exam", "anatomy"), ANATOMY, ids=[a[3] for a in ANATOMY]
)
def test_report_outline_has_the_exams_anatomy_under_findings(
    modality: str, body_part: str, view: str, exam: str, anatomy: tuple[str, ...]
) -> None:
    template = select_template("report", modality, body_part, view, box_format="gemma_box_2d")
    assert template.exam == exam
    assert template.sections == ("Technique", "Findings", "Impression")
    assert template.findings_sections == anatomy
    assert template.required_fields == ("technique",)
    text = lines(render(template, technique="from metadata").user)
    technique, findings, impression = (text.index(f"{s}:") for s in template.sections)
    assert technique < findings < impression
    headings = [line.split(":")[0] for line in text[findings + 1 : impression] if line]
    assert headings == list(anatomy)


def test_technique_is_the_given_metadata_and_the_model_is_told_to_copy_it() -> None:
    technique = "CT head without contrast, 32 axial slices, 5 mm."
    user = render(
        select_template("report", "CT", "HEAD", box_format="gemma_box_2d"), technique=technique
    ).user
    assert f"Technique, from the study's metadata: {technique}" in lines(user)
    assert "copy the technique given above and add nothing to it" in user


def test_compare_asks_for_interval_change_per_finding() -> None:
    template = select_template("compare", "CR", "CHEST", "PA", box_format="qwen_abs")
    assert template.sections == ("Technique", "Comparison", "Findings", "Impression")
    assert template.findings_sections == CHEST_RADIOGRAPH
    assert template.vocabulary == ("new", "worse", "improved", "unchanged", "resolved")
    prompt = render(
        template,
        technique="CR chest PA, 2026-03-02",
        prior_technique="CR chest PA, 2026-01-10",
        prior_summary="Small left pleural effusion.",
    )
    user = lines(prompt.user)
    assert "Prior study, from its metadata: CR chest PA, 2026-01-10" in user
    assert "Report of the prior study, for reference: Small left pleural effusion." in user
    assert user[0] == (
        "The images of the prior study come first, then the images of the current study."
    )
    for word in template.vocabulary:
        assert f"[{word}]" in prompt.user
    comparison = user.index("Comparison:")
    assert user[comparison + 1] == "<the prior study's technique given above>"


# --------------------------------------------------------------------------- field errors


def test_missing_field_names_the_field_and_the_template() -> None:
    template = select_template("report", "CT", "HEAD", box_format="gemma_box_2d")
    with pytest.raises(
        PromptFieldError, match=r"Template 'report/ct_head' needs field 'technique'"
    ):
        render(template)
    with pytest.raises(ValueError, match="'question'"):
        render(
            select_template("ask", "MR", "KNEE", box_format="gemma_box_2d"), technique="MR knee"
        )


def test_unknown_field_is_refused() -> None:
    template = select_template("report", "CR", "CHEST", "PA", box_format="gemma_box_2d")
    with pytest.raises(
        PromptFieldError,
        match=r"Template 'report/cxr_frontal' has no field 'question'; its fields are "
        r"indication, language, technique\.",
    ):
        render(template, technique="CR chest PA", question="Is there a pneumothorax?")
    with pytest.raises(PromptFieldError, match="no field 'exam_name'"):  # filled from the data
        render(template, technique="CR chest PA", exam_name="CT")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"technique": "  "}, r"field 'technique' must not be empty"),
        ({"technique": "CT", "language": ""}, r"field 'language' must not be empty"),
        ({"technique": 3}, r"field 'technique' must be a str, not int"),
    ],
    ids=["blank-required", "blank-language", "not-a-string"],
)
def test_bad_values_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(PromptFieldError, match=message):
        render(select_template("report", "CT", "CHEST", box_format="gemma_box_2d"), **fields)


def test_optional_sentences_appear_only_when_given() -> None:
    template = select_template("ask", "CR", "CHEST", "PA", box_format="gemma_box_2d")
    bare = render(template, technique="CR chest PA", question="Is the heart enlarged?")
    assert "indication" not in bare.user
    assert "drawn a region" not in bare.user
    assert "\n\n" not in bare.user  # the lines of empty optional fields are left out
    region = '{"box_2d": [120, 340, 410, 620], "label": "region"}'
    full = render(
        template,
        technique="CR chest PA",
        question="What is this?",
        indication="Cough for three weeks.",
        region=region,
    )
    user = lines(full.user)
    assert (
        "Clinical indication supplied by the requesting clinician: Cough for three weeks." in user
    )
    assert (
        "The user has drawn a region on the image, written in your own box format: "
        f"{region}. The question is about that region."
    ) in user
    assert len(user) == len(lines(bare.user)) + 2


def test_values_are_inserted_once_and_never_expanded() -> None:
    template = select_template("ask", "CT", "CHEST", box_format="gemma_box_2d")
    question = 'Is {finding} here? Answer as {"a": 1} {technique}'
    prompt = render(template, technique="CT chest", question=question)
    assert f"Question: {question}" in lines(prompt.user)


# --------------------------------------------------------------------------- language, versions


def test_language_defaults_to_english_and_can_be_set() -> None:
    template = select_template("report", "MR", "BRAIN", box_format="gemma_box_2d")
    english = render(template, technique="MR brain").user
    assert "write the text after it in English." in english
    german = render(template, technique="MR brain", language="German").user
    assert "write the text after it in German." in german
    assert "keep each heading, in English," in german  # headings stay parseable
    for task in TASKS:
        template = select_template(task, "CT", "HEAD", box_format="gemma_box_2d")
        values = {**fill(template), "language": "French"}
        assert "French" in render(template, **values).user, task


def test_versions_travel_with_every_prompt() -> None:
    catalogue = load_catalogue()
    assert catalogue.version == PROMPTS_VERSION == "2026.12.2"
    template = select_template("grounding", "CT", "CHEST", box_format="qwen_abs")
    prompt = render(template, target="trachea")
    assert prompt == RenderedPrompt(
        prompt.system, prompt.user, "grounding/ct_chest", "2026.12.1", "2026.12.2"
    )
    assert prompt.provenance == "grounding/ct_chest 2026.12.1 (prompts 2026.12.2)"
    for task in TASKS:
        prompt = render(
            t := select_template(task, "DX", "CHEST", box_format="gemma_box_2d"), **fill(t)
        )
        assert re.fullmatch(r"\d{4}\.\d{1,2}\.\d+", prompt.version)
        assert prompt.catalogue_version == PROMPTS_VERSION


def test_every_version_in_the_data_is_at_most_the_catalogues() -> None:
    catalogue = load_catalogue()
    key = [int(p) for p in catalogue.version.split(".")]
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("*.json"))]
    entries = [e for d in docs for e in d.get("exams", []) + d.get("templates", [])]
    entries += [b for d in docs for b in d.get("box_formats", {}).values()]
    assert len(entries) == 13 + 8 + 5
    assert all([int(p) for p in e["version"].split(".")] <= key for e in entries)


# --------------------------------------------------------------------------- boxes


def test_grounding_uses_the_box_format_it_is_given() -> None:
    gemma = select_template("grounding", "CR", "CHEST", "PA", box_format="gemma_box_2d")
    qwen = select_template("grounding", "CR", "CHEST", "PA", box_format="qwen_abs")
    assert (gemma.box_format, gemma.box_key) == ("gemma_box_2d", "box_2d")
    assert (qwen.box_format, qwen.box_key) == ("qwen_abs", "bbox_2d")
    g = render(gemma, target="heart").user
    q = render(qwen, target="heart").user
    # The JSON examples keep their braces through rendering.
    assert '{"box_2d": [y0, x0, y1, x1], "label": "<what it is>"}' in g
    assert '"Final Answer:"' in g
    assert "integers from 0 to 1000" in g
    assert '"bbox_2d"' not in g
    assert '{"bbox_2d": [x1, y1, x2, y2], "label": "<what it is>"}' in q
    assert "pixel positions in the image as you see it, x before y" in q
    assert '"box_2d"' not in q
    assert lines(q)[1].startswith("Locate the heart on this frontal chest radiograph. ")


def test_multi_slice_boxes_carry_the_slice_number() -> None:
    template = select_template("grounding", "CT", "CHEST", box_format="gemma_box_2d")
    user = render(template, target="largest lung nodule").user
    assert 'each followed by its label "SLICE k" (k = 1, 2, ... in the order sent)' in user
    assert '{"box_2d": [410, 220, 560, 380], "label": "nodule", "slice": 42}' in user


def test_ask_gives_boxes_for_show_me_questions_in_the_native_format() -> None:
    for box_format, key in [
        ("gemma_box_2d", '"box_2d"'),
        ("qwen_abs", '"bbox_2d"'),
        ("qwen_norm_1000", '"bbox_2d"'),
    ]:
        template = select_template("ask", "CR", "CHEST", "PA", box_format=box_format)
        user = render(template, technique="CR chest PA", question="Show me the effusion.").user
        assert "If the question asks you to show, point to, mark or locate something" in user
        assert key in user, box_format


def test_box_format_can_be_chosen_or_its_instructions_given() -> None:
    norm = select_template("grounding", "CR", "CHEST", box_format="qwen_norm_1000")
    text = render(norm, target="the heart").user
    assert '"bbox_2d"' in text
    assert "integers from 0 to 1000" in text
    medrega = select_template("grounding", "CT", "HEAD", box_format="medrega")
    text = render(medrega, target="the lateral ventricles").user
    assert "<ref>what it is</ref><box>[[x1, y1, x2, y2]]</box>" in text
    assert "integers from 0 to 999" in text
    own = render(norm, target="the heart", box_format_instructions="Reply with <box>.").user
    assert lines(own)[2] == "Reply with <box>."


# --------------------------------------------------------------------------- check


def test_check_probe_and_its_negation() -> None:
    template = select_template("check_probe", "CT", "CHEST", box_format="gemma_box_2d")
    assert template.vocabulary == ("yes", "no")
    present = render(template, finding="a right pleural effusion").user
    absent = render(template, finding="a right pleural effusion", polarity="absent").user
    assert "Question: does this CT of the chest show a right pleural effusion?" in lines(present)
    assert "Question: is this CT of the chest free of a right pleural effusion?" in lines(absent)
    for user in (present, absent):
        assert '"Final Answer: yes" or "Final Answer: no"' in user
    with pytest.raises(PromptFieldError, match=r"'polarity' must be one of absent, present"):
        render(template, finding="a mass", polarity="maybe")


def test_check_control_asks_the_affirmative_probe() -> None:
    probe = select_template("check_probe", "CR", "CHEST", "PA", box_format="gemma_box_2d")
    control = select_template("check_control", "CR", "CHEST", "PA", box_format="gemma_box_2d")
    assert control.id == "check_control/cxr_frontal"
    finding = "a left pneumothorax"
    assert render(control, finding=finding).user == render(probe, finding=finding).user


# --------------------------------------------------------------------------- data files


def test_packaged_catalogue_is_read_once_and_complete() -> None:
    catalogue = load_catalogue()
    assert load_catalogue() is catalogue
    assert [e.id for e in catalogue.exams] == [
        "cxr_frontal", "cxr_lateral", "ct_head", "ct_chest", "ct_abdomen_pelvis", "mr_brain",
        "mr_spine", "mr_joint", "ct_other", "mr_other", "radiograph_other", "ultrasound", "other",
    ]  # fmt: skip
    assert sorted(t.id for t in catalogue.templates) == [
        "ask", "check_control", "check_probe", "compare", "compare_medgemma_1_5", "grounding",
        "grounding_medgemma_1_5", "report",
    ]  # fmt: skip
    assert sorted(catalogue.box_formats) == [
        "gemma_box_2d", "maira2", "medrega", "qwen_abs", "qwen_norm_1000",
    ]  # fmt: skip
    assert "families" not in json.loads((DATA / "catalogue.json").read_text(encoding="utf-8"))


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(DATA, folder)
    return folder


def _edit(folder: Path, name: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / name
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    (
        "unknown-placeholder",
        "report.json",
        lambda d: d["templates"][0]["user"].append("{patient_name}"),
        r"report\.json: template 'report': unknown placeholder \{patient_name\}",
    ),
    (
        "nested-choice",
        "check.json",
        lambda d: d["templates"][0]["fields"]["polarity"]["choices"].update(absent="{polarity}"),
        r"check\.json: template 'check_probe': a choice uses the choice field \{polarity\}",
    ),
    (
        "catalogue-version",
        "catalogue.json",
        lambda d: d.update(version="2026.12.3"),
        r"version 2026\.12\.3 differs from PROMPTS_VERSION 2026\.12\.2",
    ),
    (
        "newer-template",
        "ask.json",
        lambda d: d["templates"][0].update(version="2027.1.1"),
        r"'ask': version 2027\.1\.1 is newer than the catalogue's",
    ),
    (
        "bad-version",
        "exams.json",
        lambda d: d["exams"][0].update(version="v1"),
        r"'cxr_frontal': version must look like 2026\.11\.1, not 'v1'",
    ),
    (
        "no-catch-all",
        "exams.json",
        lambda d: d["exams"].pop(),
        r"no exam applies to every series",
    ),
    (
        "uncovered-exam",
        "grounding.json",
        lambda d: d["templates"][0].update(exams=["cxr_frontal"]),
        r"no grounding template for exam 'cxr_lateral'",
    ),
    (
        "field-without-default",
        "catalogue.json",
        lambda d: d["fields"]["language"].pop("default"),
        r"field 'language': give exactly one of required, default and from_box_format",
    ),
]


@pytest.mark.parametrize(
    ("file", "change", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_data_is_refused_with_the_place_named(
    tmp_path: Path, file: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    folder = _copy(tmp_path)
    _edit(folder, file, change)
    with pytest.raises(TemplateDataError, match=message):
        load_catalogue(folder)


def test_unreadable_json_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "check.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TemplateDataError, match=r"check\.json: not a readable JSON file"):
        load_catalogue(folder)


def test_a_copied_catalogue_selects_like_the_packaged_one(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _edit(
        folder,
        "exams.json",
        lambda d: d["exams"][2]["findings_sections"].append("Vessels"),
    )
    catalogue = load_catalogue(folder)
    template = select_template(
        "report", "CT", "HEAD", catalogue=catalogue, box_format="gemma_box_2d"
    )
    assert template.findings_sections[-1] == "Vessels"
    assert "Vessels: <" in render(template, technique="CT head").user


# --------------------------------------------------------------------------- the package


def test_prompts_imports_nothing_else_of_radlens() -> None:
    """Nothing but the root error from dicom_io.errors (a PromptError is a RadLensError)."""
    assert issubclass(PromptError, RadLensError)
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name == "dicom_io.errors":
                    continue
                assert name.split(".")[0] not in {"dicom_io", "models", "app"}, (path, name)


def test_package_docstring_example_runs() -> None:
    result = doctest.testmod(prompts, verbose=False)
    assert (result.attempted, result.failed) == (5, 0)


# --------------------------------------------------------------------------- makers' wording

# Google-Health/medgemma notebooks/cxr_anatomy_localization_with_hugging_face.ipynb, cell
# UterxS4WpY4X, as its cell WqRPOJe9pr0W output prints it for object_name "right clavicle"
# (Copyright 2026 Google LLC, Apache-2.0).
NOTEBOOK_LOCALIZATION_PROMPT = """Instructions:
The following user query will require outputting bounding boxes. The format of bounding boxes coordinates is [y0, x0, y1, x1] where (y0, x0) must be top-left corner and (y1, x1) the bottom-right corner. This implies that x0 < x1 and y0 < y1. Always normalize the x and y coordinates the range [0, 1000], meaning that a bounding box starting at 15% of the image width would be associated with an x coordinate of 150. You MUST output a single parseable json list of objects enclosed into ```json...``` brackets, for instance ```json[{"box_2d": [800, 3, 840, 471], "label": "car"}, {"box_2d": [400, 22, 600, 73], "label": "dog"}]``` is a valid output. Now answer to the user query.

Remember "left" refers to the patient's left side where the heart is and sometimes underneath an L in the upper right corner of the image.

Query:
Where is the right clavicle? Don't give a final answer without reasoning. Output the final answer in the format "Final Answer: X" where X is a JSON list of objects. The object needs a "box_2d" and "label" key. Answer:"""  # noqa: E501


def test_medgemma_1_5_localization_is_the_notebooks_prompt_without_system_message() -> None:
    """MedGemma 1.5's localization prompt is the notebook's block word for word (its card warns
    it is more prompt-sensitive than Gemma 3): cxr_anatomy_localization_with_hugging_face.ipynb
    cell UterxS4WpY4X; one user message, the image then the text, no system message (cell
    WqRPOJe9pr0W): nothing goes in the system message or before the image."""
    template = select_template(
        "grounding", "CR", "CHEST", "PA", box_format="gemma_box_2d", model="medgemma-1.5-4b"
    )
    assert (template.id, template.model) == (
        "grounding_medgemma_1_5/cxr_frontal",
        "medgemma-1.5-4b",
    )
    prompt = render(template, target="right clavicle")
    assert prompt.user == NOTEBOOK_LOCALIZATION_PROMPT
    assert (prompt.system, prompt.instruction, prompt.text_first) == ("", "", False)
    assert set(template.fields) == {"target"}  # the notebook asks nothing else


@pytest.mark.parametrize(
    ("model", "modality", "body_part", "view", "template_id"),
    [
        ("medgemma-4b", "CR", "CHEST", "PA", "grounding/cxr_frontal"),  # not its makers' text
        ("", "CR", "CHEST", "PA", "grounding/cxr_frontal"),
        ("medgemma-1.5-4b", "CR", "CHEST", "LATERAL", "grounding/cxr_lateral"),
        ("medgemma-1.5-4b", "CT", "CHEST", "", "grounding/ct_chest"),
    ],
    ids=["medgemma-1", "no-model", "lateral", "ct"],
)
def test_makers_localization_prompt_only_where_they_document_it(
    model: str, modality: str, body_part: str, view: str, template_id: str
) -> None:
    """The notebook's block covers what MedGemma 1.5 was trained to localize (frontal chest
    radiographs, Chest ImaGenome: the notebook's introduction); elsewhere RadLens's own
    template, which says where the boxes go in the model's convention."""
    template = select_template(
        "grounding", modality, body_part, view, box_format="gemma_box_2d", model=model
    )
    assert template.id == template_id
    user = render(template, target="heart", language="English").user
    assert "Locate the heart on this " in user
    assert "Instructions:" not in user


def test_medgemma_1_5_sends_no_system_message_the_role_text_goes_before_the_images() -> None:
    """The CT notebook (high_dimensional_ct_hugging_face.ipynb cell h57n3PWsznxy) sends one user
    message, instruction first, then the slices, then the query; no system message. RadLens's
    role text becomes that instruction; the query stays after the images."""
    generic = render(
        t := select_template("ask", "CT", "HEAD", box_format="gemma_box_2d"), **fill(t)
    )
    own = render(
        t := select_template(
            "ask", "CT", "HEAD", box_format="gemma_box_2d", model="medgemma-1.5-4b"
        ),
        **fill(t),
    )
    assert generic.system.startswith("You are an experienced radiologist answering")
    assert (own.system, own.instruction, own.text_first) == ("", generic.system, False)
    assert own.user == generic.user
    assert lines(own.user)[-1].startswith("If the question asks you to show")


def test_medgemma_1_gets_the_cards_system_prompt_alone_and_text_before_the_image() -> None:
    """MedGemma 1's card (https://huggingface.co/google/medgemma-4b-it, 'Run model with the
    pipeline API'): system message "You are an expert radiologist.", then a user turn with the
    text before the image. The registry holds that system prompt; the template's role text
    moves into the user turn so the system message is the card's alone."""
    from models.registry.lookup import get_spec

    assert get_spec("medgemma-4b").system_prompt == "You are an expert radiologist."
    template = select_template(
        "report", "CR", "CHEST", "PA", box_format="gemma_box_2d", model="medgemma-4b"
    )
    prompt = render(template, technique="Chest radiograph, PA.")
    assert (prompt.system, prompt.text_first) == ("", True)
    assert prompt.instruction.startswith("You are an experienced radiologist drafting a report")
    assert "Write a radiology report of this frontal chest radiograph." in prompt.user
    assert (
        load_catalogue()
        .layout_for("medgemma-4b")
        .source.startswith("https://huggingface.co/google/medgemma-4b-it")
    )
    # The 27B multimodal model shares MedGemma 1's card, system prompt and layout.
    assert get_spec("medgemma-27b").system_prompt == "You are an expert radiologist."
    big = select_template(
        "report", "CR", "CHEST", "PA", box_format="gemma_box_2d", model="medgemma-27b"
    )
    assert render(big, technique="Chest radiograph, PA.") == prompt
    assert (
        load_catalogue()
        .layout_for("medgemma-27b")
        .source.startswith("https://huggingface.co/google/medgemma-27b-it")
    )


def test_medgemma_1_5_comparison_follows_the_longitudinal_notebook() -> None:
    """cxr_longitudinal_comparison_with_hugging_face.ipynb cell 1S8x3TYZpY4X: the earlier image,
    the later image, then the text ("Provide a comparison of these two images ..."), no system
    message. RadLens keeps its outline and interval-change words after that opening."""
    template = select_template(
        "compare", "CR", "CHEST", "PA", box_format="gemma_box_2d", model="medgemma-1.5-4b"
    )
    prompt = render(template, technique="CR chest PA", prior_technique="CR chest PA, 2025")
    assert template.id == "compare_medgemma_1_5/cxr_frontal"
    assert (prompt.system, prompt.instruction) == ("", "")
    assert lines(prompt.user)[0] == (
        "Provide a comparison of these two images: the first is the prior frontal chest "
        "radiograph, the second the current one."
    )
    assert template.sections == ("Technique", "Comparison", "Findings", "Impression")
    assert "[improved]" in prompt.user


def test_named_models_are_registry_ids() -> None:
    """Templates and layouts name models by registry id; a typo would silently never match."""
    from models.registry.lookup import get_spec

    catalogue = load_catalogue()
    named = {m for t in catalogue.templates for m in t.models} | set(catalogue.model_layouts)
    assert named == {"medgemma-1.5-4b", "medgemma-4b", "medgemma-27b"}
    for model in named:
        assert get_spec(model).id == model


MAKER_BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    (
        "model-template-without-source",
        "grounding.json",
        lambda d: d["templates"][1].pop("source"),
        r"template 'grounding_medgemma_1_5': a template for named models needs its source",
    ),
    (
        "layout-unknown-key",
        "catalogue.json",
        lambda d: d["model_layouts"]["medgemma-4b"].update(image_first=True),
        r"model layout 'medgemma-4b' may only hold system_in_instruction, text_first and source",
    ),
    (
        "layout-without-source",
        "catalogue.json",
        lambda d: d["model_layouts"]["medgemma-4b"].pop("source"),
        r"model layout 'medgemma-4b' needs its source",
    ),
]


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [b[1:] for b in MAKER_BROKEN],
    ids=[b[0] for b in MAKER_BROKEN],
)
def test_makers_templates_need_their_source(
    tmp_path: Path, file: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    folder = _copy(tmp_path)
    _edit(folder, file, change)
    with pytest.raises(TemplateDataError, match=message):
        load_catalogue(folder)


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("task", "budget"),
    [
        ("ask", 2000),  # high_dimensional_ct_hugging_face.ipynb cell 4DAf9TNK1gb5
        ("grounding", 1000),  # cxr_anatomy_localization_with_hugging_face.ipynb WqRPOJe9pr0W
        ("report", 2000),
        ("compare", 2000),
        ("check_probe", 1000),
        ("check_control", 1000),
    ],
)
def test_each_task_decodes_greedily_within_the_makers_budget(task: str, budget: int) -> None:
    """Per-task answer budgets from the MedGemma notebooks (models/tasks/decoding.py), greedy
    as every notebook decodes (do_sample=False), instead of one 512 that cut off reports and
    reasoning-first localization answers. The CLI takes the same default."""
    import argparse

    from app.commands_common import add_generation_arguments, generation_settings
    from models.tasks.decoding import default_settings

    settings = default_settings(task)
    assert (settings.max_new_tokens, settings.temperature, settings.greedy) == (budget, 0.0, True)
    parser = argparse.ArgumentParser()
    add_generation_arguments(parser, task=task)
    assert generation_settings(parser.parse_args([])).max_new_tokens == budget
    assert generation_settings(parser.parse_args(["--max-new-tokens", "64"])).max_new_tokens == 64


def test_tasks_without_a_prompt_have_no_decoding_defaults() -> None:
    from models.tasks.decoding import default_settings

    with pytest.raises(RadLensError, match="Task 'export' sends no prompt of its own"):
        default_settings("export")
