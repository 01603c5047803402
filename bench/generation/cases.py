"""The benchmark's requests, built once through the production path.

``cxr`` is the demo radiograph ``assets/demo/chest_pa_cr.dcm``; ``ct85`` a synthetic CT
(``tests/synthetic.py``, 300 x 512 x 512 by default) sampled with
``InputOptions(max_slices=85)``, MedGemma's CT recipe. Both go through
``models.tasks.prepare.prepare`` (task ``ask``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.registry.spec import ModelSpec

__all__ = ["DEMO_CXR", "QUESTIONS", "Case", "build_cases"]

DEMO_CXR = Path(__file__).resolve().parents[2] / "assets" / "demo" / "chest_pa_cr.dcm"
QUESTIONS = {"cxr": "Is there a pneumothorax?", "ct85": "Is there a pulmonary nodule?"}


@dataclass(frozen=True, eq=False)
class Case:
    """One request: its name (``cxr`` or ``ct`` + the images sent), messages and image count."""

    name: str
    messages: list[Any]
    images: int


def build_cases(spec: ModelSpec, names: Sequence[str], work: Path, options: Any) -> list[Case]:
    """The prepared requests (production path: ``prepare``, task ``ask``) for each case."""
    from dicom_io.loader import load_study
    from models.inputs.model_inputs import InputOptions
    from models.tasks.prepare import prepare

    cases = []
    for name in names:
        if name == "cxr":
            series = load_study(DEMO_CXR).default_series
            opts = InputOptions()
            label = "cxr"
        else:
            series = _ct_series(work / "ct", options.ct_slices, options.ct_size)
            opts = InputOptions(mode="volume", max_slices=options.max_slices)
            label = ""
        prepared = prepare(series, spec, "ask", question=QUESTIONS[name], options=opts)
        images = len(prepared.inputs.images)
        cases.append(Case(label or f"ct{images}", prepared.messages, images))
    return cases


def _ct_series(folder: Path, slices: int, size: int) -> Any:
    from dicom_io.loader import load_study
    from tests.synthetic import write_ct_series

    if not folder.exists():
        write_ct_series(folder, slices=slices, rows=size, columns=size)
    return load_study(folder).default_series
