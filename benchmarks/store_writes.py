"""What the results tables cost the driver per trial as a study grows (issue 20 §4), without Ray.

Replays the recorder's calls for N one-epoch trials (``start``, one ``epoch`` row, ``flush``
after the row, ``finish``, ``flush(soon=True)``) into a real
:class:`hpbench.results.store.ResultsStore` writing real parquet files. The search's pace is
simulated: the store's clock advances ``--trial-s`` / 2 per trial (1-second trials, two at a
time), and each background write is waited for (so its cost is counted, not overlapped). Reported
at N = 20, 200 and 2,000: the driver's milliseconds per trial in the store's calls, the writer's
milliseconds per trial (every write it did, over N), the writes done, the cost of one whole-table
write at that size, and the process's peak resident memory. Per-trial overhead = driver + writer.

    .venv/bin/python benchmarks/store_writes.py          # writes results/benchmarks/store_writes.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from hpbench.results.store import ResultsStore

OUT = Path("results/benchmarks")
PARAMS = ["optimizer", "lr", "batch_size", "init", "model.depth", "model.width", "model.activation"]


def replay(n: int, out: Path, *, trial_s: float) -> dict[str, Any]:
    import hpbench.results.store as store_module

    clock = [0.0]
    store_module.time.monotonic = lambda: clock[0]  # type: ignore[attr-defined]  # the simulated search's clock
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=PARAMS)
    written = [0.0]
    n_writes = [0]
    inner = store._write

    def timed_write(*a: Any) -> None:  # the background writer's own time
        t = time.perf_counter()
        inner(*a)
        written[0] += time.perf_counter() - t
        n_writes[0] += 1

    store._write = timed_write  # type: ignore[method-assign]
    driver = 0.0
    for i in range(n):
        clock[0] += trial_s / 2
        t = time.perf_counter()
        tid = f"t{i:05d}"
        store.start(tid, {"optimizer": "adam", "lr": 1e-3 * (1 + i % 7), "batch_size": 64, "init": "xavier_uniform", "model.depth": 2,
                          "model.width": 128, "model.activation": "relu"})
        store.epoch(tid, {"epoch": 1, "train_loss": 0.5, "val_loss": 0.4, "val_accuracy": 0.9 + (i % 50) / 1000, "epoch_s": 1.0,
                          "learning_rate": 1e-3, "n_params": 26000, "node_id": "n", "stop_reason": "completed", "best_epoch": 1})
        store.flush()
        store.finish(tid)
        store.flush(soon=True)
        driver += time.perf_counter() - t
        if store._writing is not None:
            store._writing.result()
    t = time.perf_counter()
    store._dirty = True
    store.flush(force=True)
    one = time.perf_counter() - t
    store_module.time.monotonic = time.monotonic  # type: ignore[attr-defined]
    return {"n_trials": n, "driver_ms_per_trial": 1e3 * driver / n, "writer_ms_per_trial": 1e3 * written[0] / n, "writes": n_writes[0],
            "one_write_ms": 1e3 * one, "overhead_ms_per_trial": 1e3 * (driver + written[0]) / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 200, 2000])
    ap.add_argument("--trial-s", type=float, default=1.0)
    args = ap.parse_args()
    import pandas  # noqa: F401  # imported before timing (the first write would pay for it)

    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as d:
            row = replay(n, Path(d), trial_s=args.trial_s)
        row["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rows.append(row)
        print(f"{n:6d} trials: overhead {row['overhead_ms_per_trial']:.2f} ms/trial (driver {row['driver_ms_per_trial']:.3f}, "
              f"writer {row['writer_ms_per_trial']:.2f}; {row['writes']} writes), one write {row['one_write_ms']:.0f} ms, "
              f"peak RSS {row['max_rss_mb']:.0f} MB", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "store_writes.json").write_text(json.dumps({"loadavg": os.getloadavg(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
