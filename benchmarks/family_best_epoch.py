"""Where early stopping finds a trial's best epoch, by model family (issue 18: the ETA's
early-stopping model on searches nobody tuned it for). The ETA draws every trial's best epoch
from one prior of fractions seen mostly on MLPs and CNNs (a mean of 0.32 of ``max_epochs``), or
from the machine's last searches whatever their models; held-out searches of recurrent networks
and transformers ran most of their trials to ``max_epochs`` (whole commands -33% and -45%). Is
that their family? This script trains hpbench's own built-in families
(:func:`hpbench.models.build_model`, each at its default size) on the same data with
Keras-style early stopping on ``val_loss`` (patience 5 in 30 epochs, batches of 32), at three
optimizers x five learning rates each, and gives each family's best-epoch fractions (their
mean, quartiles, the share of trials that ran every epoch: censored, their best epoch is at
least where they ended, and 20 quantiles a prior could be drawn from), and the same by optimizer
and learning rate over all families.

Data (none of the ETA benchmarks' studies): the bundled digits (images of 8 x 8: an MLP reads
them flat, a CNN as one channel, the sequence families as 8 steps of 8 features), a generated
signal set (1,200 signals of 3 channels x 48 steps, 4 classes by their dominant frequency, in
noise) and the bundled breast-cancer table (30 features: the sequence families read 30 steps of
one feature, as hpbench reads a table; the CNN skips it, as hpbench does).

    python benchmarks/family_best_epoch.py [--report results/benchmarks/family_best_epoch.json] [--quick] [--jobs 2]

Epochs, not seconds: the figure does not depend on the machine's pace (it can run beside other work).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from es_runs import fit, split_standardized  # noqa: E402
from priors import quantiles  # noqa: E402

MAX_EPOCHS = 30
PATIENCE = 5
BATCH = 32
LRS = (1e-4, 5.6e-4, 3.2e-3, 1.8e-2, 1e-1)
OPTIMIZERS = ("adam", "sgd", "rmsprop")
FAMILIES = ("mlp", "cnn", "rnn", "lstm", "gru", "transformer")
DATA = ("digits", "signals", "cancer")


@functools.cache
def _data(name: str) -> tuple[Any, Any, tuple[int, ...], str]:
    """(x, y, a sample's shape, hpbench's data kind), loaded or generated once per process."""
    import numpy as np
    from sklearn import datasets

    if name == "signals":  # 4 classes by the dominant frequency, random phase and channel gains, in noise
        rng = np.random.default_rng(7)
        n, c, length = 1200, 3, 48
        y = rng.integers(0, 4, n)
        t = np.arange(length) / length
        freq = (2.0 + 1.5 * y)[:, None, None]
        phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
        gain = rng.uniform(0.5, 1.5, (n, c, 1))
        x = gain * np.sin(2 * np.pi * freq * t[None, None, :] + phase) + rng.normal(0, 0.8, (n, c, length))
        return x.astype("float32"), y, (c, length), "signal"
    if name == "digits":
        x, y = datasets.load_digits(return_X_y=True)
        return np.asarray(x, dtype="float32").reshape(-1, 1, 8, 8), y, (1, 8, 8), "image"
    x, y = datasets.load_breast_cancer(return_X_y=True)
    return np.asarray(x, dtype="float32"), y, (x.shape[1],), "tabular"


def _trial(data: str, family: str, optimizer: str, lr: float, seed: int = 0) -> dict[str, Any]:
    import torch

    from hpbench.data.kinds import DataKind
    from hpbench.models import FAMILIES as REGISTRY
    from hpbench.models import build_model

    torch.set_num_threads(1)
    x, y, shape, kind = _data(data)
    xt, yt, tr, va = split_standardized(x, y, seed=seed, eps=1e-6)
    torch.manual_seed(seed)
    params = REGISTRY.get(family).defaults()
    net = build_model(family, input_shape=shape, n_outputs=int(y.max()) + 1, params=params, kind=DataKind(kind))
    opt = {"adam": lambda p: torch.optim.Adam(p, lr=lr), "sgd": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9),
           "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr)}[optimizer](net.parameters())
    best_epoch, epochs = fit(net, opt, torch.nn.functional.cross_entropy, xt, yt, tr, va, batch=BATCH, seed=seed,
                             max_epochs=MAX_EPOCHS, patience=PATIENCE)
    return {"data": data, "family": family, "optimizer": optimizer, "lr": lr, "best_epoch": best_epoch, "epochs": epochs,
            "censored": epochs >= MAX_EPOCHS, "best_fraction": (best_epoch + 1) / MAX_EPOCHS}


def summarize(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    fr = [r["best_fraction"] for r in rows]
    q = statistics.quantiles(fr, n=4) if len(fr) > 1 else [fr[0]] * 3
    return {key: rows[0][key], "trials": len(rows), "mean": round(statistics.fmean(fr), 3), "median": round(statistics.median(fr), 3),
            "quartiles": [round(a, 3) for a in q], "censored": round(sum(r["censored"] for r in rows) / len(rows), 3),
            "quantiles20": [round(q, 2) for q in quantiles(fr)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, default=ROOT / "results/benchmarks/family_best_epoch.json")
    ap.add_argument("--quick", action="store_true", help="digits only, one optimizer (a smoke run)")
    ap.add_argument("--jobs", type=int, default=2, help="processes, one thread each")
    args = ap.parse_args()
    data = ("digits",) if args.quick else DATA
    optimizers = ("adam",) if args.quick else OPTIMIZERS
    jobs = [(d, f, o, lr) for d in data for f in FAMILIES for o in optimizers for lr in LRS if not (f == "cnn" and d == "cancer")]
    t0 = time.time()
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for r in pool.map(_trial, *zip(*jobs, strict=True)):
            rows.append(r)
            print(f"{r['data']:8s} {r['family']:12s} {r['optimizer']:8s} lr {r['lr']:.1e}: best epoch {r['best_epoch'] + 1:2d} "
                  f"of {r['epochs']:2d}{' (ran all)' if r['censored'] else ''}", flush=True)
    by_family = [summarize([r for r in rows if r["family"] == f], "family") for f in FAMILIES]
    by_cell = [{**summarize(rs, "family"), "data": d} for d in data for f in FAMILIES
               if (rs := [r for r in rows if r["family"] == f and r["data"] == d])]
    for s in by_family:
        print(f"{s['family']:12s} {s['trials']:3d} trials: best fraction mean {s['mean']:.2f}, median {s['median']:.2f} "
              f"(quartiles {s['quartiles'][0]:.2f}-{s['quartiles'][2]:.2f}), ran all {100 * s['censored']:.0f}%")
    by_rate = [{"optimizer": o, "lr": lr, "trials": len(rs), "mean": round(statistics.fmean(f), 3), "median": round(statistics.median(f), 3)}
               for o in optimizers for lr in LRS
               if (rs := [r for r in rows if r["optimizer"] == o and r["lr"] == lr]) and (f := [r["best_fraction"] for r in rs])]
    for s in by_rate:
        print(f"  {s['optimizer']:8s} lr {s['lr']:.1e}: {s['trials']} trials, best fraction mean {s['mean']:.2f}, median {s['median']:.2f}")
    for s in by_cell:
        print(f"  {s['data']:8s} {s['family']:12s} mean {s['mean']:.2f} median {s['median']:.2f} ran all {100 * s['censored']:.0f}%")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.report.with_suffix(".tmp")
    tmp.write_text(json.dumps({"benchmark": "family_best_epoch", "max_epochs": MAX_EPOCHS, "patience": PATIENCE, "batch": BATCH,
                               "lrs": LRS, "optimizers": optimizers, "data": data, "seconds": round(time.time() - t0, 1),
                               "families": by_family, "rates": by_rate, "cells": by_cell, "trials": rows}, indent=1))
    tmp.replace(args.report)
    print(f"{len(rows)} trials in {time.time() - t0:.0f} s -> {args.report}")


if __name__ == "__main__":
    main()
