"""The first trials, trained in the helper while Ray starts (hpbench.dispatch.early): which searches
qualify (in memory), the trials asked from a real Optuna storage and trained in a real helper
process without Ray (slow), and a real search whose early trials are recorded like any trial."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest

from hpbench.dispatch.early import EARLY_ID
from hpbench.dispatch.early_launch import n_early
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY

ENQUEUED = TINY_STUDY.replace('max_concurrent = 2', 'max_concurrent = 2\nenqueue = [{ optimizer = "adam", lr = 0.01 }]')


def qualifies(study, **change) -> int:
    kw = {"n_new": 8, "fresh": True, "local": True, "budget": False, "shared_storage": False, **change}
    return n_early(study, **kw)


def test_only_fresh_local_cpu_searches_without_budget_or_retries_train_early(write_study):
    study = load_study(write_study(TINY_STUDY))
    assert qualifies(study) == 2  # as many as run at once, at most 2
    assert qualifies(study, n_new=3) == 0  # too small to gain
    assert qualifies(study, n_new=4) == 2
    for change in ({"fresh": False}, {"local": False}, {"budget": True}, {"shared_storage": True}):
        assert qualifies(study, **change) == 0, change
    retried = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 2\nmax_failures = 1"), name="r.toml"))
    assert qualifies(retried) == 0  # only Tune retries a failed trial from its checkpoint
    one = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 1"), name="one.toml"))
    assert qualifies(one) == 1
    gpu = dataclasses.replace(study, resources=dataclasses.replace(study.resources, gpus_per_trial=1.0))
    assert qualifies(gpu) == 0


@pytest.mark.slow
def test_early_trials_are_asked_from_the_storage_trained_in_the_helper_and_told(write_study, tmp_path: Path):
    import optuna

    from hpbench.dispatch.early_launch import launch
    from hpbench.dispatch.helper import HelperProcess
    from hpbench.dispatch.storage import open_storage, sqlite_url

    study = load_study(write_study(ENQUEUED))
    storage = open_storage(sqlite_url(tmp_path / "optuna.db"))
    helper = HelperProcess()
    try:
        early = launch(study, n=2, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0), points=[{"optimizer": "adam", "lr": 0.01}],
                       executor=helper, incoming=str(tmp_path / "incoming"))
        recorded: dict[str, dict] = {}
        assert [t.trial_id for t in early.trials] == [EARLY_ID.format(0)]  # the next is asked once it ended
        assert early.harvest(lambda tid, outcome: recorded.setdefault(tid, outcome), wait=True) == [EARLY_ID.format(0), EARLY_ID.format(1)]
        assert [t.trial_id for t in early.trials] == list(recorded)
        assert early.params[0] == {"optimizer": "adam", "lr": 0.01}  # the enqueued point first
    finally:
        helper.shutdown()
    assert early.harvest(lambda tid, outcome: None, wait=True) == []  # each is recorded once
    for tid, outcome in recorded.items():
        assert outcome["error"] is None and [r["epoch"] for r in outcome["rows"]] == [1, 2, 3], tid  # max_epochs = 3
        assert Path(outcome["weights_file"]).is_file() and outcome["ended_at"] >= outcome["started_at"]
    told = optuna.load_study(study_name=study.name, storage=storage).trials
    assert [t.state.name for t in told] == ["COMPLETE", "COMPLETE"]
    for t, tid, params in zip(told, recorded, early.params, strict=True):
        best = max(r["val_accuracy"] for r in recorded[tid]["rows"])
        assert t.value == pytest.approx(best, rel=1e-5) and sorted(t.intermediate_values) == [1, 2, 3]
        assert study.space.resolve(t.params) == params  # Optuna holds the configuration that trained


@pytest.mark.slow
def test_a_search_records_its_early_trials_like_any_trial(ray_local, tmp_path: Path):
    import optuna

    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search

    path = tmp_path / "e.toml"
    path.write_text(ENQUEUED.replace("trials = 4", "trials = 6"))
    study = load_study(path)
    run_search(study, SearchOptions(out=tmp_path / "out"))
    trials = hpbench.load(tmp_path / "out").sort_values("trial")
    epochs = hpbench.load(tmp_path / "out", table="epochs")
    assert len(trials) == 6 and trials["trial"].tolist() == list(range(6))
    early = trials[trials["trial_id"].str.startswith("early_")]
    assert early["trial"].tolist() == [0, 1] and (early["status"] == "finished").all()
    assert (early["optimizer"].iloc[0], early["lr"].iloc[0]) == ("adam", 0.01)  # the enqueued point, run once
    assert ((trials["optimizer"] == "adam") & (trials["lr"] == 0.01)).sum() == 1
    per_trial = epochs.groupby("trial")["epoch"].max().sort_index()
    assert per_trial.tolist() == trials["epochs"].tolist()  # every trial's epochs, the early ones' too
    assert early["predicted_s"].notna().all() and early["best_val_accuracy"].notna().all()
    tune = trials[~trials["trial_id"].str.startswith("early_")]
    for col in ("node_ip", "hostname", "node_id"):  # where it ran, as Ray records a Tune trial's: this machine's node
        assert early[col].notna().all() and set(early[col]) == set(tune[col]), (col, trials[col])
    assert early["pid"].notna().all() and not set(early["pid"]) & set(tune["pid"])  # the helper, not a Tune worker
    assert all((tmp_path / "out" / "weights" / f"{n}.pt").is_file() for n in early["trial"])
    told = optuna.load_study(study_name=study.name, storage=f"sqlite:///{tmp_path / 'out' / 'optuna.db'}").trials
    assert len(told) == 6 and all(t.state.name == "COMPLETE" for t in told)


@pytest.mark.slow
def test_the_cli_opts_out(ray_local, tmp_path: Path):
    from typer.testing import CliRunner

    import hpbench
    from hpbench.cli import app

    path = tmp_path / "o.toml"
    path.write_text(TINY_STUDY)
    res = CliRunner().invoke(app, ["search", str(path), "--out", str(tmp_path / "out"), "--no-early-trials"])
    assert res.exit_code == 0, res.output
    trials = hpbench.load(tmp_path / "out")
    assert len(trials) == 4 and not trials["trial_id"].str.startswith("early_").any()
    # nothing enqueued: Tune's searcher proposes the default configuration first (hpbench.space.defaults), once;
    # the trial numbers follow the order the trials started, which the first two, made at once, may swap
    default = trials[(trials["optimizer"] == "adam") & ((trials["lr"] - 1e-3).abs() < 1e-12)]
    assert default["trial"].tolist() in ([0], [1]), trials[["trial", "optimizer", "lr"]]


def test_early_trials_count_at_ashas_rungs():
    """Replayed into Ray's ASHA (no Ray runtime), an early trial's objective is recorded at every
    rung it reached, so the next trial below it is pruned at the first rung."""
    pytest.importorskip("ray")
    from hpbench.dispatch.early import replay_into
    from hpbench.strategies import SCHEDULERS

    sched = SCHEDULERS.get("asha").build(metric="objective", mode="max", max_t=30, time_attr="epoch", grace_period=1, reduction_factor=3)
    replay_into(sched, "early_00000", {"lr": 0.01}, [(1, 0.9), (2, 0.92), (3, 0.95), (4, 0.95)])
    replay_into(sched, "early_00001", {"lr": 0.02}, [(1, 0.8), (2, 0.85)])
    rungs = {m: dict(recorded) for m, recorded in sched._brackets[0]._rungs}
    assert rungs[1] == {"early_00000": 0.9, "early_00001": 0.8} and rungs[3] == {"early_00000": 0.95} and rungs[9] == {}

    class Trial:
        trial_id, config = "tune_0", {"lr": 0.1}

    sched.on_trial_add(None, Trial())
    assert sched.on_trial_result(None, Trial(), {"epoch": 1, "objective": 0.5}) == "STOP"
    replay_into(None, "early_00002", {}, [(1, 0.5)])  # no scheduler (yet): nothing to tell
    replay_into(sched, "early_00003", {}, [])  # a trial without a finite value is not told
    assert all("early_00003" not in recorded and "early_00002" not in recorded for _, recorded in sched._brackets[0]._rungs)


@pytest.mark.slow
def test_early_trials_of_enqueued_points_leave_the_searchers_draws_as_they_were(ray_local, tmp_path: Path):
    """The early trials run enqueued points, which the sampler does not draw: the search then
    runs the same configurations as without early trials (random search: its draws depend on the
    seed only)."""

    path = tmp_path / "two.toml"
    path.write_text(TINY_STUDY.replace("max_concurrent = 2", 'max_concurrent = 2\nenqueue = [{ optimizer = "adam", lr = 0.01 }, '
                                       '{ optimizer = "sgd", lr = 0.05 }]').replace("trials = 4", "trials = 6"))
    configs, n_early = _with_and_without_early_trials(path, tmp_path)
    # the first point runs early; the second too unless Tune's searcher is built first (it then
    # takes the enqueued point left: a race with the machine's load, so either count is right)
    assert 1 <= n_early[True] <= 2 and n_early[False] == 0
    assert configs[True] == configs[False]


def _with_and_without_early_trials(path: Path, tmp_path: Path) -> tuple[dict[bool, list[Any]], dict[bool, int]]:
    """The study run with early trials and without: each run's configurations (sorted) and its number of early trials."""
    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search

    configs, n_early = {}, {}
    for early in (True, False):
        out = tmp_path / f"out-{early}"
        run_search(load_study(path), SearchOptions(out=out, early_trials=early))
        trials = hpbench.load(out)
        n_early[early] = int(trials["trial_id"].str.startswith("early_").sum())
        configs[early] = sorted(zip(trials["optimizer"], trials["lr"].round(12), strict=True))
    return configs, n_early


@pytest.mark.slow
def test_a_random_search_draws_the_same_configurations_with_or_without_early_trials(ray_local, tmp_path: Path):
    """Random search, nothing enqueued: the early trials draw, and Tune's searcher, built once Ray
    is up, draws the rest. Its sampler was seeded from how many the early trials had drawn by then,
    so the same study and seed drew other configurations with early trials than without them (and
    on a warm runtime than on a fresh one: bug hunt s47/h3); each trial's draw now depends on the
    seed and its trial number only (hpbench.space.by_trial)."""

    path = tmp_path / "drawn.toml"
    path.write_text(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 2\ndefault_first = false").replace("trials = 4", "trials = 6")
                    .replace("seed = 0", "seed = 7"))
    configs, n_early = _with_and_without_early_trials(path, tmp_path)
    assert n_early[True] >= 1 and n_early[False] == 0
    assert len(set(configs[True])) == 6
    assert configs[True] == configs[False]


SLOW_EARLY = """
[study]
name = "slow_early"
metric = "val_accuracy"
mode = "max"
trials = 8
searcher = "grid"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"

[model]
family = "tests.helpers.flaky:build"
dir = "{marks}"
sleep = 0.2
everywhere = true

[train]
max_epochs = 200
batch_size = 256

[space]
"model.slot" = {{ choice = [0, 1, 2, 3, 4, 5, 6, 7] }}
"""


def _slow_early_study(tmp_path: Path, marks: Path) -> tuple[Any, Any, Any]:
    """SLOW_EARLY marking its epochs under ``marks``, its Optuna storage and a fresh helper process."""
    from hpbench.dispatch.helper import HelperProcess
    from hpbench.dispatch.storage import open_storage, sqlite_url

    marks.mkdir()
    path = tmp_path / "s.toml"
    path.write_text(SLOW_EARLY.format(marks=marks))
    return load_study(path), open_storage(sqlite_url(tmp_path / "optuna.db")), HelperProcess()


@pytest.mark.slow
def test_ctrl_c_stops_a_running_early_trial_after_its_epoch_and_keeps_its_epochs(tmp_path: Path):
    """Ctrl-C reaches the helper too (the terminal's process group): it goes on (before, it died and
    the early trial was recorded failed); the driver then stops the trial after its epoch, its rows
    kept with their report times, none launched after it, Optuna told it failed."""
    import signal
    import time

    import optuna

    from hpbench.dispatch.early_helper import STOP_FILE
    from hpbench.dispatch.early_launch import launch

    marks = tmp_path / "marks"
    study, storage, helper = _slow_early_study(tmp_path, marks)
    recorded: dict[str, dict] = {}
    try:
        early = launch(study, n=1, n_max=4, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0), points=[],
                       executor=helper, incoming=str(tmp_path / "incoming"))
        deadline = time.monotonic() + 120
        while not any(len(p.read_text().splitlines()) >= 3 for p in marks.glob("epochs-*")):  # its third epoch began
            assert time.monotonic() < deadline, "the early trial never trained"
            time.sleep(0.1)
        helper._proc.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C reaches the whole group
        early.harvest(lambda tid, outcome: recorded.setdefault(tid, outcome), wait=True, interrupted=lambda: True)
        assert helper._proc.poll() is None  # the helper is alive and answers
        assert helper.submit(sum, [1, 2]).result(timeout=60) == 3
    finally:
        helper.shutdown()
    assert list(recorded) == [EARLY_ID.format(0)] and len(early.trials) == 1  # none launched after the Ctrl-C
    outcome = recorded[EARLY_ID.format(0)]
    assert outcome["interrupted"] and outcome["error"] is None and outcome["weights_file"] is None
    rows = outcome["rows"]
    assert 2 <= len(rows) < 200 and [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    times = [r["reported_at"] for r in rows]
    assert times == sorted(times) and outcome["started_at"] <= times[0] and times[-1] <= outcome["ended_at"]
    assert not (tmp_path / "incoming" / STOP_FILE).exists()  # removed once recorded: a resumed search's early trials run
    told = optuna.load_study(study_name=study.name, storage=storage).trials
    assert [t.state.name for t in told] == ["FAIL"]


@pytest.mark.slow
def test_ctrl_c_never_starts_an_early_trial_still_queued_in_the_helper(tmp_path: Path):
    """An early trial queued in the helper behind another call (the cost predictions, in a search)
    when the Ctrl-C comes: the driver records it interrupted with no epochs at once, without
    waiting for the call ahead of it, and the helper, reaching it later, does not train it (before,
    it started after the Ctrl-C and the exit waited for the helper's queue: up to 14 s in the race)."""
    import subprocess
    import threading

    import optuna

    from hpbench.dispatch.early_launch import launch

    marks, gate = tmp_path / "marks", tmp_path / "gate"
    study, storage, helper = _slow_early_study(tmp_path, marks)
    recorded: dict[str, dict] = {}
    try:
        ahead = helper.submit(subprocess.run, ["sh", "-c", f"while [ ! -e '{gate}' ]; do sleep 0.05; done"])  # holds the helper
        early = launch(study, n=1, n_max=4, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0), points=[],
                       executor=helper, incoming=str(tmp_path / "incoming"))
        done: list[str] = []
        harvest = threading.Thread(target=lambda: done.extend(
            early.harvest(lambda tid, outcome: recorded.setdefault(tid, outcome), wait=True, interrupted=lambda: True)))
        harvest.start()
        harvest.join(timeout=60)  # a guard against a hang only: with the bug it waits for the gate, which opens below
        returned_before_the_gate = not harvest.is_alive()
        gate.touch()
        harvest.join()
        assert returned_before_the_gate, "the Ctrl-C waited for the call ahead of the queued early trial"
        assert ahead.result(timeout=120).returncode == 0
        outcome = early.trials[0].future.result(timeout=120)  # the helper reached the trial after the Ctrl-C
    finally:
        helper.shutdown()
    assert done == [EARLY_ID.format(0)] and len(early.trials) == 1  # recorded once, none launched after it
    assert recorded[EARLY_ID.format(0)]["interrupted"] and recorded[EARLY_ID.format(0)]["rows"] == []
    assert outcome["interrupted"] and outcome["rows"] == []  # the helper did not train it ...
    assert not list(marks.glob("epochs-*"))  # ... not one epoch (the model marks each epoch it trains)
    assert not list((tmp_path / "incoming").iterdir())  # no claim, stop file or weights left behind
    told = optuna.load_study(study_name=study.name, storage=storage).trials
    assert [t.state.name for t in told] == ["FAIL"]


def test_after_tunes_searcher_is_built_the_early_trials_take_from_its_count(write_study, tmp_path: Path):
    import pickle

    import optuna

    from hpbench.dispatch.early_launch import launch
    from hpbench.dispatch.helper import HelperProcess
    from hpbench.dispatch.storage import open_storage, sqlite_url

    study = load_study(write_study(ENQUEUED))
    storage = open_storage(sqlite_url(tmp_path / "optuna.db"))
    helper = HelperProcess()
    started: list[str] = []
    try:
        early = launch(study, n=1, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0), points=[{"optimizer": "adam", "lr": 0.01}],
                       executor=helper, incoming=str(tmp_path / "incoming"), n_max=10)
        quota = early.share(4, lambda t: started.append(t.trial_id))  # a search of 4 new trials
        recorded: list[str] = []
        early.harvest(lambda tid, outcome: recorded.append(tid), wait=True)  # not stopped: they go on while the count lasts
    finally:
        helper.shutdown()
    assert len(early.trials) == 4 and quota.left == 0 and recorded == started == [t.trial_id for t in early.trials]
    copy = pickle.loads(pickle.dumps(quota))  # Tune saves its searcher with it
    assert copy.left == 0 and not copy.take()


def test_points_not_launched_before_tunes_searcher_are_left_to_it(write_study, tmp_path: Path):
    from concurrent.futures import Executor, Future

    import optuna

    from hpbench.dispatch.early_launch import launch
    from hpbench.dispatch.storage import open_storage, sqlite_url

    class Held(Executor):  # runs nothing: each call's future is completed by the test
        def __init__(self) -> None:
            self.futures: list[Future] = []

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            self.futures.append(Future())
            return self.futures[-1]

    study = load_study(write_study(ENQUEUED))
    held = Held()
    points = [{"optimizer": "adam", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.1}]
    early = launch(study, n=1, storage=open_storage(sqlite_url(tmp_path / "optuna.db")), sampler=optuna.samplers.RandomSampler(seed=0),
                   points=points, executor=held, incoming=str(tmp_path / "incoming"), n_max=10)
    early.share(4, lambda t: None)  # the second point is Tune's searcher's now
    held.futures[0].set_result({"rows": [], "error": None, "weights_file": None, "started_at": 0.0, "ended_at": 0.0})
    assert early.stopped and len(early.trials) == 1 and len(held.futures) == 1


def test_an_early_trial_an_early_rung_stopped_is_told_pruned_as_tunes_are():
    """Told to a real in-memory Optuna study: an early trial the trainer ended (its last row names
    why) COMPLETE with its best value; one an early rung stopped (no stop reason) PRUNED, as
    Tune's stopped trials are told (hpbench.dispatch.searchers), its best still reported by epoch;
    one that raised FAIL."""
    import optuna

    from hpbench.dispatch.early_helper import tell_ended

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ostudy = optuna.create_study(direction="maximize")
    ended = [{"epoch": 1, "val_accuracy": 0.5}, {"epoch": 2, "val_accuracy": 0.7, "stop_reason": "early_stopped"}]
    stopped = [{"epoch": 1, "val_accuracy": 0.3}]
    cases = [({"rows": ended, "error": None}, [(1, 0.5), (2, 0.7)]), ({"rows": stopped, "error": None}, [(1, 0.3)]),
             ({"rows": stopped, "error": "Traceback ..."}, [(1, 0.3)])]
    for outcome, best in cases:
        tell_ended(ostudy, ostudy.ask(), outcome, best, metric="val_accuracy")
    told = ostudy.trials
    assert [t.state.name for t in told] == ["COMPLETE", "PRUNED", "FAIL"]
    assert told[0].value == pytest.approx(0.7, rel=1e-6) and told[0].intermediate_values == {1: 0.5, 2: 0.7}
    assert told[1].intermediate_values == {1: 0.3}
    assert ostudy.best_trial.number == 0  # a stopped trial is never the study's best
    diverged = [{"epoch": 1, "val_accuracy": float("nan"), "stop_reason": "diverged"}]
    for direction, worst in (("maximize", -math.inf), ("minimize", math.inf)):  # no value at all: the worst, as a Tune trial reports
        other = optuna.create_study(direction=direction)
        tell_ended(other, other.ask(), {"rows": diverged, "error": None}, [], metric="val_accuracy")
        assert other.trials[0].state.name == "COMPLETE" and other.trials[0].value == worst


def test_a_point_left_to_tunes_searcher_is_not_launched_again_when_the_early_trials_stop(write_study, tmp_path: Path):
    """Tune's searcher was built while the first of two enqueued points trained early (Ray up
    fast: a warm runtime), so it enqueued the second. Stopping the early trials then launched the
    second point in the helper too (their least, ``n_min`` = 2): Optuna gave that early trial
    Tune's enqueued trial (the oldest waiting), Tune then ran the early trials' copy of the point,
    and every draw after it moved one trial number on."""
    from concurrent.futures import Executor, Future

    import optuna

    from hpbench.dispatch.early_launch import launch
    from hpbench.dispatch.searchers import make_searcher

    class Held(Executor):  # runs nothing
        def __init__(self) -> None:
            self.futures: list[Future] = []

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            self.futures.append(Future())
            return self.futures[-1]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(write_study(ENQUEUED.replace('lr = 0.01 }]', 'lr = 0.01 }, { optimizer = "sgd", lr = 0.05 }]')))
    storage = optuna.storages.InMemoryStorage()
    points = [dict(p) for p in study.settings.first_points]
    assert points == [{"optimizer": "adam", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.05}]
    held = Held()
    early = launch(study, n=2, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0), points=points, executor=held,
                   incoming=str(tmp_path / "incoming"), n_max=10)
    early.share(6, lambda t: None)
    tune = make_searcher(study, storage=storage, early=early.params)
    early.stop()  # Tune's first trial reported
    for i in range(3):
        tune.suggest(f"t{i}")
    configs = [(t.params["optimizer"], t.params["lr"]) for t in optuna.load_study(study_name=study.name, storage=storage).trials]
    assert configs.count(("sgd", 0.05)) == 1, configs
    assert len(early.trials) == 1 and len(configs) == 4


def test_no_early_trial_is_launched_once_tunes_trials_hold_every_slot(write_study, tmp_path: Path):
    """The next early trial followed the one before until Tune's first trial reported: with epochs
    of seconds, that came long after Tune's two trials had started, and the helper began another
    early trial beside them, three trials training at once with max_concurrent = 2 on 2 cores (bug
    hunt s48/h4: a transformer search, a third of its time). Once Tune has started as many trials
    as it runs at once, none follows past the least the search counts on (``n_min``)."""
    from concurrent.futures import Executor, Future

    import optuna

    from hpbench.dispatch.early_launch import launch

    class Held(Executor):  # runs nothing: the test ends each call
        def __init__(self) -> None:
            self.futures: list[Future] = []

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            self.futures.append(Future())
            return self.futures[-1]

    def end(fut: Future) -> None:
        fut.set_result({"rows": [], "error": None, "weights_file": None, "started_at": 0.0, "ended_at": 0.0})

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(write_study(TINY_STUDY))
    assert study.settings.max_concurrent == 2
    held = Held()
    early = launch(study, n=1, storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=0), points=[],
                   executor=held, incoming=str(tmp_path / "incoming"), n_max=10)
    end(held.futures[0])
    assert len(early.trials) == 2  # the chain goes on while Ray starts
    early.tune_trial_started()  # one of Tune's two slots: the helper's trial is the other
    end(held.futures[1])
    assert len(early.trials) == 3
    early.tune_trial_started()  # both of Tune's slots
    end(held.futures[2])
    assert len(early.trials) == 3  # none beside them
    assert early.stop() == early.trials[:3]  # Tune's first report: nothing more launched either

    # the least the search counts on (n_min = 2) is no exception (bug hunt s50/h1: the second early
    # trial began after Tune's two had started, three training at once), nor is stop()'s launch of it
    held = Held()
    early = launch(study, n=2, storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=0), points=[],
                   executor=held, incoming=str(tmp_path / "incoming2"), n_max=10)
    early.tune_trial_started()
    early.tune_trial_started()
    end(held.futures[0])
    assert len(early.trials) == 1
    assert early.stop() == early.trials[:1] and len(held.futures) == 1
