"""The race's Optuna contestants, written as Optuna's documentation shows: one process, a study
with ``TPESampler`` and ``HyperbandPruner`` (``--sampler tpe``; the pruner reads each epoch's
``trial.report``), or ``RandomSampler`` without pruning (``--sampler random``: the race's floor),
``study.optimize(..., n_jobs=2, timeout=...)`` on the race's 2 cores, one torch thread per trial.

    PYTHONPATH=. python benchmarks/race_peers/optuna_search.py --problem digits --seed 0 --budget-s 30

Logs JSON lines on stdout (benchmarks/race_peers/common.py).
"""

from __future__ import annotations

import argparse
import itertools
import time

T0 = time.time()  # the race's clock starts at process start; the imports below count

import optuna  # noqa: E402
import torch  # noqa: E402

from benchmarks.race_peers.common import FIXED, log, suggest, train  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", required=True, choices=sorted(FIXED))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=30.0)
    ap.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    ap.add_argument("--trials", type=int, default=None, help="stop after this many trials (default: the budget alone)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # two trials at once on two cores
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed = FIXED[args.problem]
    if args.sampler == "tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=args.seed)
        pruner: optuna.pruners.BasePruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=fixed.max_epochs, reduction_factor=3)
    else:
        sampler, pruner = optuna.samplers.RandomSampler(seed=args.seed), optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    seeds = itertools.count(args.seed * 100_000)

    def objective(trial: optuna.Trial) -> float:
        suggest(trial, args.problem)

        def report(epoch: int, val: float, test: float) -> bool:
            log("epoch", trial=trial.number, epoch=epoch, val=val)
            trial.report(val, epoch)
            return trial.should_prune()

        out = train(args.problem, trial.params, seed=next(seeds), report=report)
        log("trial", trial=trial.number, params=trial.params, **out)
        return out["best_val"]

    study.optimize(objective, n_trials=args.trials, timeout=max(1.0, args.budget_s - (time.time() - T0)), n_jobs=2)


if __name__ == "__main__":
    main()
