"""The scripting API through gradio_client against a running server with the tiny Gemma3 model:
``/ask`` and ``/draft_report`` on a study the client uploads, nothing else offered, no path the
client did not upload read, and no API at all behind a login."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app.server import DEMO_STUDY, server_services
from app.services import Services
from dicom_io.loader import load_study
from tests.app.conftest import RadLensServer
from tests.synthetic import write_ct_series

CT_TECHNIQUE = "CT of the chest, axial, 12 slices at 1.25 mm"
CR_TECHNIQUE = "Computed radiography of the chest"


@pytest.fixture(scope="module")
def api_server(start_server: Callable[..., RadLensServer], tiny_gemma3: Path) -> RadLensServer:
    """A loopback server without auth (so with the API) on the tiny checkpoint, fp32 on CPU."""
    services = Services(
        initial_study=DEMO_STUDY,
        model_id=str(tiny_gemma3),
        precision="fp32",
        device="cpu",
        api=True,
    )
    return start_server(services)


@pytest.fixture(scope="module")
def ct_paths(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    written = write_ct_series(
        tmp_path_factory.mktemp("api") / "ct", slices=12, rows=32, columns=32
    )
    return list(written.paths)


def _client(server: RadLensServer) -> Client:
    return Client(server.url, verbose=False, download_files=False)


def test_only_the_two_endpoints_are_offered(api_server: RadLensServer):
    endpoints = _client(api_server).view_api(print_info=False, return_format="dict")
    assert set(endpoints["named_endpoints"]) == {"/ask", "/draft_report"}
    assert endpoints["unnamed_endpoints"] == {}
    ask = endpoints["named_endpoints"]["/ask"]
    assert [p["label"] for p in ask["parameters"]] == ["files", "question", "max_new_tokens"]


def test_two_clients_get_answers_and_reports_about_their_own_study(
    api_server: RadLensServer, ct_paths: list[Path], audit_log: Path
):
    studies = {
        "ct": [handle_file(str(p)) for p in ct_paths],
        "cr": [handle_file(str(DEMO_STUDY))],
    }

    def session(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        client = _client(api_server)
        files = studies[name]
        answer = client.predict(files, "What do you see?", 8, api_name="/ask")
        drafted = client.predict(files, "cough", 8, api_name="/draft_report")
        return answer, drafted

    before = len(audit_log.read_text().splitlines()) if audit_log.exists() else 0
    with ThreadPoolExecutor(2) as pool:
        (ct_answer, ct_report), (cr_answer, cr_report) = pool.map(session, ["ct", "cr"])

    assert ct_answer["schema"] == "radlens.answer/1"
    assert ct_answer["question"] == "What do you see?"
    assert ct_answer["technique"].startswith(CT_TECHNIQUE)
    assert ct_answer["completion_tokens"] <= 8
    assert ct_answer["disclaimer"].startswith("AI-generated draft")
    assert cr_answer["technique"].startswith(CR_TECHNIQUE)
    assert cr_answer["images"] == 1

    ct_key, cr_key = load_study(ct_paths).key, load_study(DEMO_STUDY).key
    assert ct_report["schema"] == "radlens.report/1"
    assert ct_report["technique"].startswith(CT_TECHNIQUE)
    assert ct_report["title"] == "Draft report: CT of the chest (incomplete)"  # 8-token budget
    assert (ct_report["indication"], ct_report["study"]["study_key"]) == ("cough", ct_key)
    assert cr_report["technique"].startswith(CR_TECHNIQUE)
    assert cr_report["title"].startswith("Draft report: frontal chest radiograph")
    assert cr_report["study"]["study_key"] == cr_key

    lines = [json.loads(line) for line in audit_log.read_text().splitlines()[before:]]
    seen = sorted((line["study"], line["task"], line["user"]) for line in lines)
    expected = [(key, task, "local") for key in (ct_key, cr_key) for task in ("ask", "report")]
    assert seen == sorted(expected)


def _call(server: RadLensServer, api_name: str, data: list[Any]) -> list[str]:
    """Gradio's REST call route: the lines of the event stream of one call."""
    with httpx.Client(base_url=server.url, trust_env=False, timeout=60) as client:
        started = client.post(f"/gradio_api/call/{api_name}", json={"data": data})
        assert started.status_code == 200, started.text
        event = started.json()["event_id"]
        return client.get(f"/gradio_api/call/{api_name}/{event}").text.splitlines()


def test_a_path_the_client_did_not_upload_is_not_read(api_server: RadLensServer):
    passwd = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
    lines = _call(api_server, "ask", [[passwd], "What is this?", 8])
    at = lines.index("event: error")
    error = json.loads(lines[at + 1].removeprefix("data:"))
    assert error["error"] == (
        "Cannot move /etc/passwd to the gradio cache dir because it was not uploaded by a user."
    )
    assert not any("root:" in line for line in lines)


def test_bad_api_input_gets_a_one_line_error(api_server: RadLensServer, ct_paths: list[Path]):
    client = _client(api_server)
    with pytest.raises(AppError, match="Send a question"):
        client.predict([handle_file(str(ct_paths[0]))], "  ", 8, api_name="/ask")
    with pytest.raises(AppError, match=r"max_new_tokens must be within 1\.\.4096, not 0"):
        client.predict([handle_file(str(ct_paths[0]))], "Hi", 0, api_name="/ask")


def test_serve_offers_the_api_only_without_auth():
    assert server_services(None).api is True
    assert server_services(("u", "p")).api is False
