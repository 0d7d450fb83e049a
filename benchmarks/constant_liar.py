"""TPE with and without ``constant_liar`` when trials run at once (``max_concurrent > 1``).

Optuna advises ``constant_liar=True`` for parallel TPE: trials still running count as bad
results, so the next proposal is not drawn next to them again. Measured here on a synthetic
objective shaped like an hpbench space (log learning rate, optimizer, width, dropout; minimum 0)
with ``k`` workers simulated by ask/tell (the oldest running trial reports first), 40 trials a
search, 24 seeds each; no training, so the figure is the sampler's alone.

    .venv/bin/python benchmarks/constant_liar.py      # writes results/benchmarks/constant_liar.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import deque
from pathlib import Path

import optuna

OPT_COST = {"adam": 0.0, "rmsprop": 0.3, "sgd": 0.6, "adagrad": 0.9}


def objective(p: dict) -> float:
    return ((math.log10(p["lr"]) + 2.5) ** 2 + OPT_COST[p["optimizer"]]
            + 0.075 * (math.log2(p["width"]) - 6) ** 2 + (p["dropout"] - 0.2) ** 2)


def suggest(trial: optuna.Trial) -> dict:
    return {"lr": trial.suggest_float("lr", 1e-5, 1.0, log=True), "optimizer": trial.suggest_categorical("optimizer", list(OPT_COST)),
            "width": trial.suggest_int("width", 8, 512, log=True), "dropout": trial.suggest_float("dropout", 0.0, 0.6)}


def search(*, seed: int, workers: int, liar: bool, n_trials: int) -> list[float]:
    """The running best after each reported trial."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=liar))
    running: deque = deque()
    best, out, asked = math.inf, [], 0
    while len(out) < n_trials:
        while len(running) < workers and asked < n_trials:
            t = study.ask()
            running.append((t, suggest(t)))
            asked += 1
        t, p = running.popleft()
        value = objective(p)
        study.tell(t, value)
        best = min(best, value)
        out.append(best)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/constant_liar.json"))
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    report: dict = {"trials": args.trials, "seeds": args.seeds, "objective": "synthetic, minimum 0 (see the module docstring)", "cases": []}
    for workers in (2, 4):
        for liar in (False, True):
            runs = [search(seed=s, workers=workers, liar=liar, n_trials=args.trials) for s in range(args.seeds)]
            at = {n: statistics.median(r[n - 1] for r in runs) for n in (20, args.trials)}
            case = {"workers": workers, "constant_liar": liar, "median_best_at_20": round(at[20], 4),
                    f"median_best_at_{args.trials}": round(at[args.trials], 4),
                    "mean_best_at_end": round(statistics.fmean(r[-1] for r in runs), 4)}
            report["cases"].append(case)
            print(f"workers={workers} constant_liar={liar!s:5}: median best after 20 trials {at[20]:.4f}, "
                  f"after {args.trials} {at[args.trials]:.4f}, mean at end {case['mean_best_at_end']:.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
