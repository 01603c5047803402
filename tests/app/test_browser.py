"""The viewer in a real browser against a real server: what the user sees is what dicom_io renders.

Each step waits (bounded) for the viewer's <img> to get a new, loaded src, then checks the
pixels the browser fetched against ``render_slice`` on the same study. Gradio names an output
file by its content's hash, so a new src means new pixels.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from playwright.sync_api import expect

from app.server import DEMO_STUDY
from app.services import Services
from dicom_io.display.overlays import HIGHLIGHT_COLOUR, REGION_COLOUR
from dicom_io.display.render import render_slice
from dicom_io.loader import load_study
from tests.app.conftest import (
    CHROMIUM,
    CHROMIUM_MISSING,
    RadLensServer,
    localizes_everything,
    scripted,
)
from tests.app.test_ui_handlers import NODULE_BOX
from tests.app.test_ui_panes import reply
from tests.synthetic import write_ct_series, write_multi_series_folder

IMAGE_TIMEOUT_MS = 30_000
MODEL_TIMEOUT_MS = 60_000  # the first request also imports MONAI (~4 s)
NEW_IMAGE = """old => {
    const img = document.querySelector('#viewer img');
    return img !== null && img.src !== old && img.complete && img.naturalWidth > 0;
}"""


def test_chromium_is_installed():
    assert CHROMIUM.is_file(), CHROMIUM_MISSING


def _wait_for_new_image(page: Any, old: str) -> str:
    """The viewer's src once it differs from ``old`` and the image has loaded."""
    page.wait_for_function(NEW_IMAGE, arg=old, timeout=IMAGE_TIMEOUT_MS)
    return str(page.locator("#viewer img").get_attribute("src"))


def _pixels(page: Any, src: str) -> npt.NDArray[np.uint8]:
    response = page.request.get(src)
    assert response.status == 200, f"{src}: HTTP {response.status}"
    return np.asarray(Image.open(io.BytesIO(response.body())))


def _natural_size(page: Any) -> tuple[int, int]:
    width, height = page.locator("#viewer img").evaluate("i => [i.naturalWidth, i.naturalHeight]")
    return int(width), int(height)


def _served_path(server: RadLensServer, src: str) -> Path:
    prefix = f"{server.url}/gradio_api/file="
    assert src.startswith(prefix), src
    return Path(unquote(src.removeprefix(prefix)))


def test_demo_radiograph_is_in_the_viewer(
    radlens_server: RadLensServer, browser_page: Any, screenshot: Callable[[str], Path]
):
    page = browser_page
    page.goto(radlens_server.url)
    src = _wait_for_new_image(page, "")
    screenshot("demo")

    assert _served_path(radlens_server, src).is_relative_to(radlens_server.temp_dir)
    assert _natural_size(page) == (1841, 1955)  # columns x rows of the PA chest CR
    demo = load_study(DEMO_STUDY).default_series
    np.testing.assert_array_equal(_pixels(page, src), render_slice(demo, 0, "acquired", "default"))
    expect(page.locator("#series input")).to_have_value(re.compile(r"^#1 CR .*\(1 slice\)$"))
    expect(page.locator("#slice-position")).to_have_text("Slice 1 / 1")
    expect(page.locator("#slice input[type=range]")).to_be_disabled()
    expect(page.locator("#window input")).to_have_value("default")


def _choose_window(page: Any, preset: str) -> None:
    page.locator("#window input").click()
    page.get_by_role("option", name=preset, exact=True).click()


def test_ct_series_upload_scroll_window_and_plane(
    radlens_server: RadLensServer,
    browser_page: Any,
    screenshot: Callable[[str], Path],
    tmp_path: Path,
):
    written = write_ct_series(tmp_path / "ct", slices=12, rows=64, columns=64)
    ct = load_study(written.folder).default_series
    page = browser_page
    page.goto(radlens_server.url)
    src = _wait_for_new_image(page, "")

    page.locator("#upload input[type=file]").set_input_files([str(p) for p in written.paths])
    src = _wait_for_new_image(page, src)
    screenshot("ct-uploaded")
    expect(page.locator("#series input")).to_have_value(re.compile(r"^#\d+ CT .*\(12 slices\)$"))
    expect(page.locator("#slice-position")).to_have_text(re.compile(r"^\s*Slice 7 / 12 ·"))
    expect(page.locator("#slice input[type=number]")).to_have_value("6")
    expect(page.locator("#slice input[type=range]")).to_have_attribute("max", "11")
    assert _natural_size(page) == (64, 64)
    middle = _pixels(page, src)
    np.testing.assert_array_equal(middle, render_slice(ct, 6, "acquired", "default"))

    # Gradio 6's slider: typing into its number box and pressing Enter fires one `input`.
    number = page.locator("#slice input[type=number]")
    number.fill("2")
    number.press("Enter")
    src = _wait_for_new_image(page, src)
    screenshot("slice-2")
    expect(page.locator("#slice-position")).to_have_text(re.compile(r"^\s*Slice 3 / 12 ·"))
    soft_tissue = _pixels(page, src)
    assert soft_tissue.shape == middle.shape
    assert not np.array_equal(soft_tissue, middle)
    np.testing.assert_array_equal(soft_tissue, render_slice(ct, 2, "acquired", "default"))

    _choose_window(page, "lung")
    src = _wait_for_new_image(page, src)
    screenshot("window-lung")
    expect(page.locator("#window input")).to_have_value("lung")
    lung = _pixels(page, src)
    np.testing.assert_array_equal(lung, render_slice(ct, 2, "acquired", "lung"))
    # Lungs (-850 HU) are black in the soft-tissue window and grey in the lung window.
    assert np.count_nonzero(lung == 0) < np.count_nonzero(soft_tissue == 0) // 2

    page.locator("#plane").get_by_label("coronal", exact=True).check()
    src = _wait_for_new_image(page, src)
    screenshot("plane-coronal")
    expect(page.locator("#slice-position")).to_have_text(re.compile(r"^\s*Slice 33 / 64 ·"))
    width, height = _natural_size(page)
    # 12 slices x 1.25 mm tall, 64 columns x 0.7 mm wide, drawn with square pixels.
    assert width == 64
    assert height / width == pytest.approx(12 * 1.25 / (64 * 0.7), abs=0.02)
    np.testing.assert_array_equal(_pixels(page, src), render_slice(ct, 32, "coronal", "lung"))


# --- the assistant panes ------------------------------------------------------------------------

# Records every text the last answer bubble shows, to see the answer arrive piece by piece.
WATCH_ANSWERS = """() => {
    window.radlensTexts = [];
    const chat = document.querySelector('#chat');
    new MutationObserver(() => {
        const bots = chat.querySelectorAll('[data-testid="bot"]');
        const text = bots.length ? bots[bots.length - 1].innerText.trim() : '';
        const seen = window.radlensTexts;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
    }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""
LAST_ANSWER = """() => {
    const bots = document.querySelectorAll('#chat [data-testid="bot"]');
    return bots.length ? bots[bots.length - 1].innerText.trim() : '';
}"""


@pytest.fixture(scope="module")
def tiny_server(start_server: Callable[..., RadLensServer], tiny_gemma3: Path) -> RadLensServer:
    """The demo study with the tiny Gemma3 checkpoint as the model (fp32 on the CPU)."""
    services = Services(
        initial_study=DEMO_STUDY, model_id=str(tiny_gemma3), precision="fp32", device="cpu"
    )
    return start_server(services)


def _set_number(page: Any, elem_id: str, value: int) -> None:
    number = page.locator(f"#{elem_id} input[type=number]")
    number.fill(str(value))
    number.press("Enter")


def exported_file(page: Any, elem_id: str, option: str, suffix: str) -> Any:
    """Pick ``option`` in the ``elem_id`` export row, press Export, and fetch the file its
    link offers (an HTTP response; its name must end in ``suffix``)."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option).click()
    page.locator(f"#{elem_id}-button").click()
    link = page.locator(f"#{elem_id}-file a").first
    expect(link).to_have_attribute("href", re.compile(re.escape(f"report{suffix}")))
    response = page.request.get(str(link.get_attribute("href")))
    assert response.status == 200, f"{option}: HTTP {response.status}"
    return response


def _ask(page: Any, question: str) -> None:
    page.locator("#chat-input textarea").fill(question)
    page.locator("#chat-input textarea").press("Enter")


def test_chat_report_and_export_with_the_tiny_model(
    tiny_server: RadLensServer, browser_page: Any, screenshot: Callable[[str], Path]
):
    page = browser_page
    page.goto(tiny_server.url)
    _wait_for_new_image(page, "")
    expect(page.locator("#model-status")).to_contain_text("loads on the first request")
    page.get_by_role("tab", name="Settings").click()
    expect(page.locator("#tokens")).to_contain_text("≈ 260 tokens")  # one radiograph
    _set_number(page, "max-new-tokens", 48)
    screenshot("settings")
    page.get_by_role("tab", name="Chat").click()

    page.evaluate(WATCH_ANSWERS)
    _ask(page, "Describe the image.")
    expect(page.locator("#model-status")).to_contain_text(
        "loaded as fp32 on cpu", timeout=MODEL_TIMEOUT_MS
    )
    expect(page.locator("#chat [data-testid='user']")).to_have_text("Describe the image.")
    page.wait_for_function(f"() => ({LAST_ANSWER})().length > 0", timeout=MODEL_TIMEOUT_MS)
    expect(page.locator("#chat-input textarea")).to_have_value("")
    page.wait_for_timeout(1500)  # let the 48 tokens finish
    screenshot("chat")
    texts = page.evaluate("window.radlensTexts")
    assert len(texts) >= 2, f"the answer arrived in one piece: {texts}"
    assert all(b.startswith(a[:20]) for a, b in itertools.pairwise(texts))
    expect(page.locator("#chat-disclaimer")).to_contain_text("not for diagnostic use")

    page.get_by_role("tab", name="Report").click()
    page.locator("#indication textarea").fill("cough")
    page.locator("#draft-report").click()
    report_box = page.locator("#report textarea")
    expect(report_box).to_have_value(
        re.compile(r"^Draft report: frontal chest radiograph"), timeout=MODEL_TIMEOUT_MS
    )
    expect(report_box).to_have_value(re.compile(r"Indication: cough"))
    expect(page.locator("#report-flags")).to_contain_text("Reliability")
    screenshot("report")

    exported = exported_file(page, "export", "JSON (.json)", ".json").json()
    assert exported["schema"] == "radlens.report/1"
    assert exported["indication"] == "cough"
    assert exported["disclaimer"].startswith("AI-generated draft")
    screenshot("exported")


@pytest.fixture(scope="module")
def scripted_server(start_server: Callable[..., RadLensServer]) -> RadLensServer:
    """A model that writes MedGemma's text slowly (0.1 s per piece): reports, boxes,
    comparisons and probe answers, for UI wiring only. The question "What is this?" is held
    after its first piece until Stop, so the Stop check does not race the stream."""
    services, _ = scripted(
        reply, 0.1, hold=lambda prompt: "What is this?" in prompt, can=localizes_everything()
    )
    return start_server(services)


def _wait_until_shown(
    page: Any, old: str, check: Callable[[npt.NDArray[np.uint8]], bool]
) -> tuple[str, npt.NDArray[np.uint8]]:
    """The viewer's src and pixels once they pass ``check`` (events may redraw in between)."""
    for _ in range(5):
        old = _wait_for_new_image(page, old)
        pixels = _pixels(page, old)
        if check(pixels):
            return old, pixels
    raise AssertionError("the viewer never showed the expected pixels")


def _click_natural(page: Any, x: float, y: float) -> None:
    """Click the viewer at (x, y) pixels of the image it shows (object-fit: contain)."""
    box = page.locator("#viewer img").bounding_box()
    width, height = _natural_size(page)
    scale = min(box["width"] / width, box["height"] / height)
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    page.mouse.click(left + x * scale, top + y * scale)


def test_findings_regions_and_stop_on_a_ct(
    scripted_server: RadLensServer,
    browser_page: Any,
    screenshot: Callable[[str], Path],
    tmp_path: Path,
):
    written = write_ct_series(tmp_path / "ct", slices=20, rows=64, columns=32, spacing=(2, 0.5, 1))
    page = browser_page
    page.goto(scripted_server.url)
    src = _wait_for_new_image(page, "")
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in written.paths])
    src = _wait_for_new_image(page, src)
    _set_number(page, "slice", 3)
    src = _wait_for_new_image(page, src)

    page.get_by_role("tab", name="Report").click()
    page.locator("#draft-report").click()
    nodule = page.locator("#findings label", has_text="[box on slice 10]")
    expect(nodule).to_have_text(
        "Lungs and airways: A 12 mm nodule in the right upper lobe.  [box on slice 10]",
        timeout=MODEL_TIMEOUT_MS,
    )
    nodule.click()
    expect(page.locator("#slice input[type=number]")).to_have_value("10")
    # Slice 10, the box's columns 8..24 and rows 32..48 shown at x 16..48: cyan, 2 px thick.
    src, shown = _wait_until_shown(
        page, src, lambda im: np.all(im[32:34, 16:48] == HIGHLIGHT_COLOUR, axis=2).all()
    )
    screenshot("finding-chosen")
    expect(page.locator("#slice-position")).to_have_text(re.compile(r"^\s*Slice 11 / 20 ·"))
    # Inside the outline the slice is as render_slice draws it, grey in all three channels.
    plain = render_slice(load_study(written.folder).default_series, 10, "acquired", "default")
    for channel in range(3):
        np.testing.assert_array_equal(shown[34:46, 18:46, channel], plain[34:46, 18:46])

    # The clinician edits a line; the Markdown export carries it, the nodule keeps its box.
    report_box = page.locator("#report textarea")
    edited = report_box.input_value().replace("Pleura: Unremarkable.", "Pleura: Thin effusion.")
    report_box.fill(edited)
    page.locator("#export-button").click()
    link = page.locator("#export-file a").first
    expect(link).to_have_attribute("href", re.compile(r"radlens-report\.md"))
    markdown = page.request.get(str(link.get_attribute("href"))).text()
    assert "### Pleura\n\n- Thin effusion.\n  - flag: edited by the clinician\n" in markdown
    assert 'box "nodule": slice 10, x 8-24, y 32-48 px' in markdown
    expect(page.locator("#export-note")).to_contain_text("Exported with your edits (1 finding")
    screenshot("edited-export")

    page.get_by_role("tab", name="Chat").click()
    page.locator("#region-mode input").check()
    _click_natural(page, 18.0, 34.0)
    expect(page.locator("#region-info")).to_contain_text("First corner (9, 34)")
    _click_natural(page, 46.0, 46.0)
    expect(page.locator("#region-info")).to_have_text(
        "Region on slice 10: x 9-23, y 34-46 px. The next question is about it."
    )
    # Its top edge (source row 34, within a click's precision) is yellow from x 19 to 44.
    src, _ = _wait_until_shown(
        page, src, lambda im: np.all(im[33:35, 19:45] == REGION_COLOUR, axis=2).any(axis=0).all()
    )
    screenshot("region")

    _ask(page, "What is this?")
    page.wait_for_function(f"() => ({LAST_ANSWER})().length > 0", timeout=MODEL_TIMEOUT_MS)
    page.locator("#stop").click()
    answer = page.locator("#chat [data-testid='bot']").last
    expect(answer).to_contain_text("(stopped)")
    # Stopped part way: what was written is the start of the scripted text, with no box.
    written = answer.inner_text().removesuffix("(stopped)").strip()
    assert written
    assert NODULE_BOX.startswith(written)
    assert "Final Answer" not in written
    expect(page.locator("#chat [data-testid='user']")).to_contain_text(
        "about the region on slice 10: x 9-23, y 34-46 px"
    )
    screenshot("stopped")


# --- folder upload, thumbnails, values under a click, comparison ---------------------------------

PROGRESS_SEEN = """() => {
    window.radlensProgress = new Set();
    new MutationObserver(() => {
        const found = document.body.innerText.match(/(Reading headers|Decoding the series)/g);
        (found || []).forEach(text => window.radlensProgress.add(text));
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
COMPARE_STREAMING = """() => {
    const text = document.querySelector('#compare-report textarea').value;
    return text.startsWith('Technique:') && !text.includes('Impression');
}"""


def test_folder_thumbnails_values_and_compare(
    scripted_server: RadLensServer,
    browser_page: Any,
    screenshot: Callable[[str], Path],
    tmp_path: Path,
):
    written = write_multi_series_folder(tmp_path / "study", slices=40, rows=64, columns=64)
    prior = write_ct_series(tmp_path / "prior", slices=12, rows=48, columns=48, seed=5)
    study = load_study(written.folder)
    page = browser_page
    page.goto(scripted_server.url)
    src = _wait_for_new_image(page, "")

    # A folder: Chromium uploads its files; reading them shows a progress bar on the viewer.
    page.evaluate(PROGRESS_SEEN)
    # Gradio's "Open a folder" button holds the page's one directory input.
    page.locator("input[webkitdirectory]").set_input_files(str(written.folder))
    src = _wait_for_new_image(page, src)
    expect(page.locator("#series input")).to_have_value("#3 CT SYNTHETIC CHEST 1.25mm (40 slices)")
    thumbs = page.locator("#thumbnails button.thumbnail-item")
    expect(thumbs).to_have_count(4)
    expect(thumbs.nth(2)).to_have_class(re.compile(r"\bselected\b"))
    assert page.evaluate("[...window.radlensProgress]") != []
    screenshot("folder-thumbnails")

    # A thumbnail picks its series: the 2.5 mm reconstruction, shown at its middle slice.
    thumbs.nth(3).click()
    expect(page.locator("#series input")).to_have_value("#4 CT SYNTHETIC CHEST 2.5mm (20 slices)")
    src = _wait_for_new_image(page, src)
    second = study.series[3]
    np.testing.assert_array_equal(_pixels(page, src), render_slice(second, 10, "acquired"))

    # A click reads the HU of the voxel under it (64 x 64 shown as stored).
    _click_natural(page, 20.5, 30.5)
    hu = second.volume.array[10, 30, 20]
    expect(page.locator("#pixel-value")).to_have_text(
        f"Value at voxel (slice 10, row 30, column 20): {hu:.0f} HU"
    )
    screenshot("value")

    page.get_by_role("tab", name="Compare").click()
    page.locator("#prior-upload input[type=file]").set_input_files([str(p) for p in prior.paths])
    expect(page.locator("#prior-info")).to_have_text(
        "Prior: CT of the chest, axial, 12 slices at 1.25 mm."
    )
    expect(page.locator("#prior-view img")).to_be_visible()
    page.locator("#run-compare").click()
    page.wait_for_function(COMPARE_STREAMING, timeout=MODEL_TIMEOUT_MS)  # part way through
    changes = page.locator("#compare-changes table")
    expect(changes).to_contain_text("worse", timeout=MODEL_TIMEOUT_MS)
    expect(changes.locator("tbody tr")).to_have_count(7)
    expect(changes.locator("tbody tr").first).to_have_text(
        re.compile(r"Lungs and airways\s+12 mm nodule in the right upper lobe, was 8 mm\s+worse")
    )
    expect(page.locator("#compare-report textarea")).to_have_value(
        re.compile(r"^Draft comparison report: CT of the chest\n[\s\S]*\[improved\]")
    )
    expect(page.locator("#compare-disclaimer")).to_be_visible()
    expect(page.locator("#compare-disclaimer")).to_contain_text("not for diagnostic use")
    screenshot("compared")

    markdown = exported_file(page, "compare-export", "Markdown (.md)", ".md").text()
    assert "12 mm nodule in the right upper lobe, was 8 mm (change: worse)" in markdown
    assert "(change: improved)" in markdown


def test_an_upload_of_several_patients_asks_which_study_to_open(
    radlens_server: RadLensServer,
    browser_page: Any,
    screenshot: Callable[[str], Path],
):
    """Issue 12 item 5: nothing is opened, the studies are listed, the chosen one opens."""
    from tests.files import data_file

    files = [data_file(n) for n in ("CT_small.dcm", "MR_small.dcm", "MR2_J2KI.dcm")]
    page = browser_page
    page.goto(radlens_server.url)
    src = _wait_for_new_image(page, "")
    expect(page.locator("#studies")).to_be_hidden()
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in files])
    chooser = page.locator("#studies")
    expect(chooser).to_be_visible(timeout=IMAGE_TIMEOUT_MS)
    screenshot("several-studies")
    expect(page.locator("#series input")).to_have_value(re.compile(r"^#1 CR "))  # still the demo
    assert page.locator("#viewer img").get_attribute("src") == src
    page.locator("#studies input").click()
    options = page.get_by_role("option")
    expect(options).to_have_count(3)
    first = "1) 2004-01-19: CT, 1 series, 1 image(s), patient 1"
    expect(options.nth(0)).to_have_attribute("aria-label", first)
    second = options.nth(1)
    label = str(second.get_attribute("aria-label"))
    assert label.startswith("2) 2004-08-26: MR, 1 series, 1 image(s), patient 2")
    second.click()  # MR_small.dcm, uploaded second: the 64 x 64 MR of patient 2
    expect(page.locator("#studies input")).to_have_value(label)
    src = _wait_for_new_image(page, src)
    screenshot("second-study-opened")
    expect(page.locator("#series input")).to_have_value(re.compile(r"^#1 MR "))
    assert _natural_size(page) == (64, 64)
    chosen = load_study([str(p) for p in files], study=2).default_series
    np.testing.assert_array_equal(
        _pixels(page, src), render_slice(chosen, 0, "acquired", "default")
    )
