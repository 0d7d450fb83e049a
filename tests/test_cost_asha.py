"""Budget-aware ASHA (``scheduler = "asha-cost"``, hpbench.cost_asha): rungs in predicted seconds.
The rule is driven in memory without Ray or training; one tiny real search (slow) runs it
through Ray Tune."""

from __future__ import annotations

import math

import pytest

from hpbench.cost_asha import CostClock, CostRungs, milestones
from hpbench.strategies import SCHEDULERS


def test_milestones_are_laid_out_as_rays_asha():
    assert milestones(grace_period=1, reduction_factor=3, max_t=30) == (1, 3, 9, 27)
    assert milestones(grace_period=5, reduction_factor=2, max_t=30) == (5, 10, 20)
    assert milestones(grace_period=50, reduction_factor=3, max_t=30) == (30,)  # grace capped at max_t
    with pytest.raises(ValueError, match="reduction_factor > 1"):
        milestones(grace_period=1, reduction_factor=1, max_t=30)


def test_rungs_keep_the_best_third_and_record_each_trial_once():
    rungs = CostRungs(rungs=(1.0, 3.0), reduction_factor=3)
    assert rungs.decide("a", 1.0, 0.5) is False  # first at the rung: nothing to compare with
    assert rungs.decide("b", 1.0, 0.9) is False  # better than the cutoff
    assert rungs.decide("c", 1.0, 0.1) is True  # below the 67th percentile of {0.5, 0.9}
    assert rungs.decide("a", 2.0, 0.0) is False  # between rungs: a trial is judged once per rung
    assert set(rungs.recorded[1.0]) == {"a", "b", "c"} and rungs.recorded[3.0] == {}
    assert rungs.decide("b", 3.5, 0.95) is False and rungs.recorded[3.0] == {"b": 0.95}
    assert rungs.decide("d", 1.0, math.nan) is True and "d" not in rungs.recorded[1.0]  # no value: worse than any


def test_a_non_finite_value_is_stopped_once_there_is_a_cutoff():
    rungs = CostRungs(rungs=(1.0,), reduction_factor=2)
    assert rungs.decide("a", 1.0, 0.5) is False
    assert rungs.decide("b", 1.0, -math.inf) is True and "b" not in rungs.recorded[1.0]


def test_a_slow_configuration_is_judged_after_fewer_epochs_and_a_fast_one_after_more():
    per_epoch = {"slow": 4.0, "ref": 1.0, "fast": 0.25}
    clock = CostClock(epoch_cost=lambda p: per_epoch[p["kind"]], reference=lambda: 1.0)
    rungs = CostRungs(rungs=milestones(grace_period=4, reduction_factor=3, max_t=30), reduction_factor=3)

    def first_judged(kind: str) -> int:
        for epoch in range(1, 31):
            t = clock.elapsed(kind, {"kind": kind}, epoch)
            if any(t >= m and kind not in rungs.recorded[m] for m in rungs.rungs):
                rungs.decide(kind, t, 0.5)
                return epoch
        return 0

    assert first_judged("slow") == 1  # 4 s spent: the first rung (4 reference epochs of 1 s)
    assert first_judged("ref") == 4  # plain ASHA's grace period
    assert first_judged("fast") == 16  # 16 epochs of 0.25 s
    assert clock.elapsed("fast", {"kind": "fast"}, 16) == pytest.approx(4.0, rel=1e-5)


def test_unknown_costs_are_plain_epochs():
    clock = CostClock(epoch_cost=lambda p: None, reference=lambda: None)
    assert [clock.elapsed("t", {}, e) for e in (1, 2, 7)] == [1.0, 2.0, 7.0]
    clock = CostClock(epoch_cost=lambda p: 3.0, reference=lambda: None)  # no reference: no unit to convert to
    assert clock.elapsed("t", {}, 2) == 2.0
    clock = CostClock(epoch_cost=lambda p: None, reference=lambda: 2.0)  # a trial not predicted (yet): one epoch = one reference epoch
    assert clock.elapsed("t", {}, 2) == 2.0


def test_the_reference_is_read_once_and_a_trials_time_never_goes_back():
    asked = []
    known: dict[str, float | None] = {"cost": None}

    def reference() -> float:
        asked.append(1)
        return 2.0

    clock = CostClock(epoch_cost=lambda p: known["cost"], reference=reference)
    assert clock.elapsed("t", {}, 3) == 3.0  # its prediction is not in yet
    known["cost"] = 0.5  # now it is: 0.25 reference epochs per epoch
    assert clock.elapsed("t", {}, 4) == 3.0  # 4 * 0.25 = 1 < 3 already counted
    assert clock.elapsed("t", {}, 20) == pytest.approx(5.0, rel=1e-5)
    clock.elapsed("u", {}, 1)
    assert len(asked) == 1


def test_registered_with_rungs_of_the_study(write_study):
    pytest.importorskip("ray")
    from hpbench.dispatch.schedulers import decision_epochs
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    study = load_study(write_study(TINY_STUDY.replace('scheduler = "none"', 'scheduler = "asha-cost"')))
    assert study.settings.scheduler == "asha-cost"
    assert decision_epochs(study, max_t=3) == {1, 2, 3}  # each trial's rungs fall on its own epochs: every epoch is reported at once
    sched = SCHEDULERS.get("asha-cost").build(metric="objective", mode="min", max_t=30, time_attr="epoch", grace_period=1,
                                              reduction_factor=3, epoch_cost=lambda p: 2.0, reference_cost=lambda: 1.0)
    assert sched.rungs.rungs == (1, 3, 9, 27)

    class Trial:
        def __init__(self, tid: str) -> None:
            self.trial_id, self.config = tid, {"lr": 0.1}

    # mode min: a larger loss is worse; each epoch counts 2 reference epochs
    assert sched.on_trial_result(None, Trial("a"), {"epoch": 1, "objective": 0.2}) == "CONTINUE"
    assert sched.on_trial_result(None, Trial("b"), {"epoch": 1, "objective": 0.9}) == "STOP"
    assert sched.clock.elapsed("a", {}, 1) == pytest.approx(2.0, rel=1e-5)


@pytest.mark.slow
def test_a_tiny_real_search_prunes_by_predicted_seconds(ray_local, tmp_path):
    """Through Ray Tune, with the helper's real cost predictions: trials run, each reports every
    epoch, and the weak ones are stopped at a rung (stop reason pruned)."""
    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    path = tmp_path / "c.toml"
    path.write_text(TINY_STUDY.replace('scheduler = "none"', 'scheduler = "asha-cost"\ngrace_period = 1\nreduction_factor = 2')
                    .replace("trials = 4", "trials = 8").replace("max_epochs = 3", "max_epochs = 4")
                    .replace('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { loguniform = [1e-5, 1e-1] }\n"model.width" = { choice = [8, 256] }'))
    run_search(load_study(path), SearchOptions(out=tmp_path / "out"))
    trials = hpbench.load(tmp_path / "out")
    epochs = hpbench.load(tmp_path / "out", table="epochs")
    assert len(trials) == 8 and set(trials["stop_reason"]) <= {"completed", "early_stopped", "pruned", "diverged"}
    assert (trials["stop_reason"] == "pruned").any()  # lr down to 1e-5: some trials are far below the others at a rung
    assert len(epochs) == trials["epochs"].sum() and trials["best_val_accuracy"].max() > 0.5
