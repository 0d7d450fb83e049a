"""What the results tables cost the driver per trial as a study grows (issue 20 §4), without Ray.

Replays the recorder's calls for N one-epoch trials (``start``, one ``epoch`` row, ``flush``
after the row, ``finish``, ``flush(soon=True)``) into a real
:class:`hpbench.results.store.ResultsStore` writing real parquet files (a base plus parts:
:mod:`hpbench.results.writer`). The search's pace is simulated: the store's clock advances
``--trial-s`` / 2 per trial (1-second trials, two at a time), and each background write is
waited for (so its cost is counted, not overlapped). Each size runs in a fresh process (its peak
resident memory is its own), after a 4-trial warm-up (the first write in a process pays ~0.1 s
of pandas' and pyarrow's one-time set-up: a start-up cost, not a per-trial one). Reported at N = 20, 200 and 2,000:

* overhead ms per trial = driver (the store's calls on the dispatcher's thread) + writer (every
  part the background thread wrote, over N: its wall time, which waits for the disk's fsync, and
  its CPU time, what competes with the dispatcher), and the writes done; the store's first write
  (a compaction of its first rows) and the final compaction happen once per search, at any size,
  and are reported apart, as ms;
* the largest single write, and the parts on disk at the end (before the final compaction);
* a reader's ``hpbench.load`` of the trials table mid-search (base + parts), ms;
* the final compaction (the whole tables, written once at the end of a search), ms;
* the process's peak resident memory, MB.

    .venv/bin/python benchmarks/store_writes.py          # writes results/benchmarks/store_writes.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "benchmarks"
PARAMS = ["optimizer", "lr", "batch_size", "init", "model.depth", "model.width", "model.activation"]


def replay(n: int, out: Path, *, trial_s: float, check: bool = True) -> dict[str, Any]:
    import hpbench
    import hpbench.results.store as store_module
    from hpbench.results.parts import list_parts
    from hpbench.results.store import ResultsStore

    clock = [0.0]
    real_monotonic = time.monotonic
    store_module.time.monotonic = lambda: clock[0]  # type: ignore[attr-defined]  # the simulated search's clock
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=PARAMS)
    writes: list[float] = []  # the parts' writes: wall seconds each
    cpu = [0.0]
    first: list[float] = []  # a store's first write (a compaction of its first rows: once per search, like the final one)
    inner = store._tables.write

    def timed_write(w: Any) -> None:  # the background writer's own time: wall (with the disk's fsync waits) and CPU
        t, c = time.perf_counter(), time.thread_time()
        inner(w)
        if w.seq is None:
            first.append(time.perf_counter() - t)
            return
        writes.append(time.perf_counter() - t)
        cpu[0] += time.thread_time() - c

    store._tables.write = timed_write  # type: ignore[method-assign]
    driver = 0.0
    try:
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
    finally:
        store_module.time.monotonic = real_monotonic  # type: ignore[attr-defined]
    n_parts = len(list_parts(out, "trials.parquet"))
    t = time.perf_counter()
    seen = hpbench.load(out)
    read = time.perf_counter() - t
    # the benchmark's own sanity check: the reader sees the trials (the last one or two may wait for the next write)
    assert not check or (set(seen["trial_id"]) <= set(store.trials) and len(seen) >= n - 2), (len(seen), n)
    during = sum(writes)
    t = time.perf_counter()
    store.flush(force=True)
    compaction = time.perf_counter() - t
    return {"n_trials": n, "driver_ms_per_trial": 1e3 * driver / n, "writer_ms_per_trial": 1e3 * during / n, "writes": len(writes),
            "writer_cpu_ms_per_trial": 1e3 * cpu[0] / n, "cpu_overhead_ms_per_trial": 1e3 * (driver + cpu[0]) / n,
            "largest_write_ms": 1e3 * max(writes, default=0.0), "first_write_ms": 1e3 * first[0], "overhead_ms_per_trial": 1e3 * (driver + during) / n,
            "parts_per_table_at_end": n_parts, "read_mid_search_ms": 1e3 * read, "final_compaction_ms": 1e3 * compaction,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[20, 200, 2000])
    ap.add_argument("--trial-s", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3, help="runs per size (the median is reported; the machine is shared)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size in this process: print its row as JSON
    args = ap.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory() as d:  # warm-up: the first write in a process pays ~0.1 s of one-time set-up
            replay(4, Path(d), trial_s=args.trial_s, check=False)  # in pandas and pyarrow, a start-up cost rather than a per-trial one
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(replay(args.one, Path(d), trial_s=args.trial_s)))
        return
    rows = []
    done: dict[int, list[dict[str, Any]]] = {n: [] for n in args.sizes}
    for _ in range(args.repeat):  # the sizes interleaved: the shared machine's load drifts alike over each
        for n in args.sizes:
            proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--trial-s", str(args.trial_s)], capture_output=True, text=True,
                                  check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            done[n].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for n, runs in done.items():
        runs.sort(key=lambda r: r["overhead_ms_per_trial"])
        row = {**runs[len(runs) // 2], "overhead_ms_per_trial_runs": [r["overhead_ms_per_trial"] for r in runs],
               "cpu_overhead_ms_per_trial_median": statistics.median(r["cpu_overhead_ms_per_trial"] for r in runs)}
        rows.append(row)
        print(f"{n:6d} trials: overhead {row['overhead_ms_per_trial']:.2f} ms/trial (median of {len(runs)}; driver "
              f"{row['driver_ms_per_trial']:.3f}, writer {row['writer_ms_per_trial']:.2f} of which CPU {row['writer_cpu_ms_per_trial']:.2f}; "
              f"CPU overhead {row['cpu_overhead_ms_per_trial_median']:.2f} ms/trial (median); {row['writes']} writes, largest "
              f"{row['largest_write_ms']:.0f} ms), {row['parts_per_table_at_end']} parts per table, a read mid-search "
              f"{row['read_mid_search_ms']:.0f} ms, the final compaction {row['final_compaction_ms']:.0f} ms, peak RSS "
              f"{row['max_rss_mb']:.0f} MB", flush=True)
    flat = max(r["overhead_ms_per_trial"] for r in rows) / min(r["overhead_ms_per_trial"] for r in rows)
    flat_cpu = max(r["cpu_overhead_ms_per_trial_median"] for r in rows) / min(r["cpu_overhead_ms_per_trial_median"] for r in rows)
    print(f"largest / smallest per-trial overhead: {flat:.2f} wall, {flat_cpu:.2f} CPU (target: within 1.2)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "store_writes.json").write_text(json.dumps({"loadavg": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M"),
                                                       "trial_s": args.trial_s, "flatness": flat, "flatness_cpu": flat_cpu, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
