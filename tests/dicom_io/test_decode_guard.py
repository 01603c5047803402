"""Compressed pixel data decoded in worker processes: the same pixels, and a decoder that hangs
or crashes costs one file an error, never the process."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dicom_io.dicom.header import read_header
from dicom_io.errors import CorruptFileError, DecodeTimeoutError, InvalidArgumentError
from dicom_io.limits import DEFAULT_LIMITS
from dicom_io.loader import load_study
from dicom_io.pixels import decode_guard
from dicom_io.pixels.decode_guard import DecodeGuard, configure_decode_guard
from dicom_io.pixels.plugins import Job, make_job
from dicom_io.sources import iter_sources
from tests.dicom_io.faulty_decoders import SLOW_SECONDS, decode_or_misbehave
from tests.files import data_file, sha256_tree

J2K = "RG1_J2KR.dcm"  # JPEG 2000, MONOCHROME1
RLE = "MR_small_RLE.dcm"


@pytest.fixture
def guard_on() -> Iterator[DecodeGuard]:
    guard = configure_decode_guard(30)
    assert guard is not None
    yield guard
    configure_decode_guard(None)


@pytest.fixture(scope="module")
def faulty() -> Iterator[DecodeGuard]:
    # A real decode beside the hung one (RG1_J2KR.dcm, 0.6 s on an idle machine) takes over 1 s
    # when other processes keep the CPUs busy: 5 s leaves room for a loaded machine.
    guard = DecodeGuard(timeout=5.0, workers=2, work=decode_or_misbehave)
    yield guard
    guard.close()


def _job(name: str, rename: str | None = None) -> Job:
    """The decode job of a real test file, named ``rename`` (a fault's trigger) if given."""
    (source,) = iter_sources(data_file(name))
    job = make_job(read_header(source, DEFAULT_LIMITS))
    return dataclasses.replace(job, name=rename) if rename else job


def test_guarded_decoding_gives_the_same_pixels(guard_on: DecodeGuard, tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in (J2K, RLE):
        shutil.copy(data_file(name), folder / name)
    before = sha256_tree(folder)
    guarded = {name: load_study(folder / name).default_series.volume.array for name in (J2K, RLE)}
    configure_decode_guard(None)
    for name, array in guarded.items():
        np.testing.assert_array_equal(array, load_study(folder / name).default_series.volume.array)
    assert sha256_tree(folder) == before


def test_a_hung_decoder_is_stopped_and_the_next_file_decodes(faulty: DecodeGuard):
    start = time.monotonic()
    with pytest.raises(
        DecodeTimeoutError, match=r"^hang\.dcm: decoding its pixel data did not"
    ) as info:
        faulty.decode(_job(RLE, "hang.dcm"))
    assert time.monotonic() - start < 25  # 5 s deadline, plus the workers' start
    assert "RADLENS_DECODE_TIMEOUT sets the limit" in str(info.value)
    assert isinstance(info.value, CorruptFileError)
    assert faulty.decode(_job(RLE)).shape == (1, 64, 64)


def test_files_in_flight_beside_a_hung_one_still_decode(faulty: DecodeGuard):
    results: dict[str, object] = {}

    def decode(name: str, rename: str | None) -> None:
        try:
            results[rename or name] = faulty.decode(_job(name, rename)).shape
        except CorruptFileError as err:
            results[rename or name] = err

    threads = [
        threading.Thread(target=decode, args=(RLE, "hang.dcm")),
        threading.Thread(target=decode, args=(J2K, None)),
        threading.Thread(target=decode, args=(RLE, None)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert isinstance(results["hang.dcm"], DecodeTimeoutError)
    assert results[J2K] == (1, 1955, 1841)
    assert results[RLE] == (1, 64, 64)


def test_the_deadline_counts_from_the_start_of_each_decode():
    """Three files that each take 2 s, one worker, a 3.5 s deadline: every file decodes. The
    worker's start and the file queued before one do not count against its deadline (the pool
    marks a file running as soon as it queues it for the worker, a file before)."""
    guard = DecodeGuard(timeout=1.75 * SLOW_SECONDS, workers=1, work=decode_or_misbehave)
    results: dict[str, object] = {}

    def decode(name: str) -> None:
        try:
            results[name] = guard.decode(_job(RLE, name)).shape
        except CorruptFileError as err:
            results[name] = err

    names = [f"slow-{k}.dcm" for k in range(3)]
    threads = [threading.Thread(target=decode, args=(name,)) for name in names]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        guard.close()
    assert results == dict.fromkeys(names, (1, 64, 64))


def test_a_crashing_decoder_fails_its_file_only(faulty: DecodeGuard):
    with pytest.raises(CorruptFileError, match=r"^crash\.dcm: the pixel decoder crashed"):
        faulty.decode(_job(RLE, "crash.dcm"))
    assert faulty.decode(_job(RLE)).shape == (1, 64, 64)


def test_the_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RADLENS_DECODE_TIMEOUT", "45")
    assert decode_guard.timeout_from_env() == 45.0
    monkeypatch.setenv("RADLENS_DECODE_TIMEOUT", "off")
    assert decode_guard.timeout_from_env(60.0) is None
    monkeypatch.setenv("RADLENS_DECODE_TIMEOUT", "soon")
    with pytest.raises(InvalidArgumentError, match="RADLENS_DECODE_TIMEOUT must be seconds"):
        decode_guard.timeout_from_env()
    with pytest.raises(InvalidArgumentError, match="within"):
        DecodeGuard(0)
