"""The viewer in a real browser against a real server: what the user sees is what dicom_io renders.

Each step waits (bounded) for the viewer's <img> to get a new, loaded src, then checks the
pixels the browser fetched against ``render_slice`` on the same study. Gradio names an output
file by its content's hash, so a new src means new pixels.
"""

from __future__ import annotations

import io
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
from dicom_io.display import render_slice
from dicom_io.loader import load_study
from tests.app.conftest import CHROMIUM, CHROMIUM_MISSING, RadLensServer
from tests.synthetic import write_ct_series

IMAGE_TIMEOUT_MS = 30_000
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
