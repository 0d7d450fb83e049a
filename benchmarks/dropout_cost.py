"""The cost model on dropout: predicted vs measured epochs of the same configurations with and without it.

Dropout draws a random mask every step; on a CPU drawing is the generator's arithmetic (5.5 ns an
element for ``bernoulli_`` on one thread of session 25's machine), and until session 25 the count
priced it as a memory fill (0.04 ns). This trains real epochs of hpbench's trainer (one process,
one thread, ``max_epochs`` epochs, the fastest epoch after the first) for MLPs and CNNs at
dropout 0 and 0.2 on three data sets, and prices each configuration with this machine's device
model twice: the current rule (a drawing op priced per element drawn, :mod:`hpbench.cost.rng`) and
the rule before (``bernoulli_`` a fill). Same timings, two prices, side by side in one run.

    PYTHONPATH=.:benchmarks OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dropout_cost.py [--quick] [--out results/benchmarks]

Writes ``dropout_cost.json``.
"""

from __future__ import annotations

import statistics
from typing import Any

from epoch_cost import LONG, TABULAR, measured_epoch_s, one_thread_device, parser, study, write_report  # type: ignore[import-not-found]

# (data set, family, model keys, batch): MLPs of 1-3 layers, widths 64-256, batches 32-512, and a
# CNN on the digits, each run at dropout 0 and 0.2
GRID = [(LONG, "mlp", {"depth": d, "width": w}, b) for d, w, b in ((1, 256, 128), (2, 256, 128), (3, 256, 128), (3, 256, 512),
                                                                    (2, 128, 128), (3, 64, 128))] + [
    (TABULAR, "mlp", {"depth": d, "width": w}, b) for d, w, b in ((2, 64, 32), (3, 256, 32), (4, 128, 128))] + [
    ("digits", "cnn", {}, 64)]
QUICK = [(TABULAR, "mlp", {"depth": 2, "width": 64}, 32)]
DROPOUTS = (0.0, 0.2)


def priced(s: Any, dev: Any) -> tuple[float, float]:
    """(predicted seconds per epoch now, by the rule before) of study ``s``'s one configuration."""
    from hpbench.cost import count, ops
    from hpbench.cost.annotate import predict_trial
    from hpbench.study.resolve import trial_config

    cfg = trial_config(s, {})
    count._STEP_CACHE.clear()  # counted afresh under each rule
    now = predict_trial(cfg, device_model=dev)["predicted_epoch_s"]
    ops._FILL.add("bernoulli_")  # the rule before: a drawn mask priced as a fill
    count._STEP_CACHE.clear()
    try:
        before = predict_trial(cfg, device_model=dev)["predicted_epoch_s"]
    finally:
        ops._FILL.discard("bernoulli_")
        count._STEP_CACHE.clear()
    return float(now), float(before)


def main() -> None:
    args = parser(__doc__ or "", quick="one configuration only (a smoke run)").parse_args()
    dev = one_thread_device()
    rows = []
    for dataset, family, model, batch in QUICK if args.quick else GRID:
        for dropout in DROPOUTS:
            s = study(dataset, family, model, batch, dropout, args.epochs)
            now_s, before_s = priced(s, dev)
            meas = measured_epoch_s(s)
            row = {"data": dataset.rsplit(":", 1)[-1], "family": family, **model, "batch": batch, "dropout": dropout, "measured_s": meas,
                   "predicted_s": now_s, "predicted_before_s": before_s, "error": now_s / meas - 1, "error_before": before_s / meas - 1}
            rows.append(row)
            print(f"{row['data']:>10} {family} {model} batch {batch:4d} dropout {dropout:.1f}: measured {meas:7.4f} s  "
                  f"now {now_s:7.4f} s ({row['error']:+6.1%})  before {before_s:7.4f} s ({row['error_before']:+6.1%})", flush=True)
    dropped = [r for r in rows if r["dropout"] > 0]
    summary = {f"{k}_{part}": f(abs(r[e]) for r in sel) for part, sel in (("all", rows), ("dropout", dropped))
               for k, e, f in (("median_abs_error", "error", statistics.median), ("max_abs_error", "error", max),
                               ("median_abs_error_before", "error_before", statistics.median), ("max_abs_error_before", "error_before", max))}
    print(f"with dropout, |error| median / max: now {summary['median_abs_error_dropout']:.1%} / {summary['max_abs_error_dropout']:.1%}, "
          f"before {summary['median_abs_error_before_dropout']:.1%} / {summary['max_abs_error_before_dropout']:.1%}; "
          f"all: now {summary['median_abs_error_all']:.1%} / {summary['max_abs_error_all']:.1%}, "
          f"before {summary['median_abs_error_before_all']:.1%} / {summary['max_abs_error_before_all']:.1%}")
    if not args.quick:
        write_report("dropout_cost", dev=dev, rows=rows, summary=summary, out=args.out, model={"random_s_per_element": dev.random_s_per_element})


if __name__ == "__main__":
    main()
