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
epoch: Tune reuses a worker for later trials (``reuse_actors``), but each trial builds a new model
whose first calls, optimizer state and allocations are new (in Ray, a trial's first epoch read a
median 12 ms over its second, more than this probe's few milliseconds in a fresh process).

Measured once per calibration (a child interpreter: ~5 s of imports); never on a user's
configuration or the benchmark's draws.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

N_EPOCHS = 6


def _config(threads: int, device: str) -> Any:
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig

    return TrialConfig(seed=0, data=DataConfig(dataset="digits", preprocess=("standardize",)),
                       model=ModelConfig(family="mlp", params={"depth": 1, "width": 8}), optimizer=OptimizerConfig(name="sgd", lr=1e-3),
                       train=TrainConfig(max_epochs=N_EPOCHS, batch_size="full", device=device), metric="val_loss", mode="min",
                       threads=threads)


def _child(threads: int, device: str) -> None:
    """In the child process: train the tiny trial and print its epochs' seconds as JSON."""
    from hpbench.train.trainer import train

    out = train(_config(threads, device))
    print(json.dumps([float(h["epoch_s"]) for h in out.history]))


def epoch_seconds(*, threads: int, device: str) -> list[float]:
    """Every epoch's ``epoch_s`` of the tiny trial, trained in a fresh interpreter."""
    code = f"from hpbench.cost.trainer_probe import _child; _child({threads}, {device!r})"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    return [float(x) for x in json.loads(r.stdout.strip().splitlines()[-1])]


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
    return fixed_costs(epoch_seconds(threads=threads, device=device), predicted_epoch_s=predicted)
