"""The UI handlers called directly, as Gradio calls them.

Plumbing runs a tiny random-weight Gemma3 checkpoint through the production path (Services opens
it by folder path at fp32 on the CPU): its text is random, but it streams, is cancelled and is
recorded like a real model's. Where a test needs a particular answer (boxes on a slice, a
report with findings), realistic MedGemma text goes through the real parsers, either with
``answer_from_text`` or, for the handler wiring, a scripted backend.

The synthetic CT used for boxes has 20 slices of 64 rows x 32 columns, spacing 2.0 x 0.5 x
1.0 mm: the viewer stretches each slice to 64 x 64 (columns x2) and MedGemma sees it padded to a
square with 16 black columns on each side. Expected pixels are worked out in the comments.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest

from app import handlers_chat as chat
from app import handlers_report as report
from app import handlers_settings as settings
from app import handlers_viewer as viewer
from app.handlers_model import Call, Phase, Running, run_task, run_to_end
from app.server import DEMO_STUDY
from app.services import Services, stream_task
from dicom_io.display.overlays import BOX_COLOUR, HIGHLIGHT_COLOUR, REGION_COLOUR
from dicom_io.loader import load_study
from dicom_io.study import Study
from models.backends.base import CancelToken
from models.grounding.box import Box
from models.inputs.model_inputs import InputMode, InputOptions
from models.registry.lookup import get_spec
from models.tasks.ask import answer_from_text
from models.tasks.prepare import Turn, prepare
from tests.app.conftest import ScriptedBackend, localizes_everything, scripted
from tests.synthetic import write_ct_series

CT_REPORT = """Technique:
CT of the chest.

Findings:
Lungs and airways: A 12 mm nodule in the right upper lobe.
Pleura: Unremarkable.
Heart and great vessels: Unremarkable.
Mediastinum and hila: Unremarkable.
Chest wall and bones: Unremarkable.
Upper abdomen: Unremarkable.

Impression:
1. Right upper lobe nodule.
"""
# On "SLICE 11", the 11th image sent: source slice 10 when all 20 slices are sent (images are
# labelled by position, as MedGemma's CT notebook does). box_2d [y0, x0, y1, x1] / 1000 of the
# 64-pixel padded square: y 32..48; x 24..40 minus the 16 padding columns = 8..24 source columns.
NODULE_BOX = """The nodule lies in the right upper lobe.
Final Answer:
```json
[{"box_2d": [500, 375, 750, 625], "label": "nodule", "slice": 11}]
```"""


def scripted_reply(prompt: str) -> str:
    if "Under Findings" in prompt:
        return CT_REPORT
    return NODULE_BOX


def widgets(model_id: str, **changes: Any) -> tuple[Any, ...]:
    """Settings widget values, in handlers_settings.WIDGET_ORDER."""
    values = {
        "model": model_id,
        "precision": "fp32",
        "mode": "auto",
        "max_slices": 85,
        "first_slice": None,
        "last_slice": None,
        "max_new_tokens": 8,
        "temperature": 0.0,
        "language": "English",
        **changes,
    }
    return tuple(values[name] for name in settings.WIDGET_ORDER)


def drive(generator: Iterator[Any]) -> list[Any]:
    return list(generator)


def asking(services: Services, question: str, study: Study | None, **kw: Any) -> Iterator[Any]:
    """chat.ask as the UI calls it: ``messages``, ``history``, ``marks``, ``plane``, ``k`` (the
    slider), ``user`` and settings ``changes`` as keywords."""
    messages = kw.pop("messages", [])
    history = kw.pop("history", ())
    marks = kw.pop("marks", None)
    plane, k = kw.pop("plane", "acquired"), kw.pop("k", 0)
    model = kw.pop("model", None) or services.spec().id
    user = kw.pop("user", "local")
    where = (study, 0, plane, k)
    values = widgets(model, **kw)
    return chat.ask(services, question, messages, history, marks, *where, *values, user=user)


def drafting(services: Services, study: Study, indication: str = "", **kw: Any) -> Iterator[Any]:
    """report.draft as the UI calls it, on the acquired plane's slice 0."""
    model = kw.pop("model", None) or services.spec().id
    user = kw.pop("user", "local")
    values = widgets(model, **kw)
    return report.draft(services, indication, study, 0, "acquired", 0, *values, user=user)


@pytest.fixture(scope="module")
def demo() -> Study:
    return load_study(DEMO_STUDY)


@pytest.fixture(scope="module")
def ct(tmp_path_factory: pytest.TempPathFactory) -> Study:
    folder = tmp_path_factory.mktemp("handlers") / "ct"
    write_ct_series(folder, slices=20, rows=64, columns=32, spacing=(2.0, 0.5, 1.0))
    return load_study(folder)


@pytest.fixture(scope="module")
def tiny(tiny_gemma3: Path) -> Services:
    """Services on the tiny checkpoint; the model is loaded once for the module."""
    return Services(initial_study=DEMO_STUDY, model_id=str(tiny_gemma3), device="cpu")


def scripted_services(delay: float = 0.0) -> tuple[Services, ScriptedBackend]:
    return scripted(scripted_reply, delay=delay, can=localizes_everything())


# --- chat with the tiny model -------------------------------------------------------------------


def test_ask_streams_the_tiny_model_and_keeps_the_conversation(tiny: Services, demo: Study):
    spec = tiny.spec()
    updates = drive(asking(tiny, "Describe the image.", demo))
    first, loaded, *streamed, last = updates
    # First: the question box is cleared, the question shown, the cancel token handed out.
    question_box, messages, history, cancel, _marks, status, _slider = first
    assert question_box == ""
    assert messages == [{"role": "user", "content": "Describe the image."}]
    assert isinstance(cancel, CancelToken)
    assert status == f"Loading {spec.name} (fp32); the first request waits for it..."
    assert loaded[5].startswith(f"{spec.name}: loaded as fp32 on cpu in ")
    # Then the text grows, one yield per delta, with the token still there for Stop.
    texts = [update[1][-1]["content"] for update in streamed]
    assert texts, "no text was streamed"
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert all(update[3] is cancel for update in streamed)
    # Last: the turn is recorded with what the model wrote; Stop has nothing left to stop.
    _, messages, history, cancel, _marks, _status, slider = last
    assert history == (Turn("Describe the image.", texts[-1]),)
    assert cancel is None
    assert messages[0] == {"role": "user", "content": "Describe the image."}
    assert messages[-1]["role"] == "assistant"
    assert slider == gr.skip()

    follow_up = drive(asking(tiny, "And the heart?", demo, messages=messages, history=history))
    final_history = follow_up[-1][2]
    assert [turn.question for turn in final_history] == ["Describe the image.", "And the heart?"]
    assert len(follow_up[-1][1]) == 4  # two questions, two answers
    assert not any(u[5].startswith("Loading") for u in follow_up)  # the model stays loaded


def test_stop_cancels_the_tiny_model(tiny: Services, demo: Study):
    updates = asking(tiny, "Describe the image.", demo, max_new_tokens=2048)
    cancel = None
    for update in updates:
        if update[1][-1]["role"] == "assistant":  # the first text: press Stop
            cancel = update[3]
            chat.stop(cancel)
            break
    rest = list(updates)
    assert cancel is not None
    assert cancel.cancelled
    messages, history = rest[-1][1], rest[-1][2]
    assert messages[-1]["content"].endswith("*(stopped)*")
    assert history == ()  # a stopped answer is not part of the conversation


def test_empty_question_and_no_study_are_refused(tiny: Services):
    with pytest.raises(gr.Error, match="Type a question first"):
        next(asking(tiny, "  ", None))
    lonely = Services(model_id=tiny.model_id)
    with pytest.raises(gr.Error, match="Open a study first"):
        next(asking(lonely, "Heart?", None))


# --- boxes on the viewer ------------------------------------------------------------------------


def test_medgemma_boxes_land_on_their_slice_pixels(ct: Study):
    series = ct.default_series
    spec = get_spec("medgemma-1.5-4b")
    prepared = prepare(series, spec, "ask", question="Show me the nodule.")
    answer = answer_from_text(prepared, NODULE_BOX)
    (box,) = answer.boxes
    assert (box.label, box.slice, box.x0, box.y0, box.x1, box.y1) == ("nodule", 10, 8, 32, 24, 48)
    assert "- **nodule**: slice 10, x 8-24, y 32-48 px" in chat.answer_markdown(answer)
    assert "box_2d" not in chat.answer_markdown(answer)

    marks = viewer.Marks(series_index=series.index, boxes=answer.boxes)
    k = viewer.jump_slice(series, "acquired", box)
    assert k == 10
    image, where = viewer.render_view(ct, 0, "acquired", k, "lung", None, None, False, marks)
    assert where.startswith("Slice 11 / 20")
    # Columns 8..24 stretched x2 -> display 16..48; rows 32..48 stay.
    outline = np.all(image == BOX_COLOUR, axis=2)
    assert outline[32, 16:48].all()
    assert outline[47, 16:48].all()
    assert outline[32:48, 16].all()
    assert outline[32:48, 47].all()
    assert outline.sum() == 2 * 32 + 2 * 14
    plain, _ = viewer.render_view(ct, 0, "acquired", 9, "lung", None, None, False, marks)
    assert not np.all(plain == BOX_COLOUR, axis=2).any()  # slice 9: no box

    # Coronal: the slice through the box centre (row 40) shows it as a band one slice tall:
    # slice 10 of 20, flipped (head up), 2 display rows per slice -> rows 18..19; columns 8..24.
    k = viewer.jump_slice(series, "coronal", box)
    assert k == 40
    image, _ = viewer.render_view(ct, 0, "coronal", k, "lung", None, None, False, marks)
    assert image.shape[:2] == (40, 32)
    band = np.argwhere(np.all(image == BOX_COLOUR, axis=2))
    assert (band[:, 0].min(), band[:, 0].max(), band[:, 1].min(), band[:, 1].max()) == (
        18,
        19,
        8,
        23,
    )


def test_show_me_answer_puts_boxes_on_the_viewer_and_jumps(ct: Study):
    services, backend = scripted_services()
    *_, last = drive(asking(services, "Show me the nodule.", ct, k=3, max_slices=20))
    _, messages, _history, _cancel, marks, _status, slider = last
    assert "SLICE 11" not in messages[-1]["content"]
    assert "slice 10, x 8-24, y 32-48 px" in messages[-1]["content"]
    assert slider == gr.update(value=10)
    assert [(b.slice, b.x0, b.y0, b.x1, b.y1) for b in marks.boxes] == [(10, 8, 32, 24, 48)]
    # All 20 slices were sent, each followed by "SLICE n", n = 1..20.
    assert "Show me the nodule." in backend.calls[-1]


def test_a_marked_region_is_asked_about(ct: Study):
    series = ct.default_series
    marks = viewer.Marks(series_index=series.index)
    # Clicks on the 64 x 64 display of slice 5: (16, 20) and (40, 36) -> source x /2.
    marks, text = viewer.on_viewer_click(ct, 0, "acquired", 5, marks, True, (16.0, 20.0, 64, 64))
    assert marks.corner == (5, 8.0, 20.0)
    assert text.startswith("First corner (8, 20)")
    marks, text = viewer.on_viewer_click(ct, 0, "acquired", 5, marks, True, (40.0, 36.0, 64, 64))
    region = marks.region
    assert (region.slice, region.x0, region.y0, region.x1, region.y1) == (5, 8, 20, 20, 36)
    assert text == "Region on slice 5: x 8-20, y 20-36 px. The next question is about it."
    image, _ = viewer.render_view(ct, 0, "acquired", 5, "lung", None, None, False, marks)
    assert np.all(image[20, 16:40] == REGION_COLOUR, axis=1).all()

    options = settings.UserSettings("medgemma-1.5-4b").options(series, 12, region)
    assert options == InputOptions(mode=InputMode.SLAB, current_slice=5)
    services, backend = scripted_services()
    *_, last = drive(asking(services, "What is this?", ct, marks=marks, k=5))
    assert "about the region on slice 5: x 8-20, y 20-36 px" in last[1][0]["content"]
    # The prompt names the region in MedGemma's box format on the padded square:
    # y 20/64, x (8+16)/64 .. y 36/64, x (20+16)/64, in thousandths.
    assert '"box_2d": [312, 375, 562, 562]' in backend.calls[-1]
    assert last[4].region == region  # the region stays for follow-up questions


def test_clicks_in_a_reformat_or_outside_region_mode_do_nothing(ct: Study):
    marks = viewer.Marks(series_index=0)
    kept, text = viewer.on_viewer_click(ct, 0, "coronal", 30, marks, True, (5.0, 5.0, 32, 40))
    assert kept.corner is None
    assert "acquired plane" in text
    same, skipped = viewer.on_viewer_click(ct, 0, "acquired", 5, marks, False, (5.0, 5.0, 64, 64))
    assert same is marks
    assert skipped == gr.skip()
    region = Box("region", 1, 1.0, 1.0, 4.0, 4.0)
    cleared, text = viewer.clear_region(viewer.Marks(0, region=region, corner=(1, 2.0, 3.0)))
    assert (cleared.region, cleared.corner, text) == (None, None, "")


# --- the report pane ----------------------------------------------------------------------------


def test_draft_streams_the_tiny_model_into_the_report_box(tiny: Services, demo: Study):
    updates = drive(drafting(tiny, demo, "cough"))
    texts = [u[0] for u in updates[:-1] if isinstance(u[0], str) and u[0]]
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    text, findings, flags, drafted, cancel, _marks, _status, raw = updates[-1]
    assert cancel is None
    assert drafted.indication == "cough"
    assert drafted.raw == raw
    assert texts
    assert raw == texts[-1]
    # The tiny model writes until its answer budget: the draft says it may be cut off.
    assert drafted.title == "Draft report: frontal chest radiograph (incomplete)"
    assert text.startswith("Draft report: frontal chest radiograph (incomplete)\n\nTechnique:")
    assert "Indication: cough" in text
    assert len(findings["choices"]) == len(drafted.all_findings)
    assert flags.startswith("**Reliability**: ")
    assert "- note: the model used its whole answer budget (max_new_tokens)" in flags


def test_report_findings_jump_to_their_box(ct: Study, tmp_path: Path):
    services, backend = scripted_services()
    *_, last = drive(drafting(services, ct, max_slices=20))
    text, findings, flags, drafted, _cancel, marks, _status, _raw = last
    assert "Lungs and airways: A 12 mm nodule in the right upper lobe." in text
    assert "Impression:\n1. Right upper lobe nodule." in text
    labels = [label for label, _ in findings["choices"]]
    assert labels[0] == (
        "Lungs and airways: A 12 mm nodule in the right upper lobe.  [box on slice 10]"
    )
    assert labels[-1] == "Impression: Right upper lobe nodule."
    assert "localization: 1 extra model call(s)" in flags
    assert len(backend.calls) == 2  # the report, then one grounding call for the nodule
    assert [(b.slice, b.x0, b.y0, b.x1, b.y1) for b in marks.boxes] == [(10, 8, 32, 24, 48)]

    chosen, slider, note = report.on_finding(drafted, 0, marks, ct, 0, "acquired")
    assert (chosen.highlight, slider, note) == (0, gr.update(value=10), "")
    image, _ = viewer.render_view(ct, 0, "acquired", 10, "lung", None, None, False, chosen)
    cyan = np.all(image == HIGHLIGHT_COLOUR, axis=2)
    assert cyan[32:34, 16:48].all()  # highlighted: two pixels thick
    normal, slider, note = report.on_finding(drafted, 1, chosen, ct, 0, "acquired")
    assert (normal.highlight, slider, note) == (None, gr.skip(), "This finding has no box.")


def test_stop_ends_a_draft_before_its_boxes(ct: Study):
    services, backend = scripted_services(delay=0.05)
    updates = drafting(services, ct)
    for update in updates:
        if isinstance(update[0], str) and update[0]:  # the first text: press Stop
            chat.stop(update[4])
            break
    *_, last = updates
    text, _findings, _flags, drafted, cancel, marks, _status, raw = last
    assert cancel is None
    assert drafted.raw == raw
    assert CT_REPORT.startswith(raw)
    assert len(raw) < len(CT_REPORT)
    assert len(backend.calls) == 1  # no grounding call after Stop
    assert marks.boxes == ()
    # A stopped draft says so (issue 15 item 4): in its title, its notes and every export.
    assert text.startswith("Draft report: CT of the chest (incomplete)")
    assert drafted.notes[0] == "stopped before the model finished: this draft is incomplete"
    from models.report.exports.markdown import to_markdown

    exported = to_markdown(drafted)
    assert "(incomplete)" in exported.splitlines()[0]
    assert "Note: stopped before the model finished: this draft is incomplete" in exported


def test_export_writes_the_drafted_report(ct: Study, gradio_temp_dir: Path):
    services, _ = scripted_services()
    *_, last = drive(drafting(services, ct))
    text, drafted = last[0], last[3]
    shown, note = report.export(services, drafted, ".json", text, ct)
    assert shown["visible"] is True
    path = Path(shown["value"])
    assert path.is_relative_to(gradio_temp_dir)
    data = json.loads(path.read_text())
    assert data["schema"] == "radlens.report/1"
    assert data["findings"][0]["boxes"][0]["slice"] == 10
    assert data["study"]["study_key"] == ct.key
    assert data["disclaimer"].startswith("AI-generated draft")
    assert note == ""
    with pytest.raises(gr.Error, match="Draft a report first"):
        report.export(services, None, ".md", "", ct)


def test_export_carries_the_clinicians_edits(ct: Study):
    services, _ = scripted_services()
    *_, last = drive(drafting(services, ct))
    text, drafted = last[0], last[3]
    assert "Pleura: Unremarkable." in text
    edited = text.replace("Pleura: Unremarkable.", "Pleura: Small left pleural effusion.")
    edited = edited.replace("1. Right upper lobe nodule.", "1. Right upper lobe nodule, 12 mm.")

    shown, note = report.export(services, drafted, ".json", edited, ct)
    data = json.loads(Path(shown["value"]).read_text())
    by_section = {f["section"]: f for f in data["findings"]}
    # The nodule's line is unchanged: it keeps its box and status.
    nodule = by_section["Lungs and airways"]
    assert nodule["text"] == "A 12 mm nodule in the right upper lobe."
    assert [(b["slice"], b["x0"], b["y0"], b["x1"], b["y1"]) for b in nodule["boxes"]] == [
        (10, 8, 32, 24, 48)
    ]
    assert nodule["flags"] == []
    pleura = by_section["Pleura"]
    assert (pleura["text"], pleura["boxes"]) == ("Small left pleural effusion.", [])
    assert pleura["flags"] == ["edited by the clinician"]
    assert [f["text"] for f in data["impression"]] == ["Right upper lobe nodule, 12 mm."]
    assert data["notes"][-1] == (
        "edited by the clinician: 2 finding(s) changed or added, 0 removed"
    )
    assert note.startswith("Exported with your edits (2 finding(s) changed or added")

    shown, _ = report.export(services, drafted, ".md", edited, ct)
    markdown = Path(shown["value"]).read_text()
    assert "Small left pleural effusion." in markdown
    assert "Right upper lobe nodule, 12 mm." in markdown
    assert 'box "nodule": slice 10, x 8-24, y 32-48 px' in markdown
    assert "Unremarkable" in markdown  # the other, unchanged headings
    assert markdown.count("edited by the clinician") >= 2
    # The drafted report itself is untouched: exporting its own text exports it as drafted.
    shown, note = report.export(services, drafted, ".json", text, ct)
    assert json.loads(Path(shown["value"]).read_text())["findings"][1]["text"] == "Unremarkable."
    assert note == ""


# --- a missing model ----------------------------------------------------------------------------


def test_missing_model_says_how_to_get_it_and_the_viewer_keeps_working(
    demo: Study, tmp_path: Path
):
    services = Services(
        initial_study=DEMO_STUDY, model_id="medgemma-1.5-4b", hub_cache=tmp_path / "empty"
    )
    status = settings.model_status(services, "medgemma-1.5-4b", "auto")
    assert status.startswith(
        "⚠ Model 'medgemma-1.5-4b' is not downloaded. Gated: accept the Health AI Developer "
        "Foundations terms of use on https://huggingface.co/google/medgemma-1.5-4b-it"
    )
    assert status.endswith("to `radlens models pull medgemma-1.5-4b`.")
    open_model = settings.model_status(services, "qwen2.5-vl-3b", "auto")
    assert open_model == (
        "⚠ Model 'qwen2.5-vl-3b' is not downloaded: run `radlens models pull qwen2.5-vl-3b`."
    )
    labels = dict((v, k) for k, v in settings.model_choices(services))
    assert labels["medgemma-1.5-4b"] == "MedGemma 1.5 4B-it · ~5.1 GB nf4 · not downloaded"

    updates = asking(services, "Heart size?", demo)
    question_box, messages, _h, cancel, _m, status, _s = next(updates)
    assert (question_box, messages, cancel) == ("Heart size?", [], None)
    assert "radlens models pull medgemma-1.5-4b" in status
    with pytest.raises(gr.Error, match=r"to `radlens models pull medgemma-1\.5-4b`"):
        next(updates)
    image, where = viewer.render_view(demo, 0, "acquired", 0, "default", None, None, False)
    assert image.shape == (1955, 1841)
    assert where == "Slice 1 / 1"


# --- settings -----------------------------------------------------------------------------------


def test_token_estimate_follows_slices_and_range(ct: Study):
    services = Services(model_id="medgemma-1.5-4b")
    series = ct.default_series
    # MedGemma: 256 + 4 tokens per image, plus ~3 + digits per "SLICE n" label (n = 1..N).
    five = settings.UserSettings("medgemma-1.5-4b", max_slices=5)  # slices 4, 8, 11, 15, 19
    assert settings.token_estimate(services, series, five, 10).startswith(
        "Images: **≈ 1,320 tokens** of a 131,072-token context · memory ~"
    )
    ranged = settings.UserSettings("medgemma-1.5-4b", first_slice=2, last_slice=11)
    estimate = settings.token_estimate(services, series, ranged, 10)
    assert estimate.startswith("Images: **≈ 2,641 tokens**")  # 10 x 260 + 9 x 4 + 1 x 5
    assert " GB nf4 / ~" in estimate
    assert estimate.endswith(" GB bf16")
    one = settings.UserSettings("medgemma-1.5-4b", mode="current", precision="nf4")
    current = settings.token_estimate(services, series, one, 3)
    assert current.startswith("Images: **≈ 260 tokens**")  # one image: no label
    assert current.endswith("memory ~5.0 GB nf4")


def test_stream_task_cancels_when_the_page_goes_away():
    cancel = CancelToken()

    def task(on_delta: Any) -> str:
        on_delta("a")
        cancel.wait(5)
        return "done"

    stream = stream_task(task, cancel)
    assert next(stream) == "a"
    stream.close()
    assert cancel.cancelled


def test_run_task_shows_status_then_text_and_returns_the_value():
    services, _ = scripted_services()
    spec = services.spec()
    seen: list[Running] = []

    def task(call: Call) -> str:
        call.on_delta("Lungs ")
        call.cancel.wait(0.05)  # the two pieces arrive apart: one update each
        call.on_delta("clear.")
        return "done"

    def show(now: Running) -> tuple[str, str]:
        seen.append(now)
        return now.phase.value, now.text

    run = run_task(services, spec, "fp32", task, show)
    updates = []
    while True:
        try:
            updates.append(next(run))
        except StopIteration as done:
            finished = done.value
            break
    loading = f"Loading {spec.name} (fp32); the first request waits for it..."
    loaded = f"{spec.name}: ready (scripted)."
    assert updates == [
        ("status", ""),
        ("status", ""),
        ("text", "Lungs "),
        ("text", "Lungs clear."),
    ]
    assert [now.status for now in seen] == [loading, loaded, loaded, loaded]
    assert len({id(now.cancel) for now in seen}) == 1  # one token for Stop, all along
    assert (finished.value, finished.status) == ("done", loaded)
    # Loaded now: no loading line the next time, and the scripting API gets the value alone.
    assert run_to_end(services, spec, "fp32", lambda call: 42) == 42


@pytest.mark.parametrize(
    ("error", "message"),
    [
        pytest.param(
            ValueError("Argument 'max_slices' must be > 0,\n not 0."),
            "Argument 'max_slices' must be > 0, not 0.",
            id="core-error-one-line",
        ),
        pytest.param(
            KeyError("DOE^JANE"),
            "Unexpected error (KeyError); the server's log has where it happened. Try again; "
            "if it keeps failing, restart RadLens.",
            id="bug-generic-line",
        ),
    ],
)
def test_run_task_shows_a_failure_then_raises_its_one_line_error(error: Exception, message: str):
    services, _ = scripted_services()

    def task(call: Call) -> str:
        call.on_delta("Lu")
        raise error

    run = run_task(services, services.spec(), "fp32", task, lambda now: now)
    seen: list[Running] = []
    with pytest.raises(gr.Error) as info:
        seen.extend(run)
    assert info.value.message == message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    failed = seen[-1]
    assert (failed.phase, failed.status, failed.text) == (Phase.FAILED, f"⚠ {message}", "Lu")
    with pytest.raises(gr.Error, match=re.escape(message)):
        run_to_end(services, services.spec(), "fp32", task)


def test_run_task_says_how_to_get_a_missing_model(tmp_path: Path):
    services = Services(model_id="medgemma-1.5-4b", hub_cache=tmp_path / "empty")
    run = run_task(services, services.spec(), "auto", lambda call: "", lambda now: now)
    failed = next(run)
    assert failed.phase is Phase.FAILED
    assert failed.status.startswith("⚠ Model 'medgemma-1.5-4b' is not downloaded.")
    with pytest.raises(gr.Error, match=r"to `radlens models pull medgemma-1\.5-4b`"):
        next(run)


# --- the shared model ---------------------------------------------------------------------------


def test_two_sessions_wait_for_one_load_and_a_new_precision_reloads(tiny_gemma3: Path):
    opened: list[str] = []

    def slow_open(spec: Any, precision: str, device: Any) -> ScriptedBackend:
        opened.append(precision)
        time.sleep(0.3)
        return ScriptedBackend(lambda prompt: "")

    services = Services(model_id=str(tiny_gemma3), open_backend=slow_open)
    spec = services.spec()
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: services.backend(spec, "fp32"), range(2))
    assert first is second
    assert opened == ["fp32"]
    assert services.is_loaded(spec, "fp32")
    assert services.load_note() == "tiny-gemma3: ready (scripted)."
    third = services.backend(spec, "bf16")
    assert third is not first
    assert opened == ["fp32", "bf16"]
    assert not services.is_loaded(spec, "fp32")


def test_another_model_loads_only_after_the_last_one_is_freed(tiny_gemma3: Path, tiny_qwen: Path):
    from models.backends.engine import open_backend

    alive: list[weakref.ref[Any]] = []
    seen_alive: list[bool] = []

    def opening(spec: Any, precision: str, device: Any) -> Any:
        seen_alive.extend(ref() is not None for ref in alive)  # the last model, if any
        backend = open_backend(spec, precision, device)
        alive.append(weakref.ref(backend.loaded.model))
        return backend

    services = Services(model_id=str(tiny_gemma3), device="cpu", open_backend=opening)
    gemma = services.backend(services.spec(), "fp32")
    model = gemma.loaded.model
    del gemma
    assert model.__class__.__name__.startswith("Gemma3")
    del model  # PyTorch models hold reference cycles: only a collection pass frees them
    qwen = services.backend(services.spec(str(tiny_qwen)), "fp32")
    assert seen_alive == [False]
    assert qwen.loaded.model.__class__.__name__.startswith("Qwen2_5_VL")
    assert services.is_loaded(services.spec(str(tiny_qwen)), "fp32")


def test_a_model_held_in_a_reference_cycle_is_freed_before_the_next_loads(tiny_gemma3: Path):
    class Cyclic(ScriptedBackend):
        def __init__(self) -> None:
            super().__init__(lambda prompt: "")
            self.itself = self  # as accelerate's hooks and bitsandbytes' modules do

    alive: list[weakref.ref[Any]] = []
    seen_alive: list[bool] = []

    def opening(spec: Any, precision: str, device: Any) -> Cyclic:
        seen_alive.extend(ref() is not None for ref in alive)
        backend = Cyclic()
        alive.append(weakref.ref(backend))
        return backend

    services = Services(model_id=str(tiny_gemma3), open_backend=opening)
    services.backend(services.spec(), "fp32")
    services.backend(services.spec(), "bf16")
    assert seen_alive == [False]


def test_a_finding_without_a_box_says_why_when_the_model_does_not_localize(ct: Study):
    """MedGemma 1.5 localizes chest radiographs only (its card): on a CT its report asks for no
    boxes, and choosing a finding says so instead of "This finding has no box."."""
    from models.tasks.report import draft_report

    series = ct.default_series
    spec = get_spec("medgemma-1.5-4b")
    backend = ScriptedBackend(
        lambda _prompt: (
            "Findings:\nLungs and airways: A 12 mm nodule in the right upper lobe."
            "\n\nImpression:\n1. Right upper lobe nodule."
        )
    )
    drafted = draft_report(series, backend, spec, options=InputOptions(max_slices=4))
    assert len(backend.calls) == 1  # no grounding call
    assert drafted.boxes == ()
    marks, slider, note = report.on_finding(drafted, 0, None, ct, 0, "acquired")
    assert (marks.highlight, slider) == (None, gr.skip())
    assert note.startswith("localization not offered by MedGemma 1.5 4B-it for CT")
    assert "chest-radiograph anatomy" in note
