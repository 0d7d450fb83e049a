"""The pre-flight's check of a plugin searcher and scheduler: each builder called as the dispatcher
calls it (:func:`hpbench.dispatch.searchers.make_searcher`, :func:`hpbench.dispatch.schedulers.make_scheduler`)
and what it returns looked at, in the calling process, before anything is started or written. The
dispatcher builds them once Ray is up and the results folder made: a builder with the wrong
signature ended ``hpbench search`` there with a traceback (bug hunt s48/h5). The built-in ones are
not built here (hpbench's own; a scheduler's builder imports Ray Tune). A plugin's builder is
called with the documented keyword arguments only; whatever it imports (Ray Tune, for a
scheduler) it imports here."""

from __future__ import annotations

from typing import Any

from hpbench.errors import shown
from hpbench.preflight.load import user_code_problem
from hpbench.preflight.problems import Problem
from hpbench.registry import Registry
from hpbench.strategies import OBJECTIVE, SCHEDULERS, SEARCHERS
from hpbench.study.schema import Study

SCHEDULER_METHODS = ("on_trial_add", "on_trial_result", "on_trial_complete", "choose_trial_to_run")  # Ray Tune's TrialScheduler, read without Ray


def check_strategies(study: Study) -> list[Problem]:
    """The problems of the study's searcher and scheduler, when they are plugins'."""
    s = study.settings
    found = []
    if _plugin(SEARCHERS, s.searcher):
        found.append(_check_searcher(study))
    if _plugin(SCHEDULERS, s.scheduler):
        found.append(_check_scheduler(study))
    return [p for p in found if p is not None]


def _plugin(registry: Registry[Any], name: str) -> bool:
    return registry.is_plugin(name)


def _named(registry: Registry[Any], what: str, name: str) -> str:
    """``the searcher 'x' (its package and version)``."""
    dist = next((p.dist for p in registry.plugins() if p.name == name and not p.error), "")
    return f"the {what} {name!r}" + (f" ({dist})" if dist else "")


def _no_cost(params: dict[str, Any]) -> float | None:  # nothing priced yet (the dispatcher's CandidateCost answers None alike)
    return None


def _check_searcher(study: Study) -> Problem | None:
    s = study.settings
    named = _named(SEARCHERS, "searcher", s.searcher)
    try:
        built = SEARCHERS.get(s.searcher).build(seed=s.seed, space=study.space, max_concurrent=s.max_concurrent, cost=_no_cost)
    except Exception as err:
        return user_code_problem(study.source, "study.searcher", f"building {named} raised", err)
    import optuna

    rule = f"{named} must return (an optuna.samplers.BaseSampler, a list of the points evaluated first)"
    if not isinstance(built, (tuple, list)) or len(built) != 2:
        return Problem(source=study.source, key="study.searcher", rule=rule, value=shown(type(built).__name__))
    sampler, points = built
    if not isinstance(sampler, optuna.samplers.BaseSampler):
        return Problem(source=study.source, key="study.searcher", rule=rule, value=shown(f"({type(sampler).__name__}, ...)"))
    if not isinstance(points, (list, tuple)) or not all(isinstance(p, dict) for p in points):
        return Problem(source=study.source, key="study.searcher", rule=rule, value=shown(f"(..., {type(points).__name__})"))
    return None


def _check_scheduler(study: Study) -> Problem | None:
    s = study.settings
    named = _named(SCHEDULERS, "scheduler", s.scheduler)
    try:
        built = SCHEDULERS.get(s.scheduler).build(metric=OBJECTIVE, mode=s.mode, max_t=study.max_epochs, time_attr="epoch", grace_period=s.grace_period,
                                                  reduction_factor=s.reduction_factor, epoch_cost=None, reference_cost=None)
    except Exception as err:
        return user_code_problem(study.source, "study.scheduler", f"building {named} raised", err)
    missing = [m for m in SCHEDULER_METHODS if not callable(getattr(built, m, None))]
    if missing:
        return Problem(source=study.source, key="study.scheduler", rule=f"{named} must return a Ray Tune TrialScheduler",
                       value=shown(f"{type(built).__name__} (no {', '.join(missing)})"))
    return None
