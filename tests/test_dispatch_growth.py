"""What the driver does per trial must not grow with the study (issue 20 §4): the in-run
correction kept as running sums, the live ETA's count of ended trials, and the choice of the next
trial to run over the live trials. Each gives what a pass over every trial gives, without one.
No Ray runtime (Tune's FIFOScheduler and Trial statuses are imported, nothing is started)."""

from __future__ import annotations

import random
import statistics
from concurrent.futures import Future

import pytest

from hpbench.cost.correct import RunningFactors, scale_factors
from hpbench.results.status import DONE
from hpbench.results.store import ResultsStore

REL = 1e-9  # float64 running sums against fsum over the same values


def _same_factors(got, want) -> None:
    assert set(got) == set(want)
    for k, c in want.items():
        g = got[k]
        assert (g.n_trials, g.regime) == (c.n_trials, c.regime)
        assert g.factor == pytest.approx(c.factor, rel=REL) and g.per_trial == pytest.approx(c.per_trial, rel=REL)


def test_running_factors_equal_scale_factors_as_observations_come_and_go():
    rng = random.Random(1)
    running, held = RunningFactors(), {}
    for step in range(600):
        key = f"t{rng.randrange(60)}"
        kind = rng.randrange(6)
        if kind == 0:
            obs = None  # the trial has no observation any more (e.g. it started again)
        elif kind == 1:
            obs = (rng.choice(["compute", "memory"]), rng.choice([0.0, -1.0, float("nan")]), 1.0)  # invalid: never counts
        else:
            obs = (rng.choice(["compute", "memory", "overhead-bound"]), rng.uniform(0.1, 3), rng.uniform(0.1, 3), rng.random() < 0.8)
        running.set(key, obs)
        if obs is None:
            held.pop(key, None)
        else:
            held[key] = obs
        _same_factors(running.factors(), scale_factors(list(held.values())))
        if step == 5:
            assert running.factors() == {} or len(held) >= 4
    assert len(scale_factors(list(held.values()))) >= 2  # the walk reached per-regime factors


def test_the_corrections_follow_the_store_reading_only_its_changes(tmp_path):
    from hpbench.dispatch.corrections import Corrections, corrected_columns, ended_pairs
    from hpbench.dispatch.early import EARLY_ID

    rng = random.Random(2)
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["lr"])
    corrections = Corrections()
    ids: list[str] = []
    corrected = 0
    for step in range(500):
        if not ids or rng.random() < 0.3:
            tid = EARLY_ID.format(step) if rng.random() < 0.1 else f"tune_{step}"
            ids.append(tid)
            store.start(tid, {"lr": 0.1})
        tid = rng.choice(ids)
        event = rng.randrange(4)
        if event == 0:
            store.epoch(tid, {"epoch": 1, "epoch_s": rng.uniform(0.1, 2), "val_accuracy": 0.5})
        elif event == 1:
            store.finish(tid)
        elif event == 2:
            store.annotate(tid, {"predicted_spent_s": rng.choice([rng.uniform(0.1, 2), None]), "regime": rng.choice(["compute", "memory"])})
        else:
            store.start(tid, {"lr": 0.2})  # started again: its observation goes
        _same_factors(corrections.factors(store), scale_factors(ended_pairs(store)))
        columns = {"predicted_s": 1.5, "regime": "compute"}
        got, want = corrected_columns(store, columns, corrections=corrections), corrected_columns(store, columns)
        assert got.keys() == want.keys() and got.get("correction") == want.get("correction")
        assert got.get("corrected_s", 0.0) == pytest.approx(want.get("corrected_s", 0.0), rel=REL)
        corrected += "correction" in got
    # the walk reached corrected predictions (a trial that ended before its first epoch measured no
    # train_s, so it is no pair: 7 of this walk's ended trials are)
    assert len(ended_pairs(store)) >= 5 and corrected > 100
    # what a read costs: the entries changed since the last one, not every ended trial
    cursor, _ = store.ended_costs_since(0)
    done = next(t for t in ids if store.row(t).get("status") in DONE and "predicted_spent_s" in store.row(t))
    store.annotate(done, {"predicted_spent_s": 9.0})
    cursor2, changed = store.ended_costs_since(cursor)
    assert changed == [(done, dict(store.ended_costs())[done])] and cursor2 == cursor + 1
    assert store.ended_costs_since(cursor2) == (cursor2, [])


def test_the_etas_count_of_ended_trials_equals_a_pass(tmp_path, write_study):
    from conftest import TINY_STUDY

    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 300")))
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=300)
    plan: Future[list[float]] = Future()
    plan.set_result([1.0] * 16)
    sc.plan = plan
    rng = random.Random(3)
    running: list[str] = []
    for i in range(300):
        tid = f"t{i}"
        sc.trial_started(tid)
        if rng.random() < 0.9:  # the clock may hear of a trial before the store has its row
            store.start(tid, {"optimizer": "adam", "lr": 0.01})
            running.append(tid)
        if rng.random() < 0.05 and running:
            sc.trial_started(rng.choice(running))  # started again (a retry) before it ended: each start counts
        while running and rng.random() < 0.6:
            end = running.pop(rng.randrange(len(running)))
            store.epoch(end, {"epoch": 1, "epoch_s": 0.1, "val_accuracy": 0.5})
            store.finish(end, error="boom" if rng.random() < 0.1 else None)
            sc.note(store)
        by_pass = sum(1 for t in sc.trials["search"] if t in store and store.row(t).get("status") in DONE)
        assert sc._ended.count(store, "search", sc.trials["search"]) == by_pass
    assert 0 < by_pass < 300 and sc.trace  # some still running; the trace was written
    assert len(sc._ended._open["search"]) < 60  # it keeps the trials not ended, not every trial


class _Trial:
    def __init__(self, trial_id: str, status: str) -> None:
        self.trial_id, self.status, self.config = trial_id, status, {}


class _Controller:
    """Tune's controller as a scheduler sees it: its list of trials, in its order, and its live ones."""

    def __init__(self) -> None:
        self.trials: list[_Trial] = []
        self.scans = 0

    def get_trials(self) -> list[_Trial]:
        self.scans += 1
        return self.trials

    def get_live_trials(self) -> set[_Trial]:  # Tune keeps this set as trials start and end
        return {t for t in self.trials if t.status not in ("TERMINATED", "ERROR")}


def test_the_next_trial_is_fifos_choice_from_the_live_trials():
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import FIFOScheduler

    from hpbench.dispatch.schedulers import QueueOrder, queue_order

    fifo = FIFOScheduler()
    scheduler = queue_order(FIFOScheduler())
    assert isinstance(scheduler.choose_trial_to_run.__self__, QueueOrder)
    tc = _Controller()
    rng = random.Random(4)
    statuses = [Trial.RUNNING, Trial.PAUSED, Trial.TERMINATED, Trial.TERMINATED, Trial.ERROR]
    chosen = {Trial.PENDING: 0, Trial.PAUSED: 0, None: 0}
    for step in range(800):
        kind = rng.random()
        if kind < 0.1 or not tc.trials:  # Tune adds a trial: appended, then the scheduler hears of it
            trial = _Trial(f"{rng.getrandbits(32):08x}_{step}", Trial.PENDING)
            tc.trials.append(trial)
            scheduler.on_trial_add(tc, trial)
        elif kind < 0.13:  # a failed trial requeued: moved to the end of the list, added again
            trial = rng.choice(tc.trials)
            trial.status = Trial.PENDING
            tc.trials.remove(trial)
            tc.trials.append(trial)
            scheduler.on_trial_add(tc, trial)
        else:
            rng.choice(tc.trials).status = rng.choice(statuses)
        scans = tc.scans
        ours = scheduler.choose_trial_to_run(tc)
        assert tc.scans == scans  # no pass over every trial of the run
        assert ours is fifo.choose_trial_to_run(tc)
        chosen[ours.status if ours is not None else None] += 1
    assert min(chosen.values()) >= 5, chosen  # the walk chose pending trials, paused ones, and none


def test_only_fifos_choice_is_replaced():
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    from hpbench.dispatch.schedulers import QueueOrder, queue_order

    asha = queue_order(ASHAScheduler(metric="m", mode="max"))  # ASHA inherits FIFO's choice
    assert isinstance(asha.choose_trial_to_run.__self__, QueueOrder) and isinstance(asha.on_trial_add.__self__, QueueOrder)

    class Own(TrialScheduler):  # a plugin's scheduler with its own choice keeps it
        def choose_trial_to_run(self, tune_controller):
            return None

    own = Own()
    assert queue_order(own) is own and "choose_trial_to_run" not in vars(own) and "on_trial_add" not in vars(own)


def test_the_parts_after_a_search_without_repeats_or_devices_depend_on_no_trial(tmp_path, write_study):
    """The live ETA prices the phases after the search from one configuration when there are no
    repeats and no other devices (it simulated every trial of the study for them at each pricing):
    the wall-time model gives those parts the same seconds whatever the trials."""
    from conftest import TINY_STUDY

    from hpbench.cost.estimate import search_plan, trial_plan
    from hpbench.cost.figures import Figures
    from hpbench.cost.walltime import predict
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    rng = random.Random(5)
    plans = [trial_plan(study, {}, epoch_s=rng.uniform(0.01, 3.0)) for _ in range(300)]

    def after(ps, repeats=0):
        w = predict(search_plan(study, ps, cpus=2, repeats=repeats, device_plans=[], command=True, n_search=300), figures=Figures(), contention=1.3, seeds=4)
        return w.repeats_s + w.devices_s + w.test_s + w.report_s + w.exit_s

    assert after(plans) == pytest.approx(after(plans[:1]), rel=1e-12)
    assert after(plans, repeats=3) != pytest.approx(after(plans[1:2], repeats=3), rel=1e-3)  # with repeats they do: no cap there
    sc = SearchClock(study=study, n_trials=300)
    assert sc._after_s(Figures(), 1.3, [p.epoch_s for p in plans]) == pytest.approx(sc._after_s(Figures(), 1.3, [plans[7].epoch_s]), rel=1e-12)


def test_tune_takes_its_experiment_snapshot_only_when_forced(ray_local, tmp_path):
    """hpbench never restores from Tune's experiment snapshot: Tune's controller gets a period no
    search reaches (each periodic snapshot serialized every trial, and Tune kept every trial's
    JSON in the driver from then on)."""
    from ray.train._internal.storage import StorageContext
    from ray.tune.execution.tune_controller import TuneController

    from hpbench.dispatch.backend import TUNE_ENV

    controller = TuneController(storage=StorageContext(storage_path=str(tmp_path), experiment_dir_name="x"))
    assert controller._checkpoint_manager._checkpoint_period == float(TUNE_ENV["TUNE_GLOBAL_CHECKPOINT_S"]) >= 86400


class _CountedItems(dict):
    """A dict that counts the passes over its items."""

    passes = 0

    def items(self):  # type: ignore[override]
        type(self).passes += 1
        return super().items()


@pytest.mark.parametrize("n", [20, 200])
def test_trial_times_reads_the_epoch_rows_once_whatever_the_study_size(tmp_path, n):
    """timings.trial_times at a search's end: the same times as sorting every epoch row for each
    trial (what it did: O(n^2 log n) at 2,000 trials), from one pass over the rows."""
    from hpbench.dispatch.timings import trial_times

    rng = random.Random(n)
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["lr"])
    ids = [f"t{i:04d}" for i in range(n)]
    epochs = {t: rng.randint(1, 4) for t in ids}
    for t in ids:
        store.start(t, {"lr": 0.01})
    events = [(t, e) for t in ids for e in range(1, epochs[t] + 1)]
    rng.shuffle(events)  # the trials' epochs arrive interleaved...
    events.sort(key=lambda te: te[1])  # ... each trial's in order
    for t, e in events:
        store.epoch(t, {"epoch": e, "epoch_s": rng.uniform(0.01, 1.0), "val_accuracy": rng.random()})
    for t in ids[: n - 3]:  # three still running: left out
        store.finish(t)
    want_epoch_s = {t: [float(r.get("epoch_s") or 0.0) for (tid, _), r in sorted(store.epochs.items()) if tid == t] for t in ids}
    store.epochs = _CountedItems(store.epochs)
    _CountedItems.passes = 0
    got = trial_times(store, ids, max_epochs=lambda t: 4)
    assert _CountedItems.passes == 1
    assert [g.epochs for g in got] == [epochs[t] for t in ids[: n - 3]]
    for g, t in zip(got, ids[: n - 3], strict=True):
        assert g.first_epoch_s == want_epoch_s[t][0]
        assert g.later_epoch_s == (statistics.median(want_epoch_s[t][1:]) if epochs[t] > 1 else None)


def _controller(trials):
    """The state of Tune's controller that WrittenTrials reads and changes, as plain containers."""
    from types import SimpleNamespace

    return SimpleNamespace(_trials=list(trials), _stopped_trials={t for t in trials if t.status == "TERMINATED"},
                           _failed_trials={t for t in trials if t.status == "ERROR"}, _trials_to_cache=set(trials),
                           _trial_metadata={t.trial_id: "{}" for t in trials}, _live_trials={t for t in trials if t.status == "RUNNING"},
                           _trial_to_actor={}, _staged_trials=set(), _cached_trial_decisions={}, _queued_trial_decisions={}, _stop_queue=[])


class _Trial:
    def __init__(self, trial_id: str, status: str) -> None:
        self.trial_id, self.status = trial_id, status

    def __repr__(self) -> str:
        return self.trial_id


def test_ended_trials_are_dropped_from_every_holder_once_tune_no_longer_acts_on_them():
    from hpbench.dispatch.written_trials import WrittenTrials

    done, failed, cached, decided, running = (_Trial("done", "TERMINATED"), _Trial("failed", "ERROR"), _Trial("cached", "TERMINATED"),
                                              _Trial("decided", "TERMINATED"), _Trial("running", "RUNNING"))
    c = _controller([done, failed, cached, decided, running])
    tune_list = c._trials  # the list Tune hands its callbacks: changed in place
    c._trial_to_actor[cached] = "actor"  # its actor not yet released
    c._cached_trial_decisions[decided.trial_id] = "STOP"
    ended = WrittenTrials()
    for t in (done, failed, cached, decided):
        ended.note(t)
    wrapper = type("Wrapper", (), {})()
    wrapper._tune_controller = c  # what Tune hands its schedulers
    assert ended.sweep(wrapper) == 2 and ended.dropped == 2
    assert c._trials is tune_list and tune_list == [cached, decided, running]
    assert c._stopped_trials == {cached, decided} and c._failed_trials == set()
    assert c._trials_to_cache == {cached, decided, running} and set(c._trial_metadata) == {"cached", "decided", "running"}
    assert ended.waiting == [cached, decided]
    del c._trial_to_actor[cached], c._cached_trial_decisions[decided.trial_id]
    assert ended.sweep(c) == 2 and tune_list == [running] and ended.waiting == [] and ended.sweep(c) == 0


def test_ended_trials_leave_a_controller_without_the_expected_state_as_it_is():
    """Another Ray version, other private names: nothing dropped, nothing raised."""
    from hpbench.dispatch.written_trials import WrittenTrials

    done = _Trial("done", "TERMINATED")
    c = _controller([done])
    del c._trials_to_cache
    ended = WrittenTrials()
    ended.note(done)
    assert ended.sweep(c) == 0 and c._trials == [done] and ended.waiting == [done]


def test_the_driver_keeps_no_per_trial_state_of_ended_trials_that_tune_and_optuna_never_read(ray_local, tmp_path, monkeypatch):
    """Tune asks each trial's actor for its auto-filled metrics as the trial starts and keeps the
    reply's ``ray.ObjectRef`` in the Trial for the whole run (with the reply in the driver's object
    store), though it reads it only while the trial has reported nothing: the recorder drops it, and
    Tune's running metric statistics, when the trial ends. Counted over every trial that ended.
    Likewise the searcher's optuna Trial of each told trial."""
    from io import StringIO

    from conftest import TINY_STUDY
    from rich.console import Console

    import hpbench.dispatch.search_phase as search_phase
    from hpbench.dispatch.recorder import Recorder
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    seen: list = []  # every trial Tune ended, as its callbacks receive it
    ended = Recorder.on_trial_complete

    def complete(self, iteration, trials, trial, **info):
        seen.append(trial)
        ended(self, iteration, trials, trial, **info)

    monkeypatch.setattr(Recorder, "on_trial_complete", complete)
    searchers: list = []
    make = search_phase.make_searcher
    monkeypatch.setattr(search_phase, "make_searcher", lambda *a, **kw: searchers.append(make(*a, **kw)) or searchers[-1])
    src = tmp_path / "study.toml"
    src.write_text(TINY_STUDY.replace("trials = 4", "trials = 6").replace("max_epochs = 3", "max_epochs = 1"))
    store = run_search(load_study(src), SearchOptions(out=tmp_path / "out", num_cpus=2, early_trials=False), console=Console(file=StringIO()))
    trials = seen
    assert len(trials) == 6 and all(t.status == "TERMINATED" for t in trials)
    assert all(t.run_metadata.last_result.get("epoch") == 1 for t in trials)  # the trial's own last report stays
    held = [t for t in trials if isinstance(t._default_result_or_future, ray_local.ObjectRef)]
    assert held == []  # before: one per trial
    assert all(not t.run_metadata.metric_analysis for t in trials)
    assert sum(1 for r in store.rows() if r["status"] == "finished") == 6
    # Ray's OptunaSearch keeps each trial's optuna Trial: told trials are dropped (the storage keeps them)
    (searcher,) = searchers
    assert len(searcher._completed_trials) == 6 and searcher._ot_trials == {} and searcher._last_step == {}
    assert len(searcher._ot_study.trials) == 6


@pytest.mark.parametrize(("searcher", "scheduler", "epochs"), [("random", "none", 1), ("tpe", "asha", 3)])  # and hpbench's defaults
def test_tune_lets_go_of_the_trials_the_recorder_wrote_while_the_search_runs(ray_local, tmp_path, monkeypatch, searcher, scheduler, epochs):
    """Tune's controller keeps every Trial of a run until ``fit()`` returns (its list of trials, its
    stopped trials, its trials to snapshot): the scheduler drops those the recorder wrote once Tune
    no longer acts on them. At the last trial's end, of the trials that ended before the last one
    started none is still alive (weak references after a collection), and Tune's own list of
    trials, as its callbacks receive it, holds only the last few; every trial is in the tables."""
    import gc
    import weakref
    from io import StringIO

    from conftest import TINY_STUDY
    from rich.console import Console

    from hpbench.dispatch.recorder import Recorder
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    n = 10
    refs: list = []  # a weak reference to each trial Tune ended, in the order they ended
    starts: list = []  # how many had ended when each trial started
    at_last: dict = {}
    ended, started = Recorder.on_trial_complete, Recorder.on_trial_start

    def on_start(self, iteration, trials, trial, **info):
        starts.append(len(refs))
        started(self, iteration, trials, trial, **info)

    def complete(self, iteration, trials, trial, **info):
        ended(self, iteration, trials, trial, **info)
        refs.append(weakref.ref(trial))
        if len(refs) == n:
            gc.collect()
            before_last = refs[: max(starts)]  # ended before the last trial started
            at_last.update(alive=sum(r() is not None for r in before_last), of=len(before_last), tune_list=len(trials))

    monkeypatch.setattr(Recorder, "on_trial_complete", complete)
    monkeypatch.setattr(Recorder, "on_trial_start", on_start)
    src = tmp_path / "study.toml"
    src.write_text(TINY_STUDY.replace("trials = 4", f"trials = {n}").replace("max_epochs = 3", f"max_epochs = {epochs}")
                   .replace('searcher = "random"', f'searcher = "{searcher}"').replace('scheduler = "none"', f'scheduler = "{scheduler}"'))
    store = run_search(load_study(src), SearchOptions(out=tmp_path / "out", num_cpus=2, early_trials=False), console=Console(file=StringIO()))
    assert sum(1 for r in store.rows() if r["status"] == "finished") == n
    assert at_last["of"] >= n - 3  # concurrency 2: the last trial started after at least n - 3 had ended
    assert at_last["alive"] == 0  # before: every one (Tune held them all)
    assert at_last["tune_list"] <= 3  # before: n
