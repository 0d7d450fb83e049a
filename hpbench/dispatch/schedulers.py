"""Schedulers: which running trials to prune (their registry: :mod:`hpbench.strategies`). ``asha``
(asynchronous successive halving) and ``median`` (median stopping rule) act on the study's
objective by epoch (``time_attr`` is the trainer's epoch, not Tune's report count: short epochs
are reported together); ``asha-cost`` by predicted seconds (:mod:`hpbench.cost_asha`), with the
cost predictions the dispatcher already makes in its helper process."""

from __future__ import annotations

import math
from typing import Any

from hpbench.dispatch.searchers import OBJECTIVE
from hpbench.strategies import SCHEDULERS
from hpbench.study.schema import Study

__all__ = ["SCHEDULERS", "asha_rungs", "decision_epochs", "make_scheduler"]  # SCHEDULERS: its old home


def make_scheduler(study: Study, *, max_t: int, epoch_cost: Any = None, reference_cost: Any = None) -> Any:
    """The study's scheduler (built-in or a plugin's), acting on the objective by epoch.
    ``epoch_cost`` (params -> predicted seconds per epoch or None) and ``reference_cost`` (() -> the
    space's median one or None) for a cost-aware scheduler; the others ignore them."""
    s = study.settings
    return SCHEDULERS.get(s.scheduler).build(
        metric=OBJECTIVE, mode=s.mode, max_t=max_t, time_attr="epoch", grace_period=s.grace_period, reduction_factor=s.reduction_factor,
        epoch_cost=epoch_cost, reference_cost=reference_cost,
    )


def decision_epochs(study: Study, *, max_t: int) -> frozenset[int]:
    """The epochs at which the scheduler decides (ASHA's rungs: ``grace_period * rf**k`` below
    ``max_t``, as Ray lays them out). A trial reports these epochs at once, so that batching
    short epochs into one report never delays a pruning decision. ``asha-cost``'s rungs fall on
    a different epoch for each configuration: its trials report every epoch at once (about 5 ms
    each, hpbench.dispatch.trainable)."""
    s = study.settings
    if s.scheduler == "asha-cost":
        return frozenset(range(1, max_t + 1))
    if s.scheduler != "asha":
        return frozenset()
    return asha_rungs(grace_period=s.grace_period, reduction_factor=s.reduction_factor, max_t=max_t)


def asha_rungs(*, grace_period: int, reduction_factor: int, max_t: int) -> frozenset[int]:
    """ASHA's rung epochs as Ray lays them out: ``grace_period * reduction_factor**k`` below ``max_t``."""
    grace, rf = min(grace_period, max_t), reduction_factor
    n_rungs = int(math.log(max_t / grace) / math.log(rf) + 1) if max_t > grace else 1
    return frozenset(math.ceil(grace * rf**k) for k in range(n_rungs))
