"""A configuration as the wall-time model reads it (:class:`TrialPlan`) and where its trial ends:
early stopping's patience after its best epoch, its task's own stop, ``max_epochs``
(:func:`natural_epochs`, drawn by :func:`drawn_epochs`), and ``[train] max_time_s``
(:func:`capped_epochs`, :func:`capped_seconds`). Pure functions; :mod:`hpbench.cost.walltime`
replays the trials they end.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from hpbench.cost.ends import moved_fraction
from hpbench.cost.figures import Figures


@dataclass(frozen=True, kw_only=True)
class TrialPlan:
    epoch_s: float  # predicted seconds per epoch, alone on the device (the cost model)
    max_epochs: int
    patience: int | None = None  # early stopping's; None: no early stopping
    start_from_epoch: int = 0
    low: float = 1.0  # the cost model's P10 / its prediction (hpbench.cost.trial_time's interval; 1 without one)
    high: float = 1.0  # ... and P90 / its prediction
    fuse: int = 1  # its repeats train this many at once, as one trial (hpbench.cost.fusion)
    regime: str | None = None  # the cost model's (hpbench.cost.regime): which in-run correction prices it
    family: str | None = None  # its model family where the study searches it (Figures.family_speeds)
    lr: float | None = None  # its learning rate where the study searches it (where early stopping ends it: hpbench.cost.ends)
    batch: float | None = None  # its batch size in rows per step (the same; None: unknown)
    max_time_s: float | None = None  # [train] max_time_s: its epochs stop once their seconds reach it (None: no limit)


def natural_epochs(t: TrialPlan, best_fraction: float, end_fraction: float = 1.0) -> int:
    """Where early stopping ends a trial whose best epoch is at ``best_fraction`` of its run:
    ``patience`` epochs after the best one (Keras: ``wait >= patience``, patience 0 acting as 1;
    epochs before ``start_from_epoch`` never count), at most ``max_epochs``. Without early stopping,
    at ``end_fraction`` of ``max_epochs`` (its task's own stop; 1: it runs them all)."""
    if t.patience is None:
        return max(1, min(t.max_epochs, math.ceil(end_fraction * t.max_epochs - 1e-9)))
    best = max(1, math.ceil(best_fraction * t.max_epochs), t.start_from_epoch + 1)
    return max(1, min(t.max_epochs, best + max(1, t.patience)))


def drawn_epochs(p: TrialPlan, rng: random.Random, figures: Figures, *, done: int = 0,
                 memo: dict[tuple[int, float | None, float | None], float] | None = None) -> int:
    """One draw of where ``p`` ends, past the ``done`` epochs it has trained: with early stopping
    from ``figures.best_fractions`` (each moved to ``p``'s learning rate and batch size where both
    are known: :func:`hpbench.cost.ends.moved_fraction`), without from ``figures.end_fractions`` (a
    live search's own stops, when it has any); ``done + 1`` when none of them is past it. ``memo``:
    the moved fractions already worked out, by (fraction's index, rate, batch size), filled here."""
    fs = figures.best_fractions
    lrs = figures.best_lrs if p.lr and len(figures.best_lrs) == len(fs) else ()
    batches = figures.best_batches if p.batch and len(figures.best_batches) == len(fs) else ()

    def moved(i: int) -> float:
        key = (i, p.lr, p.batch)
        if memo is not None and key in memo:
            return memo[key]
        f = moved_fraction(fs[i], lr_at=lrs[i] if lrs else None, lr_to=p.lr, batch_at=batches[i] if batches else None, batch_to=p.batch)
        if memo is not None:
            memo[key] = f
        return f

    best: float | None = None
    if done:
        f = [b for b in (moved(i) for i in range(len(fs))) if natural_epochs(p, b) > done]
        best = rng.choice(f) if f else None
    elif fs:  # as rng.choice draws it, only the drawn one moved to p's rate and batch
        best = moved(rng.randrange(len(fs)))
    if p.patience is None and figures.end_fractions:
        e = [g for g in figures.end_fractions if natural_epochs(p, 0.0, g) > done]
        return natural_epochs(p, 0.0, rng.choice(e)) if e else min(p.max_epochs, done + 1)
    return natural_epochs(p, best) if best is not None else min(p.max_epochs, done + 1)


# [train] max_time_s (hpbench.train.time_limit): the trainer ends a trial at the end of the first epoch
# whose cumulative seconds reach the limit, so it runs ceil(max_time_s / epoch_s) epochs at most (at
# least one), and its seconds pass the limit by less than one epoch (the epoch that crosses it finishes).
def capped_epochs(epochs: int, *, epoch_s: float, max_time_s: float | None) -> int:
    """``epochs`` (where the trial would end without a time limit) at most the epochs of
    ``epoch_s`` (wall seconds each, as the trainer measures them) that reach ``max_time_s``:
    ``max(1, ceil(max_time_s / epoch_s))``. Unchanged without a limit or a positive ``epoch_s``."""
    if max_time_s is None or not epoch_s > 0 or epochs <= 1:
        return epochs
    return min(epochs, max(1, math.ceil(max_time_s / epoch_s - 1e-9)))


def capped_seconds(trial_s: float, *, epoch_s: float, max_time_s: float | None) -> float:
    """A trial's predicted seconds ``trial_s`` (every epoch to ``max_epochs``) under ``max_time_s``:
    at most the limit plus one epoch of ``epoch_s`` (the epoch that crosses it finishes)."""
    if max_time_s is None:
        return trial_s
    return min(trial_s, max_time_s + max(0.0, epoch_s))
