"""The output-shape corpus through the command line: every case as a user replays it.

Corpus: tests/models/corpus/*.json. ``reports_*.json`` holds report answers (run here through
``radlens report --from-raw``), ``answers_*.json`` answers to questions with and without boxes
(``radlens ask --from-raw --json``), ``compare_*.json`` comparisons with a prior (``radlens
report --prior P --from-raw``). Each case names the model whose shape it follows and where that
shape was seen; the texts are written here. Box coordinates are worked out by hand in each
file's "about" and each case's "why".

What is checked, for every case: the sections, findings and normal/abnormal/uncertain labels
(and changes, for comparisons) that a radiologist would read out of the text; no markup left in
any clinical text; every box either placed (label, slice, source pixels) or listed as dropped
with its reason, the number of dropped entries exactly the expected one.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from models.report.sections import is_instruction
from tests.files import REPO
from tests.synthetic import write_ct_series

CORPUS = Path(__file__).parent / "corpus"
DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"
MODELS = {
    "MedGemma",
    "MedGemma 1.5",
    "Qwen2.5-VL",
    "Qwen3-VL",
    "Lingshu",
    "MedRegA",
    "MAIRA-2",
    "LLaVA-Med",
}
_MARKUP = re.compile(r"\*\*|##|`|^\s*[-*•]\s|^\s*\d+[.)]\s|<(?:ref|box|obj|unused9\d)>|box_2d")


def _cases(kind: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob(f"{kind}_*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        cases += data["cases"] if isinstance(data, dict) else data
    return cases


REPORTS, ANSWERS, COMPARES = _cases("reports"), _cases("answers"), _cases("compare")
ALL = REPORTS + ANSWERS + COMPARES


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ct = tmp_path_factory.mktemp("ct")
    write_ct_series(ct, slices=6, rows=32, columns=32)
    prior = tmp_path_factory.mktemp("prior") / "prior_chest_pa_cr.dcm"
    shutil.copyfile(DEMO_CXR, prior)
    return {"cxr": DEMO_CXR, "ct": ct, "prior": prior}


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set the RADLENS_REMOTE_* variables a case declares (a remote server's model)."""

    def apply(case: dict[str, Any]) -> None:
        for name in ("FAMILY", "GROUNDING", "MODEL", "URL"):
            monkeypatch.delenv(f"RADLENS_REMOTE_{name}", raising=False)
        for name, value in case.get("remote_env", {}).items():
            monkeypatch.setenv(f"RADLENS_REMOTE_{name}", value)

    return apply


def _raw_file(tmp_path: Path, case: dict[str, Any]) -> Path:
    raw = tmp_path / "raw.txt"
    raw.write_text(case["raw"], encoding="utf-8")
    return raw


def _report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    out = tmp_path / "report.json"
    code = main(["report", *args, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    return json.loads(out.read_text(encoding="utf-8"))


def _contains(wanted: str, texts: list[str]) -> bool:
    return any(wanted.lower() in t.lower() for t in texts)


def _clean(case_id: str, texts: list[str]) -> None:
    for text in texts:
        assert not _MARKUP.search(text), f"{case_id}: markup left in {text!r}"
        assert not is_instruction(text), f"{case_id}: an echoed instruction kept: {text!r}"


def _boxes(case_id: str, got: list[dict], expected: list) -> None:
    """Every expected box placed: label, slice and source pixels (to 0.01 px)."""
    assert len(got) == len(expected), f"{case_id}: boxes {got}"
    for box, (label, slice_index, corners) in zip(got, expected, strict=True):
        assert (box["label"], box["slice"]) == (label, slice_index), f"{case_id}: {box}"
        placed = [box["x0"], box["y0"], box["x1"], box["y1"]]
        assert placed == pytest.approx(corners, abs=0.01), f"{case_id}: {box}"


# --------------------------------------------------------------------------------- the corpus


def test_corpus_is_large_sourced_and_covers_the_models() -> None:
    assert len(ALL) >= 40
    assert len({c["id"] for c in ALL}) == len(ALL)
    assert {c["model"] for c in ALL} >= MODELS
    assert all(c["seen"].strip() for c in ALL)
    # every task is represented, each by several models
    for kind in (REPORTS, ANSWERS, COMPARES):
        assert len({c["model"] for c in kind}) >= 3


# ------------------------------------------------------------------------------------ reports


@pytest.mark.parametrize("case", REPORTS, ids=[c["id"] for c in REPORTS])
def test_report_case(case, studies, model_env, tmp_path, capsys):
    model_env(case)
    raw = _raw_file(tmp_path, case)
    args = [str(studies[case["study"]]), "--model", case["model_id"], "--from-raw", str(raw)]
    report = _report_json(tmp_path, capsys, *args)
    expect, cid = case["expect"], case["id"]
    got = [(f["section"], f["text"], f["assertion"]) for f in report["findings"]]
    for section, text, label in expect["findings"]:
        hits = [g for g in got if g[0] == section and text.lower() in g[1].lower()]
        assert hits, f"{cid}: no {section!r} finding with {text!r} in {got}"
        assert hits[0][2] == label, f"{cid}: {hits[0]} should be {label}"
    if "n_findings" in expect:
        assert len(report["findings"]) == expect["n_findings"], got
    impression = [f["text"] for f in report["impression"]]
    recommendations = [f["text"] for f in report["recommendations"]]
    others = [f["text"] for f in report["findings"] if f["section"] == "Other"]
    for key, texts in (("impression", impression), ("recommendations", recommendations)):
        for text in expect[key]:
            assert _contains(text, texts), (cid, key, text, texts)
    for text in expect["other"]:
        assert _contains(text, others), (cid, text, others)
    for text in expect.get("notes", []):
        assert _contains(text, report["notes"]), (cid, text, report["notes"])
    unable = any(f["status"] == "unable_to_assess" for f in report["findings"])
    assert unable is expect["unable"], cid
    texts = [f["text"] for f in report["findings"]] + impression + recommendations
    for text in expect.get("excluded", []):  # a reasoning trace, box markup: never clinical text
        assert not _contains(text, texts), (cid, text, texts)
    _clean(cid, texts)
    # each box on the finding it belongs to: [finding text, label, slice, corners]
    every = report["findings"] + report["impression"]
    placed = [(f["text"], b) for f in every for b in f["boxes"]]
    wanted = expect.get("boxes", [])
    assert [t for t, _ in placed] == [w[0] for w in wanted], (cid, placed)
    _boxes(cid, [b for _, b in placed], [w[1:] for w in wanted])


# ---------------------------------------------------------------------------- questions, boxes


@pytest.mark.parametrize("case", ANSWERS, ids=[c["id"] for c in ANSWERS])
def test_answer_case(case, studies, model_env, tmp_path, capsys):
    model_env(case)
    raw = _raw_file(tmp_path, case)
    args = ["ask", str(studies[case["study"]]), case["question"], "--model", case["model_id"]]
    code = main([*args, "--from-raw", str(raw), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    answer = json.loads(captured.out)
    expect, cid = case["expect"], case["id"]
    for text in expect["text"]:
        assert text in answer["answer"], (cid, text, answer["answer"])
    for text in expect.get("text_excludes", []):
        assert text not in answer["answer"], (cid, text, answer["answer"])
    _boxes(cid, answer["boxes"], expect["boxes"])
    # every box accounted for: placed above, or dropped with a reason
    assert len(answer["dropped"]) == len(expect["dropped"]), (cid, answer["dropped"])
    for reason, line in zip(expect["dropped"], answer["dropped"], strict=True):
        assert reason in line, (cid, reason, line)
    for note in expect["notes"]:
        assert _contains(note, answer["notes"]), (cid, note, answer["notes"])
    assert answer["raw"] == case["raw"]  # what the model wrote is kept whole


# -------------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize("case", COMPARES, ids=[c["id"] for c in COMPARES])
def test_compare_case(case, studies, model_env, tmp_path, capsys):
    model_env(case)
    raw = _raw_file(tmp_path, case)
    args = [str(studies[case["study"]]), "--prior", str(studies["prior"])]
    report = _report_json(
        tmp_path, capsys, *args, "--model", case["model_id"], "--from-raw", str(raw)
    )
    expect, cid = case["expect"], case["id"]
    assert report["kind"] == "compare", cid
    got = [(f["section"], f["text"], f["assertion"], f["change"]) for f in report["findings"]]
    for section, text, label, change in expect["findings"]:
        hits = [g for g in got if g[0] == section and text.lower() in g[1].lower()]
        assert hits, f"{cid}: no {section!r} finding with {text!r} in {got}"
        assert hits[0][2:] == (label, change), f"{cid}: {hits[0]} should be {label}, {change}"
    texts = [f["text"] for f in report["findings"]]
    for text in expect["findings_exclude"]:
        assert not _contains(text, texts), (cid, text, texts)
    for text in expect["comparison"]:
        assert text in report["comparison"], (cid, text, report["comparison"])
    impression = [f["text"] for f in report["impression"]]
    recommendations = [f["text"] for f in report["recommendations"]]
    for key, found in (("impression", impression), ("recommendations", recommendations)):
        for text in expect[key]:
            assert _contains(text, found), (cid, key, text, found)
    for text in expect["notes"]:
        assert _contains(text, report["notes"]), (cid, text, report["notes"])
    boxes = [b for f in report["findings"] + report["impression"] for b in f["boxes"]]
    _boxes(cid, boxes, expect["boxes"])
    _clean(cid, texts + impression + recommendations)
