"""Run a validated study through Ray Tune: hold the results folder (its lock, taken before the
folder is read), plan it (:mod:`~hpbench.dispatch.plan`), run the pre-flight with the helper
process starting beside it, open the Optuna storage and the loggers, run the search
(:mod:`~hpbench.dispatch.search_phase`: the early trials, Ray Tune's trials, the replays, the
test split) and close it all, the tables written, whatever ended it.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from hpbench.cost import prices
from hpbench.dispatch import clock_record, early_launch, leftovers, local_ray
from hpbench.dispatch.announce import announce, preflight_step
from hpbench.dispatch.backend import (
    import_driver_modules,
    import_integrations,
    import_search_modules,
    init_ray,
)
from hpbench.dispatch.early_helper import warm_up_trainer
from hpbench.dispatch.eta import SearchClock
from hpbench.dispatch.helper import HelperProcess
from hpbench.dispatch.interrupt import Interrupt
from hpbench.dispatch.keep_weights import weights_keeper
from hpbench.dispatch.optuna_numbers import AskedTrials
from hpbench.dispatch.plan import (
    Plan,
    ResumeRefused,
    SearchOptions,
    check_same_data,
    data_record_or_none,
    plan_search,
    write_study_record,
)
from hpbench.dispatch.predictions import AsyncPredictions, unpriced
from hpbench.dispatch.search_phase import search
from hpbench.dispatch.storage import search_storage, sqlite_url
from hpbench.dispatch.study_lock import hold_study_name
from hpbench.dispatch.test_split import evaluate_best_on_test, untested
from hpbench.dispatch.trainable import study_data_or_none
from hpbench.preflight.problems import PreflightFailed
from hpbench.preflight.run import start as preflight_start
from hpbench.results.columns import param_dtypes
from hpbench.results.files import OPTUNA_DB, check_writable
from hpbench.results.lock import holding
from hpbench.results.store import ResultsStore
from hpbench.results.weights import INCOMING_DIR, drop_unrecorded
from hpbench.study.schema import Study
from hpbench.tracking import LOGGERS, Trackers

if TYPE_CHECKING:
    pass

# What the helper imports as it starts, while the driver loads the study's data: the pre-flight's
# network checks need them next (before, the helper sat idle until the data was checked, then
# spent ~1 s importing torch: the race's first trial began ~1 s later).
HELPER_PRELOAD = ("torch", "hpbench.models", "hpbench.train.tasks")
INTERRUPTED_WAIT_S = 2.0  # an interrupted search waits this long at most for the trials' cost predictions still in the helper

# Also importable from here (the CLI, the tests and the benchmarks start searches this way).
__all__ = ["Plan", "ResumeRefused", "SearchOptions", "init_ray", "plan_search", "run_search", "write_study_record"]


def run_search(study: Study, opts: SearchOptions, *, console: Console | None = None) -> ResultsStore:
    """Run the study; returns the final results store (tables already written).

    Continues an earlier run in ``opts.out``: its finished (and failed) trials are kept and
    not re-run, trials it left running run again as new trials, and the Optuna storage keeps
    the searcher's history. Holds the results directory's lock throughout, from before it reads
    the earlier run (:func:`plan_search`) to the end: a search still writing there refuses this
    one at once (:class:`~hpbench.results.lock.LockHeld`), and one that ended has written all it will.

    Before anything is written or Ray starts, the pre-flight checks (:mod:`hpbench.preflight`)
    load the data and try every distinct network: :class:`~hpbench.preflight.PreflightFailed`
    names every problem found."""
    console = console or Console(emoji=False)
    check_writable(opts.out)  # before the folder is made for its lock: an OutputError, not the OS's PermissionError
    made = not opts.out.exists()
    with holding(opts.out):
        try:
            return _planned(study, opts, plan_search(study, opts), console)
        except KeyboardInterrupt:
            if made:  # stopped before it recorded a trial: its files go, and the folder it made (hpbench.dispatch.leftovers)
                leftovers.drop_unrecorded(opts.out)
            raise


def _planned(study: Study, opts: SearchOptions, plan: Plan, console: Console) -> ResultsStore:
    """The search, planned under the folder's lock: its pre-flight, then the search itself."""
    if plan.n_new == 0 and not opts.repeats:  # nothing to run: no pre-flight, no helper
        return _locked(study, opts, plan, console, start=None)
    # The helper process (the network checks, then the cost predictions) loads torch while the
    # driver checks the data; once the data passed, the driver imports its next modules on
    # another thread while the helper tries the networks.
    early = early_launch.wanted(study, opts, plan) > 0
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
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
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
    # a shared Optuna storage: one live search per study name (hpbench.dispatch.study_lock); refused before anything
    # is written, the results folder made for the lock is removed (hpbench.results.lock.holding)
    name_held = hold_study_name(opts.optuna_storage, study.name) if opts.optuna_storage else contextlib.nullcontext()
    with name_held:
        store = _run_locked(study, opts, plan, console, start=start)
        keeper = weights_keeper(study, store)
        if keeper is not None:  # once more at the end: a resume with a smaller keep_weights trims the earlier run's files too
            keeper.prune(store.rows())
        return store


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
            search(study, opts, plan, console, store, predictions, trackers, stop, clock, storage=storage,
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
        if opts.storage_path is None:  # Tune's experiment folders, which hpbench never reads (hpbench.dispatch.leftovers)
            leftovers.drop_tune_storage(out)
    clock_record.record(clock, store, out=out)  # what this search measured, for the next estimate here
    return store


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
