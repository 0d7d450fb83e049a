"""ASHA with its rungs checked against the search's own finished trials (``scheduler =
"asha-rank"``, hpbench.rung_rank): the evidence and its rule; Ray's scheduler in memory with
stand-in trials (no Ray runtime) deciding as ASHA until the finished trials say a rung does not
rank, then passing its trials; the early trials' rungs deciding as it does on the same trials;
and one real search through Ray Tune."""

from __future__ import annotations

import random

import pytest

from hpbench.dispatch.early_helper import EarlyRungs, finished_by_trainer, replay_into
from hpbench.rung_rank import MIN_RHO, MIN_TRIALS, RungEvidence
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY

RANK = TINY_STUDY.replace('scheduler = "none"', 'scheduler = "asha-rank"').replace("max_epochs = 3", "max_epochs = 30")


class Trial:
    def __init__(self, tid: str) -> None:
        self.trial_id, self.config = tid, {}


def build(name: str = "asha-rank", mode: str = "max"):
    pytest.importorskip("ray")
    from hpbench.strategies import SCHEDULERS

    return SCHEDULERS.get(name).build(metric="objective", mode=mode, max_t=30, time_attr="epoch", grace_period=1, reduction_factor=3)


def test_a_rung_judges_until_enough_finished_trials_say_it_does_not_rank():
    ev = RungEvidence(rungs=frozenset({1, 3, 9, 27}))
    assert ev.judging() == [1, 3, 9, 27] and MIN_TRIALS == 6 and MIN_RHO == 0.5
    ranked = ev
    for k in range(MIN_TRIALS):  # epoch 1 ranks the ends exactly; epoch 3 the other way round
        ranked = ranked.with_finished({1: 0.1 * k, 3: 1.0 - 0.1 * k, 2: 0.5}, 0.5 + 0.05 * k)
        if k < MIN_TRIALS - 1:
            assert ranked.judging() == [1, 3, 9, 27]  # too few yet
    assert ranked.pairs.keys() == {1, 3}  # epoch 2 is no rung
    assert ranked.judges(1) and not ranked.judges(3) and ranked.judging() == [1, 9, 27]
    tied = ev
    for k in range(MIN_TRIALS):
        tied = tied.with_finished({1: 0.3}, 0.2 * k)
    assert tied.judges(1)  # every value at the rung tied: no rank correlation, ASHA as it is
    assert ev.with_finished({1: 0.5}, float("nan")) == ev and ev.with_finished({1: float("inf")}, 0.5).pairs == {}
    with pytest.raises(ValueError, match="min_trials=2"):
        RungEvidence(rungs=frozenset({1}), min_trials=2)


def test_the_ray_scheduler_passes_the_trials_of_a_rung_that_does_not_rank():
    plain, ranked = build("asha"), build()

    def report(sched, tid: str, curve: list[float], *, finished: bool) -> int:
        t = Trial(tid)
        sched.on_trial_add(None, t)
        stop = next((e for e, v in enumerate(curve, 1) if sched.on_trial_result(None, t, {"epoch": e, "objective": v}) == "STOP"), 0)
        end = stop or len(curve)
        last = {"epoch": end, "objective": curve[end - 1]} | ({"stop_reason": "early_stopped"} if finished and not stop else {})
        sched.on_trial_complete(None, t, last)
        return stop

    # six trials that ran to their end (running bests), each better than the ones before at epochs
    # 1 and 3, so that no rung stops them, and worse at the end (rho -1 at both rungs)
    for k in range(6):
        curve = [0.3 + 0.05 * k] * 2 + [0.56 + 0.01 * k] * 2 + [0.9 - 0.05 * k]
        assert report(plain, f"f{k}", curve, finished=True) == report(ranked, f"f{k}", curve, finished=True) == 0
    assert ranked.evidence.judging() == [9, 27]
    weak = [0.2, 0.2, 0.3, 0.3, 0.4]  # below every value recorded at epochs 1 and 3
    assert report(plain, "w", weak, finished=True) == 1  # ASHA stops it at the first rung
    assert report(ranked, "w", weak, finished=True) == 0 and ranked.passed == 2  # asha-rank lets it through both


def test_trials_a_rung_stopped_are_no_evidence_and_decisions_match_asha_till_then():
    plain, ranked = build("asha", mode="min"), build(mode="min")
    rng = random.Random(3)
    for k in range(40):  # every trial stopped by a rung or by the budget: none finished by the trainer
        curve = [rng.uniform(0.1, 2.0) / e for e in range(1, 31)]
        ts = [Trial(f"t{k}"), Trial(f"t{k}")]
        stops = []
        for sched, t in zip((plain, ranked), ts, strict=True):
            sched.on_trial_add(None, t)
            stop = next((e for e, v in enumerate(curve, 1) if sched.on_trial_result(None, t, {"epoch": e, "objective": v}) == "STOP"), 30)
            sched.on_trial_complete(None, t, {"epoch": stop, "objective": curve[stop - 1]})  # no stop_reason
            stops.append(stop)
        assert stops[0] == stops[1]
    assert ranked.evidence.pairs == {} and ranked.passed == 0


def test_early_rungs_decide_as_the_ray_scheduler_on_the_same_trials(write_study):
    """80 random learning curves through both, one trial after another, some ended by early
    stopping (the trainer) and told with their stop reason: the same epoch stops each."""
    study = load_study(write_study(RANK))
    sched, rungs = build(), EarlyRungs.of(study)
    assert rungs.evidence is not None and rungs.evidence.rungs == frozenset({1, 3, 9, 27})
    rng = random.Random(11)
    stopped = {"ray": [], "early": []}
    for k in range(80):
        # late bloomers and early starters alike: epoch 1 says little about the end
        rate, ceiling, length = rng.uniform(0.02, 0.6), rng.uniform(0.3, 0.99), rng.randint(4, 30)
        curve = [ceiling * (1 - (1 - rate) ** e) for e in range(1, length + 1)]
        early_stop = next((e for e, v in enumerate(curve, 1) if e < 30 and not rungs.keep(e, v)), 0)
        run = curve[:early_stop] if early_stop else curve
        rows = [{"epoch": e, "val_accuracy": v} for e, v in enumerate(run, 1)]
        if not early_stop:
            rows[-1]["stop_reason"] = "early_stopped" if length < 30 else "completed"
        outcome = {"rows": rows, "error": None}
        rungs = rungs.with_trial(list(enumerate(run, 1)), finished=finished_by_trainer(outcome))
        t = Trial(f"t{k}")
        sched.on_trial_add(None, t)
        ray_stop = next((e for e, v in enumerate(curve, 1) if sched.on_trial_result(None, t, {"epoch": e, "objective": v}) == "STOP"), 0)
        end = ray_stop or len(curve)
        sched.on_trial_complete(None, t, {"epoch": end, "objective": curve[end - 1]} | ({} if ray_stop else {"stop_reason": "x"}))
        stopped["ray"].append(ray_stop)
        stopped["early"].append(early_stop)
    assert stopped["early"] == stopped["ray"]
    assert sum(1 for s in stopped["early"] if s) > 10  # some were pruned ...
    assert sched.passed > 0  # ... and a rung that stopped judging passed one through (on both sides): not vacuous


def test_an_early_trial_told_to_the_ray_scheduler_is_evidence_only_when_the_trainer_ended_it():
    sched = build()
    best = [(1, 0.4), (2, 0.5), (3, 0.6)]
    replay_into(sched, "e0", {}, best)  # pruned by an early rung: no stop reason
    assert sched.evidence.pairs == {}
    replay_into(sched, "e1", {}, best, stop_reason="early_stopped")
    assert sched.evidence.pairs == {1: ((0.4, 0.6),), 3: ((0.6, 0.6),)}
    assert finished_by_trainer({"rows": [{"stop_reason": "completed"}], "error": None})
    assert not finished_by_trainer({"rows": [{"epoch": 1}], "error": None})
    assert not finished_by_trainer({"rows": [{"stop_reason": "completed"}], "error": None, "interrupted": True})
    assert not finished_by_trainer({"rows": [], "error": "boom"})


def test_the_estimate_replays_it_as_asha_and_its_trials_report_the_rungs_at_once(write_study):
    from hpbench.cost.estimate import pruning
    from hpbench.dispatch.schedulers import decision_epochs

    study = load_study(write_study(RANK))
    assert pruning(study).kind == "asha"
    assert decision_epochs(study, max_t=30) == frozenset({1, 3, 9, 27})


@pytest.mark.slow
def test_a_tiny_real_search_with_asha_rank(ray_local, tmp_path):
    """Through Ray Tune: every trial recorded, ended by the trainer or stopped at a rung."""
    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search

    path = tmp_path / "r.toml"
    path.write_text(RANK.replace("max_epochs = 30", "max_epochs = 4").replace("trials = 4", "trials = 8")
                    .replace('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { loguniform = [1e-5, 1e-1] }'))
    run_search(load_study(path), SearchOptions(out=tmp_path / "out"))
    trials = hpbench.load(tmp_path / "out")
    assert len(trials) == 8 and set(trials["stop_reason"]) <= {"completed", "early_stopped", "pruned", "diverged"}
    assert trials["best_val_accuracy"].max() > 0.5


def test_the_estimates_replay_passes_the_trials_of_a_passing_rung():
    from hpbench.cost.simulate import Pruning, SimTrial, Slots, replay

    trials = [SimTrial(epoch_s=1.0, epochs=9, score=s) for s in (0.9, 0.8, 0.1)]  # one slot: in order, the last the weakest
    asha = Pruning(kind="asha", max_t=9, grace_period=1, reduction_factor=3)
    assert replay(trials, slots=Slots(concurrency=1), pruning=asha).epochs == (9, 1, 1)  # ASHA stops both below the first
    passing = replay(trials, slots=Slots(concurrency=1), pruning=Pruning(kind="asha", max_t=9, grace_period=1, reduction_factor=3,
                                                                         passing=frozenset({1, 3})))
    assert passing.epochs == (9, 9, 9) and passing.pruned == (False, False, False)


def test_the_live_eta_reads_the_passing_rungs_from_the_trials_the_trainer_ended(tmp_path, write_study):
    from hpbench.cost.simulate import Pruning
    from hpbench.dispatch.live_scores import passing_rungs
    from hpbench.results.store import ResultsStore

    study = load_study(write_study(RANK))
    store = ResultsStore(out=tmp_path / "out", metric="val_loss", mode="min", param_keys=study.space.keys())
    asha = Pruning(kind="asha", max_t=30, grace_period=1, reduction_factor=3)
    ids = []
    for k in range(6):  # the better (lower) at epoch 1, the worse at the end: epoch 1 does not rank; epoch 3 does
        tid = f"t{k}"
        ids.append(tid)
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        losses = [0.5 + 0.01 * k, 0.5 + 0.01 * k, 0.45 - 0.01 * k, 0.4 - 0.02 * k]
        for e, v in enumerate(losses, 1):
            store.epoch(tid, {"epoch": e, "epoch_s": 0.1, "val_loss": v} | ({"stop_reason": "early_stopped"} if e == 4 else {}))
        store.finish(tid)
    store.start("pruned", {"optimizer": "adam", "lr": 0.01})
    store.epoch("pruned", {"epoch": 1, "epoch_s": 0.1, "val_loss": 0.1})
    store.finish("pruned")  # stopped by a rung: no evidence
    cache: dict = {}
    assert passing_rungs(store, ids[:5], asha, cache=cache) == frozenset()  # five: too few yet
    assert passing_rungs(store, [*ids, "pruned"], asha, cache=cache) == frozenset({1})
    assert "pruned" not in cache and set(cache) == set(ids)
    # the running best at each rung (min metric, negated) and the final best, per ended trial
    assert cache["t5"] == ({1: pytest.approx(-0.55, rel=1e-5), 3: pytest.approx(-0.40, rel=1e-5)}, pytest.approx(-0.30, rel=1e-5))
