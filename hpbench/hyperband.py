"""Asynchronous Hyperband, the ``hyperband`` scheduler (:mod:`hpbench.strategies`; Li et al. 2018,
"A System for Massively Parallel Hyperparameter Tuning", §3.3): ASHA run over Hyperband's
brackets at once, each trial in one of them. Pure but for :func:`hyperband` (Ray). Bracket
``s`` judges its trials first at ``grace_period * reduction_factor**s`` epochs, so bracket 0 is
plain ASHA and the last one never prunes. A hedge for searches whose first epochs do not tell
the good configurations from the bad: on the race's tabular problem (benchmarks/race.py, session
7's quiet runs) the rank correlation between a trial's first-epoch objective and its final best
was -0.19 to 0.18 over 5 runs (epoch 3: 0.03 to 0.34), so ASHA's first rung there pruned
two-thirds of the trials about at random, the searcher's good proposals with them.

Trials go to the brackets in Hyperband's proportions (:func:`hyperband_shares`: 27 / 12 / 6 / 4
of 49 at 4 brackets, rf 3; the estimate's replay, :mod:`hpbench.cost.simulate`, spreads the same
shares over its trials: :func:`hyperband_bracket`), drawn from a seeded generator in the order
Tune adds the trials (Ray's own ``brackets`` choice draws from numpy's global generator, with
weights of its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

HYPERBAND_SEED = 0  # the bracket draws: the same for every search (their order follows the trials')


def n_brackets(*, grace_period: int, reduction_factor: int, max_t: int) -> int:
    """Hyperband's ``s_max + 1``: as many brackets as ASHA has rungs, counted as Ray counts them."""
    grace = min(grace_period, max_t)
    return int(math.log(max_t / grace) / math.log(reduction_factor) + 1) if max_t > grace else 1


def hyperband_shares(n_brackets: int, reduction_factor: int) -> list[float]:
    """The share of the trials each bracket gets (bracket 0: judged from the first rung), as
    Hyperband sizes its brackets (Li et al. 2018): ``n = ceil(B / (h + 1) * η**h)`` trials for a
    bracket of ``h = B - 1 - b`` halvings (27 / 12 / 6 / 4 of 49 at B = 4, η = 3)."""
    sizes = [math.ceil(n_brackets / (h + 1) * reduction_factor**h) for h in range(n_brackets - 1, -1, -1)]
    return [x / sum(sizes) for x in sizes]


def hyperband_bracket(i: int, shares: Sequence[float]) -> int:
    """Trial ``i``'s bracket in the replay: the brackets' shares spread evenly over the trials in
    order (a golden-ratio sequence; the search draws them at random in the same proportions)."""
    u = (i * 0.6180339887498949 + 0.5) % 1.0
    acc = 0.0
    for b, share in enumerate(shares):
        acc += share
        if u < acc:
            return b
    return len(shares) - 1


def hyperband(*, time_attr: str, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: int) -> Any:
    """Ray's ``ASHAScheduler`` with Hyperband's brackets, trials assigned as the module says."""
    import numpy as np
    from ray.tune.schedulers import ASHAScheduler

    grace = min(grace_period, max_t)
    n = n_brackets(grace_period=grace, reduction_factor=reduction_factor, max_t=max_t)

    class _Hyperband(ASHAScheduler):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t, grace_period=grace,
                             reduction_factor=reduction_factor, brackets=n)
            self._shares = hyperband_shares(n, reduction_factor)
            self._draws = np.random.default_rng(HYPERBAND_SEED)

        def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
            super().on_trial_add(tune_controller, trial)  # its checks; then the bracket, drawn here
            self._trial_info[trial.trial_id] = self._brackets[int(self._draws.choice(n, p=self._shares))]

    return _Hyperband()
