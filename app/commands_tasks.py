"""``radlens prepare`` and ``radlens ask``.

``prepare`` writes the exact images (PNG) and messages (JSON) a model would be sent, without
loading it. ``ask`` sends them and prints the answer with its boxes on source slices;
``--from-raw FILE`` re-reads a saved raw model output instead of running the model. The
arguments they share with ``report`` come from :mod:`app.commands_common`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app import commands_common as shared
from dicom_io.errors import InvalidArgumentError

__all__ = ["add_parsers"]

PREPARE_SCHEMA = "radlens.prepare/1"


def _load_with_study(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """(study, series, spec, input options) from the common arguments."""
    from dicom_io.loader import load_study

    spec = shared.model_spec(args)
    study = load_study(args.path, study=args.study)
    return study, shared.load_series(study, args.series), spec, shared.input_options(args)


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
    (out / "request.json").write_text(json.dumps(_request(prepared, spec), indent=2))
    inputs = prepared.inputs
    print(
        f"{out}: {len(inputs.images)} image(s), ~{inputs.image_tokens} image tokens, "
        f"{prepared.prompt.provenance}; {inputs.description}"
    )
    return 0


def _request(prepared: Any, spec: Any) -> dict[str, Any]:
    """``request.json`` (schema ``radlens.prepare/1``): what is sent and how images map back."""
    inputs = prepared.inputs
    return {
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
    from models.tasks.ask import answer_from_text, ask, drop_unoffered_boxes
    from models.tasks.prepare import prepare

    study, series, spec, options = _load_with_study(args)
    settings = shared.generation_settings(args)
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
        # As the live path does: boxes on images the model does not localize are dropped.
        read = answer_from_text(prepared, raw, None, settings)
        answer = drop_unoffered_boxes(read, spec, series)
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
        _audit(answer, study, series)
    _print_answer(answer, args.json)
    return 0


def _audit(answer: Any, study: Any, series: Any) -> None:
    """Record the model's answer (hashed) in the audit log."""
    from app.audit import AuditLog, cli_user
    from models.tasks.names import TaskName

    AuditLog().record(
        TaskName.ASK,
        user=cli_user(),
        study=study.key,
        series=series.key,
        model=answer.model_id,
        prompt_version=answer.prompt_version,
        output=answer.raw,
    )


def add_parsers(sub: Any) -> None:
    """Add ``prepare`` and ``ask`` to the ``radlens`` subcommands."""
    p = sub.add_parser("prepare", help="write the exact images and messages a model is sent")
    p.add_argument("path", help="study: DICOM file, folder or .zip, NIfTI, PNG/JPEG")
    p.add_argument("--task", choices=["report", "ask"], required=True)
    p.add_argument("--question", help="the question (with --task ask)")
    p.add_argument("--indication", help="clinical indication (with --task report)")
    p.add_argument("--out", required=True, help="output folder")
    shared.add_study_arguments(p)
    p.set_defaults(func=_cmd_prepare)

    p = sub.add_parser("ask", help="ask the model a question about a study")
    p.add_argument("path", help="study: DICOM file, folder or .zip, NIfTI, PNG/JPEG")
    p.add_argument("question")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--from-raw", metavar="FILE", help="re-read a saved raw model output")
    shared.add_device_arguments(p)
    shared.add_generation_arguments(p, task="ask")
    shared.add_study_arguments(p)
    p.set_defaults(func=_cmd_ask)
