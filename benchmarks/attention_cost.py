"""The cost model on transformers: predicted vs measured epochs of hpbench's transformer family.

A transformer's attention runs as one fused kernel per layer on a CPU (flash attention for CPU) when
it trains without attention dropout, and as its math path (bmm, softmax, the mask's draws, one op at
a time) when it trains with it: PyTorch's fused attention for CPU takes no dropout. Until session 31
the count priced every attention as the fused kernel, and the device model priced that kernel by
a fit of three terms over eleven shapes measured contiguous, where ``nn.MultiheadAttention`` hands
the kernel q, k and v with a head's positions batch · heads · head dim floats apart. This trains real
epochs of hpbench's trainer (one process, one thread, ``--epochs`` epochs, the fastest after the
first) for transformers on generated signals over sequence lengths 32-128, head dims 4-64, 1-3
layers and attention dropout 0-0.2, and prices each with this machine's device model.

    PYTHONPATH=.:benchmarks OMP_NUM_THREADS=1 .venv/bin/python benchmarks/attention_cost.py [--quick] [--out results/benchmarks]
    # the same configurations priced by another tree and its own device cache, no training:
    PYTHONPATH=TREE:benchmarks XDG_CACHE_HOME=DIR .venv/bin/python benchmarks/attention_cost.py --price-only FILE
    # then the measured run with those prices beside its own:
    ... benchmarks/attention_cost.py --before FILE

Writes ``attention_cost.json``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from epoch_cost import measured_epoch_s, one_thread_device, parser, write_report  # type: ignore[import-not-found]

# (sequence length, d_model, heads, layers, dropout, batch): the held-out fresh-transformer study's
# three shapes first, then head dims 4-64 over 16-1,024 (batch, head) blocks
GRID = [(64, 32, 4, 1, 0.0, 64), (64, 16, 2, 2, 0.18, 64), (64, 32, 4, 2, 0.1, 64),
        (32, 64, 4, 2, 0.0, 32), (32, 64, 8, 2, 0.1, 32), (128, 32, 2, 1, 0.0, 64), (128, 64, 4, 1, 0.1, 32),
        (64, 64, 1, 1, 0.0, 128), (64, 128, 8, 2, 0.0, 64), (64, 128, 4, 1, 0.1, 16), (128, 16, 4, 2, 0.0, 128),
        (32, 32, 8, 3, 0.0, 64), (64, 64, 2, 2, 0.2, 64), (96, 48, 6, 1, 0.0, 32)]
QUICK = [(32, 16, 2, 1, 0.1, 32)]


def study(length: int, d_model: int, heads: int, layers: int, dropout: float, batch: int, epochs: int) -> Any:
    """One transformer on 1,500 generated signals of ``length`` steps (Adam at 1e-3), ``epochs`` epochs."""
    from hpbench.api.study import Study

    return Study.from_dict({"study": {"name": "attention-cost", "seed": 0, "metric": "val_accuracy", "trials": 1},
                            "data": {"dataset": "signals", "n_samples": 1500, "length": length},
                            "model": {"family": "transformer", "d_model": d_model, "heads": heads, "layers": layers, "dropout": dropout},
                            "optimizer": {"name": "adam", "lr": 1e-3}, "train": {"batch_size": batch, "max_epochs": epochs}})


def priced(s: Any, dev: Any) -> float:
    """Predicted seconds per epoch of study ``s``'s one configuration."""
    from hpbench.cost.annotate import predict_trial
    from hpbench.study.resolve import trial_config

    return float(predict_trial(trial_config(s, {}), device_model=dev)["predicted_epoch_s"])


def _key(c: tuple[Any, ...]) -> str:
    return "T{} d{} h{} L{} drop{} b{}".format(*c)


def main() -> None:
    ap = parser(__doc__ or "", quick="one configuration only (a smoke run)")
    ap.add_argument("--price-only", type=Path, help="write this tree's prices of the grid to this file; train nothing")
    ap.add_argument("--before", type=Path, help="a --price-only file: its prices beside this run's")
    args = ap.parse_args()
    dev = one_thread_device()
    grid = QUICK if args.quick else GRID
    if args.price_only:
        prices = {_key(c): priced(study(*c, args.epochs), dev) for c in grid}
        args.price_only.write_text(json.dumps({"device_measured_at": dev.measured_at, "prices": prices}, indent=1) + "\n")
        print(json.dumps(prices, indent=1))
        return
    before = json.loads(args.before.read_text())["prices"] if args.before else {}
    rows = []
    for c in grid:
        s = study(*c, args.epochs)
        now_s, meas = priced(s, dev), measured_epoch_s(s)
        d_model, heads = c[1], c[2]
        row = {"config": _key(c), "length": c[0], "d_model": d_model, "heads": heads, "head_dim": d_model // heads, "layers": c[3],
               "dropout": c[4], "batch": c[5], "blocks": c[5] * heads, "measured_s": meas, "predicted_s": now_s, "error": now_s / meas - 1}
        if _key(c) in before:
            row |= {"predicted_before_s": before[_key(c)], "error_before": before[_key(c)] / meas - 1}
        rows.append(row)
        extra = f"  before {row['predicted_before_s']:7.4f} s ({row['error_before']:+6.1%})" if "error_before" in row else ""
        print(f"{row['config']:>32}: measured {meas:7.4f} s  now {now_s:7.4f} s ({row['error']:+6.1%}){extra}", flush=True)
    summary: dict[str, Any] = {}
    for part, sel in (("all", rows), ("dropout", [r for r in rows if r["dropout"] > 0]), ("no_dropout", [r for r in rows if r["dropout"] == 0])):
        for k in ("error", "error_before"):
            vals = [r[k] for r in sel if k in r]
            if vals:
                summary[f"median_abs_{k}_{part}"] = statistics.median(abs(v) for v in vals)
                summary[f"max_abs_{k}_{part}"] = max(abs(v) for v in vals)
                summary[f"median_{k}_{part}"] = statistics.median(vals)
    print("; ".join(f"{k} {v:+.1%}" for k, v in summary.items()))
    if not args.quick:
        write_report("attention_cost", dev=dev, rows=rows, summary=summary, out=args.out,
                     model={"attention_grid": dev.attention_grid, "attention_grid_s": dev.attention_grid_s})


if __name__ == "__main__":
    main()
