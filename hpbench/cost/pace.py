"""The live ETA's pace: wall seconds per predicted second of the search's trials, from the epochs
they have reported so far.

Three levels, each moving the one before by its own weight
(:func:`hpbench.cost.walltime.slowness` blends the last two):

1. this machine's speed figure (:class:`~hpbench.cost.figures.Figures`: the study's own earlier
   runs', else the machine's last searches', else the prior's 1.0);
2. moved toward the early trials' pace (:func:`helper_moved`), unless the figure is the study's
   own (its earlier runs' Tune trials: the stronger evidence). The early trials train in the
   helper process while Ray starts (:mod:`hpbench.dispatch.early`), not in a Tune worker, and weigh
   as trials against the figure's :data:`~hpbench.cost.walltime.SPEED_PRIOR_TRIALS`;
3. moved toward Tune's trials' pace (:func:`pace_factors`): each trial's epochs that began after the
   early trials stopped, ended trial or running, one observation per trial, from the first.

The dispatcher's correction of one trial's seconds (:mod:`hpbench.cost.correct`: ended trials, from
4 on) is another question and is left as it is. Replayed on 52 kept first searches of 20 studies
(``benchmarks/pace_replay.py``, ``results/benchmarks/pace_replay-{25,50,75}.json``: each rule's pace against
that of the epochs reported later), the median |error| of the pace at a quarter of the trials ended
was 22% with the dispatcher's correction (21 of 52 within 20%; at that point most searches have no
Tune trial ended apart from the early trials, and the ETA priced at the figure), 18% with Tune's
epochs alone, **14%** with the early trials' pace under them (32 of 52); at half the trials 20%,
7.3%, **7.6%**; at three quarters 13%, 12%, 13%. The replay prices at the no-history figure; with the
study's own figure, the 17 default studies' ETA at 25% read the early trials' pace over it
(x1.25-1.49 where the figure said x0.9-1.1) in session 28's first run with history, hence step 2's
exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from hpbench.cost.correct import MIN_TRIALS, Correction, scale_factors
from hpbench.cost.figures import Figures
from hpbench.cost.walltime import SPEED_PRIOR_TRIALS

Pair = tuple[float, float]  # (predicted s, measured s) of one trial's epochs so far
PaceObservation = tuple[str, float, float]  # (regime, predicted s, measured s) of one of Tune's trials' epochs so far


def pace_factors(observations: Sequence[PaceObservation], *, min_regime: int = MIN_TRIALS) -> dict[str, Correction]:
    """The pace of Tune's trials as corrections (:class:`~hpbench.cost.correct.Correction`): the
    pooled one (``"all"``) from the first observation, a regime's own from ``min_regime``; each the
    ratio of sums of its trials' epochs (:func:`~hpbench.cost.correct.scale_factors`). Invalid
    pairs (not positive, not finite) are left out."""
    return scale_factors(observations, min_trials=1, min_regime=min_regime)


def helper_moved(figures: Figures, helper: Sequence[Pair], *, contention: float) -> Figures:
    """``figures`` with the speed figure (and each family's) moved toward the early trials' pace
    ``helper`` (ratio of sums) geometrically, the early trials weighing as many trials against the
    figure's :data:`~hpbench.cost.walltime.SPEED_PRIOR_TRIALS`: what
    :meth:`~hpbench.cost.figures.Figures.speed_of` returns at ``contention`` is then
    ``figure^(1-w) * pace^w``, ``w = n / (n + SPEED_PRIOR_TRIALS)``. Unchanged without any."""
    pairs = [(float(p), float(m)) for p, m in helper if p > 0 and m > 0 and math.isfinite(p) and math.isfinite(m)]
    if not pairs:
        return figures
    pace = math.fsum(m for _, m in pairs) / math.fsum(p for p, _ in pairs)
    w = len(pairs) / (len(pairs) + SPEED_PRIOR_TRIALS)

    def moved(value: float, family: str | None) -> float:
        at = figures.speed_of(family, contention)  # linear in the stored value: scale it by the move
        return value * (pace / at) ** w if at > 0 else value

    return replace(figures, speed=moved(figures.speed, None),
                   family_speeds={f: moved(v, f) for f, v in figures.family_speeds.items()})
