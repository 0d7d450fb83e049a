"""Divergence and collapse: the two ways a GAN trial fails on its own (pure, torch-free).

Fed one evaluation at a time (one per epoch), :class:`CollapseDetector` says whether to stop:

- **diverged**: a loss or the generated samples are NaN/inf.
- **collapsed**, either of
  - the discriminator's loss stays below ``d_loss_floor`` for ``patience`` evaluations in a row —
    D separates real from fake outright, so G's gradient vanishes (Arjovsky & Bottou 2017, §2).
    Not for WGAN-GP, whose critic loss is a signed distance estimate, not a classification loss.
  - at most ``max_modes`` modes (mixtures) or classes (labelled data) are covered for ``patience``
    evaluations in a row, counted after ``warmup`` evaluations (a young G honestly covers few).

The values match ``hpbench.results.status.StopReason`` where one exists (``diverged``);
``collapsed`` is new and is to be added there when this is wired into the trainer.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any


class GANStop(enum.StrEnum):
    """Why a GAN trial stopped on its own."""

    DIVERGED = "diverged"
    COLLAPSED = "collapsed"


@dataclass(kw_only=True)
class CollapseDetector:
    """Streak counters over evaluations; :meth:`update` returns the stop verdict (sticky) or None."""

    patience: int
    warmup: int = 0
    d_loss_floor: float | None = None  # None: the D-loss rule is off (wasserstein_gp)
    max_modes: int = 1
    n_evals: int = 0
    d_streak: int = 0
    modes_streak: int = 0
    verdict: GANStop | None = None

    def __post_init__(self) -> None:
        if self.patience < 1:
            raise ValueError(f"collapse_patience must be >= 1, but got patience={self.patience}")
        if self.warmup < 0:
            raise ValueError(f"collapse_warmup must be >= 0, but got warmup={self.warmup}")

    def update(self, *, g_loss: float, d_loss: float, modes: int | None = None, samples_finite: bool = True) -> GANStop | None:
        """Record one evaluation; ``modes`` is the modes (or classes) covered, None when unknown."""
        if self.verdict is not None:
            return self.verdict
        self.n_evals += 1
        if not (math.isfinite(g_loss) and math.isfinite(d_loss) and samples_finite):
            self.verdict = GANStop.DIVERGED
            return self.verdict
        low_d = self.d_loss_floor is not None and d_loss < self.d_loss_floor
        self.d_streak = self.d_streak + 1 if low_d else 0
        few_modes = modes is not None and self.n_evals > self.warmup and modes <= self.max_modes
        self.modes_streak = self.modes_streak + 1 if few_modes else 0
        if max(self.d_streak, self.modes_streak) >= self.patience:
            self.verdict = GANStop.COLLAPSED
        return self.verdict

    def state_dict(self) -> dict[str, Any]:
        return {"n_evals": self.n_evals, "d_streak": self.d_streak, "modes_streak": self.modes_streak,
                "verdict": None if self.verdict is None else self.verdict.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n_evals, self.d_streak, self.modes_streak = int(state["n_evals"]), int(state["d_streak"]), int(state["modes_streak"])
        self.verdict = None if state["verdict"] is None else GANStop(state["verdict"])
