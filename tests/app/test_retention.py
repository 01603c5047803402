"""A closed page's studies let go of their decoded voxels; its files stay for a reconnect."""

from __future__ import annotations

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
from dicom_io.loader import load_study
from tests.app.conftest import RadLensServer, scripted
from tests.app.test_ui_panes import reply
from tests.synthetic import write_ct_series


def test_a_released_page_lets_go_of_its_studies_voxels():
    held = PageHoldings()
    study = load_study(DEMO_STUDY)
    series = study.default_series
    pixels = series.volume.array.copy()
    held.hold_study("page-1", study)
    held.hold_study(None, load_study(DEMO_STUDY))  # no page: nothing held
    assert held.release("page-1") == 1
    assert not series.is_decoded
    assert "volume" not in series.__dict__
    np.testing.assert_array_equal(series.volume.array, pixels)  # decoded again if used
    assert held.release("page-1") == 0
    assert held.release(None) == 0


@pytest.fixture(scope="module")
def server(start_server: Callable[..., RadLensServer]) -> tuple[RadLensServer, Services]:
    services, _backend = scripted(reply)
    services.api = True
    return start_server(services), services


def test_a_closed_page_frees_its_study_and_a_reconnect_would_decode_it_again(
    server: tuple[RadLensServer, Services],
    browser_page: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    running, services = server
    # The server notices a closed page when its next heartbeat finds no reader (every 15 s by
    # default; read when the page connects).
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")
    written = write_ct_series(tmp_path / "ct", slices=6, rows=32, columns=32)
    page = browser_page
    page.goto(running.url)
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in written.paths])
    page.wait_for_function(
        "() => document.querySelector('#series-info')?.innerText.includes('6 x 32 x 32')"
    )
    (session,) = services.pages.holders()
    (study,) = services.pages.studies(session)
    series = study.default_series
    assert series.is_decoded  # the viewer decoded it
    shown = series.volume.array.copy()

    page.goto("about:blank")  # the page goes: Gradio's unload event
    deadline = time.monotonic() + 60
    while series.is_decoded and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not series.is_decoded
    assert services.pages.studies(session) == []
    # The uploaded files are still there: a page that reconnects decodes the same pixels.
    np.testing.assert_array_equal(series.volume.array, shown)


def test_api_calls_sending_the_same_file_at_once_are_both_answered(
    server: tuple[RadLensServer, Services], tmp_path: Path
):
    running, _services = server
    same = tmp_path / "api-same.dcm"
    shutil.copy(DEMO_STUDY, same)

    def call(_: int) -> dict[str, Any]:
        one = Client(running.url, verbose=False, download_files=False)
        return one.predict([handle_file(str(same))], "Any effusion?", 16, api_name="/ask")

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(call, range(2)))
    assert [a["schema"] for a in answers] == ["radlens.answer/1"] * 2
