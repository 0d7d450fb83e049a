"""The searchers and schedulers a study names (``[study] searcher``, ``scheduler``): registries of
builders that take plain keyword arguments, not the study, so that the study validates their
names (built-in ones and plugins', entry-point groups ``hpbench.searchers`` and
``hpbench.schedulers``) without importing the dispatcher, which builds them
(:mod:`hpbench.dispatch.searchers`, :mod:`hpbench.dispatch.schedulers`).

A searcher is ``build(*, seed, space, max_concurrent, cost, **_) -> (optuna sampler, points evaluated
first)`` (``cost``: a configuration's predicted seconds, or None) (``seed``: the study's, or on a resumed or extended search one derived from it and the
trials done: :func:`hpbench.dispatch.searchers.sampler_seed`), driven
by Ray Tune's ``OptunaSearch`` with the study's define-by-run space. The built-in ones draw each
trial from the seed and the trial's number (``by_trial=True``: :func:`seeded_by_trial`). A scheduler is
``build(*, metric, mode, max_t, time_attr, grace_period, reduction_factor, epoch_cost, reference_cost, **_) -> Ray Tune
TrialScheduler`` (``epoch_cost``: a configuration's predicted seconds per epoch, ``reference_cost``: the
space's median one, each None until known). Optuna and Ray are imported inside the builders.
A scheduler's entry also says what it is (:class:`SchedulerTraits`: its rungs, how the estimate
replays it, whether its rungs are checked against the finished trials), which the rest of hpbench
reads instead of its name.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from hpbench.registry import Registry
from hpbench.space.space import SearchSpace

OBJECTIVE = "objective"  # what the schedulers act on: the running best of the study metric, reported every epoch
# A finished trial's value (its final report only): its best_<metric>, the study metric of the
# weights it ended with (hpbench.results.ranking.trial_value), which the searcher tells Optuna
FINAL_VALUE = "final_value"

SEARCHERS: Registry[Any] = Registry(what="searcher", group="hpbench.searchers")
SCHEDULERS: Registry[Any] = Registry(what="scheduler", group="hpbench.schedulers")


@dataclass(frozen=True, kw_only=True)
class SchedulerTraits:
    """What the rest of hpbench knows of a scheduler, from its registry entry (``register(...,
    rungs=..., replay=..., evidence=...)``; a plugin's scheduler names none of them unless its
    entry does: no rungs, replayed as running every trial to its end)."""

    rungs: str | None = None  # "epochs": ASHA's rungs (grace * rf**k), which the early trials apply and trials report at
    # once; "seconds": rungs in predicted seconds (asha-cost: every epoch reported at once, the early trials on the epoch rungs)
    replay: str = "none"  # how the estimate's replay applies it (hpbench.cost.simulate.Pruning's kinds)
    evidence: bool = False  # its rungs are checked against the search's finished trials (hpbench.rung_rank)


TRAIT_VALUES: dict[str, tuple[Any, ...]] = {"rungs": (None, "epochs", "seconds"), "replay": ("none", "asha", "hyperband", "median"),
                                            "evidence": (False, True)}


def scheduler_traits(name: str) -> SchedulerTraits:
    """The traits scheduler ``name`` registered (:class:`SchedulerTraits`); a value not among
    :data:`TRAIT_VALUES` (a plugin's typo) counts as not said."""
    if name not in SCHEDULERS:
        return SchedulerTraits()
    meta = SCHEDULERS.get(name).meta
    return SchedulerTraits(**{f.name: meta[f.name] for f in fields(SchedulerTraits) if f.name in meta and meta[f.name] in TRAIT_VALUES[f.name]})


def seeded_by_trial(name: str) -> bool:
    """Whether searcher ``name``'s sampler draws each trial from the seed and the trial's number
    (its entry says ``by_trial=True``, as the built-in ones do: :class:`hpbench.space.by_trial.TrialSeededSampler`):
    the early trials' sampler and Tune's then take the same seed. A plugin's that says nothing draws
    one stream from its seed, which the dispatcher sets apart from the early trials' one
    (:func:`hpbench.dispatch.searchers.sampler_seed`)."""
    return name in SEARCHERS and SEARCHERS.get(name).meta.get("by_trial") is True


def _by_trial(build: Any, seed: int) -> Any:
    from hpbench.space.by_trial import TrialSeededSampler

    return TrialSeededSampler(build, seed=seed)


@SEARCHERS.register("tpe", doc="Optuna's Tree-structured Parzen Estimator", by_trial=True)
def _tpe(*, seed: int, max_concurrent: int = 1, **_: Any) -> tuple[Any, list[dict[str, Any]]]:
    import optuna

    # Trials running at once are proposed before the others report: with constant_liar, TPE
    # counts the running ones as bad results (Optuna's advice for parallel TPE), so that it
    # does not propose the same region max_concurrent times over (benchmarks/constant_liar.py).
    return _by_trial(partial(optuna.samplers.TPESampler, constant_liar=max_concurrent > 1), seed), []


def _group_tpe(*, seed: int, constant_liar: bool) -> Any:
    import warnings

    import optuna

    # multivariate TPE over the groups of parameters drawn together (an optimizer with its own
    # parameters, a family with its own): one density per group, not one per parameter. Optuna
    # calls `group` experimental: said once in this searcher's doc, not warned at every build
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar, multivariate=True, group=True)


@SEARCHERS.register("tpe-group", doc="TPE modelling the parameters that occur together jointly, each group apart (Optuna's "
                   "group=True, experimental there: its advice for conditional spaces)", by_trial=True)
def _tpe_group(*, seed: int, max_concurrent: int = 1, **_: Any) -> tuple[Any, list[dict[str, Any]]]:
    return _by_trial(partial(_group_tpe, constant_liar=max_concurrent > 1), seed), []


@SEARCHERS.register("tpe-cost", doc="TPE ranking candidates by expected improvement per second predicted by the cost model "
                   "(Snoek et al. 2012)", by_trial=True)
def _tpe_cost(*, seed: int, max_concurrent: int = 1, cost: Any = None, **_: Any) -> tuple[Any, list[dict[str, Any]]]:
    from hpbench.space.cost_sampler import CostAwareTPESampler, unknown_cost

    return _by_trial(partial(CostAwareTPESampler, cost=cost or unknown_cost, constant_liar=max_concurrent > 1), seed), []


@SEARCHERS.register("random", doc="uniform random sampling", by_trial=True)
def _random(*, seed: int, **_: Any) -> tuple[Any, list[dict[str, Any]]]:
    import optuna

    return _by_trial(optuna.samplers.RandomSampler, seed), []


@SEARCHERS.register("grid", doc="every point of a finite space, in order", by_trial=True)
def _grid(*, seed: int, space: SearchSpace, **_: Any) -> tuple[Any, list[dict[str, Any]]]:
    import optuna

    return _by_trial(optuna.samplers.RandomSampler, seed), space.grid()


@SCHEDULERS.register("none", doc="run every trial to its end (FIFO)", replay="none")
def _none(**_: Any) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


@SCHEDULERS.register("asha", doc="asynchronous successive halving (Li et al. 2018)", rungs="epochs", replay="asha")
def _asha(*, metric: str, mode: str, max_t: int, time_attr: str, grace_period: int, reduction_factor: int, **_: Any) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr=time_attr, metric=metric, mode=mode, max_t=max_t,
        grace_period=min(grace_period, max_t), reduction_factor=reduction_factor,
    )


@SCHEDULERS.register("hyperband", doc="asynchronous Hyperband: ASHA over Hyperband's brackets, each trial in one "
                     "(Li et al. 2018, §3.3): most trials pruned from the first rung on, some from a later one, a few never",
                     rungs="epochs", replay="hyperband")  # the early trials and the reports: its first bracket's rungs
def _hyperband(*, metric: str, mode: str, max_t: int, time_attr: str, grace_period: int, reduction_factor: int, **_: Any) -> Any:
    from hpbench.hyperband import hyperband

    return hyperband(time_attr=time_attr, metric=metric, mode=mode, max_t=max_t, grace_period=grace_period, reduction_factor=reduction_factor)


@SCHEDULERS.register("asha-rank", doc="ASHA whose rungs judge only while they rank the search's own finished trials as "
                     "their ends do: ASHA until 6 finished trials passed a rung, then that rung prunes only while Spearman's rho "
                     "between their values there and their final values is >= 0.5: where a trial's first epochs do not tell, its "
                     "trials pass the rung",
                     rungs="epochs", replay="asha", evidence=True)  # replayed as ASHA: which rungs pass is the search's own evidence
def _asha_rank(*, metric: str, mode: str, max_t: int, time_attr: str, grace_period: int, reduction_factor: int, **_: Any) -> Any:
    from hpbench.rung_rank import ray_scheduler

    return ray_scheduler(metric=metric, mode=mode, max_t=max_t, time_attr=time_attr, grace_period=grace_period,
                         reduction_factor=reduction_factor)


@SCHEDULERS.register("asha-cost", doc="ASHA whose rungs are in predicted seconds (the cost model's) rather than epochs: "
                     "a slow configuration is judged after fewer epochs, a fast one after more",
                     rungs="seconds", replay="asha")  # replayed as ASHA by epochs: the same rungs for a trial of the reference epoch
def _asha_cost(*, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: int, epoch_cost: Any = None,
               reference_cost: Any = None, **_: Any) -> Any:
    from hpbench.cost_asha import ray_scheduler

    return ray_scheduler(metric=metric, mode=mode, max_t=max_t, grace_period=grace_period, reduction_factor=reduction_factor,
                         epoch_cost=epoch_cost, reference=reference_cost)


@SCHEDULERS.register("median", doc="median stopping rule (Golovin et al. 2017)", replay="median")
def _median(*, metric: str, mode: str, time_attr: str, grace_period: int, **_: Any) -> Any:
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(time_attr=time_attr, metric=metric, mode=mode, grace_period=grace_period, min_samples_required=3)
