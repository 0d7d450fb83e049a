"""The cost model on the trainer's options: predicted vs measured epochs of the same networks with each option on.

``[train]`` options change what a step runs beyond the network: gradient clipping walks every
gradient between the backward pass and the update, label smoothing changes the loss, mixed
precision casts under autocast, augmentation transforms each image batch. This trains real epochs
of hpbench's trainer (one process, one thread, the fastest epoch after the first of ``--epochs``, over ``--rounds``
interleaved rounds) for an MLP on a table and a CNN on the digits, plain and with each option, and prints each
configuration's predicted and measured seconds per epoch, and each option's measured and
predicted change against the plain run of the same network; each priced twice, as the count runs
the step now (the options' own ops: :mod:`hpbench.cost.step_options`) and as before session 25
(the network, its loss and its update only).

    PYTHONPATH=.:benchmarks OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_options_cost.py [--out results/benchmarks]

Writes ``train_options_cost.json``.
"""

from __future__ import annotations

import statistics
from typing import Any

from epoch_cost import LONG, TABULAR, measured_epoch_s, one_thread_device, parser, write_report  # type: ignore[import-not-found]

# (name, data, model, batch, preprocess)
NETWORKS = [("mlp-wide", LONG, {"family": "mlp", "depth": 2, "width": 256}, 128, []),
            ("mlp-small", TABULAR, {"family": "mlp", "depth": 2, "width": 64}, 32, []),
            ("cnn", "digits", {"family": "cnn"}, 64, [])]
# (name, [train] keys, extra preprocess, networks it applies to)
OPTIONS = [("plain", {}, [], None), ("clip_norm", {"clip_norm": 1.0}, [], None), ("clip_value", {"clip_value": 0.5}, [], None),
           ("label_smoothing", {"label_smoothing": 0.1}, [], None), ("bf16", {"precision": "bf16"}, [], None),
           ("augment", {}, ["augment"], ("cnn",))]


def study(data: str, model: dict[str, Any], batch: int, train: dict[str, Any], preprocess: list[str], epochs: int) -> Any:
    from hpbench.api.study import Study

    return Study.from_dict({"study": {"name": "train-options-cost", "seed": 0, "metric": "val_accuracy", "trials": 1},
                            "data": {"dataset": data, **({"preprocess": preprocess} if preprocess else {})}, "model": model,
                            "optimizer": {"name": "adam", "lr": 1e-3}, "train": {"batch_size": batch, "max_epochs": epochs, **train}})


def priced(s: Any, dev: Any) -> tuple[float, float]:
    """(predicted seconds per epoch now, as the count ran before: no option's ops)."""
    from hpbench.cost import count, step_options
    from hpbench.cost.annotate import predict_trial
    from hpbench.study.resolve import trial_config

    cfg = trial_config(s, {})
    now = float(predict_trial(cfg, device_model=dev)["predicted_epoch_s"])
    real = step_options.StepOptions.of
    step_options.StepOptions.of = classmethod(lambda cls, cfg: cls())  # type: ignore[method-assign,assignment]
    count._STEP_CACHE.clear()
    try:
        before = float(predict_trial(cfg, device_model=dev)["predicted_epoch_s"])
    finally:
        step_options.StepOptions.of = real  # type: ignore[method-assign]
        count._STEP_CACHE.clear()
    return now, before


def main() -> None:
    ap = parser(__doc__ or "")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each configuration, in interleaved rounds (the fastest epoch kept)")
    args = ap.parse_args()
    dev = one_thread_device()
    rows = []
    for net, data, model, batch, pre in NETWORKS:
        plain: dict[str, float] = {}
        runs = [(opt, study(data, model, batch, train, pre + extra, args.epochs)) for opt, train, extra, only in OPTIONS
                if only is None or net in only]
        # each option of the network once per round, so that the machine's pace moves all of them alike
        timed = {opt: measured_epoch_s(s) for opt, s in runs}
        for _ in range(args.rounds - 1):
            timed = {opt: min(timed[opt], measured_epoch_s(s)) for opt, s in runs}
        for opt, s in runs:
            pred, before = priced(s, dev)
            meas = timed[opt]
            if opt == "plain":
                plain = {"pred": pred, "meas": meas, "before": before}
            row = {"network": net, "option": opt, "measured_s": meas, "predicted_s": pred, "predicted_before_s": before,
                   "error": pred / meas - 1, "error_before": before / meas - 1,
                   "measured_change": meas / plain["meas"] - 1, "predicted_change": pred / plain["pred"] - 1,
                   "predicted_before_change": before / plain["before"] - 1}
            rows.append(row)
            print(f"{net:>9} {opt:>15}: measured {meas:7.4f} s  now {pred:7.4f} s ({row['error']:+6.1%})  before {before:7.4f} s "
                  f"({row['error_before']:+6.1%})  change vs plain: measured {row['measured_change']:+6.1%}, predicted "
                  f"{row['predicted_change']:+6.1%}", flush=True)
    # what an option adds to its network's epoch, measured against priced: the network's own error (the plain run's) left out
    counted = [r for r in rows if r["option"] not in ("plain", "bf16")]
    gap_now = [abs(r["predicted_change"] - r["measured_change"]) for r in counted]
    gap_before = [abs(r["predicted_before_change"] - r["measured_change"]) for r in counted]
    summary = {"median_abs_change_gap": statistics.median(gap_now), "max_abs_change_gap": max(gap_now),
               "median_abs_change_gap_before": statistics.median(gap_before), "max_abs_change_gap_before": max(gap_before)}
    print(f"the options counted now (clipping, label smoothing, augmentation): an option's change to the epoch, |predicted - measured| "
          f"median / max: now {summary['median_abs_change_gap']:.1%} / {summary['max_abs_change_gap']:.1%}, before "
          f"{summary['median_abs_change_gap_before']:.1%} / {summary['max_abs_change_gap_before']:.1%}")
    write_report("train_options_cost", dev=dev, rows=rows, summary=summary, out=args.out)


if __name__ == "__main__":
    main()
