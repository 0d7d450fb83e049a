"""The first trials, trained while Ray starts.

A local search spends its first seconds starting Ray and the trial workers (each a fresh Python
that imports Ray, Ray Tune and torch: ~9 s from the end of the pre-flight to the first result
measured here, benchmarks/startup.py). The prediction helper (:mod:`hpbench.dispatch.helper`)
has torch loaded by then (it tried the networks for the pre-flight). So the searcher's first
proposals (the study's ``enqueue`` points first, as Tune would run them) are asked from the same
Optuna study and storage as Ray Tune's ``OptunaSearch`` then uses, trained in the helper by the
same trainer, and recorded like any trial: the same rows in the tables (started, each epoch,
stop reason, final weights), told to Optuna with their intermediate values (so the searcher
learns from them), the cost columns predicted. Ray Tune runs the remaining trials, and these
points are not enqueued again. A built-in searcher draws each trial from the study seed and the
trial's number (:mod:`hpbench.space.by_trial`), on either side: what a trial draws does not depend
on how many early trials came before Tune's searcher; a plugin's draws on a stream apart from
theirs (:func:`~hpbench.dispatch.searchers.sampler_seed`).

They run one after another, each asked once the one before has ended (so the searcher and the
rungs know it); where the cost model says a stacked step pays, with siblings drawn beside it that
differ only in their learning rate and initialization, trained as one stacked model in one call
(:mod:`hpbench.dispatch.siblings`, :mod:`hpbench.dispatch.early_group`; ``[study] fuse_siblings``),
each member recorded as its own trial; until Tune's first trial reports (:meth:`EarlyTrials.stop`), or :func:`~hpbench.dispatch.early_launch.n_early_max`
of them ran. From Tune's searcher's build on, each takes one trial of the search's count from the
:class:`~hpbench.dispatch.searchers.Quota` it shares with Tune (:meth:`EarlyTrials.share`): until
session 11 they stopped at the searcher's build, and the helper sat idle while Tune's first two
workers started (the race's digits study: 9.7 -> 16.2 s from process start, benchmarks/timeline.py). Each is pruned at the study's ASHA rungs against the early
trials before it (:mod:`hpbench.dispatch.early_rungs`), as Tune's own trials are. The helper gets
the study's data as the driver prepared it (as Tune's workers do), and loads the trainer's
machinery while the driver sets the search up (:func:`warm_up_trainer`).

Measured on the race's digits study (benchmarks/race.py, 30 epochs) before this: the first early
trial began ~5 s after process start but its first epoch came at ~10 s: 1.4 s of CPU importing
scikit-learn to load the data a second time, 1.4 s building the first optimizer (torch imports
its compiler stack then); and the two early trials, unpruned, ran one configuration each.

When a search runs them, and how many: :mod:`hpbench.dispatch.early_launch`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from hpbench.dispatch.early_group import run_early_group
from hpbench.dispatch.early_helper import (
    CLAIM_PREFIX,
    EarlyRungs,
    claim,
    finished_by_trainer,
    replay_into,
    request_stop,
    run_early_trial,
    running_best,
    tell_ended,
)
from hpbench.dispatch.searchers import Quota
from hpbench.dispatch.siblings import ask_siblings, member_futures
from hpbench.study.schema import Study

EARLY_ID = "early_{:05d}"  # the trial ids of the early trials (Tune's look like 1a2b3_00000)
EARLY_PREFIX = EARLY_ID.split("{")[0]


@dataclass(kw_only=True)
class EarlyTrial:
    trial_id: str
    params: dict[str, Any]
    optuna_trial: Any
    future: Future[dict[str, Any]]
    recorded: bool = False
    begun: bool = False  # in the tables as started (:meth:`EarlyTrials.begin`)


@dataclass(kw_only=True)
class EarlyTrials:
    """The early trials of a search: launched by :func:`~hpbench.dispatch.early_launch.launch`, one after another, until
    :meth:`stop`; recorded by :meth:`harvest`. The next one is asked (from the Optuna study) on
    the helper's reader thread when the one before ends; every use of the Optuna study here
    holds ``lock`` (the driver's main thread tells it the ended ones)."""

    study: Study
    ostudy: Any  # the Optuna study they were asked from (the search's own storage)
    executor: Executor
    incoming: str
    n_min: int  # at least this many (:func:`~hpbench.dispatch.early_launch.n_early`): :meth:`stop` launches those still missing
    n_max: int  # at most this many
    points: list[dict[str, Any]] = field(default_factory=list)  # enqueued (or grid) points, run first
    data: tuple[Any, Any] | None = None  # the study's data as the driver prepared it, for the helper
    rungs: EarlyRungs | None = None
    trials: list[EarlyTrial] = field(default_factory=list)
    scheduler: Any = None  # the search's Tune scheduler, once built: told each early trial's reports (its rungs count them)
    quota: Any = None  # once Tune's searcher is built, the count each further one takes from (:meth:`share`)
    starter: Callable[[EarlyTrial], None] | None = None  # puts a launched trial in the tables (:meth:`begin`) before harvest records it
    n_points: int = 0  # how many of them ran the study's enqueued (or grid) points: the sampler drew the others
    lock: Any = field(default_factory=threading.RLock)
    stopped: bool = False
    tune_slots: int = 2  # trials Tune runs at once (the study's max_concurrent)
    tune_started: int = 0  # Tune trials started so far (:meth:`tune_trial_started`)
    _ended: threading.Condition = field(default_factory=threading.Condition)
    _settled: int = 0  # trials ended whose next launch is decided

    @property
    def params(self) -> list[dict[str, Any]]:
        return [t.params for t in self.trials]

    @property
    def draws_on(self) -> bool:
        """Whether an early trial still to be launched may be drawn from their sampler: one past the
        enqueued points, below ``n_max`` (``n_min`` once stopped: :meth:`stop` launches those still
        missing). A plugin's sampler for Tune, built beside it, then draws on another stream
        (:func:`~hpbench.dispatch.searchers.sampler_seed`)."""
        with self.lock:
            limit = self.n_min if self.stopped else self.n_max
            return len(self.trials) < limit and (len(self.points) < limit or self.study.settings.fuse_siblings > 1)  # siblings are draws

    def launch_next(self, *, force: bool = False) -> EarlyTrial | None:
        """Ask the next trial and submit it to the helper, unless stopped (and not ``force``), ``n_max``
        ran or (not ``force``) a trial is still running; with the siblings that train fused with it
        where the cost model says that pays (:func:`~hpbench.dispatch.siblings.ask_siblings`). Returns the first."""
        with self.lock:
            k = len(self.trials)
            if (self.stopped and not force) or k >= self.n_max or (not force and any(not t.future.done() for t in self.trials)):
                return None
            if self.tune_started >= self.tune_slots:
                return None  # Tune's trials hold every slot: one more here would train beside them (max_concurrent + 1)
            if self.quota is not None and self.n_points < len(self.points):
                # Tune's searcher has the points not launched yet (:meth:`share`), enqueued: launched here too,
                # one would run twice (Optuna's ask takes the oldest enqueued trial, whoever enqueued it)
                return None
            if self.quota is not None and not self.quota.take():
                return None
            if self.n_points < len(self.points):  # (siblings take trial numbers between the points)
                self.ostudy.enqueue_trial(self.study.space.encode(self.points[self.n_points]))
                self.n_points += 1
            trial = self.ostudy.ask()
            params = self.study.space.define_by_run(trial)
            group = [(trial, params), *ask_siblings(self.study, self.ostudy, params, n=self.n_max - k, quota=self.quota)]
            data = self.data if k == 0 else None  # the helper keeps it (hpbench.data.prepare.prime): ~0.5 MB for digits
            ids = [EARLY_ID.format(k + i) for i in range(len(group))]
            try:
                submit = getattr(self.executor, "submit_first", self.executor.submit)  # before the queued cost predictions
                if len(group) == 1:
                    futs = [submit(run_early_trial, self.study, params, self.incoming, data=data, rungs=self.rungs, claim_file=self.claim_file(ids[0]))]
                else:
                    futs = member_futures(submit(run_early_group, self.study, [p for _, p in group], self.incoming, data=data, rungs=self.rungs,
                                         claim_files=[self.claim_file(i) for i in ids]), len(group))
            except RuntimeError:  # the helper was shut down (the search ended): the chain ends here
                from optuna.trial import TrialState

                for t_, _ in group:
                    self.ostudy.tell(t_, state=TrialState.FAIL)
                self.stopped = True
                return None
            launched = [EarlyTrial(trial_id=i, params=p, optuna_trial=t_, future=f) for i, (t_, p), f in zip(ids, group, futs, strict=True)]
            owned_by = getattr(self.ostudy._storage, "owned_by", None)  # told once its row's end is on disk (hpbench.dispatch.write_behind)
            for t in launched:
                if owned_by is not None:
                    owned_by(t.optuna_trial._trial_id, t.trial_id)
            self.trials.extend(launched)
        for t in launched:
            t.future.add_done_callback(self._on_end)
        return launched[0]

    def claim_file(self, trial_id: str) -> str:
        """Where the helper (as it begins the trial) or the driver (a Ctrl-C before it began) claims it."""
        return os.path.join(self.incoming, CLAIM_PREFIX + trial_id)

    def _release(self, t: EarlyTrial) -> None:
        """Remove ``t``'s claim once it is recorded and the helper is done with its call (till then a
        claim decides who owns the trial: the driver recorded it, or the helper runs it)."""
        if t.recorded and t.future.done():
            with contextlib.suppress(OSError):
                os.remove(self.claim_file(t.trial_id))

    def _on_end(self, fut: Future[dict[str, Any]]) -> None:
        """A trial ended (on the helper's reader thread): its objectives join the rungs, the next is launched."""
        for t in [t for t in list(self.trials) if t.future is fut]:
            self._release(t)
        try:
            if not fut.cancelled() and fut.exception() is None:
                with self.lock:
                    if self.rungs is not None:
                        outcome = fut.result()
                        self.rungs = self.rungs.with_trial(running_best(outcome["rows"], self.study), finished=finished_by_trainer(outcome))
                self.launch_next()
        finally:
            with self._ended:
                self._settled += 1  # after launch_next: settled == len(trials) means no launch to come
                self._ended.notify_all()

    def share(self, n_new: int, start: Callable[[EarlyTrial], None]) -> Quota:
        """Tune's searcher is built now: the search's ``n_new`` trials less those launched so far are
        left to Tune and to the early trials launched from now on (the quota they share), which
        ``start`` puts in the tables as they are harvested. Points (enqueued, a grid's) not launched
        yet are Tune's searcher's: the early trials stop here then."""
        with self.lock:
            self.quota, self.starter = Quota(n_new - len(self.trials)), start
            if self.n_points < len(self.points):
                self.stopped = True
            return self.quota

    def tune_trial_started(self) -> None:
        """A Tune trial started (its worker sets up, then trains): once as many started as Tune runs
        at once, no early trial is launched (:meth:`launch_next`, :meth:`stop`'s ``n_min`` included:
        Tune's searcher takes the count they leave). Before, the next early trial followed the one
        before until Tune's first trial reported, which with epochs of seconds came long after
        Tune's two trials trained: three trials trained at once on two cores, a third of a
        transformer search (bug hunt s48/h4; the second of ``n_min = 2`` still was, s50/h1). The
        early trial running then goes on to its end."""
        with self.lock:
            self.tune_started += 1

    def stop(self) -> list[EarlyTrial]:
        """Launch no more (Tune's first trial reported, or the search ends), but the ``n_min`` at
        least, at once (Tune was up before they could follow each other), unless the next is a point
        Tune's searcher has or Tune's trials hold every slot (:meth:`launch_next`); returns the
        trials launched."""
        with self.lock:
            self.stopped = True
            while len(self.trials) < self.n_min and self.launch_next(force=True) is not None:
                pass
            return list(self.trials)

    def begin(self, start: Callable[[EarlyTrial], None]) -> None:
        """``start(trial)`` for each launched trial not begun yet, in launch order (the search puts
        them in its tables: before :meth:`harvest` records them)."""
        with self.lock:
            new = [t for t in self.trials if not t.begun]
            for t in new:
                t.begun = True
        for t in new:
            start(t)

    def harvest(self, record: Any, *, wait: bool = False, interrupted: Callable[[], bool] | None = None) -> list[str]:
        """Record the ended early trials through ``record(trial_id, outcome)`` and tell Optuna; with
        ``wait``, every one, those launched meanwhile too. Once ``interrupted()`` (Ctrl-C), none is
        launched any more, the running one stops after its epoch (:func:`request_stop`: the wait
        is one epoch, not the rest of the trial), its epochs kept (``outcome["interrupted"]``), and
        one still queued in the helper never starts (the driver claims it: :func:`claim`): it is
        recorded interrupted with no epochs at once, without waiting for the calls ahead of it.
        Returns their ids."""
        done: list[str] = []
        stop_file = None
        try:
            while True:
                if self.starter is not None:
                    self.begin(self.starter)  # launched since the last harvest: in the tables before they are recorded
                if stop_file is None and interrupted is not None and interrupted():
                    with self.lock:
                        self.stopped = True
                    stop_file = request_stop(self.incoming)
                with self._ended:
                    queued = [t for t in self.trials if stop_file is not None and not t.recorded and not t.future.done()]
                    ready = [t for t in self.trials if not t.recorded and t.future.done()]
                    settled = self._settled == len(self.trials)
                for t in queued:
                    if claim(self.claim_file(t.trial_id)):  # before the helper began it: it never will
                        now = time.time()
                        self._record(t, record, outcome={"rows": [], "error": None, "weights_file": None, "interrupted": True,
                                                         "started_at": now, "ended_at": now})
                        done.append(t.trial_id)
                for t in ready:
                    self._record(t, record)
                    done.append(t.trial_id)
                if not wait or (settled and not ready) or (stop_file is not None and all(t.recorded for t in self.trials)):
                    return done
                if not ready:
                    with self._ended:
                        self._ended.wait(timeout=0.5)
        finally:
            if stop_file is not None:
                with contextlib.suppress(OSError):
                    os.remove(stop_file)

    def _record(self, t: EarlyTrial, record: Any, *, outcome: dict[str, Any] | None = None) -> None:
        """Record ``t``: its helper call's outcome, or ``outcome`` (one it never started)."""
        try:
            outcome = outcome or t.future.result()
        except Exception as err:  # the helper died: the trial failed
            outcome = {"rows": [], "error": f"{type(err).__name__}: {err}"}
        t.recorded = True
        self._release(t)
        record(t.trial_id, outcome)
        best = running_best(outcome["rows"], self.study)
        with self.lock, contextlib.suppress(Exception):  # the searcher's history only: the tables have the trial
            tell_ended(self.ostudy, t.optuna_trial, outcome, best, metric=self.study.settings.metric)
        replay_into(self.scheduler, t.trial_id, t.params, best,
                    stop_reason=outcome["rows"][-1]["stop_reason"] if finished_by_trainer(outcome) else None)
