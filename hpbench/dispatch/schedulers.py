"""Schedulers: which running trials to prune. ``asha`` (asynchronous successive halving) and
``median`` (median stopping rule) act on the study's objective by epoch (``time_attr`` is the
trainer's epoch, not Tune's report count: short epochs are reported together)."""

from __future__ import annotations

import math
from typing import Any

from hpbench.dispatch.searchers import OBJECTIVE
from hpbench.registry import Registry
from hpbench.study.schema import Study

SCHEDULERS: Registry[Any] = Registry(what="scheduler")


@SCHEDULERS.register("none", doc="run every trial to its end (FIFO)")
def _none(study: Study, max_t: int) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


@SCHEDULERS.register("asha", doc="asynchronous successive halving (Li et al. 2018)")
def _asha(study: Study, max_t: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    s = study.settings
    return ASHAScheduler(
        time_attr="epoch", metric=OBJECTIVE, mode=s.mode, max_t=max_t,
        grace_period=min(s.grace_period, max_t), reduction_factor=s.reduction_factor,
    )


@SCHEDULERS.register("median", doc="median stopping rule (Golovin et al. 2017)")
def _median(study: Study, max_t: int) -> Any:
    from ray.tune.schedulers import MedianStoppingRule

    s = study.settings
    return MedianStoppingRule(time_attr="epoch", metric=OBJECTIVE, mode=s.mode, grace_period=s.grace_period, min_samples_required=3)


def make_scheduler(study: Study, *, max_t: int) -> Any:
    return SCHEDULERS.get(study.settings.scheduler).build(study, max_t)


def decision_epochs(study: Study, *, max_t: int) -> frozenset[int]:
    """The epochs at which the scheduler decides (ASHA's rungs: ``grace_period * rf**k`` below
    ``max_t``, as Ray lays them out). A trial reports these epochs at once, so that batching
    short epochs into one report never delays a pruning decision."""
    s = study.settings
    if s.scheduler != "asha":
        return frozenset()
    grace, rf = min(s.grace_period, max_t), s.reduction_factor
    n_rungs = int(math.log(max_t / grace) / math.log(rf) + 1) if max_t > grace else 1
    return frozenset(math.ceil(grace * rf**k) for k in range(n_rungs))
