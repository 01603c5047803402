"""The ``radlens`` command line.

``info``, ``render``, ``deid`` and ``serve`` live here; ``models`` in :mod:`app.commands_models`,
``prepare`` and ``ask`` in :mod:`app.commands_tasks`, ``report`` in :mod:`app.commands_report`;
the arguments and helpers they share in :mod:`app.commands_common`.

Exit codes: 0 success; 2 bad input or usage, with one line on stderr naming the file and the
problem; 1 an internal failure. Tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.commands_common import STUDY_HELP, add_device_arguments, load_series
from app.commands_models import add_parsers as add_models_parsers
from app.commands_report import add_parsers as add_report_parsers
from app.commands_tasks import add_parsers as add_task_parsers
from dicom_io.atomic import write_atomically
from dicom_io.errors import InvalidArgumentError, RadLensError

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors on one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"radlens: error: {message}\n")


def _cmd_info(args: argparse.Namespace) -> int:
    from dicom_io.loader import load_studies, study_number
    from dicom_io.summary import studies_summary, studies_text, study_summary, summary_text

    studies = load_studies(args.path)
    if len(studies) > 1 and args.study is None:  # list them, so one can be chosen
        listed = studies_summary(studies)
        print(json.dumps(listed, indent=2) if args.json else studies_text(listed))
        return EXIT_OK
    summary = study_summary(study_number(studies, args.study))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(summary_text(summary))
    return EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    from PIL import Image

    from dicom_io.display.planes import Plane, plane_size
    from dicom_io.display.render import render_slice
    from dicom_io.loader import load_study

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InvalidArgumentError(f"--out {out.name}: the output must be a .png file.")
    if not out.parent.is_dir():  # before any decoding
        raise InvalidArgumentError(f"--out {out}: cannot write there: no folder {out.parent}.")
    series = load_series(load_study(args.path, study=args.study), args.series)
    plane = Plane(args.plane) if args.plane else Plane.ACQUIRED
    count = plane_size(series.volume, plane)
    index = count // 2 if args.slice is None else args.slice
    image = render_slice(series, index=index, plane=plane, window=args.window)
    encoded = io.BytesIO()
    Image.fromarray(image).save(encoded, format="PNG")
    write_atomically(out, encoded.getvalue())  # a bad path: one line naming it, exit 2
    rows, cols = image.shape[:2]
    print(f"{out}: {series.label()}, {plane.value} slice {index}/{count - 1}, {cols}x{rows}")
    return EXIT_OK


def _cmd_deid(args: argparse.Namespace) -> int:
    from dicom_io.deid.files import deidentify
    from dicom_io.deid.options import DeidOptions

    options = DeidOptions(date_shift_days=args.shift_dates)
    report = deidentify(Path(args.input), Path(args.output), options)
    print(report.summary())
    for warning in report.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    from app.server import serve

    return serve(
        host=args.host,
        port=args.port,
        auth=args.auth,
        study=args.study,
        model=args.model,
        precision=args.precision,
        device=args.device,
        allow_hosts=tuple(args.allow_host or ()),
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="radlens", description="Local, private medical-imaging assistant.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("info", help="describe the series of a study")
    p.add_argument("path", help="DICOM file, folder or .zip, NIfTI file, or PNG/JPEG image")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--study", type=int, help=STUDY_HELP)
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("render", help="render one slice exactly as the viewer shows it")
    p.add_argument("path")
    p.add_argument("--study", type=int, help=STUDY_HELP)
    p.add_argument("--series", type=int, help="series number as listed by info (1-based)")
    p.add_argument("--slice", type=int, help="slice index (0-based; default: the middle)")
    p.add_argument("--plane", choices=["acquired", "axial", "coronal", "sagittal"])
    p.add_argument(
        "--window",
        help="lung, mediastinum, soft-tissue, bone, brain, liver, default, or CENTER,WIDTH",
    )
    p.add_argument("--out", required=True, help="output .png file")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("deid", help="write a de-identified copy of a DICOM file, folder or zip")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument(
        "--shift-dates",
        type=int,
        metavar="DAYS",
        help="shift dates by DAYS instead of removing them",
    )
    p.set_defaults(func=_cmd_deid)

    p = sub.add_parser("serve", help="start the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--model", help="model id (see `radlens models`)")
    p.add_argument("--auth", help="USER:PASS (required when --host is not loopback)")
    p.add_argument("--study", help="study to open at start (default: the bundled demo)")
    p.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="another host name clients use to reach RadLens (repeatable; also "
        "RADLENS_ALLOWED_HOSTS); any other Host or Origin is refused",
    )
    add_device_arguments(p)
    p.set_defaults(func=_cmd_serve)
    add_models_parsers(sub)
    add_task_parsers(sub)
    add_report_parsers(sub)
    return parser


def _run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return func(args)
    except RadLensError as err:
        if args.debug:
            raise
        message = " ".join(str(err).split())
        print(f"radlens: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if args.debug:
            raise
        # The text of an unexpected exception may quote anything, a patient's name included:
        # only its type is printed unless the user asks for the traceback.
        print(
            f"radlens: internal error: {type(err).__name__} (run with --debug for the "
            "traceback, which may show patient data)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    return _run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
