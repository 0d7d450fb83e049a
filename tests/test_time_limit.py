"""``[train] max_time_s``: the key's rule, the trainer and the fused trainer ending a trial at the
first epoch whose cumulative seconds reach the limit (stop reason ``time_limit``, ended as at
``max_epochs``), a resumed trial counting its earlier epochs, the cost model's capped price, and
one real search. Epochs are made slow with a fake clock (every epoch measures exactly ``step``
seconds), never with sleeps or timing asserts."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from conftest import TINY_STUDY
from test_models import cfg
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.config import EarlyStoppingConfig
from hpbench.cost.figures import Figures
from hpbench.cost.walltime import SearchPlan, TrialPlan, predict, sim_trials
from hpbench.errors import StudyError
from hpbench.results.ranking import can_rank
from hpbench.results.status import StopReason, TrialStatus
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config

torch = pytest.importorskip("torch")

from hpbench.train.fused import train_fused  # noqa: E402
from hpbench.train.trainer import evaluate_test, train  # noqa: E402

runner = CliRunner()
TIMING = ("epoch_s", "epoch_cpu_s", "reported_at", "stop_reason")


class FakeClock:
    """Each call returns ``step`` seconds more than the last: an epoch, timed by the two calls
    around it, measures exactly ``step``."""

    def __init__(self, step: float) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def limited(c, max_time_s):
    return dataclasses.replace(c, train=dataclasses.replace(c.train, max_time_s=max_time_s))


def strip(history):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in history]


# -- the key -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "rule"), [("0", "must be > 0.0"), ("-5", "must be > 0.0"), ("inf", "must be a finite number"),
                                             ("nan", "must be a finite number"), ('"60"', "must be a finite number"),
                                             ("true", "must be a finite number")])
def test_a_bad_max_time_s_exits_2_naming_the_file_key_rule_and_value(write_study, tmp_path, value, rule):
    path = write_study(TINY_STUDY.split("[space]")[0].replace("max_epochs = 3", f"max_epochs = 3\nmax_time_s = {value}"), "t.toml")
    with pytest.raises(StudyError) as info:
        load_study(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "train.max_time_s" in message and rule in message, message
    out = tmp_path / "out"
    r = runner.invoke(app, ["train", str(path), "--out", str(out)])
    assert r.exit_code == 2, r.output
    flat = " ".join(r.output.split())
    assert "train.max_time_s" in flat and rule in flat and not out.exists()


def test_max_time_s_reaches_the_trial_config_and_a_searched_one_obeys_the_rule(write_study):
    study = load_study(write_study(TINY_STUDY.replace("max_epochs = 3", "max_epochs = 3\nmax_time_s = 2.5")))
    assert trial_config(study, study.space.sample(__import__("random").Random(0))).train.max_time_s == 2.5
    assert trial_config(load_study(write_study(TINY_STUDY, "none.toml")), {"optimizer": "adam", "lr": 0.01}).train.max_time_s is None
    with pytest.raises(StudyError, match=r"space\.train\.max_time_s.*must be > 0"):
        load_study(write_study(TINY_STUDY + '"train.max_time_s" = { choice = [0.0, 5.0] }\n', "searched.toml"))


# -- the trainer ---------------------------------------------------------------------------------
def test_the_trainer_stops_at_the_first_epoch_whose_seconds_reach_the_limit_as_at_max_epochs():
    """Epochs of 1 s, a limit of 2.5 s: the trial ends after epoch 3 (3 s), stop reason
    time_limit, with what a 3-epoch trial ends with: restore_best_weights' epoch, the weights
    record saved and the same test metrics."""
    es = EarlyStoppingConfig(monitor="val_loss", mode="max", patience=10, restore_best_weights=True)  # the first epoch is the best
    base = cfg(dataset="wine", model={"depth": 1, "width": 16}, lr=0.05, epochs=10, es=es, test_fraction=0.2)
    states: list = []
    out = train(limited(base, 2.5), on_state=states.append, clock=FakeClock(1.0))
    three = train(dataclasses.replace(base, train=dataclasses.replace(base.train, max_epochs=3)), clock=FakeClock(1.0))
    assert out.stop_reason == StopReason.TIME_LIMIT and out.history[-1]["stop_reason"] == "time_limit"
    assert [r["epoch_s"] for r in out.history] == [1.0, 1.0, 1.0]
    assert three.stop_reason == StopReason.COMPLETED and strip(out.history) == strip(three.history)
    assert out.best_epoch == three.best_epoch == 1
    assert "final_model" in states[-1] and "final_model" not in states[-2]
    assert all(torch.equal(a, b) for a, b in zip(out.model.state_dict().values(), three.model.state_dict().values(), strict=True))
    got, want = evaluate_test(base, out.model), evaluate_test(base, three.model)
    assert got == pytest.approx(want, rel=1e-5)


@pytest.mark.parametrize(("max_time_s", "max_epochs", "epochs", "reason"), [
    (3.0, 10, 3, "time_limit"),  # reached exactly: it ends there
    (0.5, 10, 1, "time_limit"),  # the first epoch crosses it: one epoch
    (3.0, 3, 3, "completed"),  # reached at max_epochs: completed, as without a limit
    (50.0, 4, 4, "completed"),  # never reached
])
def test_where_the_limit_ends_a_trial(max_time_s, max_epochs, epochs, reason):
    c = cfg(dataset="iris", model={"depth": 1, "width": 8}, epochs=max_epochs)
    out = train(limited(c, max_time_s), clock=FakeClock(1.0))
    assert (len(out.history), out.stop_reason) == (epochs, reason)


def test_early_stopping_wins_over_the_limit_in_the_same_epoch():
    es = EarlyStoppingConfig(monitor="val_loss", mode="max", patience=1)  # stops after epoch 2 (no gain over epoch 1)
    out = train(limited(cfg(dataset="iris", model={"depth": 1, "width": 8}, lr=0.05, epochs=10, es=es), 2.0), clock=FakeClock(1.0))
    assert (len(out.history), out.stop_reason) == (2, StopReason.EARLY_STOPPED)


def test_a_resumed_trial_counts_the_seconds_of_its_earlier_epochs():
    """Resumed after 2 epochs (2 s spent) under a 2.5 s limit, it ends after its next epoch, as the
    uninterrupted trial does; counting only its own epochs it would have run 3 more."""
    c = limited(cfg(dataset="wine", model={"depth": 1, "width": 16}, epochs=10), 2.5)
    states: list = []
    whole = train(c, on_state=lambda s: states.append(copy.deepcopy(s)), clock=FakeClock(1.0))
    resumed = train(c, start_state=copy.deepcopy(states[1]), clock=FakeClock(1.0))
    assert len(whole.history) == len(resumed.history) == 3
    assert resumed.stop_reason == StopReason.TIME_LIMIT and strip(resumed.history) == strip(whole.history)


def test_a_time_limited_configuration_never_trains_fused(write_study):
    """A fused member's epoch_s is its 1/N share of the stacked epoch: under max_time_s it ran ~1.6x
    the epochs of its run alone, and `hpbench train` of its exported study stopped much earlier
    (bug hunt s52/v1 #3). Now a configuration with a limit is unfusable: its repeats train one by
    one (the runner's groups and the estimate's count alike), it has no fused siblings, and the
    fused trainer refuses it, naming the key."""
    from hpbench.config import unfusable
    from hpbench.cost.estimate import fuse_of
    from hpbench.dispatch.fused import fuse_repeats
    from hpbench.dispatch.trainable import Replay
    from hpbench.results.columns import REPEAT_OF

    mlp = {"depth": 1, "width": 16, "dropout": 0.0}
    c = cfg(dataset="wine", model=mlp, epochs=8, seed=1, lr=0.02)
    assert unfusable(c) is None and "max_time_s" in (unfusable(limited(c, 1.0)) or "")
    with pytest.raises(ValueError, match="max_time_s"):
        train_fused([limited(c, 1.0), limited(dataclasses.replace(c, seed=2), 1.0)])

    params = {"optimizer": "adam", "lr": 0.01}
    plain = load_study(write_study(TINY_STUDY))
    timed = load_study(write_study(TINY_STUDY.replace("max_epochs = 3", "max_epochs = 3\nmax_time_s = 5.0")))
    assert fuse_of(plain, params, n_repeats=4, flops_per_step=1e6) == 4
    assert fuse_of(timed, params, n_repeats=4, flops_per_step=1e6) == 1
    replays = [Replay(params=params, seed=s, labels={REPEAT_OF: 0}) for s in range(1, 5)]
    assert [len(r.group) for r in fuse_repeats(plain, replays)] == [2, 2]  # max_concurrent 2: two groups
    assert [len(r.group) for r in fuse_repeats(timed, replays)] == [0, 0, 0, 0]  # each repeat alone


def test_a_time_limited_trial_is_finished_and_ranked():
    row = {"trial": 0, "status": TrialStatus.FINISHED.value, "stop_reason": StopReason.TIME_LIMIT.value, "best_val_loss": 0.5}
    assert can_rank(row, metric="val_loss")


# -- the cost model ------------------------------------------------------------------------------
@pytest.mark.parametrize(("epochs", "epoch_s", "max_time_s", "want"), [
    (20, 3.0, 10.0, 4),  # 12 s: the 4th epoch crosses 10 s
    (20, 5.0, 10.0, 2),  # 10 s reached exactly by the 2nd
    (20, 30.0, 10.0, 1),  # one epoch at least
    (3, 1.0, 10.0, 3),  # it ends earlier by itself
    (20, 3.0, None, 20),  # no limit
])
def test_capped_epochs(epochs, epoch_s, max_time_s, want):
    from hpbench.cost.trial_plan import capped_epochs

    n = capped_epochs(epochs, epoch_s=epoch_s, max_time_s=max_time_s)
    assert n == want
    if max_time_s is not None and n < epochs:
        assert max_time_s <= n * epoch_s < max_time_s + epoch_s


def test_capped_seconds_is_the_limit_plus_one_epoch_at_most():
    from hpbench.cost.trial_plan import capped_seconds

    assert capped_seconds(100.0, epoch_s=3.0, max_time_s=10.0) == pytest.approx(13.0, rel=1e-5)
    assert capped_seconds(8.0, epoch_s=3.0, max_time_s=10.0) == 8.0
    assert capped_seconds(100.0, epoch_s=3.0, max_time_s=None) == 100.0


def test_the_replay_prices_a_trial_at_the_limit_plus_one_epoch_at_most():
    import random

    figs = Figures()
    plans = [TrialPlan(epoch_s=1.0, max_epochs=50), TrialPlan(epoch_s=1.0, max_epochs=50, max_time_s=5.0)]
    free, capped = sim_trials(plans, random.Random(0), figures=figs, c=1.0)
    assert free.epochs == 50 and free.epoch_s == capped.epoch_s
    assert 5.0 <= capped.epochs * capped.epoch_s < 5.0 + capped.epoch_s
    plain = predict(SearchPlan(trials=(plans[0],) * 4, concurrency=1), figures=figs)
    limit = predict(SearchPlan(trials=(plans[1],) * 4, concurrency=1), figures=figs)
    assert limit.epoch_fraction == pytest.approx(capped.epochs / 50, rel=1e-5) and plain.epoch_fraction == 1.0
    assert limit.trials_s < plain.trials_s


def test_the_estimate_prices_the_limit(write_study):
    """A hypothetical device slow enough that a trial's 3 epochs pass the limit: the worst case is
    each configuration's limit plus one epoch, and the expected epochs fall below max_epochs."""
    args = ["--device-flops", "1e6", "--json", "--samples", "3"]
    free = json.loads(runner.invoke(app, ["estimate", str(write_study(TINY_STUDY, "free.toml")), *args], env={"COLUMNS": "200"}).output)
    epoch_s = min(c["predicted_epoch_s"] for c in free["configurations"])
    limit = epoch_s * 1.5  # every configuration's second epoch crosses it
    r = runner.invoke(app, ["estimate", str(write_study(TINY_STUDY.replace("max_epochs = 3", f"max_epochs = 3\nmax_time_s = {limit}"))), *args],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    want = sum(min(c["predicted_s"], limit + c["predicted_epoch_s"]) for c in out["configurations"]) * 4 / 3
    assert out["summary"]["worst_case_s"] == pytest.approx(want, rel=1e-5)
    assert out["summary"]["worst_case_s"] < free["summary"]["worst_case_s"]
    assert out["summary"]["epoch_fraction"] < free["summary"]["epoch_fraction"]


# -- a real search -------------------------------------------------------------------------------
def test_a_search_shows_time_limited_trials_as_finished(ray_local, tmp_path):
    """A limit no epoch can stay under (1 microsecond): every trial ends after its first of 3
    epochs as time_limit, finished, with its weights file, ranked by Results.best."""
    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.results.weights import weights_path

    path = tmp_path / "t.toml"
    path.write_text(TINY_STUDY.replace("max_epochs = 3", "max_epochs = 3\nmax_time_s = 1e-6"))
    run_search(load_study(path), SearchOptions(out=tmp_path / "out", num_cpus=2))
    trials = hpbench.load(tmp_path / "out")
    assert len(trials) == 4 and set(trials["stop_reason"]) == {"time_limit"} and set(trials["status"]) == {"finished"}
    assert set(trials["epochs"]) == {1}
    assert all(weights_path(tmp_path / "out", int(t)).is_file() for t in trials["trial"])
    best = hpbench.Results(tmp_path / "out").best
    assert best.stop_reason == "time_limit" and best.value is not None
