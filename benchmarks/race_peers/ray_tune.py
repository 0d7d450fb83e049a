"""The race's Ray Tune contestant, written as Ray Tune's documentation shows: a function
trainable reporting each epoch with ``tune.report``, ``OptunaSearch`` (TPE) over the same
define-by-run space, the ``ASHAScheduler``, ``reuse_actors=True``, two trials at once on a
local Ray of 2 CPUs (one CPU and one torch thread per trial), ``time_budget_s`` as the budget.

    PYTHONPATH=. python benchmarks/race_peers/ray_tune.py --problem digits --seed 0 --budget-s 30

A Tune ``Callback`` in the driver logs JSON lines on stdout as results arrive there
(benchmarks/race_peers/common.py).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
import zlib
from typing import Any

T0 = time.time()  # the race's clock starts at process start; the imports below count

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

from benchmarks.race_peers.common import FIXED, log, suggest  # noqa: E402


def trainable(config: dict[str, Any], *, problem: str, seed: int) -> None:
    import torch

    from benchmarks.race_peers.common import train

    torch.set_num_threads(1)
    trial_seed = seed * 100_000 + zlib.crc32(tune.get_context().get_trial_id().encode()) % 100_000

    def report(epoch: int, val: float, test: float) -> bool:
        tune.report({"val_accuracy": val, "test_kept": test})
        return False  # ASHA stops the trial itself

    train(problem, config, seed=trial_seed, report=report)


class Log(tune.Callback):
    """Each result and each trial's end, as the driver receives them."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}
        self.best: dict[str, float] = {}
        self.test: dict[str, float] = {}

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
        k = self.numbers.setdefault(trial.trial_id, len(self.numbers))
        self.best[trial.trial_id] = max(self.best.get(trial.trial_id, 0.0), result["val_accuracy"])
        self.test[trial.trial_id] = result["test_kept"]
        log("epoch", trial=k, epoch=result["training_iteration"], val=result["val_accuracy"])

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        if trial.trial_id in self.numbers:
            log("trial", trial=self.numbers[trial.trial_id], best_val=self.best[trial.trial_id], test=self.test[trial.trial_id],
                params=trial.config)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", required=True, choices=sorted(FIXED))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=30.0)
    ap.add_argument("--trials", type=int, default=-1, help="stop after this many trials (default: the budget alone)")
    args = ap.parse_args()
    # a runtime of its own, as hpbench's search starts one: a bare ray.init() joins the cluster named in
    # /tmp/ray/ray_current_cluster, which a `ray start --head` killed without `ray stop` leaves behind (then
    # refuses num_cpus: "When connecting to an existing cluster, num_cpus and num_gpus must not be provided")
    ray.init(address="local", num_cpus=2)
    searcher = OptunaSearch(space=functools.partial(suggest, problem=args.problem), metric="val_accuracy", mode="max", seed=args.seed)
    scheduler = ASHAScheduler(max_t=FIXED[args.problem].max_epochs, grace_period=1, reduction_factor=3)
    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            tune.with_resources(functools.partial(trainable, problem=args.problem, seed=args.seed), {"cpu": 1}),
            tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", search_alg=searcher, scheduler=scheduler, num_samples=args.trials,
                                        max_concurrent_trials=2, reuse_actors=True, time_budget_s=max(1.0, args.budget_s - (time.time() - T0))),
            run_config=tune.RunConfig(storage_path=storage, verbose=0, callbacks=[Log()]),
        )
        tuner.fit()


if __name__ == "__main__":
    main()
