"""The cost model on activations: predicted vs measured epochs of the same MLPs with each nonlinearity hpbench offers.

The calibration suite's networks use ReLU; tanh, GELU, ELU and friends evaluate transcendental
functions that cost several times ReLU's per element on a CPU. This trains real epochs of
hpbench's trainer (one process, one thread, the fastest epoch after the first of ``--epochs``)
for MLPs with each activation on two data sets, and prices each configuration with this machine's
device model twice: as it is (an activation's ops priced at their measured excess over ReLU's,
:mod:`hpbench.cost.activations`) and without that term (the model before session 25). Same
timings, two prices, side by side in one run.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/activation_cost.py [--quick] [--out results/benchmarks]

Writes ``activation_cost.json``.
"""

from __future__ import annotations

import dataclasses
import statistics

from epoch_cost import LONG, TABULAR, measured_epoch_s, one_thread_device, parser, study, write_report  # type: ignore[import-not-found]

ACTIVATIONS = ("relu", "tanh", "gelu", "elu", "sigmoid", "silu", "leaky_relu")
# (data set, model keys, batch): a compute-heavy step (width 256, batch 128), a small-batch one and a wide batch of narrow layers
GRID = [(LONG, {"depth": 2, "width": 256}, 128), (TABULAR, {"depth": 3, "width": 128}, 32), (LONG, {"depth": 2, "width": 64}, 512)]
QUICK = [(TABULAR, {"depth": 2, "width": 64}, 32)]


def main() -> None:
    args = parser(__doc__ or "", quick="one configuration, ReLU and tanh only (a smoke run)").parse_args()

    from hpbench.cost.annotate import predict_trial
    from hpbench.study.resolve import trial_config

    dev = one_thread_device()
    before = dataclasses.replace(dev, activation_s_per_element={})
    rows = []
    for dataset, model, batch in QUICK if args.quick else GRID:
        for act in ("relu", "tanh") if args.quick else ACTIVATIONS:
            s = study(dataset, "mlp", {**model, "activation": act}, batch, 0.0, args.epochs)
            cfg = trial_config(s, {})
            now_s = float(predict_trial(cfg, device_model=dev)["predicted_epoch_s"])
            before_s = float(predict_trial(cfg, device_model=before)["predicted_epoch_s"])
            meas = measured_epoch_s(s)
            row = {"data": dataset.rsplit(":", 1)[-1], **model, "batch": batch, "activation": act, "measured_s": meas, "predicted_s": now_s,
                   "predicted_before_s": before_s, "error": now_s / meas - 1, "error_before": before_s / meas - 1}
            rows.append(row)
            print(f"{row['data']:>10} {model} batch {batch:4d} {act:>10}: measured {meas:7.4f} s  now {now_s:7.4f} s ({row['error']:+6.1%})  "
                  f"before {before_s:7.4f} s ({row['error_before']:+6.1%})", flush=True)
    # per configuration, each activation's error less ReLU's: what the activation adds to the model's error
    spread = {}
    for key in ("error", "error_before"):
        gaps = []
        for dataset, model, batch in QUICK if args.quick else GRID:
            same = [r for r in rows if r["data"] == dataset.rsplit(":", 1)[-1] and r["batch"] == batch and all(r[k] == v for k, v in model.items())]
            relu = next(r[key] for r in same if r["activation"] == "relu")
            gaps += [abs(r[key] - relu) for r in same if r["activation"] != "relu"]
        spread[key] = {"median_abs_gap": statistics.median(gaps), "max_abs_gap": max(gaps)}
    summary = {"median_abs_error": statistics.median(abs(r["error"]) for r in rows), "max_abs_error": max(abs(r["error"]) for r in rows),
               "median_abs_error_before": statistics.median(abs(r["error_before"]) for r in rows),
               "max_abs_error_before": max(abs(r["error_before"]) for r in rows),
               "gap_to_relu_now": spread["error"], "gap_to_relu_before": spread["error_before"]}
    print(f"|error| median / max: now {summary['median_abs_error']:.1%} / {summary['max_abs_error']:.1%}, before "
          f"{summary['median_abs_error_before']:.1%} / {summary['max_abs_error_before']:.1%}; an activation's error less ReLU's, "
          f"|gap| median / max: now {spread['error']['median_abs_gap']:.1%} / {spread['error']['max_abs_gap']:.1%}, before "
          f"{spread['error_before']['median_abs_gap']:.1%} / {spread['error_before']['max_abs_gap']:.1%}")
    if not args.quick:
        write_report("activation_cost", dev=dev, rows=rows, summary=summary, out=args.out)


if __name__ == "__main__":
    main()
