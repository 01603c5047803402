"""Make a crashing input a little smaller while it still crashes the same way.

Not a full delta debugger: it tries cutting the file's tail, then (DICOM) deleting whole elements
one at a time, keeping every step after which the crash signature is unchanged. That usually
leaves the damaged element and the few others the loader needs, which is what a regression file
and its README line have to explain.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tests.robustness.dicom_layout import read_layout
from tests.robustness.harness import Case, exercise, write_case

__all__ = ["crash_signature", "shrink"]


def crash_signature(case: Case) -> str | None:
    """The crash signature of ``case``, or None when it does not crash."""
    with tempfile.TemporaryDirectory(prefix="radlens-shrink-") as tmp:
        path, names = write_case(case, Path(tmp))
        outcome = exercise(path, names)
    return outcome.signature if outcome.status == "crash" else None


def _mutated_index(case: Case) -> int:
    """The file of the case that differs from its seed (the first, if several do)."""
    for k, ((_, data), (_, original)) in enumerate(zip(case.files, case.seed.files, strict=True)):
        if data != original:
            return k
    return 0


def shrink(case: Case, budget: int = 400) -> Case:
    """A smaller case with the same crash signature (at most ``budget`` trial runs)."""
    target = crash_signature(case)
    if target is None:
        return case
    k = _mutated_index(case)
    tries = 0

    def still(data: bytes) -> bool:
        nonlocal tries
        tries += 1
        files = list(case.files)
        files[k] = (files[k][0], data)
        return crash_signature(replace(case, files=tuple(files))) == target

    data = case.files[k][1]
    data = _cut_tail(data, still, lambda: tries < budget)
    if case.seed.fmt == "dicom":
        data = _drop_elements(data, still, lambda: tries < budget)
    files = list(case.files)
    files[k] = (files[k][0], data)
    return replace(case, files=tuple(files))


def _cut_tail(data: bytes, still: Callable[[bytes], bool], more: Callable[[], bool]) -> bytes:
    step = len(data) // 2
    while step >= 16 and more():
        if len(data) > step and still(data[:-step]):
            data = data[:-step]
        else:
            step //= 2
    return data


def _drop_elements(data: bytes, still: Callable[[bytes], bool], more: Callable[[], bool]) -> bytes:
    """Delete top-level elements from the last to the first while the crash stays."""
    position = len(data)
    while more():
        elements = [el for el in read_layout(data).top_level() if el.offset < position]
        if not elements:
            break
        element = elements[-1]
        position = element.offset
        candidate = data[: element.offset] + data[element.end :]
        if element.end > element.offset and still(candidate):
            data = candidate
    return data
