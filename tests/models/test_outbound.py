"""Pixels that may show identifiers never go to a remote model unless the site allows it."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from app.cli import main
from dicom_io.loader import load_study
from models.errors import BurnedInTextError
from models.registry.lookup import get_spec
from models.tasks.compare import compare
from models.tasks.outbound import ALLOW_BURNED_IN_ENV, check_outbound
from models.tasks.prepare import prepare
from tests.files import REPO, data_file, sha256_tree
from tests.synthetic import write_ct_series

DEMO_CXR = REPO / "assets" / "demo" / "chest_pa_cr.dcm"
REFUSED = (
    r"^Series #1 \(CT\) may show patient identifiers burned into its pixels, so its images are "
    r"not sent to a remote server: use a local model, or set RADLENS_REMOTE_ALLOW_BURNED_IN=1 "
    r"if the server is one you trust with such images\.$"
)


@pytest.fixture(scope="module")
def burned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CT whose files declare BurnedInAnnotation YES."""
    folder = tmp_path_factory.mktemp("burned") / "ct"
    for path in write_ct_series(folder, slices=4, rows=32, columns=32).paths:
        ds = pydicom.dcmread(path)
        ds.BurnedInAnnotation = "YES"
        ds.save_as(path)
    return folder


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RADLENS_REMOTE_MODEL", "served-model")
    monkeypatch.delenv(ALLOW_BURNED_IN_ENV, raising=False)
    return get_spec("remote")


def test_a_flagged_series_is_not_prepared_for_a_remote_model(burned: Path, remote):
    series = load_study(burned).default_series
    assert series.flags.burned_in_annotation
    with pytest.raises(BurnedInTextError, match=REFUSED):
        prepare(series, remote, "ask", question="Any nodule?")
    # A local model sees the pixels in this process: nothing leaves.
    local = prepare(series, get_spec("medgemma-1.5-4b"), "ask", question="Any nodule?")
    assert local.inputs.images


def test_the_site_can_allow_a_trusted_server(burned: Path, remote, monkeypatch):
    series = load_study(burned).default_series
    monkeypatch.setenv(ALLOW_BURNED_IN_ENV, "1")
    assert prepare(series, remote, "report").inputs.images
    check_outbound(series, remote, {ALLOW_BURNED_IN_ENV: "1"})
    with pytest.raises(BurnedInTextError):
        check_outbound(series, remote, {ALLOW_BURNED_IN_ENV: "yes please"})


def test_undeclared_ultrasound_is_refused_and_a_radiograph_goes(remote):
    ultrasound = load_study(data_file("US1_UNCR.dcm")).default_series
    assert ultrasound.flags.burned_in_annotation  # US without the attribute: suspected
    with pytest.raises(BurnedInTextError, match=r"Series #1 \(US\)"):
        prepare(ultrasound, remote, "report")
    radiograph = load_study(DEMO_CXR).default_series
    assert prepare(radiograph, remote, "report").inputs.images


def test_a_flagged_prior_is_not_compared_remotely(burned: Path, remote):
    class Unused:
        model_id = "never-called"

        def generate(self, request, cancel=None):
            raise AssertionError("nothing may be sent")

    current = load_study(DEMO_CXR).default_series
    prior = load_study(burned).default_series
    with pytest.raises(BurnedInTextError):
        compare(current, prior, Unused(), remote)  # type: ignore[arg-type]


def test_the_command_line_refuses_in_one_line(burned: Path, remote, capsys):
    before = sha256_tree(burned)
    assert main(["ask", str(burned), "Any nodule?", "--model", "remote"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.removeprefix("radlens: error: ").startswith("Series #1 (CT) may show patient")
    assert sha256_tree(burned) == before
