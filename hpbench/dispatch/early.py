"""The first trials, trained while Ray starts.

A local search spends its first seconds starting Ray and the trial workers (each a fresh Python
that imports Ray, Ray Tune and torch: ~9 s from the end of the pre-flight to the first result
measured here, benchmarks/startup.py). The prediction helper (:mod:`hpbench.dispatch.helper`)
has torch loaded by then (it tried the networks for the pre-flight). So the searcher's first
``n`` proposals (the study's ``enqueue`` points first, as Tune would run them) are asked from
the same Optuna study and storage as Ray Tune's ``OptunaSearch`` then uses, trained in the
helper by the same trainer, and recorded like any trial: the same rows in the tables (started,
each epoch, stop reason, final weights), told to Optuna with their intermediate values (so the
searcher learns from them), the cost columns predicted. Ray Tune runs the remaining trials
(``n`` fewer), with the searcher seeded past these (:func:`~hpbench.dispatch.searchers.sampler_seed`)
and these points not enqueued again.

Only where it is plainly safe: a fresh local search (no ``--address``: a running cluster starts
no Ray; no earlier trials, no budget, no shared Optuna storage, no retries: ``max_failures = 0``,
as only Tune retries a failed trial from its checkpoint), on the CPU, of at least 4 trials. The helper trains with the study's ``cpus_per_trial`` threads, while Ray starts beside it.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from hpbench.dispatch.plan import Plan, SearchOptions
from hpbench.dispatch.searchers import sampler_seed
from hpbench.results.weights import INCOMING_DIR
from hpbench.strategies import SEARCHERS
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study

EARLY_ID = "early_{:05d}"  # the trial ids of the early trials (Tune's look like 1a2b3_00000)
EARLY_PREFIX = EARLY_ID.split("{")[0]
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


def run_early_trial(study: Study, params: dict[str, Any], incoming: str) -> dict[str, Any]:
    """In the helper: train one configuration as a Tune trial would (the study's seed, the
    trainer's rows); its final weights are left in ``incoming`` for the driver to move."""
    from hpbench.train import weights
    from hpbench.train.trainer import train

    rows: list[dict[str, Any]] = []
    final: dict[str, Any] = {}

    def on_state(state: dict[str, Any]) -> None:
        if "final_model" in state:
            final["model"] = state["final_model"]

    started = time.time()
    try:
        train(trial_config(study, params), report=lambda row: rows.append(dict(row)), on_state=on_state)
    except Exception:
        return {"rows": rows, "error": traceback.format_exc(), "started_at": started, "ended_at": time.time()}
    ended = time.time()
    path = None
    if "model" in final:
        os.makedirs(incoming, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="weights-", suffix=".pt", dir=incoming)
        with os.fdopen(fd, "wb") as f:
            weights.save(final["model"], f)
    return {"rows": rows, "error": None, "weights_file": path, "started_at": started, "ended_at": ended}


@dataclass(kw_only=True)
class EarlyTrial:
    trial_id: str
    params: dict[str, Any]
    optuna_trial: Any
    future: Future[dict[str, Any]]
    recorded: bool = False


@dataclass(kw_only=True)
class EarlyTrials:
    """The early trials of a search: launched by :func:`launch`, recorded by :meth:`harvest`."""

    study: Study
    ostudy: Any  # the Optuna study they were asked from (the search's own storage)
    trials: list[EarlyTrial] = field(default_factory=list)
    scheduler: Any = None  # the search's Tune scheduler, once built: told each early trial's reports (its rungs count them)
    n_points: int = 0  # how many of them ran the study's enqueued (or grid) points: the sampler drew the others

    @property
    def params(self) -> list[dict[str, Any]]:
        return [t.params for t in self.trials]

    def harvest(self, record: Any, *, wait: bool = False) -> list[str]:
        """Record the ended early trials (all of them, waiting, with ``wait``) through
        ``record(trial_id, outcome)``, and tell Optuna; returns their ids."""
        from optuna.trial import TrialState

        done = []
        for t in self.trials:
            if t.recorded or not (wait or t.future.done()):
                continue
            try:
                outcome = t.future.result()
            except Exception as err:  # the helper died: the trial failed
                outcome = {"rows": [], "error": f"{type(err).__name__}: {err}"}
            t.recorded = True
            record(t.trial_id, outcome)
            best = _running_best(outcome["rows"], self.study)
            try:
                for epoch, value in best:
                    t.optuna_trial.report(value, epoch)
                if outcome.get("error") or not best:
                    self.ostudy.tell(t.optuna_trial, state=TrialState.FAIL)
                else:
                    self.ostudy.tell(t.optuna_trial, best[-1][1])
            except Exception:  # the searcher's history only: the tables have the trial
                pass
            replay_into(self.scheduler, t.trial_id, t.params, best)
            done.append(t.trial_id)
        return done


class _Standin:
    """What a Tune scheduler reads of a trial: its id and configuration (hashed by identity)."""

    def __init__(self, trial_id: str, config: dict[str, Any]) -> None:
        self.trial_id, self.config = trial_id, config


def replay_into(scheduler: Any, trial_id: str, params: dict[str, Any], best: list[tuple[int, float]]) -> None:
    """Tell ``scheduler`` an early trial's reports as Tune would have (added, each epoch's
    objective, completed), so that ASHA's rungs (or the median rule's history) count it: without
    this the first Tune trials meet empty rungs and are never pruned. Its decisions are moot (the
    trial has ended); a scheduler that cannot take a stand-in trial is left as it is."""
    if scheduler is None or not best:
        return
    from hpbench.dispatch.searchers import OBJECTIVE

    trial = _Standin(trial_id, dict(params))
    try:
        scheduler.on_trial_add(None, trial)
        for epoch, value in best[:-1]:
            scheduler.on_trial_result(None, trial, {"epoch": epoch, OBJECTIVE: value})
        epoch, value = best[-1]
        scheduler.on_trial_complete(None, trial, {"epoch": epoch, OBJECTIVE: value})
    except Exception:  # a plugin's scheduler, or one that needs Tune's controller: it just does not count them
        pass


def _running_best(rows: list[dict[str, Any]], study: Study) -> list[tuple[int, float]]:
    """(epoch, best value of the study metric so far) per epoch, as the trainable reports its objective."""
    import math

    sign = 1.0 if study.settings.mode == "max" else -1.0
    out: list[tuple[int, float]] = []
    best: float | None = None
    for row in rows:
        v = row.get(study.settings.metric)
        if isinstance(v, (int, float)) and math.isfinite(v) and (best is None or sign * v > sign * best):
            best = float(v)
        if best is not None:
            out.append((int(row["epoch"]), best))
    return out


def launch(study: Study, *, n: int, storage: Any, sampler: Any, points: list[dict[str, Any]], executor: Executor,
           incoming: str) -> EarlyTrials:
    """Ask ``n`` trials of the study's Optuna study (``points`` first, then ``sampler``'s
    proposals) and submit them to ``executor`` (the helper)."""
    import optuna

    ostudy = optuna.create_study(storage=storage, sampler=sampler, study_name=study.name, load_if_exists=True,
                                 direction="maximize" if study.settings.mode == "max" else "minimize")
    early = EarlyTrials(study=study, ostudy=ostudy, n_points=min(n, len(points)))
    for k in range(n):
        if k < len(points):
            ostudy.enqueue_trial(study.space.encode(points[k]))
        trial = ostudy.ask()
        params = study.space.define_by_run(trial)
        fut = executor.submit(run_early_trial, study, params, incoming)
        early.trials.append(EarlyTrial(trial_id=EARLY_ID.format(k), params=params, optuna_trial=trial, future=fut))
    return early


def start(study: Study, opts: SearchOptions, plan: Plan, *, executor: Executor, storage: Any) -> EarlyTrials | None:
    """The search's early trials, launched on ``executor`` (the helper) and recorded in the
    search's Optuna ``storage`` (the searcher's: :mod:`hpbench.dispatch.write_behind`), or None
    when the search does not qualify (:func:`n_early`)."""
    prev = plan.previous
    n = n_early(study, n_new=plan.n_new, fresh=prev is None or not prev.trials, local=not opts.address,
                budget=bool(opts.budget_flops or opts.budget_s), shared_storage=bool(opts.optuna_storage))
    if n == 0:
        return None
    sampler, points = SEARCHERS.get(study.settings.searcher).build(seed=sampler_seed(study.settings.seed, 0), space=study.space,
                                                                   max_concurrent=study.settings.max_concurrent, cost=None)
    return launch(study, n=n, storage=storage, sampler=sampler, points=[*map(dict, study.settings.enqueue), *points], executor=executor,
                  incoming=str((opts.out / INCOMING_DIR).resolve()))
