"""What the driver holds per Tune trial as a study grows (issue 20 §4, the driver's memory).

Runs ``hpbench search`` in this process on benchmarks/dispatch.py's study (one-epoch trials of a
fixed MLP on digits, random search, no pruning, concurrency 2), and when the A-th and the B-th
Tune trial have completed (the recorder's ``on_trial_complete``), collects the garbage and counts
the objects the garbage collector tracks by type (with their shallow sizes) and the process's
resident memory. Printed: resident memory per Tune trial between the two points, and the types
that grew, per trial. Not a timing measurement (run it niced; the counts do not depend on the load).

    .venv/bin/python benchmarks/driver_objects.py [--trials 400] [--at 50 300]
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import sys
import tempfile
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
    args = ap.parse_args()
    a, b = args.at
    import hpbench.dispatch.recorder as recorder
    from hpbench.cli import main as cli

    taken: dict[int, Any] = {}
    complete = recorder.Recorder.on_trial_complete
    ended = [0]

    def counted(self: Any, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        complete(self, iteration, trials, trial, **info)
        ended[0] += 1
        if ended[0] in (a, b):
            taken[ended[0]] = _counts()
        if ended[0] == b:
            (n1, s1, r1), (n2, s2, r2) = taken[a], taken[b]
            d = b - a
            grown, sized = n2 - n1, s2 - s1
            print(f"driver resident memory {(r2 - r1) / d:+.0f} B per Tune trial (trials {a} -> {b}); objects the gc tracks "
                  f"{sum(grown.values()) / d:+.1f} per trial, {sum(sized.values()) / d:+.0f} B shallow", flush=True)
            for k, v in sized.most_common(25):
                print(f"  {k:72s} {grown[k] / d:+6.2f} per trial {v / d:+7.0f} B", flush=True)

    recorder.Recorder.on_trial_complete = counted  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "driver-objects.toml"
        study.write_text(STUDY.format(trials=args.trials, epochs=1))
        sys.argv = ["hpbench", "search", str(study), "--out", str(Path(tmp) / "out"), "--num-cpus", "2"]
        try:
            cli()
        except SystemExit as e:
            if e.code:
                raise


if __name__ == "__main__":
    main()
