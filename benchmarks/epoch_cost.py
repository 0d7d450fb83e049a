"""What the cost benchmarks of single configurations share (``dropout_cost.py``, ``activation_cost.py``,
``train_options_cost.py``, ``attention_cost.py``, ``recurrent_cost.py``): their data sets, a
one-configuration study, real epochs of hpbench's trainer on one thread, this machine's device
model at one thread, the report they write, and (:func:`against_another_tree`) a grid of
configurations priced by this tree and by another one with its own device cache."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LONG = "benchmarks.eta_unseen.data:long_table"  # 48,000 training rows x 30 (the held-out "long" study's loader)
TABULAR = "benchmarks.race_peers.problems:tabular"  # 4,000 x 20 (the race's tabular problem)


def parser(doc: str, *, quick: str | None = None) -> argparse.ArgumentParser:
    """The options these benchmarks share: ``--epochs``, ``--out`` and, given its help, ``--quick``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    if quick is not None:
        ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--epochs", type=int, default=4, help="epochs per run (the fastest after the first is kept)")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    return ap


def study(dataset: str, family: str, model: dict[str, Any], batch: int, dropout: float, epochs: int, *,
          data: dict[str, Any] | None = None) -> Any:
    """One configuration of ``family`` on ``dataset`` (``data``: the data set's options; Adam at 1e-3), trained ``epochs`` epochs."""
    from hpbench.api.study import Study

    return Study.from_dict({"study": {"name": "epoch-cost", "seed": 0, "metric": "val_accuracy", "trials": 1},
                            "data": {"dataset": dataset, **(data or {})}, "model": {"family": family, **model, "dropout": dropout},
                            "optimizer": {"name": "adam", "lr": 1e-3}, "train": {"batch_size": batch, "max_epochs": epochs}})


def measured_epoch_s(s: Any) -> float:
    """The fastest epoch after the first of one real run of the trainer."""
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    history = train(trial_config(s, {}), report=lambda _row: None).history
    return min(r["epoch_s"] for r in history[1:])


def one_thread_device() -> Any:
    """This machine's device model at one thread, torch set to one thread (as the timed epochs run)."""
    import torch

    from hpbench.cost.calibrate import device_model

    torch.set_num_threads(1)
    return device_model(threads=1)


def write_report(name: str, *, dev: Any, rows: list[dict[str, Any]], summary: dict[str, Any], out: Path,
                 model: dict[str, Any] | None = None) -> None:
    """``<out>/<name>.json``: the machine, the device model (and ``model``'s fields of it), the rows and the summary."""
    report = {"benchmark": name, "host": platform.node(), "cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
              "device_model": {"name": dev.name, "measured_at": dev.measured_at, **(model or {})}, "load_avg": os.getloadavg(),
              "rows": rows, **summary}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")


def priced_epoch_s(s: Any, dev: Any) -> float:
    """Predicted seconds per epoch of study ``s``'s one configuration."""
    from hpbench.cost.annotate import predict_trial
    from hpbench.study.resolve import trial_config

    return float(predict_trial(trial_config(s, {}), device_model=dev)["predicted_epoch_s"])


def against_another_tree(name: str, doc: str, *, grid: Sequence[tuple[Any, ...]], quick: Sequence[tuple[Any, ...]],
                         build: Callable[..., Any], describe: Callable[[tuple[Any, ...]], dict[str, Any]],
                         model: Callable[[Any], dict[str, Any]]) -> None:
    """The command line of a benchmark of configurations priced against real epochs: each
    configuration of ``grid`` (``build(*config, epochs)`` a one-configuration study) trained and
    priced here, with ``--before FILE`` the prices another tree wrote with ``--price-only FILE``
    beside them (run with that tree on ``PYTHONPATH`` and its device cache in ``XDG_CACHE_HOME``);
    ``describe(config)``: the row's columns; ``model(dev)``: the device model's fields to report.
    Writes ``<out>/<name>.json``."""
    ap = parser(doc, quick="one configuration only (a smoke run)")
    ap.add_argument("--price-only", type=Path, help="write this tree's prices of the grid to this file; train nothing")
    ap.add_argument("--before", type=Path, help="a --price-only file: its prices beside this run's")
    args = ap.parse_args()
    dev = one_thread_device()
    configs = quick if args.quick else grid
    key = {c: " ".join(f"{k}={v}" for k, v in describe(c).items()) for c in configs}
    if args.price_only:
        prices = {key[c]: priced_epoch_s(build(*c, args.epochs), dev) for c in configs}
        args.price_only.write_text(json.dumps({"device_measured_at": dev.measured_at, "prices": prices}, indent=1) + "\n")
        print(json.dumps(prices, indent=1))
        return
    before = json.loads(args.before.read_text())["prices"] if args.before else {}
    rows = []
    for c in configs:
        s = build(*c, args.epochs)
        now_s, meas = priced_epoch_s(s, dev), measured_epoch_s(s)
        row = {"config": key[c], **describe(c), "measured_s": meas, "predicted_s": now_s, "error": now_s / meas - 1}
        if key[c] in before:
            row |= {"predicted_before_s": before[key[c]], "error_before": before[key[c]] / meas - 1}
        rows.append(row)
        extra = f"  before {row['predicted_before_s']:7.4f} s ({row['error_before']:+6.1%})" if "error_before" in row else ""
        print(f"{key[c]:>48}: measured {meas:7.4f} s  now {now_s:7.4f} s ({row['error']:+6.1%}){extra}", flush=True)
    summary: dict[str, Any] = {}
    for k in ("error", "error_before"):
        vals = [r[k] for r in rows if k in r]
        if vals:
            summary |= {f"median_abs_{k}": statistics.median(abs(v) for v in vals), f"max_abs_{k}": max(abs(v) for v in vals),
                        f"median_{k}": statistics.median(vals)}
    print("; ".join(f"{k} {v:+.1%}" for k, v in summary.items()))
    if not args.quick:
        write_report(name, dev=dev, rows=rows, summary=summary, out=args.out, model=model(dev))
