"""The long fuzzing run: mutated real DICOM, NIfTI and PNG files through RadLens for N minutes.

    python bench/fuzz.py                         # 20 minutes, base seed 1
    python bench/fuzz.py --minutes 5 --seed 7 --only CT_small.dcm,example4d.nii.gz
    python bench/fuzz.py --replay CT_small.dcm#123 --seed 7   # rerun one input, show traceback

Every input is built by ``tests/robustness`` (the same seeds, mutators and outcome rule as the CI
run in ``tests/robustness/test_fuzz.py``) and is fully determined by (base seed, seed file,
index). Seed files take turns, each walking its own index upwards. Crashes are shrunk a little
and written, with their traceback, under ``--out`` (one per crash signature); copy the ones worth
keeping into ``tests/robustness/crashers/`` with a README line.

Printed at the end: inputs per seed file and per mutator, outcomes (loaded / refused by error
class / crash), crashes by signature, the largest peak-RSS growth of one input and the
process's peak, the slowest input, and inputs per second.
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import logging
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.robustness.harness import (  # noqa: E402
    MEMORY_BOUND,
    TIMEOUT_S,
    Case,
    Outcome,
    make_case,
    peak_bytes,
    seeds,
    write_case,
)
from tests.robustness.harness import exercise as run_input  # noqa: E402
from tests.robustness.shrink import shrink  # noqa: E402

MIB = 1024 * 1024


class Tally:
    """Counts per seed file, per mutator and per outcome; crashes by signature."""

    def __init__(self) -> None:
        self.per_seed: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.per_mutator: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.crashes: dict[str, list[str]] = {}
        self.largest_growth = (0, "")
        self.process_peak = 0
        self.slowest = (0.0, "")
        self.zipped = 0

    def add(self, case: Case, outcome: Outcome) -> bool:
        """Record one input; True when it is the first crash with its signature."""
        label = outcome.status if outcome.status != "refused" else f"refused {outcome.kind}"
        self.per_seed[case.seed.name]["tried"] += 1
        self.per_seed[case.seed.name][outcome.status] += 1
        for name in set(case.mutators) or {"(none applied)"}:
            self.per_mutator[name]["tried"] += 1
            self.per_mutator[name][outcome.status] += 1
        self.outcomes[label] += 1
        self.zipped += case.zipped
        if outcome.peak_growth > self.largest_growth[0]:
            self.largest_growth = (outcome.peak_growth, case.id)
        self.process_peak = max(self.process_peak, peak_bytes())
        if outcome.seconds > self.slowest[0]:
            self.slowest = (outcome.seconds, case.id)
        if outcome.status != "crash":
            return False
        first = outcome.signature not in self.crashes
        self.crashes.setdefault(outcome.signature, []).append(case.id)
        return first


def _save_crash(case: Case, outcome: Outcome, out: Path, do_shrink: bool) -> Path:
    # Shrinking reruns the input dozens of times: not for hangs and memory bombs.
    slow = outcome.kind in ("Timeout", "MemoryBound", "MemoryError")
    small = shrink(case) if do_shrink and not slow else case
    folder = out / f"{case.seed.name.replace('.', '_')}-{case.index}-{outcome.kind}"
    if folder.exists():
        shutil.rmtree(folder)
    path, _ = write_case(small, folder)
    sizes = " ".join(f"{name}:{len(data)}" for name, data in small.files)
    (folder / "crash.txt").write_text(
        f"case {case.id} mutators {','.join(case.mutators)} zipped {case.zipped}\n"
        f"input {path.name} ({sizes} bytes after shrinking)\n"
        f"{outcome.kind}: {outcome.message}\nat {outcome.where}\n\n{outcome.traceback}"
    )
    return folder


def _table(title: str, rows: dict[str, collections.Counter[str]], columns: list[str]) -> None:
    print(f"\n{title}")
    print(f"{'':34}" + "".join(f"{c:>10}" for c in columns))
    for name in sorted(rows):
        print(f"{name:34}" + "".join(f"{rows[name][c]:>10}" for c in columns))


def _report(tally: Tally, seconds: float, out: Path) -> None:
    total = sum(c["tried"] for c in tally.per_seed.values())
    columns = ["tried", "loaded", "refused", "crash"]
    _table("Inputs per seed file", tally.per_seed, columns)
    _table(
        "Inputs per mutator (an input counts once for each mutator applied)",
        tally.per_mutator,
        columns,
    )
    print(f"\nOutcomes ({tally.zipped} of {total} inputs were read inside a zip)")
    for label, count in tally.outcomes.most_common():
        print(f"  {label:40} {count:>8}  {100 * count / max(total, 1):5.1f}%")
    print(f"\nCrashes: {len(tally.crashes)} signature(s)")
    for signature, ids in tally.crashes.items():
        print(f"  {len(ids):>5} x {signature}  (first {ids[0]})")
    if tally.crashes:
        print(f"  saved under {out}")
    growth, where = tally.largest_growth
    print(
        f"\nLargest peak-RSS growth of one input: {growth / MIB:.1f} MiB ({where}); "
        f"bound {MEMORY_BOUND / MIB:.0f} MiB"
    )
    print(f"Process peak RSS: {tally.process_peak / MIB:.0f} MiB")
    print(f"Slowest input: {tally.slowest[0]:.2f} s ({tally.slowest[1]}); limit {TIMEOUT_S:g} s")
    print(f"{total} inputs in {seconds:.0f} s: {total / max(seconds, 1e-9):.1f} inputs/s")


def _replay(case_id: str, base_seed: int) -> int:
    name, _, index = case_id.rpartition("#")
    seed = next(s for s in seeds() if s.name == name)
    case = make_case(seed, base_seed, int(index))
    with tempfile.TemporaryDirectory(prefix="radlens-replay-") as tmp:
        path, names = write_case(case, Path(tmp))
        outcome = run_input(path, names)
    print(f"{case.id}: mutators {case.mutators}, zipped {case.zipped}")
    print(f"{outcome.status} {outcome.kind}: {outcome.message}")
    print(f"{outcome.seconds:.3f} s, peak growth {outcome.peak_growth / MIB:.1f} MiB")
    print(outcome.traceback)
    return 1 if outcome.status == "crash" else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1, help="base seed (default 1)")
    parser.add_argument("--only", default="", help="comma-separated seed file names")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "radlens-fuzz")
    parser.add_argument("--start", type=int, default=0, help="first index of every seed file")
    parser.add_argument("--no-shrink", action="store_true")
    parser.add_argument("--replay", help="rerun one input, e.g. CT_small.dcm#123")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a segfault in a C decoder prints the stacks (current_input.txt)
    logging.disable(logging.CRITICAL)  # nibabel logs every header it fixes
    warnings.simplefilter("ignore")  # pydicom warns about every odd value
    if args.replay:
        return _replay(args.replay, args.seed)
    chosen = [s for s in seeds() if not args.only or s.name in args.only.split(",")]
    if not chosen:
        parser.error(f"--only matches no seed file; choose from {[s.name for s in seeds()]}")
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="radlens-fuzz-"))
    current = args.out / "current_input.txt"
    tally = Tally()
    start = time.perf_counter()
    deadline = start + args.minutes * 60
    next_note = start + 30
    index = args.start
    try:
        while time.perf_counter() < deadline:
            for seed in chosen:
                case = make_case(seed, args.seed, index)
                # A hang in C code that holds the GIL never sees the alarm: this dumps the
                # stacks and exits instead, and current_input.txt names the input.
                current.write_text(f"{case.id} (base seed {args.seed})\n")
                faulthandler.dump_traceback_later(TIMEOUT_S * 6, exit=True)
                folder = scratch / "input"
                path, names = write_case(case, folder)
                outcome = run_input(path, names)
                faulthandler.cancel_dump_traceback_later()
                shutil.rmtree(folder)
                if tally.add(case, outcome):
                    saved = _save_crash(case, outcome, args.out, not args.no_shrink)
                    print(f"crash {outcome.signature} ({case.id}) -> {saved}", flush=True)
            index += 1
            if time.perf_counter() > next_note:
                done = sum(c["tried"] for c in tally.per_seed.values())
                elapsed = time.perf_counter() - start
                print(
                    f"[{elapsed:5.0f} s] {done} inputs, {len(tally.crashes)} crash signature(s)",
                    flush=True,
                )
                next_note += 30
    except KeyboardInterrupt:
        print("interrupted")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nBase seed {args.seed}, indices {args.start}..{index - 1} of each seed file")
    _report(tally, time.perf_counter() - start, args.out)
    return 1 if tally.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
