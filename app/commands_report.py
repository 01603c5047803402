"""``radlens report``: draft a report of a study (or of every study in a folder).

The output's extension picks the format, one of ``models.report.exports.EXPORTERS`` (.md, .json,
.pdf, .dcm DICOM SR, .fhir.json). With a folder of studies and an output folder it runs as a
batch: one report per study, a progress bar, studies already reported are skipped (resumable), a
failing study is recorded and the batch goes on, and a summary table ends it, in the folder's
order. With the remote model, up to ``--concurrency`` studies (default
RADLENS_REMOTE_CONCURRENCY, 8) are reported at once, since vLLM and SGLang batch concurrent
requests; a local model reports one study at a time. Ctrl-C stops every study in flight (no
partial report is written). The arguments it shares with ``ask`` and ``prepare`` come from
:mod:`app.commands_common`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import commands_common as shared
from dicom_io.errors import InvalidArgumentError, RadLensError
from models.report.exports import DEFAULT_SUFFIX, EXPORTERS, exporter_for

__all__ = ["add_parsers"]

_CHOICES = ", ".join(EXPORTERS)


def _is_batch(args: argparse.Namespace) -> bool:
    out = Path(args.out)
    return Path(args.path).is_dir() and (out.is_dir() or out.suffix == "")


def _check_format(args: argparse.Namespace, batch: bool) -> None:
    """Refuse an unknown format before a model is loaded."""
    if batch:
        if args.format not in EXPORTERS:
            raise InvalidArgumentError(f"--format must be one of {_CHOICES}.")
        return
    out = Path(args.out)
    try:
        exporter_for(out)
    except InvalidArgumentError:
        message = f"--out {out.name}: the extension picks the format: {_CHOICES}."
        raise InvalidArgumentError(message) from None


def _one(args: argparse.Namespace, study_path: Path, out: Path, backend: Any, spec: Any) -> Any:
    from dicom_io.loader import load_study
    from models.report.exports import export_report
    from models.tasks.check import check
    from models.tasks.compare import compare
    from models.tasks.prepare import prepare
    from models.tasks.report import draft_report, from_text

    study = load_study(study_path, study=args.study)
    series = shared.load_series(study, args.series)
    options, settings = shared.input_options(args), shared.generation_settings(args)
    common = {"indication": args.indication or "", "language": args.language}
    if args.from_raw:
        raw = Path(args.from_raw).read_text(encoding="utf-8")
        # With --prior, replay a comparison: the compare request with the prior, so the change
        # tags are read (issue 11 item 9).
        prior_series = shared.load_series(load_study(args.prior), None) if args.prior else None
        task = "compare" if prior_series is not None else "report"
        prepared = prepare(series, spec, task, prior=prior_series, options=options, **common)
        report = from_text(series, prepared, raw, settings=settings, study_key=study.key, **common)
    elif args.prior:
        prior = load_study(args.prior)
        report = compare(
            series,
            shared.load_series(prior, None),
            backend,
            spec,
            options=options,
            settings=settings,
            **common,
        )
    else:
        report = draft_report(
            series,
            backend,
            spec,
            options=options,
            settings=settings,
            study_key=study.key,
            ground=not args.no_localize,
            examples=_examples(args),
            **common,
        )
    if args.check and backend is not None:
        report = check(report, series, backend, spec, options=options)
    written = export_report(report, out, series=series, keep_identity=args.keep_identity)
    _audit(report, study, written, drafted=not args.from_raw)
    return report


def _audit(report: Any, study: Any, written: Path, drafted: bool) -> None:
    """Record the model's report (when the model ran) and the file written."""
    from app.audit import AuditLog, cli_user
    from models.tasks.names import TaskName

    log, user = AuditLog(), cli_user()
    tasks: list[tuple[TaskName, Any]] = [(TaskName.EXPORT, written)]
    if drafted:
        tasks.insert(0, (report.kind, report.raw))
    for task, output in tasks:
        log.record(
            task,
            user=user,
            study=report.study.study_key or study.key,
            series=report.study.series_key,
            model=report.model_id,
            prompt_version=report.prompt_version,
            output=output,
        )


def _examples(args: argparse.Namespace) -> Any:
    if not args.examples:
        return ()
    cached = getattr(args, "loaded_examples", None)
    if cached is None:
        from models.tasks.examples import load_examples

        cached = load_examples(args.examples)
        args.loaded_examples = cached  # loaded once per batch
    return cached


@dataclass
class _Row:
    study: str
    status: str
    detail: str


def _studies(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


class _Stopped(Exception):
    """A model call ended by the batch's Stop (Ctrl-C): the study is not written."""


class _Stoppable:
    """The batch's backend: every call also ends when the batch is stopped, and then raises
    :class:`_Stopped` instead of returning a cut-short answer."""

    def __init__(self, backend: Any, stop: Any) -> None:
        self._backend, self._stop = backend, stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    @property
    def model_id(self) -> str:
        return str(self._backend.model_id)

    def _token(self, cancel: Any) -> tuple[Any, Any]:
        if cancel is None:
            return self._stop, lambda: None
        return cancel, self._stop.on_cancel(cancel.cancel)

    def generate(self, request: Any, cancel: Any = None) -> Any:
        token, forget = self._token(cancel)
        try:
            result = self._backend.generate(request, token)
        finally:
            forget()
        if self._stop.cancelled:
            raise _Stopped
        return result

    def stream(self, request: Any, cancel: Any = None) -> Generator[str, None, Any]:
        token, forget = self._token(cancel)
        try:
            result = yield from self._backend.stream(request, token)
        finally:
            forget()
        if self._stop.cancelled:
            raise _Stopped
        return result


def _concurrency(args: argparse.Namespace, spec: Any) -> int:
    """Studies reported at once: ``--concurrency``, else the remote server's setting; 1 for a
    local model (refusing more)."""
    wanted = args.concurrency
    if wanted is not None and wanted < 1:
        raise InvalidArgumentError(f"--concurrency must be >= 1, not {wanted}.")
    if not spec.is_remote:
        if wanted not in (None, 1):
            raise InvalidArgumentError(
                f"--concurrency {wanted} needs the remote model (--model remote): a local "
                "model reports one study at a time."
            )
        return 1
    from models.registry.remote_entry import remote_settings

    return int(wanted or remote_settings().concurrency)


def _report_one(
    args: argparse.Namespace, study: Path, target: Path, backend: Any, spec: Any
) -> _Row:
    try:
        _one(args, study, target, backend, spec)
        return _Row(study.name, "done", target.name)
    except RadLensError as err:
        return _Row(study.name, "failed", " ".join(str(err).split()))
    except _Stopped:
        return _Row(study.name, "stopped", "stopped before it was written")
    except Exception as err:  # one study's bug must not stop the batch: recorded below
        # Only the type: the summary is a file, and the text may quote anything.
        detail = f"internal error: {type(err).__name__} (rerun this study with --debug)"
        return _Row(study.name, "failed", detail)


def _run_all(
    args: argparse.Namespace, jobs: list[tuple[int, Path, Path]], backend: Any, spec: Any
) -> Generator[tuple[int, _Row], None, None]:
    """Report each ``(index, study, target)``, ``_concurrency`` at once; yield each row as its
    study ends. Ctrl-C cancels every study in flight, then is raised again."""
    from models.backends.base import CancelToken

    stop = CancelToken()
    model = None if backend is None else _Stoppable(backend, stop)
    _examples(args)  # loaded once, before the workers share them
    with ThreadPoolExecutor(_concurrency(args, spec), thread_name_prefix="radlens-report") as pool:
        futures = {
            pool.submit(_report_one, args, study, target, model, spec): index
            for index, study, target in jobs
        }
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            stop.cancel()
            for future in futures:
                future.cancel()
            raise


def _batch(args: argparse.Namespace, backend: Any, spec: Any) -> int:
    from tqdm import tqdm

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = args.format
    studies = _studies(Path(args.path))
    rows: list[_Row | None] = [None] * len(studies)
    jobs = []
    for index, study in enumerate(studies):
        target = out_dir / f"{study.name.removesuffix('.zip')}{suffix}"
        if target.exists():
            rows[index] = _Row(study.name, "skipped", f"{target.name} exists")
        else:
            jobs.append((index, study, target))
    with tqdm(total=len(studies), desc="reports", unit="study", file=sys.stderr) as bar:
        bar.update(len(studies) - len(jobs))
        for index, row in _run_all(args, jobs, backend, spec):
            rows[index] = row
            bar.update()
    return _summary(out_dir, [row for row in rows if row is not None])


def _summary(out_dir: Path, rows: list[_Row]) -> int:
    failures = [r for r in rows if r.status == "failed"]
    (out_dir / "batch_summary.json").write_text(
        json.dumps([r.__dict__ for r in rows], indent=2), encoding="utf-8"
    )
    width = max((len(r.study) for r in rows), default=5)
    print(f"{'study':<{width}}  status   detail")
    for r in rows:
        print(f"{r.study:<{width}}  {r.status:<7}  {r.detail}")
    counts = {s: sum(r.status == s for r in rows) for s in ("done", "skipped", "failed")}
    print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed")
    if failures:
        print(
            f"radlens: error: {len(failures)} of {len(rows)} studies failed "
            f"(see {out_dir / 'batch_summary.json'})",
            file=sys.stderr,
        )
        return 2
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    spec = shared.model_spec(args)
    batch = _is_batch(args)
    _check_format(args, batch)
    if batch:
        _concurrency(args, spec)  # refuse a bad --concurrency before loading a model
    backend = None
    if not args.from_raw or args.check:
        from models.backends.engine import open_backend

        backend = open_backend(spec, args.precision, args.device)
    if batch:
        return _batch(args, backend, spec)
    report = _one(args, Path(args.path), Path(args.out), backend, spec)
    print(f"{args.out}: {report.title}, {len(report.all_findings)} finding(s), {report.prompt}")
    print(f"[{report.disclaimer}]")
    return 0


def add_parsers(sub: Any) -> None:
    """Add ``report`` to the ``radlens`` subcommands."""
    p = sub.add_parser("report", help="draft a structured report (or a batch of them)")
    p.add_argument("path", help="a study, or a folder of studies with an output folder (batch)")
    p.add_argument("--out", required=True, help=f"report file ({_CHOICES}) or folder")
    p.add_argument(
        "--format",
        default=DEFAULT_SUFFIX,
        help=f"batch: output format (default {DEFAULT_SUFFIX})",
    )
    p.add_argument("--prior", help="prior study of the same body part: draft a comparison")
    p.add_argument("--check", action="store_true", help="probe each finding (extra model calls)")
    p.add_argument("--no-localize", action="store_true", help="skip the boxes of findings")
    p.add_argument("--indication", help="clinical indication, put into the prompt")
    p.add_argument("--examples", metavar="DIR", help="folder of example cases with reports")
    p.add_argument("--from-raw", metavar="FILE", help="read a saved raw model output instead")
    p.add_argument("--keep-identity", action="store_true", help="DICOM SR: keep patient identity")
    p.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="batch: studies in flight at once with the remote model "
        "(default RADLENS_REMOTE_CONCURRENCY, 8); a local model runs one",
    )
    shared.add_device_arguments(p)
    shared.add_generation_arguments(p, task="report")
    shared.add_study_arguments(p)
    p.set_defaults(func=_cmd_report)
