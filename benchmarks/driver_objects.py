"""What the driver holds per Tune trial as a study grows (issue 20 §4, the driver's memory).

Runs ``hpbench search`` in this process on benchmarks/dispatch.py's study (one-epoch trials of a
fixed MLP on digits, random search, no pruning, concurrency 2), and when the A-th and the B-th
Tune trial have completed (the recorder's ``on_trial_complete``), collects the garbage and counts
the objects the garbage collector tracks by type (with their shallow sizes) and the process's
resident memory. Printed: resident memory per Tune trial between the two points, and the types
that grew, per trial. Not a timing measurement (run it niced; the counts do not depend on the load).

    .venv/bin/python benchmarks/driver_objects.py [--trials 400] [--at 50 300] [--epochs 1] [--tracemalloc]

With ``--tracemalloc`` (tracing from ten trials before the first point) the memory Python
allocated between the two points and still held is also attributed
to where it was allocated (tracemalloc, 12 frames; strings and numbers too, which the object
count misses), summed by the first frame outside the standard library, then by the first frame
inside hpbench, Ray or Optuna.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import tempfile
import traceback
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispatch import STUDY  # the dispatch benchmark's study


def _counts() -> tuple[collections.Counter[str], collections.Counter[str], int]:
    gc.collect()
    n: collections.Counter[str] = collections.Counter()
    size: collections.Counter[str] = collections.Counter()
    for o in gc.get_objects():
        k = f"{type(o).__module__}.{type(o).__qualname__}"
        n[k] += 1
        size[k] += sys.getsizeof(o)
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return n, size, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=400)
    ap.add_argument("--at", type=int, nargs=2, default=[50, 300], metavar=("A", "B"))
    ap.add_argument("--tracemalloc", action="store_true", help="also attribute the growth to allocation sites")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per trial (a real search's trials report many: their rows)")
    args = ap.parse_args()
    a, b = args.at
    import hpbench.dispatch.recorder as recorder
    from hpbench.cli import main as cli

    taken: dict[int, Any] = {}
    snaps: dict[int, Any] = {}
    complete = recorder.Recorder.on_trial_complete
    ended = [0]

    def counted(self: Any, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        complete(self, iteration, trials, trial, **info)
        try:
            census(trial)
        except Exception:  # Tune would take it for the trial's failure and say nothing (its logging is off)
            traceback.print_exc()
            raise

    def census(trial: Any) -> None:
        ended[0] += 1
        if args.tracemalloc and ended[0] == max(1, a - 10):  # traced from here: Ray's start under tracing timed out (load 20)
            tracemalloc.start(12)
        if ended[0] in (a, b):
            taken[ended[0]] = _counts()
            if args.tracemalloc:
                snaps[ended[0]] = tracemalloc.take_snapshot()
        if ended[0] == b:
            (n1, s1, r1), (n2, s2, r2) = taken[a], taken[b]
            d = b - a
            grown, sized = n2 - n1, s2 - s1
            print(f"driver resident memory {(r2 - r1) / d:+.0f} B per Tune trial (trials {a} -> {b}); objects the gc tracks "
                  f"{sum(grown.values()) / d:+.1f} per trial, {sum(sized.values()) / d:+.0f} B shallow", flush=True)
            for k, v in sized.most_common(25):
                print(f"  {k:72s} {grown[k] / d:+6.2f} per trial {v / d:+7.0f} B", flush=True)
            if args.tracemalloc:
                _attribute(snaps[a], snaps[b], d)

    recorder.Recorder.on_trial_complete = counted  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "driver-objects.toml"
        study.write_text(STUDY.format(trials=args.trials, epochs=args.epochs))
        sys.argv = ["hpbench", "search", str(study), "--out", str(Path(tmp) / "out"), "--num-cpus", "2"]
        try:
            cli()
        except SystemExit as e:
            if e.code:
                raise


def _attribute(first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, d: int) -> None:
    """The growth between two snapshots per trial, by the first frame outside the standard library and by the first in
    hpbench / ray / optuna (tracebacks are innermost-last in tracemalloc's order: most recent call first)."""
    diff = last.compare_to(first, "traceback")
    print(f"tracemalloc: {sum(s.size_diff for s in diff) / d:+.0f} B per trial traced", flush=True)
    for label, keep in (("first frame outside the standard library", lambda f: "site-packages" in f or "/hpbench/" in f),
                        ("first hpbench / ray / optuna frame", lambda f: any(k in f for k in ("/hpbench/", "/ray/", "/optuna/")))):
        by: collections.Counter[str] = collections.Counter()
        for stat in diff:
            frames = list(reversed(stat.traceback))  # most recent call first
            where = next((f"{fr.filename.split('site-packages/')[-1]}:{fr.lineno}" for fr in frames if keep(fr.filename)),
                         f"{frames[0].filename}:{frames[0].lineno}" if frames else "?")
            by[where] += stat.size_diff
        print(f"  by the {label}:", flush=True)
        for where, size in by.most_common(20):
            print(f"    {where:90s} {size / d:+7.0f} B", flush=True)


if __name__ == "__main__":
    main()
