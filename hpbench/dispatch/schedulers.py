"""Schedulers: which running trials to prune (their registry: :mod:`hpbench.strategies`). ``asha``
(asynchronous successive halving) and ``median`` (median stopping rule) act on the study's
objective by epoch (``time_attr`` is the trainer's epoch, not Tune's report count: short epochs
are reported together); ``asha-cost`` by predicted seconds (:mod:`hpbench.cost_asha`), with the
cost predictions the dispatcher already makes in its helper process."""

from __future__ import annotations

import math
from typing import Any

from hpbench.dispatch.searchers import OBJECTIVE
from hpbench.strategies import SCHEDULERS, scheduler_traits
from hpbench.study.schema import Study

__all__ = ["SCHEDULERS", "asha_rungs", "decision_epochs", "make_scheduler"]  # SCHEDULERS: its old home


def make_scheduler(study: Study, *, max_t: int, epoch_cost: Any = None, reference_cost: Any = None) -> Any:
    """The study's scheduler (built-in or a plugin's), acting on the objective by epoch.
    ``epoch_cost`` (params -> predicted seconds per epoch or None) and ``reference_cost`` (() -> the
    space's median one or None) for a cost-aware scheduler; the others ignore them."""
    s = study.settings
    return queue_order(SCHEDULERS.get(s.scheduler).build(
        metric=OBJECTIVE, mode=s.mode, max_t=max_t, time_attr="epoch", grace_period=s.grace_period, reduction_factor=s.reduction_factor,
        epoch_cost=epoch_cost, reference_cost=reference_cost,
    ))


def queue_order(scheduler: Any) -> Any:
    """``scheduler`` choosing the next trial to run as Tune's ``FIFOScheduler`` does (the first
    pending trial in Tune's queue, else the first paused one), from the live trials instead of
    every trial of the run: Tune asks at each step of its loop, and its scan over every trial
    grew from 1.4% to 10% of the driver's main thread between the first and the last fifth of a
    2,000-trial search (py-spy; issue 20 §4). Tune's schedulers built on ``FIFOScheduler``'s
    choice (none, asha, median, asha-cost) get it; any other is returned as it is."""
    from ray.tune.schedulers import FIFOScheduler

    if getattr(type(scheduler), "choose_trial_to_run", None) is not FIFOScheduler.choose_trial_to_run:
        return scheduler
    order = QueueOrder(scheduler)
    scheduler.on_trial_add = order.on_trial_add
    scheduler.choose_trial_to_run = order.choose_trial_to_run
    return scheduler


class QueueOrder:
    """Tune's queue order of the trials, kept from the scheduler's ``on_trial_add`` (Tune appends
    a trial to its list of trials and calls it; a trial requeued after a failure moves to the end,
    and is added again), and the FIFO choice over the live trials in that order."""

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.add = type(scheduler).on_trial_add
        self.position: dict[str, int] = {}  # trial id -> its place in Tune's list of trials
        self.n_added = 0

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self.position[trial.trial_id] = self.n_added
        self.n_added += 1
        self.add(self.scheduler, tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        from ray.tune.experiment import Trial
        from ray.tune.schedulers import FIFOScheduler

        live = tune_controller.get_live_trials()
        for status in (Trial.PENDING, Trial.PAUSED):
            waiting = [t for t in live if t.status == status]
            if any(t.trial_id not in self.position for t in waiting):  # added before this scheduler saw it: Tune's own scan
                return FIFOScheduler.choose_trial_to_run(self.scheduler, tune_controller)
            if waiting:
                return min(waiting, key=lambda t: self.position[t.trial_id])
        return None


def decision_epochs(study: Study, *, max_t: int) -> frozenset[int]:
    """The epochs at which the scheduler decides (ASHA's rungs: ``grace_period * rf**k`` below
    ``max_t``, as Ray lays them out). A trial reports these epochs at once, so that batching
    short epochs into one report never delays a pruning decision. ``asha-cost``'s rungs fall on
    a different epoch for each configuration, and the median rule judges at every epoch from its
    grace period on, against the running means of every epoch the other trials reported: their
    trials report every epoch at once (about 5 ms each, hpbench.dispatch.trainable). The median
    rule's trials reported once a second: one shorter than a second reported its last epoch only
    and was never pruned (a search of 5 good and 5 chance-level trials pruned none; bug hunt s47h3)."""
    s = study.settings
    traits = scheduler_traits(s.scheduler)
    if traits.rungs == "seconds" or traits.replay == "median":
        return frozenset(range(1, max_t + 1))
    rungs = traits.rungs
    if rungs != "epochs":  # hyperband's later brackets judge at some of the first one's rungs
        return frozenset()
    return asha_rungs(grace_period=s.grace_period, reduction_factor=s.reduction_factor, max_t=max_t)


def asha_rungs(*, grace_period: int, reduction_factor: int, max_t: int) -> frozenset[int]:
    """ASHA's rung epochs as Ray lays them out: ``grace_period * reduction_factor**k`` below ``max_t``."""
    grace, rf = min(grace_period, max_t), reduction_factor
    n_rungs = int(math.log(max_t / grace) / math.log(rf) + 1) if max_t > grace else 1
    return frozenset(math.ceil(grace * rf**k) for k in range(n_rungs))
