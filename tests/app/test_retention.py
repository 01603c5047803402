"""Uploads and exports leave the server's disk once nobody needs them."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file

from app.retention import PageHoldings
from app.server import DEMO_STUDY
from app.services import Services
from tests.app.conftest import RadLensServer, scripted
from tests.app.test_ui_panes import reply
from tests.files import sha256_tree


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "gradio"
    root.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(root))
    return root


def _upload(root: Path, digest: str, name: str, data: bytes = b"DICM") -> Path:
    """A file where Gradio puts an upload: <temp>/<content hash>/<name>."""
    path = root / digest / name
    path.parent.mkdir(exist_ok=True)
    staged = root / f".staged-{digest}-{name}"
    staged.write_bytes(data)
    os.rename(staged, path)  # as Gradio moves an upload in: a new inode
    return path


def test_the_last_holder_deletes_a_shared_file_and_its_folder(temp_root: Path):
    held = PageHoldings()
    shared, own = _upload(temp_root, "aa", "chest.dcm"), _upload(temp_root, "bb", "ct.zip")
    held.hold("page-1", [shared, own])
    held.hold("api-call", [str(shared)])
    assert held.release("page-1") == 1  # its own file; the shared one is still in use
    assert not own.exists()
    assert not own.parent.exists()
    assert shared.exists()
    assert held.release("api-call") == 1
    assert not shared.parent.exists()
    assert held.release("api-call") == 0
    assert held.release(None) == 0


def test_a_newer_upload_of_the_same_content_is_left_to_its_own_holder(temp_root: Path):
    held = PageHoldings()
    first = _upload(temp_root, "cc", "chest.dcm")
    held.hold("page-1", [first])
    again = _upload(temp_root, "cc", "chest.dcm")  # another page uploads the same file...
    assert again == first
    assert held.release("page-1") == 0  # ...before its handler holds it: it stays
    assert again.exists()
    held.hold("page-2", [again])
    assert held.release("page-2") == 1
    assert not again.exists()


def test_nothing_outside_the_temporary_folder_is_ever_deleted(temp_root: Path, tmp_path: Path):
    mine = tmp_path / "studies" / "chest.dcm"
    mine.parent.mkdir()
    shutil.copy(DEMO_STUDY, mine)
    before = sha256_tree(mine.parent)
    held = PageHoldings()
    held.hold("page-1", [mine, temp_root, temp_root / ".." / "studies" / "chest.dcm"])
    assert held.holders(mine) == set()
    assert held.release("page-1") == 0
    assert sha256_tree(mine.parent) == before


# --------------------------------------------------------------------------- a running server


@pytest.fixture(scope="module")
def server(start_server: Callable[..., RadLensServer]) -> tuple[RadLensServer, Any]:
    services, _backend = scripted(reply)
    services.api = True
    return start_server(services), services


def _copies(root: Path, name: str) -> list[Path]:
    return [p for p in root.rglob(name) if p.is_file()]


def test_api_calls_sending_the_same_file_at_once_are_both_answered(
    server: tuple[RadLensServer, Services], tmp_path: Path
):
    running, _services = server
    same = tmp_path / "api-retention-same.dcm"
    shutil.copy(DEMO_STUDY, same)

    def call(_: int) -> dict[str, Any]:
        one = Client(running.url, verbose=False, download_files=False)
        return one.predict([handle_file(str(same))], "Any effusion?", 16, api_name="/ask")

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(call, range(2)))
    assert [a["schema"] for a in answers] == ["radlens.answer/1"] * 2
    assert same.exists()


def test_a_closed_tab_takes_its_uploads_and_exports_with_it(
    server: tuple[RadLensServer, Services], browser_page: Any, tmp_path: Path
):
    from tests.app.test_browser import exported_file

    running, _services = server
    study = tmp_path / "tab-retention-chest.dcm"
    shutil.copy(DEMO_STUDY, study)
    page = browser_page
    page.goto(running.url)
    page.locator("#upload input[type=file]").set_input_files([str(study)])
    deadline = time.monotonic() + 30
    while not _copies(running.temp_dir, study.name) and time.monotonic() < deadline:
        time.sleep(0.2)
    (upload,) = _copies(running.temp_dir, study.name)
    page.get_by_role("tab", name="Report").click()
    page.locator("#draft-report").click()
    page.wait_for_function(
        "() => document.querySelector('#report textarea').value.startsWith('Draft report')"
    )
    exported = exported_file(page, "export", "Markdown (.md)", ".md")
    export_path = Path(exported.url.split("file=", 1)[1])
    assert export_path.exists()

    page.goto("about:blank")  # the tab leaves the app: Gradio's unload event
    deadline = time.monotonic() + 30
    while (upload.exists() or export_path.exists()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not upload.exists()
    assert not export_path.exists()
    assert study.exists()


def test_a_closed_page_lets_go_of_its_studies_voxels(temp_root: Path):
    from dicom_io.loader import load_study

    held = PageHoldings()
    study = load_study(DEMO_STUDY)
    series = study.default_series
    pixels = series.volume.array.copy()
    held.hold_study("page-1", study)
    held.release("page-1")
    assert "_volume" not in series.__dict__
    assert "volume" not in series.__dict__
    np.testing.assert_array_equal(series.volume.array, pixels)  # decoded again if used
    held.release("page-1")  # nothing left to do
