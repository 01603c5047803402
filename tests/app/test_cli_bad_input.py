"""Every kind of bad input: `radlens info` exits 2 with one line naming the file and the problem.

One subprocess runs all cases (importing the CLI is the slow part), each case through
``app.cli.main`` with stderr captured; the process's peak memory shows no bomb was allocated.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest

from tests.files import REPO, data_file, sha256_tree
from tests.synthetic import write_ct_series


def _not_an_image(tmp: Path) -> Path:
    path = tmp / "report.docx"
    path.write_bytes(b"\x00\x01 definitely not an image" * 40)
    return path


def _huge_dicom(tmp: Path) -> Path:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 1000
    path = tmp / "huge.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _nifti_bomb(tmp: Path) -> Path:
    header = nib.Nifti1Header()
    header.set_data_shape((10000, 10000, 10000))
    header.set_data_dtype(np.int16)
    path = tmp / "bomb.nii"
    with path.open("wb") as fh:
        header.write_to(fh)
        fh.write(b"\0" * 4)
    return path


def _png_bomb(tmp: Path) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path = tmp / "bomb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    )
    return path


def _zip_bomb(tmp: Path) -> Path:
    path = tmp / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.dcm", b"\0" * (64 * 1024 * 1024))
    return path


def _zip_traversal(tmp: Path) -> Path:
    path = tmp / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../outside.dcm", data_file("CT_small.dcm").read_bytes())
    return path


def _empty_folder(tmp: Path) -> Path:
    path = tmp / "nothing_here"
    path.mkdir()
    return path


def _empty_zip(tmp: Path) -> Path:
    path = tmp / "empty.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    return path


def _truncated_ct(tmp: Path) -> Path:
    info = write_ct_series(tmp / "series", slices=1, rows=64, columns=64)
    path = tmp / "cut.dcm"
    path.write_bytes(info.paths[0].read_bytes()[:-1000])
    return path


def _no_pixels(tmp: Path) -> Path:
    return data_file("rtplan.dcm")


def _undecodable(tmp: Path) -> Path:
    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00" * 64])
    path = tmp / "video.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _corrupt_jpeg_in_dicom(tmp: Path) -> Path:
    return data_file("JPEG-lossy.dcm")


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("not-an-image", _not_an_image, "report.docx: not a DICOM, NIfTI, PNG or JPEG file"),
    ("truncated", _truncated_ct, "cut.dcm: truncated"),
    ("no-pixel-data", _no_pixels, "rtplan.dcm: no pixel data (RT Plan Storage)"),
    ("no-decoder", _undecodable, "video.dcm: no decoder for transfer syntax MPEG2"),
    ("cannot-decode", _corrupt_jpeg_in_dicom, "JPEG-lossy.dcm: cannot decode JPEG Extended"),
    ("dicom-huge", _huge_dicom, "huge.dcm: declares 65535x65535x1000 pixels"),
    ("nifti-bomb", _nifti_bomb, "bomb.nii: "),
    ("png-bomb", _png_bomb, "bomb.png: "),
    ("zip-bomb", _zip_bomb, "bomb.zip: member 'a.dcm' expands"),
    ("zip-traversal", _zip_traversal, "evil.zip: member '../../outside.dcm' points outside"),
    ("empty-folder", _empty_folder, "nothing_here: the folder holds no files."),
    ("empty-zip", _empty_zip, "empty.zip: the zip archive holds no files."),
]

_RUNNER = textwrap.dedent(
    """
    import contextlib, io, json, sys, time
    from app.cli import main
    from tests.memory import peak_bytes, reset_peak
    # ru_maxrss would include the pytest process this one was forked from: reset the kernel's
    # peak-RSS mark (VmHWM) now, after the imports, and read it at the end.
    reset_peak()
    results = []
    for path in sys.argv[1:]:
        err = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stderr(err):
            code = main(["info", path])
        results.append({"code": code, "stderr": err.getvalue(),
                        "seconds": time.perf_counter() - start})
    peak_mb = peak_bytes() / 1024**2
    print(json.dumps({"results": results, "peak_mb": peak_mb}))
    """
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    tmp = tmp_path_factory.mktemp("bad")
    paths = []
    for case_id, make, _ in CASES:
        folder = tmp / case_id
        folder.mkdir()
        paths.append(make(folder))
    before = sha256_tree(tmp)
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sha256_tree(tmp) == before  # nothing written beside the inputs, nothing modified
    assert report["peak_mb"] < 512, report["peak_mb"]  # no bomb was ever allocated
    return {case[0]: r for case, r in zip(CASES, report["results"], strict=True)}


@pytest.mark.parametrize(
    ("case_id", "expected"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_exits_2_with_one_line(outcomes, case_id, expected):
    outcome = outcomes[case_id]
    assert outcome["code"] == 2
    lines = str(outcome["stderr"]).strip().splitlines()
    assert len(lines) == 1, outcome["stderr"]
    assert lines[0].startswith(f"radlens: error: {expected}"), lines[0]
