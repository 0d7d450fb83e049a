"""Where early stopping finds a trial's best epoch, against its learning rate (issue 18: the ETA's
early-stopping model). A search over ``lr`` runs trials whose best epochs differ by the learning
rate: diabetes' held-out grid ran its 0.001 trials all 80 epochs, its 0.01 ones 13-61. This script
trains plain PyTorch MLPs on the bundled scikit-learn data (plus one generated table) at 9 learning
rates per optimizer, with Keras-style early stopping on ``val_loss``, and measures the elasticity
``a`` in ``best_fraction ~ lr^-a`` within each group (data, optimizer, width): the slope of
log(best epoch) on log(lr), over the trials that stopped before ``max_epochs`` (a trial that ran
them all is censored: its best epoch is at least where it ended), and over all of them.

    python benchmarks/lr_best_epoch.py [--report results/benchmarks/lr_best_epoch.json] [--quick]

Epochs, not seconds: the figure does not depend on the machine's pace (it can run beside other work).
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

from es_runs import fit, log_slope, split_standardized  # noqa: E402

MAX_EPOCHS = 60
PATIENCE = 5
LRS = tuple(10 ** (-4 + 0.375 * i) for i in range(9))  # 1e-4 .. 1e-1 in 9 steps


def _data(name: str) -> tuple[Any, Any, bool]:
    import numpy as np
    from sklearn import datasets

    if name == "table":  # generated: 3,000 x 20, 4 classes
        x, y = datasets.make_classification(n_samples=3000, n_features=20, n_informative=10, n_classes=4, random_state=0)
        return x, y, True
    loader = {"digits": datasets.load_digits, "wine": datasets.load_wine, "cancer": datasets.load_breast_cancer,
              "iris": datasets.load_iris, "diabetes": datasets.load_diabetes}[name]
    x, y = loader(return_X_y=True)
    if name == "diabetes":
        y = (y - y.mean()) / y.std()
    return np.asarray(x, dtype="float32"), y, name != "diabetes"


def _trial(x: Any, y: Any, classify: bool, *, optimizer: str, lr: float, width: int, seed: int) -> dict[str, Any]:
    import torch

    torch.manual_seed(seed)
    xt, yt, tr, va = split_standardized(x, y, seed=seed, classify=classify)
    n_out = int(y.max()) + 1 if classify else 1
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], width), torch.nn.ReLU(), torch.nn.Linear(width, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, n_out))
    opt = {"adam": lambda p: torch.optim.Adam(p, lr=lr), "sgd": lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9),
           "rmsprop": lambda p: torch.optim.RMSprop(p, lr=lr)}[optimizer](net.parameters())

    def loss_of(out: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(out, target) if classify else torch.nn.functional.mse_loss(out.squeeze(-1), target)

    best_epoch, epochs = fit(net, opt, loss_of, xt, yt, tr, va, batch=32, seed=seed, max_epochs=MAX_EPOCHS, patience=PATIENCE)
    return {"best_epoch": best_epoch, "epochs": epochs, "stopped": epochs < MAX_EPOCHS, "best_fraction": (best_epoch + 1) / MAX_EPOCHS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, default=ROOT / "results/benchmarks/lr_best_epoch.json")
    ap.add_argument("--quick", action="store_true", help="two data sets, one width (a smoke run)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    names = ("digits", "wine") if args.quick else ("digits", "wine", "cancer", "iris", "diabetes", "table")
    widths = (64,) if args.quick else (32, 128)
    rows, groups = [], []
    t0 = time.time()
    for name in names:
        x, y, classify = _data(name)
        for optimizer in ("adam", "sgd", "rmsprop"):
            for width in widths:
                trials = [dict(data=name, optimizer=optimizer, width=width, lr=lr,
                               **_trial(x, y, classify, optimizer=optimizer, lr=lr, width=width, seed=0)) for lr in LRS]
                rows += trials
                stopped = [(t["lr"], t["best_epoch"] + 1) for t in trials if t["stopped"]]
                every = [(t["lr"], t["best_epoch"] + 1) for t in trials]
                g = {"data": name, "optimizer": optimizer, "width": width, "stopped": len(stopped),
                     "slope_stopped": log_slope(stopped), "slope_all": log_slope(every)}
                groups.append(g)
                print(f"{name:9s} {optimizer:8s} w{width:<4d} best epochs {[t['best_epoch'] + 1 for t in trials]} "
                      f"(stopped {len(stopped)}/9) slope {g['slope_all']:+.2f} all, "
                      f"{'n/a' if g['slope_stopped'] is None else format(g['slope_stopped'], '+.2f')} stopped", flush=True)
    s_all = [g["slope_all"] for g in groups if g["slope_all"] is not None]
    s_stop = [g["slope_stopped"] for g in groups if g["slope_stopped"] is not None]
    summary = {"groups": len(groups), "median_slope_all": statistics.median(s_all),
               "median_slope_stopped": statistics.median(s_stop) if s_stop else None,
               "quartiles_slope_all": statistics.quantiles(s_all, n=4) if len(s_all) > 1 else None,
               "quartiles_slope_stopped": statistics.quantiles(s_stop, n=4) if len(s_stop) > 1 else None,
               "negative_all": sum(s < 0 for s in s_all), "seconds": round(time.time() - t0, 1)}
    print(json.dumps(summary, indent=1))
    args.report.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.report.with_suffix(".tmp")
    tmp.write_text(json.dumps({"benchmark": "lr_best_epoch", "max_epochs": MAX_EPOCHS, "patience": PATIENCE, "lrs": LRS,
                               "summary": summary, "groups": groups, "trials": rows}, indent=1))
    tmp.replace(args.report)


if __name__ == "__main__":
    main()
