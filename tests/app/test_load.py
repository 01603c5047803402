"""Many clients at once: eight ``gradio_client`` clients, each with its own study, against one
server with the tiny Gemma3 model; and a queue too small for the requests it gets.

The clients and the checks are in :mod:`tests.app.clients`, which ``bench/load.py`` runs at
larger sizes for throughput and latency figures."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError

from app.server import DEMO_STUDY
from app.services import Services
from models.backends.engine import open_backend
from tests.app.clients import (
    GenerationCounter,
    StudyFiles,
    audit_problems,
    most_in_flight,
    problems,
    run_clients,
    write_studies,
)
from tests.app.conftest import RadLensServer, scripted

CLIENTS = 8
MAX_NEW_TOKENS = 6


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> list[StudyFiles]:
    return write_studies(tmp_path_factory.mktemp("load"), CLIENTS)


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_studies_are_told_apart_by_technique(studies: list[StudyFiles]):
    assert studies[0].technique == "CT of the chest, axial, 6 slices at 1.25 mm"
    assert studies[7].technique == ("CT of the chest, axial, 13 slices at 1.25 mm")
    assert len({s.key for s in studies}) == CLIENTS


def test_eight_clients_at_once_each_get_answers_about_their_own_study(
    start_server: Callable[..., RadLensServer],
    tiny_gemma3: Path,
    audit_log: Path,
    studies: list[StudyFiles],
):
    counter = GenerationCounter()
    services = Services(
        initial_study=DEMO_STUDY,
        model_id=str(tiny_gemma3),
        precision="fp32",
        device="cpu",
        api=True,
        open_backend=counter.wrap(open_backend),
    )
    server = start_server(services)
    before = len(_audit_lines(audit_log))

    calls = run_clients(server.url, studies, requests_per_client=2, max_new_tokens=MAX_NEW_TOKENS)

    assert sorted((c.client, c.api_name) for c in calls) == [
        (i, name) for i in range(CLIENTS) for name in ("ask", "draft_report")
    ]
    assert problems(calls, MAX_NEW_TOKENS) == []
    assert most_in_flight(calls) == CLIENTS  # all eight were waiting on the server together
    assert (counter.started, counter.peak) == (2 * CLIENTS, 1)
    assert audit_problems(_audit_lines(audit_log)[before:], calls) == []


def _ask(client: Client, study: StudyFiles) -> dict[str, Any]:
    files = [handle_file(str(path)) for path in study.paths]
    result: dict[str, Any] = client.predict(files, "Any nodule?", 8, api_name="/ask")
    return result


def test_a_full_queue_refuses_at_once_serves_what_it_holds_and_recovers(
    start_server: Callable[..., RadLensServer], studies: list[StudyFiles]
):
    generating, gate = threading.Event(), threading.Event()

    def reply(prompt: str) -> str:
        generating.set()
        if not gate.wait(120):
            raise RuntimeError("the test never opened the gate")
        return "No nodule is seen."

    services, backend = scripted(reply)
    services.api = True
    server = start_server(services, queue={"max_size": 2})
    clients = [Client(server.url, verbose=False, download_files=False) for _ in range(7)]

    with ThreadPoolExecutor(6) as pool:
        try:
            first = pool.submit(_ask, clients[0], studies[0])
            assert generating.wait(60), "the first request never reached the model"
            # One generating (held at the gate) and room for 2 waiting: 3 of 5 are refused.
            rest = {pool.submit(_ask, clients[i], studies[i]): i for i in range(1, 6)}
            refused = [rest[f] for f in islice(as_completed(rest, timeout=60), 3)]
            for future in (f for f, i in rest.items() if i in refused):
                with pytest.raises(QueueError, match="Queue is full"):
                    future.result()
            accepted = [i for i in rest.values() if i not in refused]
            assert not first.done()
            assert not any(f.done() for f, i in rest.items() if i in accepted)
        finally:
            gate.set()
        answers = {0: first.result(60)} | {
            i: f.result(60) for f, i in rest.items() if i in accepted
        }

    assert len(answers) == 3
    for i, answer in answers.items():
        assert answer["answer"] == "No nodule is seen."
        assert answer["technique"].startswith(studies[i].technique)
    assert _ask(clients[6], studies[6])["technique"].startswith(studies[6].technique)
    assert len(backend.calls) == 4  # the refused requests never reached the model
