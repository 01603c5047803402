"""What the ``radlens`` subcommands share: their common arguments and the objects made of them.

- arguments: :func:`add_study_arguments` (model, series, input mode, slices, window, language),
  :func:`add_device_arguments` (precision, device), :func:`add_generation_arguments`
  (max new tokens, temperature, top-p, seed);
- values: :func:`load_series` (``--series``, 1-based), :func:`model_spec` (``--model``),
  :func:`input_options` and :func:`generation_settings` (the models' option objects, a bad value
  raised as an :class:`~dicom_io.errors.InvalidArgumentError` so the CLI prints one line).

Only the light registry modules are imported here (``app.commands_models`` imports them anyway);
the rest of the models package is imported inside the functions that need it.
"""

from __future__ import annotations

import argparse
from typing import Any

from dicom_io.errors import InvalidArgumentError
from models.backends.loading import Precision

__all__ = [
    "add_device_arguments",
    "add_generation_arguments",
    "add_study_arguments",
    "generation_settings",
    "input_options",
    "load_series",
    "model_spec",
]


STUDY_HELP = "study number as listed by info, for an input holding several (1-based)"


def add_study_arguments(p: argparse.ArgumentParser) -> None:
    """``--model``, ``--series`` and how the study is sent (mode, slices, window, language)."""
    p.add_argument("--model", default=None, help="model id, hub id or local folder")
    p.add_argument("--study", type=int, help=STUDY_HELP)
    p.add_argument("--series", type=int, help="series number as listed by info (1-based)")
    p.add_argument(
        "--mode",
        choices=["auto", "current", "slab", "volume"],
        default="auto",
        help="volume: slices sampled across the series; current: one slice; slab: around it",
    )
    p.add_argument("--slice", type=int, help="current slice (0-based; default: the middle)")
    p.add_argument("--slices", type=int, help="how many slices to send for a volume")
    p.add_argument("--slice-range", help="START:STOP source slices to sample from (0-based)")
    p.add_argument("--window", help="window for single slices: preset name or CENTER,WIDTH")
    p.add_argument("--language", default="English", help="language of the answer")


def add_device_arguments(p: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--device``."""
    p.add_argument("--precision", default="auto", choices=[m.value for m in Precision])
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU when it fits)")


def add_generation_arguments(p: argparse.ArgumentParser, *, task: str) -> None:
    """``--max-new-tokens`` (default: ``task``'s answer budget, models.tasks.decoding),
    ``--temperature``, ``--top-p``, ``--seed``."""
    p.add_argument(
        "--max-new-tokens",
        type=int,
        help=f"answer budget in tokens (default: the {task} task's, from the makers' notebooks)",
    )
    p.set_defaults(generation_task=task)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int)


def load_series(study: Any, number: int | None) -> Any:
    """The series ``--series`` names (1-based), else the study's default series."""
    if number is None:
        return study.default_series
    if 1 <= number <= len(study.series):
        return study.series[number - 1]
    raise InvalidArgumentError(f"--series {number} is outside 1..{len(study.series)}.")


def model_spec(args: argparse.Namespace) -> Any:
    """The registry entry ``--model`` names, else the default model's."""
    from models.registry.lookup import default_spec, get_spec

    return get_spec(args.model) if args.model else default_spec()


def _slice_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    start, sep, stop = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        return int(start), int(stop)
    except ValueError as err:
        raise InvalidArgumentError(f"--slice-range must be START:STOP, not {text!r}.") from err


def input_options(args: argparse.Namespace) -> Any:
    """The model input options of :func:`add_study_arguments`' arguments."""
    from models.inputs.model_inputs import InputOptions

    return InputOptions(
        mode=args.mode,
        current_slice=args.slice,
        max_slices=args.slices,
        slice_range=_slice_range(args.slice_range),
        window=args.window,
    )


def generation_settings(args: argparse.Namespace) -> Any:
    """The decoding settings of :func:`add_generation_arguments`' arguments."""
    from models.backends.base import GenerationSettings
    from models.tasks.decoding import default_settings

    tokens = args.max_new_tokens
    if tokens is None:
        tokens = default_settings(args.generation_task).max_new_tokens
    try:
        return GenerationSettings(
            max_new_tokens=tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
        )
    except ValueError as err:
        raise InvalidArgumentError(str(err)) from err
