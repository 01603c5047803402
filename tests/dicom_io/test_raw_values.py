"""RawView gives the values pydicom gives, on every real test file, for every header keyword."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.multival import MultiValue

from dicom_io.dicom.header import HEADER_KEYWORDS
from dicom_io.dicom.raw_values import RawView
from tests.files import data_file

CORPUS = sorted(
    {p for p in data_file("CT_small.dcm").parent.glob("*.dcm")}
    | {p for p in data_file("RG1_UNCR.dcm").parent.glob("*.dcm")}
)
SIMPLE = [k for k in HEADER_KEYWORDS if not k.endswith(("Sequence", "PixelData"))]


def _normal(value: object) -> object:
    if isinstance(value, (list, MultiValue)):
        items = [_normal(v) for v in value]
        return items[0] if len(items) == 1 else items
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    if value is None:
        return None
    return str(value).strip()


def _read(path: Path) -> pydicom.Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception:
            return None


READABLE = [p for p in CORPUS if _read(p) is not None]


def test_corpus_is_large():
    assert len(READABLE) > 120


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_raw_view_matches_pydicom(path: Path):
    ds = _read(path)
    assert ds is not None
    fresh = _read(path)
    assert fresh is not None
    view = RawView(fresh)
    for keyword in SIMPLE:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = _normal(ds.get(keyword))
            except (ValueError, TypeError):
                continue  # pydicom itself cannot convert this file's value
            got = _normal(view.get(keyword))
        if expected in ("", None) and got in ("", None):
            continue
        assert got == expected, (keyword, got, expected)
