"""ASHA whose rungs are checked against the search's own trials, the ``asha-rank`` scheduler
(:mod:`hpbench.strategies`). Pure but for :func:`ray_scheduler` (Ray).

ASHA (Li et al. 2018) stops a trial at a rung when its running best there is below the top
``1/reduction_factor`` of what the rung recorded: it assumes a trial's first epochs rank the
configurations as their ends do. Where they do not, a rung prunes about at random, and the
configurations that peak late (more dropout, a decaying rate, a lower rate) go first. The trials
that finished (ended by the trainer: early stopping or ``max_epochs``, not by a rung) carry the
evidence: their running best at each rung they passed against the best they ended with. Once a
rung has ``min_trials`` such pairs, it judges only while Spearman's rho over them is at least
``min_rho``; below it, trials pass the rung (their values are still recorded there, so the rung
judges as before if the evidence turns). The idea of weighing a fidelity by how well it ranks
the full one is Hyper-Tune's (Li et al., VLDB 2022) and DEHB's; here it switches ASHA's rungs.

Measured before it was built (`benchmarks/race_replay.py` on the race's landscapes, random
search moving to where TPE looks, 600 seeds each): the race's tabular problem, whose
first-epoch values rank its good configurations at rho 0.17 (epoch 3: 0.24, epoch 9: 0.54),
ended +0.35 points higher on average than under ASHA and reached the race's target in 95% of
the runs against 88%; digits +0.06 points; signals, whose rungs rank well, as ASHA.

Tried and not kept (session 40): a judging rung also taking its stop back while the trial's
running best there plus the largest gain a finished trial made from that rung could still pass
the best final. In the race it reached digits' target in a median 6.3 s against 12.3 s (seeds
20-29, tabular and signals level), but on a held-out study searched by trial count (40 trials,
`benchmarks/eta_unseen/long.toml`) it ran 19 of 40 trials to their end against 13, 228-251 s
against 142 s for +0.09 points, and the ETA, which does not replay it, was off by -69% to -73%
(live at 25%: -37% to -80%; `eta-s40-*.json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hpbench.rank_stats import spearman

MIN_TRIALS = 6  # finished trials a rung needs before its evidence counts
MIN_RHO = 0.5  # a rung whose values rank the finished trials' ends below this stops judging


@dataclass(frozen=True, kw_only=True)
class RungEvidence:
    """For each rung epoch, (the running best there, the final best) of each finished trial that
    reached it; higher is better on both sides (the caller signs them)."""

    rungs: frozenset[int]
    pairs: Mapping[int, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    min_trials: int = MIN_TRIALS
    min_rho: float = MIN_RHO

    def __post_init__(self) -> None:
        if self.min_trials < 3:
            raise ValueError(f"a rank correlation needs at least 3 trials, but got min_trials={self.min_trials}")

    def judges(self, rung: int) -> bool:
        """Whether ``rung`` prunes: too little evidence yet, a rank correlation that cannot be
        computed (every value tied), or one of at least ``min_rho``."""
        pairs = self.pairs.get(rung, ())
        if len(pairs) < self.min_trials:
            return True
        rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
        return rho is None or rho >= self.min_rho

    def with_finished(self, at_rungs: Mapping[int, float], final: float) -> RungEvidence:
        """This evidence with a finished trial's running best at the rungs it reached and its final best."""
        if not math.isfinite(final):
            return self
        pairs = dict(self.pairs)
        for rung, value in at_rungs.items():
            if rung in self.rungs and math.isfinite(value):
                pairs[rung] = (*pairs.get(rung, ()), (value, final))
        return RungEvidence(rungs=self.rungs, pairs=pairs, min_trials=self.min_trials, min_rho=self.min_rho)

    def judging(self) -> list[int]:
        """The rungs that prune now, ascending."""
        return sorted(r for r in self.rungs if self.judges(r))


def ray_scheduler(*, metric: str, mode: str, max_t: int, time_attr: str, grace_period: int, reduction_factor: int,
                  min_trials: int = MIN_TRIALS, min_rho: float = MIN_RHO) -> Any:
    """Ray's ``ASHAScheduler`` (one bracket) whose rungs pass every trial while the evidence says
    they do not rank (:class:`RungEvidence`). A trial finished when its last result carries the
    trainer's ``stop_reason`` (a trial a rung stopped, or the budget, carries none)."""
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    sign = 1.0 if mode == "max" else -1.0

    class RankedASHA(ASHAScheduler):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t,
                             grace_period=min(grace_period, max_t), reduction_factor=reduction_factor)
            rungs = frozenset(int(milestone) for milestone, _ in self._brackets[0]._rungs)  # Ray's own, its one bracket's
            self.evidence = RungEvidence(rungs=rungs, min_trials=min_trials, min_rho=min_rho)
            self._at_rungs: dict[str, dict[int, float]] = {}
            self.passed = 0  # trials a rung would have stopped and let through

        def _note(self, trial: Any, result: dict[str, Any]) -> tuple[int, float] | None:
            if self._time_attr not in result or self._metric not in result:
                return None
            epoch, value = int(result[self._time_attr]), sign * float(result[self._metric])
            if epoch in self.evidence.rungs:
                self._at_rungs.setdefault(trial.trial_id, {})[epoch] = value
            return epoch, value

        def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
            noted = self._note(trial, result)
            action = super().on_trial_result(tune_controller, trial, result)
            if (action == TrialScheduler.STOP and noted is not None and noted[0] < self._max_t
                    and not self.evidence.judges(noted[0])):
                self._num_stopped -= 1
                self.passed += 1
                return TrialScheduler.CONTINUE  # type: ignore[no-any-return]
            return action  # type: ignore[no-any-return]

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
            noted = self._note(trial, result)
            at_rungs = self._at_rungs.pop(trial.trial_id, {})
            if noted is not None and "stop_reason" in result:
                self.evidence = self.evidence.with_finished(at_rungs, noted[1])
            super().on_trial_complete(tune_controller, trial, result)

        def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
            self._at_rungs.pop(trial.trial_id, None)
            super().on_trial_remove(tune_controller, trial)

    return RankedASHA()
