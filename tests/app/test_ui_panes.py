"""The Compare pane, the report check, series thumbnails and the value under a click, through
their handlers (as Gradio calls them), with a scripted MedGemma text for the wiring."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
import pytest

from app import handlers_chat as chat
from app import handlers_compare as compare
from app import handlers_report as report
from app import handlers_viewer as viewer
from app import ui_events
from app.audit import AuditLog
from app.services import Services
from dicom_io.display.render import render_slice
from dicom_io.loader import load_study
from dicom_io.study import Study
from models.report.draft import FindingStatus
from tests.app.conftest import localizes_everything, scripted
from tests.app.test_ui_handlers import drafting, drive, scripted_reply, widgets
from tests.synthetic import write_ct_series, write_multi_series_folder

COMPARED = """Technique:
CT of the chest.

Comparison:
Prior CT of the chest.

Findings:
Lungs and airways: 12 mm nodule in the right upper lobe, was 8 mm [worse]
Pleura: Small right pleural effusion [improved]
Heart and great vessels: Unremarkable [unchanged]
Mediastinum and hila: Unremarkable [unchanged]
Chest wall and bones: Unremarkable [unchanged]
Upper abdomen: Unremarkable

Impression:
1. Growing right upper lobe nodule [worse]
"""


def reply(prompt: str) -> str:
    if "Compare the current" in prompt:
        return COMPARED
    if "free of" in prompt:
        return "It is not free of it.\nFinal Answer: no"
    if "Question: does this" in prompt:
        return "It shows it.\nFinal Answer: yes"
    return scripted_reply(prompt)


@pytest.fixture(scope="module")
def prior_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A prior CT of another geometry (12 slices of 48 x 48), as an upload gives its files."""
    folder = tmp_path_factory.mktemp("panes") / "then"
    written = write_ct_series(folder, slices=12, rows=48, columns=48, seed=7, study_uid="1.2.9")
    return [str(path) for path in written.paths]


@pytest.fixture(scope="module")
def studies(
    tmp_path_factory: pytest.TempPathFactory, prior_files: list[str]
) -> tuple[Study, Study]:
    """The current CT (20 slices, 64 x 32) and the prior."""
    folder = tmp_path_factory.mktemp("panes") / "now"
    write_ct_series(folder, slices=20, rows=64, columns=32, spacing=(2.0, 0.5, 1.0))
    return load_study(folder), load_study(prior_files)


def _services(tmp_path: Path, delay: float = 0.0) -> tuple[Services, Any]:
    services, backend = scripted(reply, delay=delay, can=localizes_everything())
    services.audit = AuditLog(tmp_path / "audit.jsonl")
    return services, backend


def _comparing(services: Services, prior: Study, current: Study, **kw: Any) -> Any:
    values = widgets(services.spec().id, **kw)
    return compare.compare(services, "follow-up", prior, None, current, 0, *values)


def test_a_prior_is_opened_and_previewed(prior_files: list[str], tmp_path: Path):
    services, _ = _services(tmp_path)
    assert compare.open_prior(services, []) == (gr.skip(),) * 4
    prior, choices, preview, info = compare.open_prior(services, prior_files)
    assert prior.default_series.shape == (12, 48, 48)
    assert choices == gr.update(choices=[(prior.default_series.label(), 0)], value=0)
    middle = render_slice(prior.default_series, 6, "acquired", "default")
    np.testing.assert_array_equal(preview, middle)  # 48 x 48: small enough to stay as it is
    assert info == ("**Prior**: CT of the chest, axial, 12 slices at 1.25 mm.")
    assert compare.show_prior(None, None) == (None, "")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(gr.Error, match="not a DICOM, NIfTI, PNG or JPEG file"):
        compare.open_prior(services, [str(tmp_path / "notes.txt")])


def test_compare_streams_the_interval_changes(studies: tuple[Study, Study], tmp_path: Path):
    current, prior = studies
    services, backend = _services(tmp_path, delay=0.005)
    updates = drive(_comparing(services, prior, current, max_slices=4))
    texts = [u[0] for u in updates[:-1] if isinstance(u[0], str) and u[0]]
    assert len(texts) > 2
    assert all(b.startswith(a) for a, b in itertools.pairwise(texts))
    assert texts[-1] == COMPARED
    assert all(u[3] is not None for u in updates[:-1])  # Stop can act until the end

    text, table, compared, cancel, _status = updates[-1]
    assert cancel is None
    assert compared.kind == "compare"
    assert compared.study.study_key == current.key
    assert compared.comparison.startswith("CT of the chest, axial, 12 slices")
    assert text.startswith("Draft comparison report: CT of the chest\n")
    assert "Lungs and airways: 12 mm nodule in the right upper lobe, was 8 mm [worse]" in text
    assert "Upper abdomen: Unremarkable\n" in text  # no change stated, none invented
    assert "1. Growing right upper lobe nodule [worse]" in text
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Section | Finding | Interval change |"
    assert rows[1] == (
        "| Lungs and airways | 12 mm nodule in the right upper lobe, was 8 mm | **worse** |"
    )
    assert rows[2] == "| Pleura | Small right pleural effusion | **improved** |"
    assert rows[6] == "| Upper abdomen | Unremarkable | **not stated** |"
    assert rows[7] == "| Impression | Growing right upper lobe nodule | **worse** |"
    # The model saw both studies' techniques: the prior's 12 slices, the current one's 20.
    (prompt,) = backend.calls
    assert "Prior study, from its metadata: CT of the chest, axial, 12" in prompt
    assert "Current study, from its metadata: CT of the chest, axial, 20" in prompt


def test_a_comparison_exports_with_the_clinicians_edits(
    studies: tuple[Study, Study], tmp_path: Path
):
    current, prior = studies
    services, _ = _services(tmp_path)
    text, _table, compared, _cancel, _status = drive(_comparing(services, prior, current))[-1]
    with pytest.raises(gr.Error, match="Run a comparison first"):
        report.export(services, None, ".md", "", current, missing="Run a comparison first.")
    edited = text.replace("effusion [improved]", "effusion [resolved]")
    shown, note = report.export(services, compared, ".md", edited, current)
    markdown = Path(shown["value"]).read_text()
    assert "12 mm nodule in the right upper lobe, was 8 mm (change: worse)" in markdown
    assert "Small right pleural effusion (change: resolved)" in markdown
    assert "Prior study" in markdown or "Comparison" in markdown
    assert note.startswith("Exported with your edits (1 finding(s) changed or added")
    lines = services.audit.path.read_text().splitlines()
    assert [json.loads(line)["task"] for line in lines] == ["compare", "export"]


def test_stop_ends_a_comparison(studies: tuple[Study, Study], tmp_path: Path):
    current, prior = studies
    services, _ = _services(tmp_path, delay=0.05)
    updates = _comparing(services, prior, current, max_slices=4)
    for update in updates:
        if isinstance(update[0], str) and update[0]:
            chat.stop(update[3])
            break
    *_, last = updates
    _text, _table, compared, cancel, _status = last
    assert cancel is None
    assert COMPARED.startswith(compared.raw)
    assert len(compared.raw) < len(COMPARED)


def test_compare_needs_both_studies(studies: tuple[Study, Study], tmp_path: Path):
    current, prior = studies
    services, _ = _services(tmp_path)
    with pytest.raises(gr.Error, match="Open a prior study in this tab first"):
        next(_comparing(services, None, current))
    with pytest.raises(gr.Error, match="Open a study first"):
        next(_comparing(services, prior, None))


def test_check_probes_the_edited_report(studies: tuple[Study, Study], tmp_path: Path):
    current, _ = studies
    services, backend = _services(tmp_path)
    *_, last = drive(drafting(services, current))
    text, drafted = last[0], last[3]
    edited = text.replace("Pleura: Unremarkable.", "Pleura: Small left pleural effusion.")
    before = len(backend.calls)
    values = widgets(services.spec().id)
    *_, done = drive(report.check_report(services, drafted, edited, current, *values))
    text, findings, flags, checked, cancel, marks, _status = done
    # Abnormal: the nodule, the clinician's effusion, the impression: 2 probes each + control.
    assert len(backend.calls) - before == 7
    by_section = {f.section: f for f in checked.findings}
    assert by_section["Lungs and airways"].status is FindingStatus.VERIFIED
    assert by_section["Lungs and airways"].boxes  # kept through the edit
    pleura = by_section["Pleura"]
    assert pleura.status is FindingStatus.UNVERIFIED  # the clinician's words have no box
    assert pleura.flags == ("edited by the clinician", "not localized on the images")
    assert "Lungs and airways: [verified] A 12 mm nodule in the right upper lobe." in text
    assert "Pleura: [unverified] Small left pleural effusion." in text
    assert "- check: control: asked about a blank image, the model answered yes" in flags
    assert len(findings["choices"]) == len(checked.all_findings)
    assert [b.slice for b in marks.boxes] == [10]
    assert cancel is None
    with pytest.raises(gr.Error, match="Draft a report first"):
        next(report.check_report(services, None, "", current, *values))


def test_check_shows_progress_and_stop_ends_it(studies: tuple[Study, Study], tmp_path: Path):
    current, _ = studies
    services, backend = _services(tmp_path, delay=0.02)
    *_, last = drive(drafting(services, current))
    text, drafted = last[0], last[3]
    before = len(backend.calls)
    checking = report.check_report(services, drafted, text, current, *widgets(services.spec().id))
    statuses = []
    for update in checking:
        *_, cancel, _marks, status = update
        statuses.append(status)
        if status.startswith("Checking the report: model call 2 of "):
            chat.stop(cancel)
    *_, checked, cancel, _marks, _status = update
    assert statuses[-2].startswith("Checking the report: model call 2 of 5")  # 2 findings
    assert cancel is None
    assert len(backend.calls) - before == 2  # the call running at Stop ended, no other began
    assert any(c.startswith("check stopped: 0 of 2 abnormal finding(s)") for c in checked.checks)


def test_series_thumbnails(tmp_path: Path):
    write_multi_series_folder(tmp_path, slices=10, rows=32, columns=32)
    study = load_study(tmp_path)
    calls: list[tuple[int, int]] = []
    shown = viewer.thumbnails(study, lambda done, total: calls.append((done, total)))
    # The CT, its two localizer images (a stack each) and the 2.5 mm reconstruction.
    assert len(study.series) == 4
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4)]
    assert [caption for _, caption in shown] == [
        "#1 CT, 1 slice",
        "#2 CT, 1 slice",
        "#3 CT, 10 slices",
        "#4 CT, 5 slices",
    ]
    for (picture, _), series in zip(shown, study.series, strict=True):
        middle = render_slice(series, series.shape[0] // 2, "acquired", "default")
        np.testing.assert_array_equal(picture, middle)  # 32 x 32: not scaled down
    assert viewer.thumbnails(None) == []


def test_a_large_slice_is_scaled_down_for_its_thumbnail(tmp_path: Path):
    write_ct_series(tmp_path, slices=3, rows=400, columns=200, spacing=(1.0, 1.0, 1.0))
    series = load_study(tmp_path).default_series
    assert viewer.series_thumbnail(series).shape == (160, 80)


def test_a_click_reports_the_value_under_it(studies: tuple[Study, Study]):
    current, _ = studies
    hu = current.default_series.volume.array
    # Slice 10 is shown 64 x 64 (columns x2): display (41.5, 32.9) is row 32, column 20.
    text = viewer.point_value(current, 0, "acquired", 10, (41.5, 32.9, 64, 64))
    assert text == f"Value at voxel (slice 10, row 32, column 20): **{hu[10, 32, 20]:.0f} HU**"
    # Coronal slice 40, display rows 18..19 hold slice 10 (head up, 2 display rows a slice).
    text = viewer.point_value(current, 0, "coronal", 40, (7.5, 18.5, 32, 40))
    assert text == f"Value at voxel (slice 10, row 40, column 7): **{hu[10, 40, 7]:.0f} HU**"
    assert viewer.point_value(current, 0, "acquired", 10, (70.0, 5.0, 64, 64)) == ""
    assert viewer.point_value(None, 0, "acquired", 10, (1.0, 1.0, 64, 64)) == ""


def test_event_functions_get_the_user_from_the_request():
    seen: list[tuple[Any, ...]] = []

    def handler(*inputs: Any, user: str) -> str:
        seen.append((*inputs, user))
        return "done"

    def streaming(*inputs: Any, user: str) -> Any:
        yield user

    plain = ui_events._for_user(handler)
    assert plain(SimpleNamespace(username="alice"), 1, 2) == "done"
    assert plain(SimpleNamespace(username=None), 3) == "done"
    assert seen == [(1, 2, "alice"), (3, "local")]
    assert list(ui_events._for_user(streaming)(SimpleNamespace(username="bob"))) == ["bob"]
