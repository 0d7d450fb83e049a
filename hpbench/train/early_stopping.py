"""Early stopping with Keras semantics, exactly (``keras.callbacks.EarlyStopping``, Keras 3).

Usable on its own — feed it one value per epoch — and by the trainer::

    es = EarlyStopping("val_loss", patience=3)
    for epoch, value in enumerate(values):
        if es.update(epoch, value):
            break

Rules (epochs are 0-based, as in Keras):

* improvement is strict: min mode ``current < best - |min_delta|``, max mode
  ``current > best + |min_delta|``; the first monitored value is an improvement;
* ``wait`` grows each monitored epoch and resets on improvement; training stops when
  ``wait >= patience and epoch > 0`` (so patience 0 behaves like 1);
* with a ``baseline``, ``wait`` only resets when the value also beats the baseline;
* epochs before ``start_from_epoch`` are ignored;
* hpbench's one addition: a non-finite value (NaN/inf) stops at once with ``diverged`` set,
  and is never taken as best.

Weights are handled by the caller: :attr:`best_epoch` says which epoch's weights to restore,
and :meth:`update` returns whether the current epoch became the best (snapshot them then).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

_MINIMIZE_HINTS = ("loss", "error", "rmse", "mse", "mae", "perplexity", "ece", "nll", "distance")  # distance: GAN's Fréchet
_MAXIMIZE_HINTS = ("accuracy", "acc", "auc", "r2", "f1", "precision", "recall", "iou", "return", "modes_covered", "modes_hq", "hq_fraction", "coverage")  # return: an RL episode's; modes, hq, coverage: a GAN's


def infer_mode(monitor: str) -> str:
    """``auto`` mode: losses and errors minimize, accuracy-like metrics (and RL returns) maximize."""
    name = monitor.removeprefix("val_").removeprefix("train_").lower()
    if any(h in name for h in _MINIMIZE_HINTS):
        return "min"
    if any(name == h or name.endswith(h) for h in _MAXIMIZE_HINTS):
        return "max"
    raise ValueError(
        f"early_stopping.monitor: mode 'auto' cannot tell whether {monitor!r} should be minimized or "
        "maximized; set mode = 'min' or 'max'"
    )


@dataclass(frozen=True)
class EarlyStoppingState:
    """What the results tables record per trial."""

    monitor: str
    mode: str
    best: float | None
    best_epoch: int
    wait: int
    stopped_epoch: int
    diverged: bool


class EarlyStopping:
    """Keras's ``EarlyStopping`` rule for one training run (the rules in this module's docstring).

    A study sets it with ``[train] early_stopping = { monitor, patience, ... }``, the same
    keyword arguments: the trainer builds one per trial and stops the trial when
    :attr:`stop_training` turns true (stop reason ``early_stopped``, or ``diverged``). Exported as
    ``hpbench.EarlyStopping`` to be used on its own: feed it one value per epoch with
    :meth:`update`; ``ValueError`` for a bad ``mode``, ``patience`` or ``start_from_epoch``."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"early_stopping.mode must be 'auto', 'min' or 'max', but got {mode!r}")
        if patience < 0:
            raise ValueError(f"early_stopping.patience must be >= 0, but got {patience!r}")
        if start_from_epoch < 0:
            raise ValueError(f"early_stopping.start_from_epoch must be >= 0, but got {start_from_epoch!r}")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.mode = infer_mode(monitor) if mode == "auto" else mode
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.reset()

    def reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.stop_training = False
        self.diverged = False

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def update(self, epoch: int, value: float | None) -> bool:
        """Feed epoch ``epoch``'s monitored value; returns True if this epoch is the new best.

        After the call, :attr:`stop_training` says whether to stop.
        """
        if value is None or epoch < self.start_from_epoch:
            return False
        if not math.isfinite(value):
            self.diverged = True
            self.stopped_epoch = epoch
            self.stop_training = True
            return False
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best = value
            self.best_epoch = epoch
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return True
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.stop_training = True
        return False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> bool:
        """Keras-style entry point: reads the monitored value from ``logs``."""
        return self.update(epoch, logs.get(self.monitor))

    # What a resumed trial restores: the progress, not the settings (those come from the trial's
    # config). Checkpoints written before state_dict() held ``vars(es)`` (settings too): loading
    # one reads the same progress keys and ignores the settings, so both kinds restore alike.
    _PROGRESS = ("wait", "stopped_epoch", "best", "best_epoch", "stop_training", "diverged")

    def state_dict(self) -> dict[str, Any]:
        """The progress a checkpoint saves (restored by :meth:`load_state_dict`)."""
        return {k: getattr(self, k) for k in self._PROGRESS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the progress :meth:`state_dict` saved."""
        missing = [k for k in self._PROGRESS if k not in state]
        if missing:
            raise ValueError(f"early stopping state: missing {missing} in the saved state, which has {sorted(state)}")
        for k in self._PROGRESS:
            setattr(self, k, state[k])

    def state(self) -> EarlyStoppingState:
        return EarlyStoppingState(
            monitor=self.monitor, mode=self.mode, best=self.best, best_epoch=self.best_epoch,
            wait=self.wait, stopped_epoch=self.stopped_epoch, diverged=self.diverged,
        )
