"""Run a validated study through Ray Tune: plan it (:mod:`~hpbench.dispatch.plan`), start (or
join) Ray and build the Tuners (:mod:`~hpbench.dispatch.backend`), run the search and then its
replays (repeats, other devices: :mod:`~hpbench.dispatch.after_search`), each with a recorder
(:mod:`~hpbench.dispatch.recorder`) keeping the results tables and the live progress up to date,
and evaluate the test split.
"""

from __future__ import annotations

import contextlib
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from hpbench.cost import prices
from hpbench.dispatch import clock_record, local_ray
from hpbench.dispatch import early as early_trials
from hpbench.dispatch.after_search import AfterSearch
from hpbench.dispatch.announce import announce, preflight_step
from hpbench.dispatch.backend import (
    check_resources,
    import_driver_modules,
    import_integrations,
    import_search_modules,
    init_ray,
    ray_cpus,
    search_tuner,
)
from hpbench.dispatch.budget import Budget, stopper
from hpbench.dispatch.early import EarlyTrials
from hpbench.dispatch.early_helper import replay_previous, warm_up_trainer
from hpbench.dispatch.eta import SearchClock
from hpbench.dispatch.helper import HelperProcess
from hpbench.dispatch.interrupt import Interrupt
from hpbench.dispatch.optuna_numbers import AskedTrials
from hpbench.dispatch.plan import (
    Plan,
    ResumeRefused,
    SearchOptions,
    check_same_data,
    data_record_or_none,
    plan_search,
    write_data_record,
    write_study_record,
)
from hpbench.dispatch.predictions import AsyncPredictions, unpriced, warm_up
from hpbench.dispatch.progress import Progress
from hpbench.dispatch.schedulers import make_scheduler
from hpbench.dispatch.searchers import make_searcher
from hpbench.dispatch.storage import search_storage, sqlite_url
from hpbench.dispatch.study_lock import StudyNameBusy, hold_study_name
from hpbench.dispatch.test_split import evaluate_best_on_test, untested
from hpbench.dispatch.trainable import Replay, study_data_or_none
from hpbench.dispatch.written_trials import WrittenTrials, forget_written
from hpbench.preflight.problems import PreflightFailed
from hpbench.preflight.run import start as preflight_start
from hpbench.results.columns import param_dtypes
from hpbench.results.files import OPTUNA_DB
from hpbench.results.lock import ResultsLock
from hpbench.results.status import StopReason, TrialStatus, is_search_trial
from hpbench.results.store import ResultsStore
from hpbench.results.weights import INCOMING_DIR, drop_unrecorded
from hpbench.strategies import scheduler_traits
from hpbench.study.schema import Study
from hpbench.tracking import LOGGERS, Trackers

if TYPE_CHECKING:
    from hpbench.dispatch.recorder import Recorder

# What the helper imports as it starts, while the driver loads the study's data: the pre-flight's
# network checks need them next (before, the helper sat idle until the data was checked, then
# spent ~1 s importing torch: the race's first trial began ~1 s later).
HELPER_PRELOAD = ("torch", "hpbench.models", "hpbench.train.tasks")
INTERRUPTED_WAIT_S = 2.0  # an interrupted search waits this long at most for the trials' cost predictions still in the helper

# Also importable from here (the CLI, the tests and the benchmarks start searches this way).
__all__ = ["Plan", "ResumeRefused", "SearchOptions", "init_ray", "plan_search", "run_search", "write_study_record"]


def run_search(study: Study, opts: SearchOptions, *, console: Console | None = None, plan: Plan | None = None) -> ResultsStore:
    """Run the study; returns the final results store (tables already written).

    Continues an earlier run in ``opts.out``: its finished (and failed) trials are kept and
    not re-run, trials it left running run again as new trials, and the Optuna storage keeps
    the searcher's history. Holds the results directory's lock throughout.

    Before anything is written or Ray starts, the pre-flight checks (:mod:`hpbench.preflight`)
    load the data and try every distinct network: :class:`~hpbench.preflight.PreflightFailed`
    names every problem found."""
    console = console or Console(emoji=False)
    plan = plan or plan_search(study, opts)
    if plan.n_new == 0 and not opts.repeats:  # nothing to run: no pre-flight, no helper
        return _locked(study, opts, plan, console, start=None)
    # The helper process (the network checks, then the cost predictions) loads torch while the
    # driver checks the data; once the data passed, the driver imports its next modules on
    # another thread while the helper tries the networks.
    early = early_trials.wanted(study, opts, plan) > 0
    clock = SearchClock(study=study, n_trials=plan.n_new, started_at=opts.started_at, history_dir=opts.history_dir, repeats=opts.repeats,
                        early=early, warm=local_ray.would_join(address=opts.address, num_cpus=opts.num_cpus))
    # Before the search loads the machine (the helper, Ray): the contention it is priced at, as
    # an estimate prices it. Taken during Ray's start it read 5-22 where an estimate read 3.5-5.
    clock.measure_probe()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpbench-imports")
    helper = HelperProcess(preload=HELPER_PRELOAD)
    try:
        with announce(console, preflight_step(study)):
            pending = preflight_start(study, executor=helper) if opts.preflight else None
        if pending is not None:
            clock.measured["data_s"] = pending.data_s  # before Ray starts: the start-up's part that is the study's data
        if early:
            helper.submit(warm_up_trainer)  # while the driver sets the search up
        imports = not (pending and pending.data_problems)
        start = Start(searched=pool.submit(import_search_modules) if imports else None,
                      imported=pool.submit(import_driver_modules) if imports else None, helper=helper, clock=clock,
                      integrations=pool.submit(import_integrations) if imports else None)
        with announce(console, "pre-flight: trying the networks on the data"):
            problems = pending.result() if pending is not None else []
        if problems:
            raise PreflightFailed.of(problems)
        for warning in pending.warnings if pending is not None else []:  # e.g. a class too small to stratify
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        if plan.previous is not None:  # the data the earlier trials trained on is this data (read by the pre-flight: cached)
            check_same_data(plan, opts, data_record_or_none(study, study_data_or_none(study)))
        return _locked(study, opts, plan, console, start=start)
    finally:
        helper.shutdown(wait=True, cancel_futures=True)
        pool.shutdown(wait=False)


@dataclass(frozen=True, kw_only=True)
class Start:
    """What the search started before the pre-flight ended: the imports and the helper process."""

    searched: Future[None] | None  # the modules the early trials need (optuna)
    imported: Future[None] | None  # then those the search needs (Tune's searcher and schedulers, SQLAlchemy)
    integrations: Future[None] | None = None  # then Tune's integrations, which fit() imports (hpbench.dispatch.backend)
    helper: HelperProcess
    clock: SearchClock  # the search's clock: its ETA, its budget, its record in this machine's history


def _locked(study: Study, opts: SearchOptions, plan: Plan, console: Console, *, start: Start | None) -> ResultsStore:
    out = opts.out
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        # a shared Optuna storage: one live search per study name (hpbench.dispatch.study_lock)
        name_held = hold_study_name(opts.optuna_storage, study.name) if opts.optuna_storage else contextlib.nullcontext()
        with ResultsLock(out), name_held:
            return _run_locked(study, opts, plan, console, start=start)
    except StudyNameBusy:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # refused before anything was written: leave no empty folder behind
        raise


def _run_locked(study: Study, opts: SearchOptions, plan: Plan, console: Console, *, start: Start | None) -> ResultsStore:
    out = opts.out
    write_study_record(study, out)
    store = ResultsStore(out=out, metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys(),
                         mixed_keys=study.space.mixed_keys(), param_dtypes=param_dtypes(study.space))
    prev = plan.previous
    for note in prev.notes if prev is not None else ():
        console.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    for damaged in prev.damaged if prev is not None else ():  # kept aside, so that it never becomes a table's previous version
        damaged.replace(damaged.with_name(damaged.name + ".damaged"))
    if plan.storage_damage is not None:  # the searcher's history only: the tables keep every trial
        for part in (out / OPTUNA_DB, out / f"{OPTUNA_DB}-wal", out / f"{OPTUNA_DB}-shm"):
            with contextlib.suppress(FileNotFoundError):
                part.replace(part.with_name(part.name + ".damaged"))
        console.print(f"[yellow]warning:[/] {escape(str(out / OPTUNA_DB))} was damaged ({escape(plan.storage_damage)}); kept as "
                      f"{OPTUNA_DB}.damaged. The searcher starts a new history; the finished trials in the tables are kept", highlight=False)
    if prev is not None and (prev.trials or prev.n_dropped or prev.notes):
        store.load(prev.trials, prev.epochs)
        store.flush(force=True)  # drop the rows of trials that were running when the driver died
        drop_unrecorded(out, {int(t["trial"]) for t in prev.trials})  # and the weights those saved (killed as they ended)
        console.print(f"resuming {study.name}: {prev.n_done} of {plan.n_total} trials done"
                      + (f", {prev.n_dropped} interrupted (run again)" if prev.n_dropped else ""), highlight=False)
    if start is None:
        console.print(f"{study.name}: all {plan.n_total} trials done (--trials N to extend)", highlight=False)
        if untested(study, store) and evaluate_best_on_test(study, store):  # the earlier run stopped before its test split
            store.flush(force=True)
            console.print("test split: evaluated the best configurations once (test_* columns; the earlier run stopped before it)",
                          highlight=False)
        return store
    # The cost predictions run in the helper process, which loaded torch for the pre-flight
    # while the driver imported its modules (hpbench.dispatch.predictions).
    clock = start.clock
    # what was priced here before (hpbench estimate, earlier searches) is taken at once (hpbench.cost.prices)
    known = prices.load(clock.history_dir, model=clock.model) if clock.history_dir is not None else {}
    predictions = AsyncPredictions(study=study, executor=start.helper, known=known)
    if clock.calibration is not None:  # no cost model cached: the helper calibrates it
        console.print(f"[dim]{escape(clock.calibration.notice())}[/]", highlight=False)
    for tid, params in unpriced(store, study):  # an earlier run stopped before their predictions came (a Ctrl-C waits only briefly)
        predictions.submit(tid, params)
    trackers = _trackers(study, out, after=start.integrations)
    interrupted = False
    storage: Any = None
    asked = AskedTrials()  # the Optuna trial each search trial was asked as: its number in the storage, once complete
    try:
        if start.searched is not None:
            start.searched.result()  # optuna: imported on one thread at a time
        # a new optuna.db is opened behind the early trials, once SQLAlchemy is imported (hpbench.dispatch.storage)
        url, new_file = (opts.optuna_storage, None) if opts.optuna_storage else (sqlite_url(out / OPTUNA_DB), out / OPTUNA_DB)
        with Interrupt() as stop, search_storage(url, study.name, new_file=new_file, imported=start.imported, tables=store) as storage:
            # Ctrl-C: the search stops cleanly, a second one at once (hpbench.dispatch.interrupt)
            _search(study, opts, plan, console, store, predictions, trackers, stop, clock, storage=storage,
                    imported=start.imported, integrations=start.integrations, asked=asked)
        if storage.failed is not None:  # the searcher's history only: the tables hold every trial
            console.print(f"[yellow]warning:[/] {escape(url)} stopped receiving the search's trials ({escape(storage.failed)}); "
                          "the tables hold every trial, a resumed search's searcher learns from what that storage holds", highlight=False)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if interrupted:
            predictions.close(store, wait=True, within_s=INTERRUPTED_WAIT_S)
        else:
            clock.close_predictions(lambda calibrating: predictions.close_said(
                store, say=lambda line: console.print(f"[dim]{escape(line)}[/]", highlight=False), calibrating=calibrating))
        if storage is not None:  # closed: every trial it received numbered
            asked.annotate(store, storage.numbers)
        store.flush(force=True)
        if clock.history_dir is not None:  # the prices this search made, for the next ones
            prices.keep(clock.history_dir, study=study, columns=predictions.new_prices())
        if trackers is not None:
            for name, err in trackers.close(store.rows()).items():
                console.print(f"[yellow]logger {name} failed:[/] {escape(err)} (the search went on without it)", highlight=False)
        with contextlib.suppress(OSError):
            (out / INCOMING_DIR).rmdir()  # empty once every handed-over weights file was moved
    clock_record.record(clock, store, out=out)  # what this search measured, for the next estimate here
    return store


def _search(study: Study, opts: SearchOptions, plan: Plan, console: Console, store: ResultsStore, predictions: AsyncPredictions,
            trackers: Trackers | None, stop: Interrupt, clock: SearchClock, *, storage: Any, imported: Future[None] | None,
            integrations: Future[None] | None, asked: AskedTrials) -> None:
    prev = plan.previous
    # The first trials train in the helper (torch loaded for the pre-flight) while Ray starts
    # (hpbench.dispatch.early); then the cost predictions' first one, which loads their machinery.
    shipped = study_data_or_none(study)  # prepared by the pre-flight: not loaded a second time
    early = early_trials.start(study, opts, plan, executor=predictions.pool, storage=storage, data=shipped)
    begin = partial(_begin_early, store=store, clock=clock, trackers=trackers, predictions=predictions, asked=asked)
    if early is not None:
        early.begin(begin)
    predictions.pool.submit(warm_up, study)
    if imported is not None:
        imported.result()  # Ray Tune: imported on one thread at a time
    with announce(console, "starting Ray" + (" (the first trials train meanwhile)" if early is not None else "")):
        started = init_ray(opts)  # on the main thread (Ray requires it); the modules it needs next were imported meanwhile
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
    progress = Progress(store=store, n_trials=plan.n_total, console=console, study_name=study.name, clock=clock)
    budget = None
    if opts.budget_flops or opts.budget_s:
        budget = Budget(flops=opts.budget_flops, seconds=opts.budget_s, clock=clock.budget_s)
    recorder = _recorder(store, progress, predictions=predictions, trackers=trackers, budget=budget, early=early, written=written)
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


def _trackers(study: Study, out: Path, *, after: Future[None] | None = None) -> Trackers | None:
    """The study's loggers ([study] loggers; built on their own thread, once ``after`` is done), or None.
    ``after``: the import of Tune's integrations, which imports mlflow on the driver's import
    thread; the mlflow logger importing it at the same time failed now and then with "cannot import
    name '_get_store' from partially initialized module 'mlflow.tracking'" (two threads in one
    package's circular imports), and the search went on without it."""
    kw = {"out": out, "study_name": study.name, "metric": study.settings.metric, "mode": study.settings.mode}
    factories = {name: partial(_built_after, after, partial(LOGGERS.get(name).build, **kw)) for name in study.settings.loggers}
    return Trackers(factories, param_keys=study.space.keys()) if factories else None


def _built_after(after: Future[None] | None, build: Any) -> Any:
    if after is not None:
        after.result()
    return build()


def _recorder(store: ResultsStore, progress: Progress, *, predictions: AsyncPredictions, trackers: Trackers | None, budget: Budget | None = None,
              replays: list[Replay] | None = None, early: EarlyTrials | None = None, written: WrittenTrials | None = None) -> Recorder:
    from hpbench.dispatch.recorder import Recorder  # imports Ray Tune: only once Ray is up

    return Recorder(store=store, progress=progress, predictions=predictions, trackers=trackers, budget=budget, replays=replays, early=early,
                    written=written)
