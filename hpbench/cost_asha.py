"""Budget-aware ASHA (``scheduler = "asha-cost"``): asynchronous successive halving (Li et al. 2018)
whose rungs are in predicted seconds, not in epochs.

Plain ASHA judges every trial after ``grace_period`` epochs, then after ``grace * rf``, ...: a
configuration whose epoch costs ten times as much gets as many epochs as a cheap one before it is
judged, so it holds a slot ten times as long. Here a trial's time is the seconds its epochs are
predicted to take (the cost model's ``predicted_epoch_s`` of its configuration, from
:mod:`hpbench.dispatch.predictions`), and the rungs are ``grace_period * rf**k`` *reference
epochs*: the median predicted epoch of the study's space (a seeded sample of it) times the rung.
A configuration twice as slow as the reference is judged after half the epochs, one twice as
fast after twice as many, so every trial has spent the same predicted seconds when it is
compared with the others at a rung. When every configuration costs the same, or nothing can be
predicted (no device model cached, a task the cost model does not price), it is plain ASHA by
epoch.

At a rung a trial continues when its objective is in the best ``1 / rf`` of the values the
earlier trials recorded there (Ray's ``AsyncHyperBandScheduler`` rule, one bracket). Trials end
at ``max_epochs`` as usual: the time cap is the trainer's, not a rung's.

The rule is plain Python (:class:`CostRungs`, :class:`CostClock`), tested without Ray; the Ray
Tune scheduler around it is built by :func:`ray_scheduler`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

EpochCost = Callable[[dict[str, Any]], float | None]  # a configuration's predicted seconds per epoch (None: not known yet)
ReferenceCost = Callable[[], float | None]  # the reference epoch's predicted seconds (None: not known yet)


def milestones(*, grace_period: float, reduction_factor: float, max_t: float) -> tuple[float, ...]:
    """The rungs in reference epochs, ascending: ``grace * rf**k`` below ``max_t`` (as Ray lays them out)."""
    if grace_period <= 0 or reduction_factor <= 1 or max_t <= 0:
        raise ValueError(f"ASHA needs grace_period > 0, reduction_factor > 1 and max_t > 0, but got {grace_period=}, "
                         f"{reduction_factor=}, {max_t=}")
    grace = min(grace_period, max_t)
    n = int(math.log(max_t / grace) / math.log(reduction_factor) + 1) if max_t > grace else 1
    return tuple(grace * reduction_factor**k for k in range(n))


class CostRungs:
    """One ASHA bracket over a time that need not be whole epochs. ``decide`` is called with a
    trial's time so far and its (higher is better) value; it returns True to stop the trial."""

    def __init__(self, *, rungs: tuple[float, ...], reduction_factor: float) -> None:
        self.rungs = tuple(sorted(rungs))
        self.rf = reduction_factor
        self.recorded: dict[float, dict[str, float]] = {m: {} for m in self.rungs}

    def cutoff(self, milestone: float) -> float | None:
        values = list(self.recorded[milestone].values())
        return float(np.nanpercentile(values, (1 - 1 / self.rf) * 100)) if values else None

    def decide(self, trial_id: str, t: float, value: float) -> bool:
        """The highest rung ``t`` has reached and the trial has not been judged at: judge it there."""
        for milestone in reversed(self.rungs):
            if t < milestone or trial_id in self.recorded[milestone]:
                continue
            cut = self.cutoff(milestone)
            if math.isfinite(value):
                self.recorded[milestone][trial_id] = value
            return cut is not None and (not math.isfinite(value) or value < cut)
        return False


class CostClock:
    """A trial's time in reference epochs: its epochs times its predicted epoch over the
    reference's. Each trial's cost is taken once it is known, and the reference once, at the
    first judgement (the rungs never move); unknown costs count as the reference's (one epoch
    = one reference epoch), and a trial's time never goes back."""

    def __init__(self, *, epoch_cost: EpochCost, reference: ReferenceCost) -> None:
        self.epoch_cost = epoch_cost
        self.reference_cost = reference
        self.reference: float | None = None
        self.fixed = False  # the reference was read (it may have been unknown: plain epochs then)
        self.ratio: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def _reference(self) -> float | None:
        if not self.fixed:
            self.fixed = True
            ref = _positive(self.reference_cost())
            self.reference = ref
        return self.reference

    def elapsed(self, trial_id: str, params: dict[str, Any], epochs: float) -> float:
        ref = self._reference()
        if ref is not None and trial_id not in self.ratio:
            cost = _positive(self.epoch_cost(params))
            if cost is not None:
                self.ratio[trial_id] = cost / ref
        t = max(self.last.get(trial_id, 0.0), epochs * self.ratio.get(trial_id, 1.0))
        self.last[trial_id] = t
        return t

    def forget(self, trial_id: str) -> None:
        self.ratio.pop(trial_id, None)
        self.last.pop(trial_id, None)


def _positive(x: float | None) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) and x > 0 else None


def ray_scheduler(*, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: int, epoch_cost: EpochCost | None,
                  reference: ReferenceCost | None, time_attr: str = "epoch") -> Any:
    """The Ray Tune scheduler: :class:`CostRungs` over :class:`CostClock` time, acting on ``metric``
    (``mode`` max or min) reported with the trainer's ``epoch`` (``time_attr``)."""
    from ray.tune.schedulers import FIFOScheduler, TrialScheduler

    sign = 1.0 if mode == "max" else -1.0

    class CostASHA(FIFOScheduler):  # type: ignore[misc]
        # Tune pickles its scheduler into its experiment snapshot; this one reads the driver's
        # live predictions (hpbench resumes from its own tables), so it pickles to a plain one.
        def __reduce__(self) -> Any:
            return (FIFOScheduler, ())

        def __init__(self) -> None:
            super().__init__()
            self._metric, self._mode = metric, mode
            self.rungs = CostRungs(rungs=milestones(grace_period=grace_period, reduction_factor=reduction_factor, max_t=max_t),
                                   reduction_factor=reduction_factor)
            self.clock = CostClock(epoch_cost=epoch_cost or (lambda params: None), reference=reference or (lambda: None))

        def _judge(self, trial: Any, result: dict[str, Any]) -> bool:
            if time_attr not in result or metric not in result:
                return False
            t = self.clock.elapsed(trial.trial_id, dict(trial.config), float(result[time_attr]))
            return self.rungs.decide(trial.trial_id, t, sign * float(result[metric]))

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            return str(TrialScheduler.STOP if self._judge(trial, result) else TrialScheduler.CONTINUE)

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
            if result:
                self._judge(trial, result)
            self.clock.forget(trial.trial_id)

        def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
            self.clock.forget(trial.trial_id)

        def debug_string(self) -> str:
            return "CostASHA: " + " | ".join(f"{m:g} ref. epochs: {self.rungs.cutoff(m)}" for m in self.rungs.rungs)

    return CostASHA()
