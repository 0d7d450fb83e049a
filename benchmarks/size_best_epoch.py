"""Where early stopping finds a trial's best epoch, against the size of its training data and its
batch size (issue 18: the ETA's early-stopping model on data nobody tuned it for). The ETA drew
every trial's best epoch from a prior of fractions seen on small data (the bundled sets and
2,000-row generated tables: a mean of 0.32 of ``max_epochs``); a held-out search on 48,000
training rows had its best epochs at 0.45-1.0 (median 0.95). This script trains plain PyTorch
MLPs (two hidden layers of 128) with Keras-style early stopping on ``val_loss`` on subsamples of
one data set at several training sizes (a generated classification table, a generated regression
table, the bundled digits), and at one size with several batch sizes, for two optimizers at three
learning rates each, and measures the elasticities ``a`` and ``b`` in
``best epoch ~ n_train^a * batch_size^b``: the slope of log(best epoch) on log(n_train) within each
group (data, optimizer, learning rate, batch size), and on log(batch size) at one size.

    python benchmarks/size_best_epoch.py [--report results/benchmarks/size_best_epoch.json] [--quick]

Epochs, not seconds: the figure does not depend on the machine's pace (it can run beside other work).
A trial that ran every epoch is censored (its best epoch is at least where it ended): the slopes are
given over all trials and the share of censored trials with them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from es_runs import fit, log_slope  # noqa: E402

MAX_EPOCHS = 40
PATIENCE = 5
SIZES = {"cls": (400, 1600, 6400, 25600), "reg": (400, 1600, 6400, 25600), "digits": (360, 720, 1437)}
BATCHES = (32, 128, 512)  # at BATCH_SIZE_N training rows
BATCH_SIZE_N = 6400
BATCH = 64  # the batch size of the size groups
RATES = {"adam": (3e-4, 1e-3, 3e-3), "sgd": (3e-3, 1e-2, 3e-2)}


def _pool(name: str) -> tuple[Any, Any, bool]:
    """The whole data set a group subsamples: features, targets, whether it is a classification."""
    import numpy as np
    from sklearn import datasets

    if name == "cls":
        x, y = datasets.make_classification(n_samples=40_000, n_features=20, n_informative=10, n_classes=4, class_sep=1.0,
                                            flip_y=0.03, random_state=3)
        return x.astype("float32"), y, True
    if name == "reg":
        x, y = datasets.make_friedman1(n_samples=40_000, n_features=10, noise=1.0, random_state=3)
        return x.astype("float32"), ((y - y.mean()) / y.std()).astype("float32"), False
    x, y = datasets.load_digits(return_X_y=True)
    return np.asarray(x, dtype="float32"), y, True


def _trial(x: Any, y: Any, classify: bool, *, n_train: int, batch: int, optimizer: str, lr: float, seed: int = 0) -> dict[str, Any]:
    """One run: ``n_train`` training rows and a quarter as many validation rows (at most the rest)."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = min(max(n_train // 4, 90), len(x) - n_train)
    tr, va = idx[:n_train], idx[n_train:n_train + n_val]
    mu, sd = x[tr].mean(0), x[tr].std(0)
    sd[sd < 1e-6] = 1.0  # a feature constant in these rows (a blank pixel of a digits subsample) is left as it is
    xt = torch.tensor((x - mu) / sd, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long if classify else torch.float32)
    n_out = int(y.max()) + 1 if classify else 1
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, n_out))
    opt = torch.optim.Adam(net.parameters(), lr=lr) if optimizer == "adam" else torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)

    def loss_of(out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out, target) if classify else torch.nn.functional.mse_loss(out.squeeze(-1), target)

    best_epoch, epochs = fit(net, opt, loss_of, xt, yt, tr, va, batch=batch, seed=seed, max_epochs=MAX_EPOCHS, patience=PATIENCE)
    return {"best_epoch": best_epoch + 1, "epochs": epochs, "stopped": epochs < MAX_EPOCHS}


def _summary(groups: list[dict[str, Any]], key: str) -> dict[str, Any]:
    s = [g["slope"] for g in groups if g["kind"] == key and g["slope"] is not None]
    return {"groups": len(s), "median": statistics.median(s) if s else None,
            "quartiles": statistics.quantiles(s, n=4) if len(s) > 1 else None, "positive": sum(v > 0 for v in s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, default=ROOT / "results/benchmarks/size_best_epoch.json")
    ap.add_argument("--quick", action="store_true", help="digits only, one rate per optimizer (a smoke run)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    pools = ("digits",) if args.quick else ("cls", "reg", "digits")
    rates = {k: v[1:2] for k, v in RATES.items()} if args.quick else RATES
    rows, groups = [], []
    t0 = time.time()
    for name in pools:
        x, y, classify = _pool(name)
        for optimizer, lrs in rates.items():
            for lr in lrs:
                by_size = [dict(data=name, optimizer=optimizer, lr=lr, n_train=n, batch=BATCH,
                                **_trial(x, y, classify, n_train=n, batch=BATCH, optimizer=optimizer, lr=lr)) for n in SIZES[name]]
                rows += by_size
                groups.append({"kind": "n_train", "data": name, "optimizer": optimizer, "lr": lr, "batch": BATCH,
                               "best_epochs": [t["best_epoch"] for t in by_size], "censored": sum(not t["stopped"] for t in by_size),
                               "slope": log_slope([(t["n_train"], t["best_epoch"]) for t in by_size])})
                if name != "digits":
                    by_batch = [dict(data=name, optimizer=optimizer, lr=lr, n_train=BATCH_SIZE_N, batch=b,
                                     **_trial(x, y, classify, n_train=BATCH_SIZE_N, batch=b, optimizer=optimizer, lr=lr)) for b in BATCHES]
                    rows += by_batch
                    groups.append({"kind": "batch", "data": name, "optimizer": optimizer, "lr": lr, "n_train": BATCH_SIZE_N,
                                   "best_epochs": [t["best_epoch"] for t in by_batch], "censored": sum(not t["stopped"] for t in by_batch),
                                   "slope": log_slope([(t["batch"], t["best_epoch"]) for t in by_batch])})
                for g in groups[-2 if name != "digits" else -1:]:
                    print(f"{name:7s} {optimizer:5s} lr {lr:<7g} by {g['kind']:8s} best epochs {g['best_epochs']} "
                          f"(censored {g['censored']}) slope {'n/a' if g['slope'] is None else format(g['slope'], '+.2f')}", flush=True)
    summary = {"n_train": _summary(groups, "n_train"), "batch": _summary(groups, "batch"), "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary, indent=1))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.report.with_suffix(".tmp")
    tmp.write_text(json.dumps({"benchmark": "size_best_epoch", "max_epochs": MAX_EPOCHS, "patience": PATIENCE, "sizes": SIZES,
                               "batches": BATCHES, "batch_size_n": BATCH_SIZE_N, "rates": RATES, "summary": summary, "groups": groups,
                               "trials": rows}, indent=1))
    tmp.replace(args.report)


if __name__ == "__main__":
    main()
