"""The early trials one after another, pruned at the study's ASHA rungs (hpbench.dispatch.early,
hpbench.dispatch.early_helper): the rule decides as Ray's ASHAScheduler does on the same trials;
the chain asks each next trial once the one before ended, with the rungs it left, stops when
told, and is harvested whole. Logic only: a real in-memory Optuna study, the trainer replaced by
a test double (the real helper and trainer: tests/test_early.py)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hpbench.dispatch import early as E
from hpbench.dispatch import early_launch
from hpbench.dispatch.early_helper import EarlyRungs
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY

ASHA = TINY_STUDY.replace('scheduler = "none"', 'scheduler = "asha"').replace("max_epochs = 3", "max_epochs = 30").replace("trials = 4", "trials = 40")


def test_the_rungs_are_ashas_below_max_epochs(write_study):
    study = load_study(write_study(ASHA))
    rungs = EarlyRungs.of(study)
    assert rungs.epochs == frozenset({1, 3, 9, 27}) and rungs.reduction_factor == 3 and rungs.sign == 1.0
    none = load_study(write_study(TINY_STUDY, name="none.toml"))
    assert EarlyRungs.of(none).epochs == frozenset()  # scheduler "none": nothing pruned early either
    r = EarlyRungs.of(none).with_trial([(1, 0.2)])
    assert r.keep(1, 0.0) and r.recorded == {}


def test_the_first_at_a_rung_goes_on_and_the_rule_is_ashas_quantile(write_study):
    rungs = EarlyRungs.of(load_study(write_study(ASHA)))
    assert rungs.keep(1, 0.1)  # nothing recorded yet
    r = rungs.with_trial([(1, 0.5), (2, 0.6), (3, 0.7)])
    assert r.recorded == {1: (0.5,), 3: (0.7,)}  # epoch 2 is no rung
    assert not r.keep(1, 0.49) and r.keep(1, 0.5) and r.keep(2, 0.0)
    r = r.with_trial([(1, 0.8)]).with_trial([(1, 0.2)])
    # 1 - 1/3 quantile of (0.5, 0.8, 0.2), linear interpolation as numpy's: 0.6
    assert not r.keep(1, 0.59) and r.keep(1, 0.6 + 1e-9)
    minimize = EarlyRungs.of(load_study(write_study(ASHA.replace('metric = "val_accuracy"\nmode = "max"', 'metric = "val_loss"\nmode = "min"'), name="m.toml")))
    m = minimize.with_trial([(1, 0.3)])
    assert m.keep(1, 0.25) and not m.keep(1, 0.35)  # lower is better


def test_early_rungs_decide_as_rays_asha_on_the_same_trials(write_study):
    """60 random learning curves through both, one trial after another: the same epoch stops each."""
    pytest.importorskip("ray")
    from hpbench.strategies import SCHEDULERS

    study = load_study(write_study(ASHA))
    sched = SCHEDULERS.get("asha").build(metric="objective", mode="max", max_t=30, time_attr="epoch", grace_period=1, reduction_factor=3)
    rungs = EarlyRungs.of(study)
    rng = random.Random(7)

    class Trial:
        def __init__(self, k: int) -> None:
            self.trial_id, self.config = f"t{k}", {}

    stopped_at = {"ray": [], "early": []}
    for k in range(60):
        rate, ceiling = rng.uniform(0.05, 0.6), rng.uniform(0.3, 0.99)
        curve = [ceiling * (1 - (1 - rate) ** e) for e in range(1, 31)]
        t = Trial(k)
        sched.on_trial_add(None, t)
        ray_stop = next((e for e, v in enumerate(curve, 1) if sched.on_trial_result(None, t, {"epoch": e, "objective": v}) == "STOP"), 30)
        sched.on_trial_complete(None, t, {"epoch": ray_stop, "objective": curve[ray_stop - 1]})
        early_stop = next((e for e, v in enumerate(curve, 1) if e < 30 and not rungs.keep(e, v)), 30)
        rungs = rungs.with_trial(list(enumerate(curve[:early_stop], 1)))
        stopped_at["ray"].append(ray_stop)
        stopped_at["early"].append(early_stop)
    assert stopped_at["early"] == stopped_at["ray"]
    assert sum(e < 30 for e in stopped_at["early"]) > 30  # most were pruned: the check is not vacuous


class FakeTrainer:
    """Stands in for run_early_trial: a curve per configuration (the lr), pruned by the rungs it was
    sent; records what it was sent and that no two ran at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, Any], EarlyRungs | None, Any]] = []
        self.running = 0
        self.overlap = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, study: Any, params: dict[str, Any], incoming: str, *, data: Any = None, rungs: EarlyRungs | None = None,
                 claim_file: str | None = None) -> dict[str, Any]:
        self.running += 1
        self.overlap = self.overlap or self.running > 1
        self.gate.wait(120)  # released by the test; the timeout only keeps a broken test from hanging (10 s ran out once under load)
        self.sent.append((params, rungs, data))
        rows = []
        for e in range(1, 31):
            rows.append({"epoch": e, "val_accuracy": min(0.99, params["lr"] * 10 * e / 30), "epoch_s": 0.0})
            if rungs is not None and e < 30 and not rungs.keep(e, rows[-1]["val_accuracy"]):
                break  # pruned: no stop reason, as hpbench.dispatch.early_helper leaves it
        else:
            rows[-1]["stop_reason"] = "completed"  # the trainer ended it: its last row says why
        self.running -= 1
        return {"rows": rows, "error": None, "weights_file": None, "started_at": 0.0, "ended_at": 0.0}


def chain(write_study, monkeypatch, *, n_max: int, fake: FakeTrainer) -> tuple[Any, Any, ThreadPoolExecutor]:
    import optuna

    monkeypatch.setattr(E, "run_early_trial", fake)
    study = load_study(write_study(ASHA))
    pool = ThreadPoolExecutor(max_workers=2)  # two workers: a chain that submitted ahead would overlap
    early = early_launch.launch(study, n=2, storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=0),
                     points=[{"optimizer": "adam", "lr": 0.05}], executor=pool, incoming="unused", data=("key", "splits"), n_max=n_max)
    return study, early, pool


def test_the_chain_asks_each_trial_after_the_last_ended_with_its_rungs(write_study, monkeypatch):
    fake = FakeTrainer()
    study, early, pool = chain(write_study, monkeypatch, n_max=12, fake=fake)
    recorded: dict[str, dict[str, Any]] = {}
    done = early.harvest(lambda tid, outcome: recorded.setdefault(tid, outcome), wait=True)
    pool.shutdown()
    assert done == [E.EARLY_ID.format(k) for k in range(12)] and list(recorded) == done  # n_max, in order, each once
    assert not fake.overlap  # one after another
    assert fake.sent[0][0] == {"optimizer": "adam", "lr": 0.05} and early.n_points == 1  # the enqueued point first
    assert fake.sent[0][2] == ("key", "splits") and all(d is None for _, _, d in fake.sent[1:])  # the data once: the helper keeps it
    expect = EarlyRungs.of(study)
    for (_params, rungs, _), tid in zip(fake.sent, done, strict=True):
        assert rungs == expect  # each was sent the rungs of every trial before it
        expect = expect.with_trial([(r["epoch"], max(x["val_accuracy"] for x in recorded[tid]["rows"][:i + 1]))
                                    for i, r in enumerate(recorded[tid]["rows"])])
    assert any(len(o["rows"]) < 30 for o in recorded.values())  # some were pruned
    told = early.ostudy.trials  # told as Tune's trials are: the pruned PRUNED, the ones the trainer ended COMPLETE
    assert [t.state.name for t in told] == ["PRUNED" if len(recorded[tid]["rows"]) < 30 else "COMPLETE" for tid in done]
    assert "COMPLETE" in {t.state.name for t in told}


def test_stop_ends_the_chain_launching_the_minimum_at_once_and_harvest_waits(write_study, monkeypatch):
    fake = FakeTrainer()
    fake.gate.clear()  # the first trial holds until released: Ray is up before it ended
    _, early, pool = chain(write_study, monkeypatch, n_max=50, fake=fake)
    assert len(early.trials) == 1
    launched = early.stop()
    assert [t.trial_id for t in launched] == [E.EARLY_ID.format(0), E.EARLY_ID.format(1)]  # n = 2 at least, the second at once
    assert early.launch_next() is None
    fake.gate.set()
    # both released at once: harvest returns them in the order they ended, which the two threads decide
    assert sorted(early.harvest(lambda tid, outcome: None, wait=True)) == [E.EARLY_ID.format(0), E.EARLY_ID.format(1)]
    pool.shutdown()
    assert len(early.trials) == 2 and len(fake.sent) == 2


def test_a_quarter_of_the_search_at_most():
    assert early_launch.n_early_max(2, 1000) == 250 and early_launch.n_early_max(2, 6) == 2 and early_launch.n_early_max(0, 1000) == 0
