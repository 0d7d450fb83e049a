"""The trainer's own fixed costs, measured on one tiny trial in a fresh process.

The calibration suite (:mod:`hpbench.cost.suite`) times the epoch loop inside a warm process.
A trial's ``epoch_s`` is the trainer's whole ``run_epoch`` (validation metrics, the best
epoch's weights kept, the learning-rate record) in a worker that has not run a step yet (first
kernels, autograd engine threads, allocator). On a trial too small to have any work (a 1x8 MLP,
full batch, digits), what is left is those fixed costs:

    per_epoch_s  = min(epoch_s of epochs 2..n) - predicted epoch (the time model's own terms)
    first_extra_s = epoch_s of epoch 1 - min(epoch_s of epochs 2..n)

The fastest epoch, as in the suite: on a shared machine other processes only ever add time (a
median of millisecond epochs under a load average of 20 read 16 ms where the fastest read 1 ms).
``first_extra_s`` (``first_epoch_s`` on the device model) is charged to every trial's first
epoch: Tune reuses a worker for later trials (``reuse_actors``; the early trials train in the
warm helper), and each trial builds a new model whose first calls, optimizer state and
allocations are new. So it is measured as a reused worker pays it: the child trains the tiny
trial :data:`N_TRIALS` times in one process and ``first_extra_s`` is the median over the trials
after the first (a fresh process's first trial also pays the first kernels and the autograd
engine's threads, once per worker: charged to every trial, that over-predicted tiny full-batch
MLPs 1.6-2.3x: in the quiet run, seed 1673824814, a digits 1-layer MLP read 1.8 ms of first-epoch
extra in Ray where the fresh probe charged 5.2 ms).

Measured once per calibration (a child interpreter: ~5 s of imports); never on a user's
configuration or the benchmark's draws.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Any

N_EPOCHS = 6
N_TRIALS = 4  # the tiny trial, trained this many times in one process: the first as a fresh worker, the rest as reused ones


def _config(threads: int, device: str) -> Any:
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig

    return TrialConfig(seed=0, data=DataConfig(dataset="digits", preprocess=("standardize",)),
                       model=ModelConfig(family="mlp", params={"depth": 1, "width": 8}), optimizer=OptimizerConfig(name="sgd", lr=1e-3),
                       train=TrainConfig(max_epochs=N_EPOCHS, batch_size="full", device=device), metric="val_loss", mode="min",
                       threads=threads)


def _child(threads: int, device: str) -> None:
    """In the child process: train the tiny trial and print its epochs' seconds as JSON."""
    from hpbench.train.trainer import train

    runs = [[float(h["epoch_s"]) for h in train(_config(threads, device)).history] for _ in range(N_TRIALS)]
    print(json.dumps(runs))


def epoch_seconds(*, threads: int, device: str) -> list[list[float]]:
    """Every epoch's ``epoch_s`` of each of the :data:`N_TRIALS` tiny trials, trained one after
    another in one fresh interpreter (the first as a fresh worker, the others as a reused one)."""
    code = f"from hpbench.cost.trainer_probe import _child; _child({threads}, {device!r})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    return [[float(x) for x in run] for run in json.loads(r.stdout.strip().splitlines()[-1])]


def reused_fixed_costs(runs: list[list[float]], *, predicted_epoch_s: float) -> tuple[float, float]:
    """(per_epoch_s, first_extra_s) as a reused worker pays them: :func:`fixed_costs` of each trial
    after the first, per_epoch_s their smallest (other load only adds), first_extra_s their median
    (one trial's first epoch can meet a burst of other work); the first trial alone if there is no other."""
    costs = [fixed_costs(r, predicted_epoch_s=predicted_epoch_s) for r in (runs[1:] or runs)]
    return min(c[0] for c in costs), statistics.median(c[1] for c in costs)


def fixed_costs(epochs_s: list[float], *, predicted_epoch_s: float) -> tuple[float, float]:
    """(per_epoch_s, first_extra_s) from the tiny trial's epochs (formulas above), both >= 0."""
    if len(epochs_s) < 2:
        raise ValueError(f"fixed_costs needs at least 2 epochs, but got {len(epochs_s)}")
    steady = min(epochs_s[1:])
    return max(0.0, steady - predicted_epoch_s), max(0.0, epochs_s[0] - steady)


def measure(base: Any, *, threads: int, device: str) -> tuple[float, float]:
    """(per_epoch_s, first_extra_s) on ``device`` for the device model ``base`` (its coefficients fitted)."""
    from hpbench.cost.annotate import predict_trial

    predicted = predict_trial(_config(threads, device), device_model=base)["predicted_epoch_s"]
    return reused_fixed_costs(epoch_seconds(threads=threads, device=device), predicted_epoch_s=predicted)
