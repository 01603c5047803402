"""Bad input, fuzzed: mutated real files either load or are refused with a RadLensError.

The CI run is deterministic (base seed :data:`BASE_SEED`, :data:`INPUTS_PER_SEED` inputs per
seed file, each rebuilt from its id by ``python bench/fuzz.py --seed 1 --replay ID``). Every
input goes through ``load_study`` (on its own, in a folder, or inside a zip), then
``render_slice`` of the default series' middle slice and ``Series.volume`` of every series, in
this process, under a 10 s alarm and with its peak-RSS growth bounded by 1 GiB (see
:mod:`tests.robustness.harness`); a decoder stuck in C past the alarm is caught by
pytest-timeout's thread method. The longer run is ``bench/fuzz.py``.

Every input the fuzzer once crashed RadLens with is kept in ``crashers/`` and checked here
against the outcome its README line states.
"""

from __future__ import annotations

import collections
import gzip
import io
import random
import re
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from dicom_io.loader import load_study
from tests.files import data_file
from tests.robustness.dicom_layout import read_layout
from tests.robustness.harness import MEMORY_BOUND, exercise, make_case, seeds, write_case
from tests.synthetic import write_ct_series

BASE_SEED = 1
INPUTS_PER_SEED = 250
CRASHERS = Path(__file__).parent / "crashers"
# The harness's alarm cannot stop a decoder that loops in C holding the GIL (one did: see
# crashers/README.md); pytest-timeout's thread method then dumps the stacks and ends the run.
HARD_TIMEOUT = pytest.mark.timeout(240, method="thread")


@HARD_TIMEOUT
@pytest.mark.parametrize("seed", seeds(), ids=[s.name for s in seeds()])
def test_mutated_inputs_load_or_are_refused(seed, tmp_path):
    outcomes: collections.Counter[str] = collections.Counter()
    crashes = []
    largest_growth = 0
    for index in range(INPUTS_PER_SEED):
        case = make_case(seed, BASE_SEED, index)
        folder = tmp_path / str(index)
        path, names = write_case(case, folder)
        outcome = exercise(path, names)
        shutil.rmtree(folder)
        outcomes[outcome.status] += 1
        largest_growth = max(largest_growth, outcome.peak_growth)
        if outcome.status == "crash":
            crashes.append(f"{case.id} {case.mutators}: {outcome.signature}: {outcome.message}")
    assert crashes == [], "\n".join(crashes)
    assert largest_growth < MEMORY_BOUND
    assert outcomes["loaded"] + outcomes["refused"] == INPUTS_PER_SEED
    # The mutations are neither all fatal nor all harmless: both paths are exercised.
    assert outcomes["loaded"] >= INPUTS_PER_SEED // 20, outcomes
    assert outcomes["refused"] >= INPUTS_PER_SEED // 10, outcomes


def test_harness_reports_memory_time_and_bad_messages(tmp_path):
    """The guards are not vacuous: each turns its kind of failure into a crash."""
    info = write_ct_series(tmp_path / "big", slices=1, rows=4096, columns=4096)
    big = info.paths[0]
    outcome = exercise(big, (big.name,), memory_bound=8 * 1024**2)
    assert (outcome.status, outcome.kind) == ("crash", "MemoryBound")
    assert outcome.peak_growth > 32 * 1024**2  # the 4096 x 4096 int16 volume, at least
    assert exercise(big, (big.name,)).status == "loaded"
    small = data_file("CT_small.dcm")
    outcome = exercise(small, (small.name,), timeout_s=1e-3)
    assert (outcome.status, outcome.kind) == ("crash", "Timeout")
    rtplan = data_file("rtplan.dcm")
    assert exercise(rtplan, (rtplan.name,)).kind == "MissingPixelDataError"
    outcome = exercise(rtplan, ("another-name.dcm",))
    assert outcome.status == "crash"
    assert outcome.where == "message does not name 'another-name.dcm' on one line"
    outcome = exercise(rtplan, (rtplan.name,), forbidden=("RT Plan",))  # stands in for a name
    assert (outcome.status, outcome.where) == ("crash", "message quotes a patient identifier")


def test_gzipped_nifti_lying_about_its_size_stays_within_the_memory_bound(tmp_path):
    """A .nii.gz may declare up to 1100 times its size (deflate's ceiling), so a 1 MiB file can
    declare a 1.1 GiB volume; nothing that large may be allocated before the stream is known to
    hold it. (Found by reasoning from the fuzzer's largest growth, 145 MiB for a mutated
    example4d.nii.gz: nibabel zero-filled a buffer of the declared size.)"""
    header = nib.Nifti1Header()
    header.set_data_shape((1024, 1024, 540))  # int16: 1.13 GB declared
    header.set_data_dtype(np.int16)
    body = io.BytesIO()
    header.write_to(body)
    body.write(b"\0" * 4 + random.Random(0).randbytes(1_100_000))  # incompressible
    path = tmp_path / "liar.nii.gz"
    path.write_bytes(gzip.compress(body.getvalue(), compresslevel=1))
    outcome = exercise(path, (path.name,))
    assert (outcome.status, outcome.kind) == ("refused", "CorruptFileError"), outcome
    assert "liar.nii.gz: NIfTI voxel data of volume 0 cannot be read" in outcome.message
    assert outcome.peak_growth < 64 * 1024**2


def test_cases_are_reproducible():
    seed = next(s for s in seeds() if s.name == "CT_small.dcm")
    first = [make_case(seed, BASE_SEED, k) for k in range(20)]
    again = [make_case(seed, BASE_SEED, k) for k in range(20)]
    assert [c.files for c in first] == [c.files for c in again]
    assert [c.mutators for c in first] == [c.mutators for c in again]
    assert sum(c.files != seed.files for c in first) >= 18  # nearly every case changed bytes
    other = [make_case(seed, BASE_SEED + 1, k) for k in range(20)]
    assert [c.files for c in other] != [c.files for c in first]


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm"]
)
def test_layout_finds_the_elements_pydicom_reads(name):
    """The structure-aware mutators target the elements pydicom sees, at the same offsets."""
    seed = next(s for s in seeds() if s.name == name)
    data = seed.files[0][1]
    layout = read_layout(data)
    dataset = pydicom.dcmread(data_file(name))
    expected = [int(el.tag) for el in dataset.file_meta] + [int(el.tag) for el in dataset]
    assert [el.tag for el in layout.top_level()] == expected
    rows = layout.find(0x00280010)
    assert rows is not None
    value = data[rows.value_offset : rows.value_offset + 2]
    assert int.from_bytes(value, "little" if layout.little else "big") == dataset.Rows


def _crasher_table() -> list[tuple[str, str]]:
    """(file, expected outcome) from the README's table."""
    rows = []
    for line in (CRASHERS / "README.md").read_text().splitlines():
        match = re.match(r"\| `([^`]+)` \| ([^|]+) \|", line)
        if match:
            rows.append((match.group(1).rstrip("/"), match.group(2).strip()))
    return rows


def _names(path: Path) -> tuple[str, ...]:
    """The names a refusal may give: the input's, a folder member's or a zip member's."""
    members = [p.name for p in path.iterdir()] if path.is_dir() else []
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
    return (path.name, *members)


@HARD_TIMEOUT
@pytest.mark.parametrize(
    ("name", "expected"), _crasher_table(), ids=[name for name, _ in _crasher_table()]
)
def test_crasher(name, expected):
    path = CRASHERS / name
    outcome = exercise(path, _names(path))
    if expected.startswith("loaded"):
        assert (outcome.status, outcome.kind, outcome.message) == ("loaded", "", "")
        shapes = [s.shape for s in load_study(path).series]
        wanted = [
            tuple(int(v) for v in t.split(",")) for t in re.findall(r"\(([^)]*)\)", expected)
        ]
        assert shapes == wanted
    else:
        kind, _, fragment = expected.partition(": ")
        assert (outcome.status, outcome.kind) == ("refused", kind), outcome
        assert fragment in outcome.message
        assert outcome.message.startswith(_names(path))


def test_every_crasher_is_listed():
    listed = {name for name, _ in _crasher_table()}
    present = {p.name for p in CRASHERS.iterdir() if p.name != "README.md"}
    assert present == listed
