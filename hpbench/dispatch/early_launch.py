"""Whether a search trains its first trials while Ray starts (:mod:`hpbench.dispatch.early`), how
many, and their launch.

Only where it is plainly safe: a fresh local search (no ``--address``, or ``local``: a cluster
starts no Ray and runs its trials elsewhere; the warm local runtime, :mod:`hpbench.dispatch.local_ray`,
runs them on this machine's CPUs as a fresh one does, and its workers start as fresh ones; no earlier trials, no budget, no shared Optuna storage, no retries: ``max_failures = 0``,
as only Tune retries a failed trial from its checkpoint), on the CPU, of at least 4 trials. The
helper trains with the study's ``cpus_per_trial`` threads, while Ray starts beside it.
"""

from __future__ import annotations

import contextlib
import glob
import os
from concurrent.futures import Executor
from typing import Any

from hpbench.dispatch.early import EarlyTrials
from hpbench.dispatch.early_helper import CLAIM_PREFIX, STOP_FILE, EarlyRungs
from hpbench.dispatch.plan import Plan, SearchOptions
from hpbench.dispatch.searchers import sampler_seed
from hpbench.results.weights import INCOMING_DIR
from hpbench.strategies import SEARCHERS
from hpbench.study.schema import Study

MIN_TRIALS = 4  # a smaller search gains little, and its tests count Tune's trials


def n_early(study: Study, *, n_new: int, fresh: bool, local: bool, budget: bool, shared_storage: bool) -> int:
    """How many trials run in the helper while Ray starts: as many as trials run at once (at
    most 2), when the search qualifies (see the module's docstring), else 0."""
    train = study.config["train"]
    on_cpu = str(train.get("device", "cpu")) in ("cpu", "auto") and study.resources.gpus_per_trial == 0 and not train.get("devices")
    retried = study.settings.max_failures > 0  # a failed trial retries from its checkpoint in Tune: every trial runs there
    if not (fresh and local and on_cpu) or budget or shared_storage or retried or n_new < MIN_TRIALS:
        return 0
    return min(2, max(1, study.settings.max_concurrent), n_new - 1)


def n_early_max(n_early: int, n_new: int) -> int:
    """At most how many early trials run one after another before Tune's searcher is built: a
    quarter of the search's new trials (at least the ``n_early`` launched at once), so that a small
    search's draws stay mostly Tune's."""
    return max(n_early, n_new // 4) if n_early else 0


def launch(study: Study, *, n: int, storage: Any, sampler: Any, points: list[dict[str, Any]], executor: Executor,
           incoming: str, data: tuple[Any, Any] | None = None, n_max: int | None = None) -> EarlyTrials:
    """Ask the first of up to ``n_max`` [default ``n``] trials of the study's Optuna study
    (``points`` first, then ``sampler``'s proposals) and submit it to ``executor`` (the helper);
    each next one follows when the one before ends, until :meth:`EarlyTrials.stop`. ``n``: how
    many at least, when not stopped before."""
    import optuna

    ostudy = optuna.create_study(storage=storage, sampler=sampler, study_name=study.name, load_if_exists=True,
                                 direction="maximize" if study.settings.mode == "max" else "minimize")
    early = EarlyTrials(study=study, ostudy=ostudy, executor=executor, incoming=incoming, n_min=n, n_max=max(n, n_max or n), points=list(points),
                        data=data, rungs=EarlyRungs.of(study), tune_slots=max(1, study.settings.max_concurrent))
    early.launch_next()
    return early


def wanted(study: Study, opts: SearchOptions, plan: Plan) -> int:
    """How many early trials this search launches at once (:func:`n_early`), 0 when it runs none."""
    prev = plan.previous
    return n_early(study, n_new=plan.n_new, fresh=prev is None or not prev.trials, local=opts.address in (None, "", "local"),
                   budget=bool(opts.budget_flops or opts.budget_s), shared_storage=bool(opts.optuna_storage)) if opts.early_trials else 0


def start(study: Study, opts: SearchOptions, plan: Plan, *, executor: Executor, storage: Any, data: tuple[Any, Any] | None = None) -> EarlyTrials | None:
    """The search's early trials, launched on ``executor`` (the helper) and recorded in the
    search's Optuna ``storage`` (the searcher's: :mod:`hpbench.dispatch.write_behind`), or None
    when the search does not qualify (:func:`n_early`). ``data``: the study's data as the driver
    prepared it, for the helper."""
    n = wanted(study, opts, plan)
    if n == 0:
        return None
    incoming = str((opts.out / INCOMING_DIR).resolve())
    for stale in [os.path.join(incoming, STOP_FILE), *glob.glob(os.path.join(glob.escape(incoming), CLAIM_PREFIX + "*"))]:
        with contextlib.suppress(OSError):
            os.remove(stale)  # left by a driver killed while its early trials stopped
    sampler, points = early_sampler(study)
    return launch(study, n=n, storage=storage, sampler=sampler, points=[*map(dict, study.settings.first_points), *points], executor=executor,
                  incoming=incoming, data=data, n_max=n_early_max(n, plan.n_new))


def early_sampler(study: Study) -> tuple[Any, list[dict[str, Any]]]:
    """The early trials' sampler (seeded with the study seed, as Tune's is on a fresh search:
    a built-in searcher then draws each trial number what a search without them would) and the
    searcher's own points (a grid's)."""
    sampler, points = SEARCHERS.get(study.settings.searcher).build(seed=sampler_seed(study.settings.seed, 0), space=study.space,
                                                                   max_concurrent=study.settings.max_concurrent, cost=None)
    return sampler, list(points)
