"""Which epoch's weights a trial ends with: the model it returns, saves and evaluates on the test
split, at the epoch the results tables call ``best_epoch``.

With ``restore_best_weights`` that is early stopping's best epoch of its monitor (Keras's rule);
otherwise the epoch with the best value of the study metric, the value that ranks the trial.
Either way the saved model, its test metrics and the trial's ``best_epoch`` / ``<metric>`` /
``best_<metric>`` columns describe the same weights. A trial that diverged before any weights
were kept (in its first epoch) has none: ``best_epoch`` NA and no weights file. A copy of the weights is kept each time the
chosen value improves (as Keras does for ``restore_best_weights``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(kw_only=True)
class BestWeights:
    metric: str  # the study metric (a key of the epoch rows)
    mode: str  # "min" or "max"
    by_monitor: bool  # restore_best_weights: early stopping decides which epoch is best
    epoch: int = 0  # 1-based epoch of the kept weights; 0: none kept yet
    value: float | None = None  # the study metric there (by_monitor False)
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def update(self, epoch: int, row: dict[str, Any], model: torch.nn.Module, *, monitor_improved: bool = False,
               state: Callable[[], dict[str, Any]] | None = None) -> None:
        """After 0-based ``epoch`` (its ``row``): keep the weights if this epoch is the new best
        (``state``: a copy of them where ``model`` does not hold them)."""
        if self.by_monitor:
            improved = monitor_improved
        else:
            v = row.get(self.metric)
            if isinstance(v, (int, float)) and math.isfinite(v):
                improved = self.value is None or (v > self.value if self.mode == "max" else v < self.value)
                if improved:
                    self.value = float(v)
            else:
                improved = False
        if improved:
            self.epoch = epoch + 1
            self.state = state() if state is not None else _copy_state(model.state_dict())

    def restore_into(self, model: torch.nn.Module, *, last_epoch: int, diverged: bool = False) -> int | None:
        """Load the kept weights into ``model``; returns the epoch they are from. None kept: it
        keeps its last weights (``last_epoch``), unless the trial ``diverged``: then they are
        not finite and the trial has no weights (``None``: no best epoch, nothing saved). A trial
        that diverged in its first epoch saved all-NaN weights under ``best_epoch = 1``, which
        ``load_model`` and ``init_from`` used without a word (bug hunt s51/h1, finding 2)."""
        if self.state is None:
            return None if diverged else last_epoch
        model.load_state_dict(self.state)
        return self.epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "value": self.value}

    def load_state_dict(self, progress: dict[str, Any] | None, state: dict[str, torch.Tensor] | None) -> None:
        """Restore from a checkpoint (``progress`` None: one saved before this existed, whose
        ``best_state`` was early stopping's; its epoch is then set by the caller)."""
        self.state = state
        if progress is not None:
            self.epoch, self.value = int(progress["epoch"]), progress["value"]


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    """A copy of a state dict: tensors cloned, anything else (a module's extra state) deep-copied.
    ``copy.deepcopy`` of the whole dict took ~22% of a fused group's time on full-batch MLPs (8
    members w32/d4, one step an epoch: cProfile, session 9), each tensor through Python's deepcopy
    machinery; the unfused trainer pays the same per trial and epoch. Tied weights become two equal
    copies, which ``load_state_dict`` writes into the one shared tensor alike."""
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in state.items()}
