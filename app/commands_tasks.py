"""``radlens prepare`` and ``radlens ask``.

``prepare`` writes the exact images (PNG) and messages (JSON) a model would be sent, without
loading it. ``ask`` sends them and prints the answer with its boxes on source slices;
``--from-raw FILE`` re-reads a saved raw model output instead of running the model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dicom_io.errors import InvalidArgumentError

__all__ = ["add_parsers"]

PREPARE_SCHEMA = "radlens.prepare/1"


def _add_study_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model id, hub id or local folder")
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


def _load_series(study: Any, number: int | None) -> Any:
    """The series ``--series`` names (1-based), else the study's default series."""
    if number is None:
        return study.default_series
    if 1 <= number <= len(study.series):
        return study.series[number - 1]
    raise InvalidArgumentError(f"--series {number} is outside 1..{len(study.series)}.")


def _options(args: argparse.Namespace) -> Any:
    from models.inputs.model_inputs import InputOptions

    return InputOptions(
        mode=args.mode,
        current_slice=args.slice,
        max_slices=args.slices,
        slice_range=_slice_range(args.slice_range),
        window=args.window,
    )


def _load_with_study(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """(study, series, spec, input options) from the common arguments."""
    from dicom_io.loader import load_study
    from models.registry.lookup import default_spec, get_spec

    spec = get_spec(args.model) if args.model else default_spec()
    study = load_study(args.path)
    return study, _load_series(study, args.series), spec, _options(args)


def _load(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(series, spec, input options) from the common arguments."""
    _study, series, spec, options = _load_with_study(args)
    return series, spec, options


def _cmd_prepare(args: argparse.Namespace) -> int:
    from models.inputs.messages import ImagePart, png_bytes, to_plain
    from models.tasks.prepare import prepare

    series, spec, options = _load(args)
    if args.task == "ask" and not args.question:
        raise InvalidArgumentError("--task ask needs --question.")
    prepared = prepare(
        series,
        spec,
        args.task,
        question=args.question or "",
        indication=args.indication or "",
        language=args.language,
        options=options,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for message in prepared.messages:
        for part in message.parts:
            if isinstance(part, ImagePart):
                (out / f"image_{part.index:03d}.png").write_bytes(png_bytes(part.pixels))
    (out / "messages.json").write_text(json.dumps(to_plain(prepared.messages), indent=2))
    inputs = prepared.inputs
    request = {
        "schema": PREPARE_SCHEMA,
        "task": prepared.task,
        "model": spec.id,
        "family": spec.family.value,
        "grounding": spec.grounding,
        "prompt": prepared.prompt.provenance,
        "technique": prepared.technique,
        "description": inputs.description,
        "image_tokens": inputs.image_tokens,
        "images": [
            {
                "file": f"image_{k:03d}.png",
                "label": inputs.labels[k],
                "slice": m.slice_index,
                "source_size": list(m.source_size),
                "crop": list(m.crop),
                "pad": list(m.pad),
                "model_size": list(m.model_size),
            }
            for k, m in enumerate(inputs.mappings)
        ],
    }
    (out / "request.json").write_text(json.dumps(request, indent=2))
    print(
        f"{out}: {len(inputs.images)} image(s), ~{inputs.image_tokens} image tokens, "
        f"{prepared.prompt.provenance}; {inputs.description}"
    )
    return 0


def _settings(args: argparse.Namespace) -> Any:
    from models.backends.base import GenerationSettings

    try:
        return GenerationSettings(
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
        )
    except ValueError as err:
        raise InvalidArgumentError(str(err)) from err


def _print_answer(answer: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer.to_json(), indent=2))
        return
    print(answer.text)
    for box in answer.boxes:
        print(
            f"  box {box.label!r} on slice {box.slice}: "
            f"x {box.x0:.1f}-{box.x1:.1f}, y {box.y0:.1f}-{box.y1:.1f} px"
        )
    for line in answer.dropped:
        print(f"  dropped: {line}", file=sys.stderr)
    print(f"[{answer.disclaimer}]")


def _cmd_ask(args: argparse.Namespace) -> int:
    from models.tasks.ask import answer_from_text, ask
    from models.tasks.prepare import prepare

    study, series, spec, options = _load_with_study(args)
    settings = _settings(args)
    if args.from_raw:
        raw_path = Path(args.from_raw)
        try:
            raw = raw_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidArgumentError(
                f"{raw_path.name}: cannot read the raw output ({err})."
            ) from err
        prepared = prepare(
            series, spec, "ask", question=args.question, language=args.language, options=options
        )
        answer = answer_from_text(prepared, raw, None, settings)
    else:
        from models.backends.engine import open_backend

        backend = open_backend(spec, args.precision, args.device)
        answer = ask(
            series,
            args.question,
            backend,
            spec,
            options=options,
            settings=settings,
            language=args.language,
        )
        from app.audit import AuditLog, Task, cli_user

        AuditLog().record(
            Task.ASK,
            user=cli_user(),
            study=study.key,
            series=series.key,
            model=answer.model_id,
            prompt_version=answer.prompt_version,
            output=answer.raw,
        )
    _print_answer(answer, args.json)
    return 0


def add_parsers(sub: Any) -> None:
    """Add ``prepare`` and ``ask`` to the ``radlens`` subcommands."""
    p = sub.add_parser("prepare", help="write the exact images and messages a model is sent")
    p.add_argument("path", help="study: DICOM file, folder or .zip, NIfTI, PNG/JPEG")
    p.add_argument("--task", choices=["report", "ask"], required=True)
    p.add_argument("--question", help="the question (with --task ask)")
    p.add_argument("--indication", help="clinical indication (with --task report)")
    p.add_argument("--out", required=True, help="output folder")
    _add_study_arguments(p)
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("ask", help="ask the model a question about a study")
    p.add_argument("path", help="study: DICOM file, folder or .zip, NIfTI, PNG/JPEG")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--from-raw", metavar="FILE", help="re-read a saved raw model output")
    p.add_argument("--precision", default="auto", choices=["auto", "nf4", "int8", "bf16", "fp32"])
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU when it fits)")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int)
    _add_study_arguments(p)
    p.set_defaults(func=_cmd_ask)
