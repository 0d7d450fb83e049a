"""The cost model on a user's data of real size: predicted vs measured epochs as the training set grows.

The calibration suite's probes train on 400-1,500 rows; users bring tables of 10^4-10^6 rows. Per
epoch, what grows with the rows is the number of steps; per step, nothing should (the trainer
gathers each batch's rows from the whole set: ``x[idx]``). This times real epochs of the trainer's
loop (:func:`hpbench.cost.suite.probe_epoch`: after a warm-up epoch, the fastest of 3 rounds that
each time one epoch of every configuration, as the calibration does; plain process, one thread) of two-layer MLPs at training sets of 2,000 to 1,000,000 rows and prices each with
this machine's device model, twice: with the batch gather counted as the rows it moves (the
current rule, :func:`hpbench.cost.ops.op_bytes`), and as hpbench counted it before session 23
(every byte of the source table, so a step's price grew with the data set). Same timings, two
prices: the ratio is measured side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/data_rows_cost.py [--quick] [--out results/benchmarks]

Writes ``data_rows_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# (rows of the training set, features, width, batch): a width-64 and a width-256 MLP (two hidden
# layers) at a small and a large batch, from the suite's sizes to a million rows
GRID = [(n, 32, w, b) for n in (2_000, 20_000, 200_000) for w in (64, 256) for b in (64, 1024)] + [
    (1_000_000, 32, 64, 1024), (200_000, 128, 256, 256)]
QUICK = [(2_000, 32, 64, 64), (200_000, 32, 64, 1024)]


def source_sized_bytes(name: str, args: Any, kwargs: Any, out: Any) -> float:
    """The rule before: every tensor an op touches counts whole, a gather's source table included."""
    from hpbench.cost.ops import tensor_bytes

    return tensor_bytes((args, kwargs, out))


def priced(p: Any, dev: Any) -> tuple[float, float]:
    """(seconds now, seconds by the rule before) of one epoch of probe ``p``."""
    from hpbench.cost import predict, recorder, suite

    now = predict.seconds(suite.probe_features(p, dev), dev.coef)
    current = recorder.op_bytes
    recorder.op_bytes = source_sized_bytes
    try:
        before = predict.seconds(suite.probe_features(p, dev), dev.coef)
    finally:
        recorder.op_bytes = current
    return now, before


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two sizes only (a smoke run)")
    ap.add_argument("--rounds", type=int, default=3, help="timed epochs per configuration, in interleaved rounds")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = ap.parse_args()

    import torch

    from hpbench.cost.calibrate import device_model
    from hpbench.cost.microbench import interleaved
    from hpbench.cost.suite import Probe, probe_epoch

    torch.set_num_threads(1)
    dev = device_model(threads=1)
    probes = [Probe(kind="mlp", n_in=n_in, depth=2, width=width, batch_size=batch, n_train=n)
              for n, n_in, width, batch in (QUICK if args.quick else GRID)]
    epochs = {str(i): probe_epoch(p, device="cpu") for i, p in enumerate(probes)}
    first = {k: e() for k, e in epochs.items()}  # the warm-up epochs
    timed = interleaved(epochs, rounds=args.rounds)
    rows = []
    for i, p in enumerate(probes):
        now_s, before_s = priced(p, dev)
        measured = min(timed[str(i)])
        n, n_in, width, batch = p.n_train, p.n_in, p.width, p.batch_size
        row = {"rows": n, "features": n_in, "width": width, "batch": batch, "measured_s": measured, "rounds_s": timed[str(i)],
               "first_s": first[str(i)], "predicted_s": now_s, "predicted_before_s": before_s, "error": now_s / measured - 1,
               "error_before": before_s / measured - 1}
        rows.append(row)
        print(f"{n:>9,} rows x {n_in:3d}  width {width:3d}  batch {batch:5d}: measured {measured:8.4f} s  "
              f"now {now_s:8.4f} s ({row['error']:+6.1%})  before {before_s:8.4f} s ({row['error_before']:+7.1%})", flush=True)
    summary = {
        "median_abs_error": statistics.median(abs(r["error"]) for r in rows),
        "max_abs_error": max(abs(r["error"]) for r in rows),
        "median_abs_error_before": statistics.median(abs(r["error_before"]) for r in rows),
        "max_abs_error_before": max(abs(r["error_before"]) for r in rows),
    }
    print(f"|error| median / max: now {summary['median_abs_error']:.1%} / {summary['max_abs_error']:.1%}, "
          f"before {summary['median_abs_error_before']:.1%} / {summary['max_abs_error_before']:.1%}")
    out = {"benchmark": "data_rows_cost", "host": platform.node(), "cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "device_model": {"name": dev.name, "measured_at": dev.measured_at}, "load_avg": os.getloadavg(), "rows": rows, **summary}
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "data_rows_cost.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
