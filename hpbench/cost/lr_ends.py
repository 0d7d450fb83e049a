"""Where early stopping ends a trial against its learning rate, within one study: the best epoch
seen at one rate, moved to another's (:func:`lr_fraction`), and which rate of a configuration
counts (:func:`searched_lr`). The wall-time model draws its trials' ends through them
(:func:`hpbench.cost.walltime.drawn_epochs`). Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A trial's best epoch against its learning rate, within a study: best ~ lr^-LR_ELASTICITY
# (benchmarks/lr_best_epoch.py, results/benchmarks/lr_best_epoch.json: two-layer MLPs on six data sets
# (digits, wine, breast cancer, iris, diabetes, a generated table) x Adam / SGD with momentum / RMSprop
# x widths 32 and 128, 9 learning rates from 1e-4 to 1e-1 each, Keras early stopping on val_loss at
# patience 5 in 60 epochs: the slope of log(best epoch) on log(lr) was negative in 35 of 36 groups,
# median -0.40 (quartiles -0.51 to -0.28; -0.46 over the trials that stopped before 60). The
# best epochs a live search draws from came from trials at other rates: diabetes' held-out grid
# trained its 0.001 trials first, all 80 epochs; its 0.003 and 0.01 ones ended at 13-70, and its
# live ETA at 25% read +17 to +53% in eight runs.
LR_ELASTICITY = 0.4


def lr_fraction(fraction: float, *, at: float | None, to: float | None, elasticity: float | None = None) -> float:
    """A best-epoch ``fraction`` seen at learning rate ``at``, for a trial at ``to``: scaled by
    ``(at / to) ** elasticity`` (default :data:`LR_ELASTICITY`) within (0, 1]; unchanged where
    either rate is unknown (0 or None)."""
    if not (at and to and at > 0 and to > 0):
        return fraction
    a = LR_ELASTICITY if elasticity is None else elasticity
    return min(1.0, max(1e-9, fraction * (at / to) ** a))


def searched_lr(params: Mapping[str, Any]) -> float | None:
    """A configuration's learning rate where the study searches it (``[space] lr``) for one
    optimizer, else None: the rates of different optimizers (SGD's 0.05, Adam's 0.001) say nothing
    of which trial converges sooner."""
    if params.get("optimizer") is not None:
        return None
    lr = params.get("lr")
    return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0 else None
