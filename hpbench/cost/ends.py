"""Where early stopping ends a trial against its learning rate and its batch size: the best epoch
seen at one rate, moved to another's within one study (:func:`lr_fraction`; which rate of a
configuration counts: :func:`searched_lr`), and seen at one batch size, moved to another's
(:func:`batch_fraction`). The wall-time model draws its trials' ends through them
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
# A trial that ran every epoch (early stopping never fired) tells only that its best epoch is at least
# where it stood: such a fraction is censored and is not moved (its rate and batch are kept as unknown,
# 0, by hpbench.cost.record and hpbench.dispatch.timings). Moved like the others, the temporal-order
# study's early trials (lr 0.001, all 15 epochs, still improving) priced its trials at 0.007-0.02 at
# 8-9 epochs, which ran all 15 too; replayed offline on 17 kept first searches of 14 held-out studies
# (benchmarks/ends_weight.py), the trials after a quarter of the search read median |error| 31% moved,
# 16% censored (at BEST_PRIOR_TRIALS 1), 16% with no fraction moved at all; the one it costs is
# diabetes', whose completed trials at lr 0.001 (80 of 80 epochs) are followed by faster ones ending at 13-70.


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


# A trial's best epoch against its batch size (rows per step): best ~ batch^BATCH_ELASTICITY
# (benchmarks/size_best_epoch.py, results/benchmarks/size_best_epoch.json: two-layer MLPs of 128 with
# Keras early stopping on val_loss at patience 5 in 40 epochs, on 6,400 rows of a generated
# classification table and of a generated regression table, Adam and SGD with momentum at three rates
# each, batches of 32, 128 and 512: the slope of log(best epoch) on log(batch) was positive in 12 of
# 12 groups, median +0.37 (quartiles +0.21 to +0.43; a third of the trials at 512 ran all 40 epochs,
# so the slope is if anything larger). The size of the training data at one batch size moved it
# little (18 groups, 360 to 25,600 rows: median slope -0.00, quartiles -0.15 to +0.01): fewer,
# larger steps per epoch, not more data, is what puts the best epoch later. A held-out search of
# 48,000 training rows at batches of 128 and 512 had its best epochs at 0.45-1.0 of its 20 where the
# prior (small data, batches of 16-128, most 64) put them at 0.32 on average.
BATCH_ELASTICITY = 0.37
PRIOR_BATCH = 64.0  # the batch size of the trials the prior's best epochs came from (hpbench.cost.figures.PRIOR_BEST)


def rows_per_step(v: Any) -> float | None:
    """A batch size in rows per step as a number (a ``batch_rows`` column, a study's batch size), or
    None where it is none (missing, NaN, ``"full"`` before it is resolved, not positive)."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 else None


def batch_fraction(fraction: float, *, at: float | None, to: float | None) -> float:
    """A best-epoch ``fraction`` seen at batch size ``at`` (rows per step), for a trial at ``to``:
    scaled by ``(to / at) ** BATCH_ELASTICITY`` within (0, 1]; unchanged where either is unknown."""
    if not (at and to and at > 0 and to > 0):
        return fraction
    return min(1.0, max(1e-9, fraction * (to / at) ** BATCH_ELASTICITY))


def moved_fraction(fraction: float, *, lr_at: float | None, lr_to: float | None, batch_at: float | None, batch_to: float | None) -> float:
    """A best-epoch ``fraction`` seen at (``lr_at``, ``batch_at``), for a trial at (``lr_to``, ``batch_to``)."""
    return batch_fraction(lr_fraction(fraction, at=lr_at, to=lr_to), at=batch_at, to=batch_to)
