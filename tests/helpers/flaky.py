"""A user model family that misbehaves on purpose, driven by marker files (never by
environment variables): ``family = "tests.helpers.flaky:build"`` with model parameters

- ``dir``: a folder for the marker files;
- ``slot``: the trial's number in a grid (searched, so every trial has its own);
- ``fail_every``: slots divisible by it raise at the start of their ``fail_epoch``-th training
  epoch (counted over all attempts), and at every later one until they raised ``fail_times``
  times (default once);
- ``sleep``: seconds to sleep at the start of every epoch (to be killed mid-run);
- ``wait_for``: a file; every epoch waits until it exists (a test orders its steps by it);
- ``everywhere``: misbehave in any process (the prediction helper's early trials too), not only
  in a Ray trial;
- every training epoch appends a line to ``dir/epochs-<slot>`` and writes the worker's pid to
  ``dir/pid-<slot>``, so a test can see from where a retried trial resumed and kill it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn


def _in_trial() -> bool:
    """Only a trial's own training counts (the driver may build and run the model too, e.g.
    to estimate its cost)."""
    try:
        import ray

        return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None
    except Exception:
        return False


class Flaky(nn.Module):
    def __init__(self, n_in: int, n_out: int, params: dict[str, Any]) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out))
        self.dir = Path(params["dir"])
        self.slot = int(params.get("slot", 0))
        self.fail_every = int(params.get("fail_every", 0))
        self.fail_epoch = int(params.get("fail_epoch", 3))
        self.fail_times = int(params.get("fail_times", 1))
        self.sleep = float(params.get("sleep", 0.0))
        self.everywhere = bool(params.get("everywhere", False))
        self.wait_for = Path(params["wait_for"]) if params.get("wait_for") else None

    def train(self, mode: bool = True) -> Flaky:
        super().train(mode)
        if mode and (self.everywhere or _in_trial()):
            log = self.dir / f"epochs-{self.slot}"
            with log.open("a") as f:
                f.write("x\n")
            epoch = len(log.read_text().splitlines())
            # whole or not at all: a test's killer thread reads it while the next epoch rewrites it (an empty read once
            # stopped test_a_worker_killed_with_no_retries_left_ends_failed_and_the_search_goes_on from killing anything)
            tmp = self.dir / f".pid-{self.slot}.{os.getpid()}"
            tmp.write_text(str(os.getpid()))
            os.replace(tmp, self.dir / f"pid-{self.slot}")
            marker = self.dir / f"failed-{self.slot}"
            failed = int(marker.read_text()) if marker.exists() else 0
            if self.fail_every and self.slot % self.fail_every == 0 and epoch >= self.fail_epoch and failed < self.fail_times:
                marker.write_text(str(failed + 1))
                raise RuntimeError(f"flaky trial {self.slot} fails at epoch {epoch}")
            if self.sleep:
                time.sleep(self.sleep)
            while self.wait_for is not None and not self.wait_for.exists():
                time.sleep(0.05)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    n_in = 1
    for d in input_shape:
        n_in *= d
    return Flaky(n_in, n_outputs, params)
