"""The search itself, once the results folder is held and the Optuna storage open
(:mod:`hpbench.dispatch.runner` sets both up and closes them): the first trials in the helper while
Ray starts (:mod:`hpbench.dispatch.early`), Ray Tune's trials with the searcher and the scheduler,
each recorded by a :class:`~hpbench.dispatch.recorder.Recorder`, then the replays after the search
(repeats, other devices: :mod:`hpbench.dispatch.after_search`) and the test split.
"""

from __future__ import annotations

import contextlib
import sys
import time
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.console import Console

from hpbench.console_text import literal
from hpbench.dispatch import early as early_trials
from hpbench.dispatch import early_launch, local_ray
from hpbench.dispatch.after_search import AfterSearch
from hpbench.dispatch.announce import announce
from hpbench.dispatch.backend import check_resources, init_ray, ray_cpus, search_tuner
from hpbench.dispatch.budget import Budget, stopper, tell_stopped
from hpbench.dispatch.early import EarlyTrials
from hpbench.dispatch.early_helper import replay_previous
from hpbench.dispatch.eta import SearchClock
from hpbench.dispatch.interrupt import Interrupt
from hpbench.dispatch.keep_weights import WeightsKeeper, weights_keeper
from hpbench.dispatch.optuna_numbers import AskedTrials
from hpbench.dispatch.plan import Plan, SearchOptions, data_record_or_none, write_data_record
from hpbench.dispatch.predictions import AsyncPredictions, warm_up
from hpbench.dispatch.progress import Progress
from hpbench.dispatch.schedulers import make_scheduler
from hpbench.dispatch.searchers import make_searcher
from hpbench.dispatch.test_split import evaluate_best_on_test
from hpbench.dispatch.trainable import Replay, study_data_or_none
from hpbench.dispatch.written_trials import WrittenTrials, forget_written
from hpbench.results.status import StopReason, TrialStatus, is_search_trial
from hpbench.results.store import ResultsStore
from hpbench.strategies import scheduler_traits
from hpbench.study.schema import Study
from hpbench.tracking import Trackers

if TYPE_CHECKING:
    from hpbench.dispatch.recorder import Recorder


def search(study: Study, opts: SearchOptions, plan: Plan, console: Console, store: ResultsStore, predictions: AsyncPredictions,
           trackers: Trackers | None, stop: Interrupt, clock: SearchClock, *, storage: Any, imported: Future[None] | None,
           integrations: Future[None] | None, asked: AskedTrials) -> None:
    """Run the study's new trials into ``store`` (and its Optuna ``storage``), then its replays and
    the test split; a Ctrl-C (``stop``) raises KeyboardInterrupt once the trials it stopped are
    recorded. ``imported`` / ``integrations``: the driver's imports of Tune's modules, begun
    during the pre-flight (:class:`~hpbench.dispatch.runner.Start`)."""
    prev = plan.previous
    # The first trials train in the helper (torch loaded for the pre-flight) while Ray starts
    # (hpbench.dispatch.early); then the cost predictions' first one, which loads their machinery.
    shipped = study_data_or_none(study)  # prepared by the pre-flight: not loaded a second time
    early = early_launch.start(study, opts, plan, executor=predictions.pool, storage=storage, data=shipped)
    begin = partial(_begin_early, store=store, clock=clock, trackers=trackers, predictions=predictions, asked=asked)
    if early is not None:
        early.begin(begin)
    predictions.pool.submit(warm_up, study)
    if imported is not None:
        imported.result()  # Ray Tune: imported on one thread at a time
    with announce(console, "starting Ray" + (" (the first trials train meanwhile)" if early is not None else "")):
        started = init_ray(opts, say=lambda line: console.print(f"[dim]{literal(line)}[/]", highlight=False))  # on the main thread (Ray requires it); the modules it needs next were imported meanwhile
    if isinstance(started, local_ray.Joined):
        started.watch(partial(stop.request, f"hpbench ray stop is stopping the Ray runtime at {started.runtime.address}"))
        console.print(f"[dim]on the warm Ray runtime at {started.runtime.address} (hpbench ray start; --address local: one of the search's own)[/]",
                      highlight=False)
    if integrations is not None:
        integrations.result()
    record = data_record_or_none(study, shipped)  # the description is for the report; a trial reports what breaks the data
    if record:
        with contextlib.suppress(Exception):
            write_data_record(opts.out, record)
    clock.joined(ray_started=started is True, cpus=ray_cpus(), warm=isinstance(started, local_ray.Joined))
    # the ETA's prior for trials not started yet (and asha-cost's reference epoch): the estimate's, else the helper's
    clock.plan = clock.priced_plan() or predictions.sampled_epoch_s()
    if clock.repeats > 1:  # how the repeats fuse, before the trials' own FLOPs are counted
        clock.step_flops = clock.priced_flops() or predictions.sampled_step_flops()
    clock.repricing.start(predictions.pool)  # the study's records of an earlier device model, against this one
    keys = study.space.keys()
    done = [{k: t.get(k) for k in keys} for t in (prev.trials if prev else []) if is_search_trial(t)]
    # Tune's searcher is built now: the early trials go on until Tune's first trial reports (its
    # workers start meanwhile), each taking one of the trials left from the count Tune's searcher has
    quota = early.share(plan.n_new, begin) if early is not None else None
    if early is not None:
        early.begin(begin)
    searcher = make_searcher(study, storage=storage, done=done, early=early.params if early else None,
                             n_drawn=len(done) + len(early.trials) - early.n_points if early else None,
                             beside_early=early is not None and early.draws_on, cost=predictions.trial_seconds, quota=quota,
                             asked=asked)
    cost_aware = scheduler_traits(study.settings.scheduler).rungs == "seconds"  # rungs in predicted seconds: the helper's predictions
    scheduler = make_scheduler(study, max_t=study.max_epochs,
                               epoch_cost=predictions.epoch_seconds if cost_aware else None,
                               reference_cost=predictions.reference_epoch_seconds(clock.plan) if cost_aware else None)
    written = WrittenTrials()  # the trials the recorder wrote, dropped from Tune's controller by the scheduler (the driver's memory)
    forget_written(scheduler, written)
    if early is not None:
        early.scheduler = scheduler  # the early trials count at its rungs, as Tune's own trials do
    if prev is not None:  # and so do the trials an earlier run finished (a resume)
        replay_previous(scheduler, study, prev.trials, prev.epochs)
    check_resources(study)
    progress = Progress(store=store, n_trials=plan.n_total, console=console, study_name=study.name, clock=clock,
                        apart=store.counts_apart())  # an earlier run's repeats are no trials of n_total
    budget = None
    if opts.budget_flops or opts.budget_s:
        budget = Budget(flops=opts.budget_flops, seconds=opts.budget_s, clock=clock.budget_s)
    recorder = _recorder(store, progress, predictions=predictions, trackers=trackers, budget=budget, early=early, written=written,
                         keep=weights_keeper(study, store))
    recorder.harvest_early()  # those that ended while Ray started: in the tables before Tune's first trial
    tuner = search_tuner(study, opts, searcher=searcher, scheduler=scheduler, n_trials=quota.left if quota is not None else plan.n_new,
                         data=shipped, callback=recorder, stop=stop.stopper(stopper(budget) if budget is not None else None))
    if stop.requested:  # Ctrl-C while Ray started: the early trials (the running one stopped) are recorded too
        recorder.harvest_early(wait=True, stop=stop)
    stop.check()
    if plan.n_new > 0:
        with progress:
            tuner.fit()
            if early is not None:
                early.stop()  # no Tune trial reported (each failed, or the early ones took the count)
            recorder.harvest_early(wait=True, stop=stop)  # after a Ctrl-C: the running trials marked interrupted
        clock.phase_done(store)
    stop.check()  # Ctrl-C: the trials it stopped are interrupted (epochs kept), to run again on --resume
    if budget is not None and budget.exhausted():
        running = sum(1 for r in store.rows() if r.get("status") == TrialStatus.RUNNING)
        ended = recorder.end_running(StopReason.BUDGET)  # written by their own flushes and the search's final one
        tell_stopped(storage, study_name=study.name, asked=asked.ids, rows=[store.row(t) for t in ended], metric=store.metric)
        unstarted = running - len(ended)  # stopped before their first epoch: interrupted, run on --resume
        console.print(f"budget spent: no new trials launched{f'; {len(ended)} running trial(s) stopped (stop_reason budget)' if ended else ''}"
                      f"{f'; {unstarted} stopped before their first epoch (run again on --resume)' if unstarted else ''}", highlight=False)
    after = AfterSearch(study=study, opts=opts, store=store, console=console, stop=stop, clock=clock,
                        recorder=partial(_recorder, predictions=predictions, trackers=trackers))
    if opts.repeats:
        after.repeats()
    for device in study.config["train"].get("devices", [])[1:]:
        stop.check()
        after.on_device(device)
    stop.check()
    began, cold = time.time(), "torch" not in sys.modules  # its first use in the driver loads torch (2 s; after repeats, 0.1 s)
    if evaluate_best_on_test(study, store, check=stop.check):  # a Ctrl-C there: interrupted, as in the trials
        clock.measured["test_cold_s" if cold else "test_s"] = time.time() - began
        console.print("test split: evaluated the best configurations once (test_* columns)", highlight=False)
    stop.check()  # a Ctrl-C during the last evaluation: not swallowed by the report that follows
    clock.phases_done()


def _begin_early(t: early_trials.EarlyTrial, *, store: ResultsStore, clock: SearchClock, trackers: Trackers | None,
                 predictions: AsyncPredictions, asked: AskedTrials | None = None) -> None:
    """An early trial in the tables as started, in the ETA and the trackers, its cost predicted
    (``asked``: its Optuna trial noted, :mod:`hpbench.dispatch.optuna_numbers`)."""
    store.start(t.trial_id, t.params)
    if asked is not None:
        asked.note(t.trial_id, t.optuna_trial)
    clock.trial_started(t.trial_id)  # the ETA counts it (else priced as a trial still to start)
    if trackers is not None:
        trackers.start(int(store.row(t.trial_id)["trial"]), t.params)
    predictions.submit(t.trial_id, t.params)


def _recorder(store: ResultsStore, progress: Progress, *, predictions: AsyncPredictions, trackers: Trackers | None, budget: Budget | None = None,
              replays: list[Replay] | None = None, early: EarlyTrials | None = None, written: WrittenTrials | None = None,
              keep: WeightsKeeper | None = None) -> Recorder:
    from hpbench.dispatch.recorder import Recorder  # imports Ray Tune: only once Ray is up

    return Recorder(store=store, progress=progress, predictions=predictions, trackers=trackers, budget=budget, replays=replays, early=early,
                    written=written, keep=keep)
