"""Few-shot examples: reports in the house style shown to the model before the real study.

An examples folder holds one case per entry: a study (DICOM file, folder, zip, NIfTI or image)
and its report as Markdown or text beside it with the same name (``case1.dcm`` +
``case1.md``), or a sub-folder holding the study's files and a ``report.md``. The most similar
cases (same modality first, then body part, then view) go into the context as demonstration
turns, as many as fit the token budget, each as one image (its middle slice) to keep it small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dicom_io.errors import EmptyInputError, InvalidArgumentError, RadLensError
from dicom_io.loader import load_study
from dicom_io.study import Series
from models.families.base import Family
from models.inputs.model_inputs import InputOptions, ModelInputs, build_inputs, estimate_tokens

__all__ = ["Example", "load_examples", "select_examples"]

_REPORT_NAMES = ("report.md", "report.txt")
_REPORT_SUFFIXES = (".md", ".txt")
_ONE_SLICE = InputOptions(mode="current")


@dataclass(frozen=True, eq=False)
class Example:
    """One demonstration case: its series and the report written for it."""

    name: str
    series: Series
    report: str

    def score(self, series: Series) -> int:
        """Similarity to ``series``: 4 for the modality, 2 for the body part, 1 for the view."""
        value = 4 if self.series.modality == series.modality else 0
        if self.series.body_part and self.series.body_part == series.body_part:
            value += 2
        if self.series.view_position and self.series.view_position == series.view_position:
            value += 1
        return value


def _case_report(entry: Path) -> tuple[Path, str] | None:
    """(study path, report text) of a folder entry, or None when it is a report file itself."""
    if entry.is_dir():
        for name in _REPORT_NAMES:
            if (entry / name).is_file():
                return entry, (entry / name).read_text(encoding="utf-8")
        return None
    if entry.suffix.lower() in _REPORT_SUFFIXES:
        return None
    for suffix in _REPORT_SUFFIXES:
        candidate = entry.with_name(entry.name + suffix)
        if not candidate.is_file():
            candidate = entry.with_suffix(suffix)
        if candidate.is_file():
            return entry, candidate.read_text(encoding="utf-8")
    return None


def load_examples(folder: str | Path) -> list[Example]:
    """Every readable case in ``folder`` (cases without a report are ignored).

    Raises:
        InvalidArgumentError: ``folder`` is not a folder.
        EmptyInputError: it holds no case with both a readable study and a report.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError(f"{root}: the examples must be a folder of cases.")
    examples = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        case = _case_report(entry)
        if case is None or not case[1].strip():
            continue
        study_path, report = case
        if study_path.is_dir():
            files = [p for p in study_path.iterdir() if p.name not in _REPORT_NAMES]
            study = load_study(files)
        else:
            study = load_study(study_path)
        examples.append(Example(entry.name, study.default_series, report.strip()))
    if not examples:
        raise EmptyInputError(f"{root.name}: no example case with a study and its report.")
    return examples


def select_examples(
    examples: Sequence[Example],
    series: Series,
    family: Family | str,
    budget_tokens: int,
    most: int = 2,
) -> list[tuple[Example, ModelInputs]]:
    """The most similar examples of the same modality that fit in ``budget_tokens``."""
    ranked = sorted((e for e in examples if e.score(series) >= 4), key=lambda e: -e.score(series))
    chosen: list[tuple[Example, ModelInputs]] = []
    spent = 0
    for example in ranked:
        if len(chosen) == most:
            break
        try:
            cost = estimate_tokens(example.series, family, _ONE_SLICE) + len(example.report) // 3
        except RadLensError:
            continue
        if spent + cost > budget_tokens:
            continue
        chosen.append((example, build_inputs(example.series, family, _ONE_SLICE)))
        spent += cost
    return chosen
