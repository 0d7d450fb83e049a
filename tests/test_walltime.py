"""The wall-time model (issue 18) without Ray: the schedule replay on hand-made cases with
closed-form answers, the parts of a command's wall time, the live ETA's remaining time and its
correction, this machine's history, and the budget's clock."""

from __future__ import annotations

import json
import math
import random
from concurrent.futures import Future
from dataclasses import replace

import numpy as np
import pytest

from hpbench.cost import clock, history, record
from hpbench.cost.correct import Correction
from hpbench.cost.figures import PRIOR_BEST, SMALL_REPORT_RATIO, SOLO_STARTUP_RATIO, Figures
from hpbench.cost.live import Finished, Running, overheads, remaining_trials_s
from hpbench.cost.simulate import Pruning, SimTrial, Slots, replay
from hpbench.cost.walltime import Repeats, SearchPlan, TrialPlan, drawn_epochs, natural_epochs, predict, sim_trials

REL = 1e-5
BARE = Figures(startup_s=0.0, fresh_worker_s=0.0, setup_s=0.0, turnover_s=0.0, report_s=0.0, exit_s=0.0, best_fractions=(1.0,),
               spread=0.0)


# -- the replay ------------------------------------------------------------------------------------
def test_four_equal_trials_at_concurrency_two_take_two_rounds():
    r = replay([SimTrial(epoch_s=1.0, epochs=5)] * 4, slots=Slots(concurrency=2))
    assert r.makespan_s == pytest.approx(10.0, rel=REL)
    assert r.epochs == (5, 5, 5, 5) and not any(r.pruned)
    assert r.ended_s == pytest.approx((5.0, 5.0, 10.0, 10.0), rel=REL)


def test_slot_overheads_add_as_a_slot_runs_them():
    # slot: fresh 2 + set-up 0.5 + 5 epochs of 1 s = 7.5; then turnover 0.1 + set-up 0.5 + 5 = 13.1
    r = replay([SimTrial(epoch_s=1.0, epochs=5)] * 4, slots=Slots(concurrency=2, fresh_s=2.0, setup_s=0.5, turnover_s=0.1))
    assert r.makespan_s == pytest.approx(13.1, rel=REL)
    # unequal trials go to whichever slot frees first (list scheduling): 6 | 1+1+1+... -> 6
    r = replay([SimTrial(epoch_s=1.0, epochs=e) for e in (6, 1, 1, 1, 1)], slots=Slots(concurrency=2))
    assert r.makespan_s == pytest.approx(6.0, rel=REL)


def test_asha_rungs_are_rays_and_the_dispatchers():
    from hpbench.dispatch.schedulers import decision_epochs
    from hpbench.study.parse import load_study

    assert Pruning(kind="asha", max_t=30, grace_period=1, reduction_factor=3).rungs() == (1, 3, 9, 27)
    assert Pruning(kind="asha", max_t=81, grace_period=1, reduction_factor=3).rungs() == (1, 3, 9, 27, 81)
    assert Pruning(kind="asha", max_t=20, grace_period=2, reduction_factor=2).rungs() == (2, 4, 8, 16)
    assert Pruning(kind="none", max_t=20).rungs() == ()
    study = load_study("studies/quickstart.toml")
    assert set(Pruning(kind="asha", max_t=30).rungs()) == set(decision_epochs(study, max_t=30))


def test_asha_prunes_below_the_rungs_percentile_and_lets_the_first_through():
    asha = Pruning(kind="asha", max_t=9, grace_period=1, reduction_factor=3)
    # one slot: each new trial is better than all before it -> nobody is below the cutoff
    rising = [SimTrial(epoch_s=1.0, epochs=9, score=s) for s in (0.1, 0.2, 0.3, 0.4)]
    assert replay(rising, slots=Slots(concurrency=1), pruning=asha).epochs == (9, 9, 9, 9)
    # worse than every trial recorded before: pruned at the first rung (the first always continues)
    falling = [SimTrial(epoch_s=1.0, epochs=9, score=s) for s in (0.4, 0.3, 0.2, 0.1)]
    r = replay(falling, slots=Slots(concurrency=1), pruning=asha)
    assert r.epochs == (9, 1, 1, 1) and r.pruned == (False, True, True, True)
    assert r.makespan_s == pytest.approx(12.0, rel=REL)
    # early stopping ends a trial before its rung: not pruned
    assert replay([SimTrial(epoch_s=1.0, epochs=2, score=0.5)], slots=Slots(concurrency=1), pruning=asha).pruned == (False,)


def test_asha_cutoff_is_numpys_percentile_of_the_recorded_scores_in_any_order():
    """The rung's cutoff is numpy's linear percentile (as Ray's ASHA reads it) of the scores
    recorded there, however they arrived: recorded ones unsorted, then each replayed trial's."""
    asha = Pruning(kind="asha", max_t=3, grace_period=1, reduction_factor=3)
    recorded = [0.9, 0.1, 0.5, 0.7, 0.3]
    cutoff = float(np.percentile(recorded, (1 - 1 / 3) * 100))  # 0.6333...
    just_below, just_above = cutoff - 1e-3, cutoff + 1e-3
    for score, pruned in ((just_below, True), (just_above, False)):
        r = replay([SimTrial(epoch_s=1.0, epochs=3, score=score)], slots=Slots(concurrency=1), pruning=asha, recorded={1: recorded})
        assert r.pruned == (pruned,), (score, cutoff)
    # the replayed trials' scores join the rung's: a third trial meets the cutoff of all seven
    trials = [SimTrial(epoch_s=1.0, epochs=3, score=s) for s in (0.95, 0.99, 0.8)]
    r = replay(trials, slots=Slots(concurrency=1), pruning=asha, recorded={1: recorded})
    assert float(np.percentile([*recorded, 0.95, 0.99], (1 - 1 / 3) * 100)) > 0.8  # so the third is pruned at rung 1
    assert r.pruned == (False, False, True)


def test_asha_on_many_random_trials_spends_about_the_textbook_fraction():
    """Li et al.: every trial reaches rung 0, 1/eta of them each next rung. The asynchronous
    rule lets early arrivals through, so the replay spends a little more, never less."""
    from hpbench.cost.estimate import asha_epoch_fraction

    rng = random.Random(0)
    trials = [SimTrial(epoch_s=1.0, epochs=81, score=rng.random()) for _ in range(2000)]
    r = replay(trials, slots=Slots(concurrency=1), pruning=Pruning(kind="asha", max_t=81, reduction_factor=3))
    spent = sum(r.epochs) / (81 * len(trials))
    textbook = asha_epoch_fraction(max_epochs=81, grace_period=1, reduction_factor=3)
    assert textbook <= spent <= 1.25 * textbook


def test_median_rule_waits_for_three_then_stops_the_worse_half():
    median = Pruning(kind="median", max_t=10, grace_period=2)
    falling = [SimTrial(epoch_s=1.0, epochs=10, score=s) for s in (0.9, 0.8, 0.7, 0.1, 0.95)]
    r = replay(falling, slots=Slots(concurrency=1), pruning=median)
    assert r.epochs == (10, 10, 10, 2, 10)  # trial 3: three others reached epoch 2, it is below their median


def test_running_trials_continue_where_they_are():
    # 5 of 10 epochs done in 5 s: 5 s left; then a pending trial of 10 s on the freed slot
    running = SimTrial(epoch_s=1.0, epochs=10, done=5, running_for_s=5.0)
    r = replay([running, SimTrial(epoch_s=1.0, epochs=10)], slots=Slots(concurrency=1))
    assert r.makespan_s == pytest.approx(15.0, rel=REL)
    # late (running longer than predicted): half an epoch before its next epoch ends
    late = SimTrial(epoch_s=1.0, epochs=6, done=5, running_for_s=20.0)
    assert replay([late], slots=Slots(concurrency=1)).makespan_s == pytest.approx(0.5, rel=REL)
    # on a fresh worker still starting (3 s of its 4-s start gone, no epoch yet): 1 s more, then 10 epochs
    starting = SimTrial(epoch_s=1.0, epochs=10, running_for_s=3.0, fresh=True)
    assert replay([starting], slots=Slots(concurrency=1, fresh_s=4.0)).makespan_s == pytest.approx(11.0, rel=REL)
    # not fresh, it is late: half an epoch to its first epoch
    assert replay([replace(starting, fresh=False)], slots=Slots(concurrency=1, fresh_s=4.0)).makespan_s == pytest.approx(9.5, rel=REL)


# -- early stopping and the whole command -----------------------------------------------------------
def test_natural_epochs_follow_keras_patience():
    es = TrialPlan(epoch_s=1.0, max_epochs=30, patience=3)
    assert natural_epochs(es, 0.2) == 9  # best at epoch 6, three more without improvement
    assert natural_epochs(es, 1.0) == 30  # capped at max_epochs
    assert natural_epochs(TrialPlan(epoch_s=1.0, max_epochs=30, patience=0), 0.1) == 4  # patience 0 acts as 1
    assert natural_epochs(TrialPlan(epoch_s=1.0, max_epochs=30, patience=2, start_from_epoch=10), 0.1) == 13
    assert natural_epochs(TrialPlan(epoch_s=1.0, max_epochs=30), 0.1) == 30  # no early stopping


def test_predict_parts_add_up_and_follow_closed_forms():
    plan = SearchPlan(trials=(TrialPlan(epoch_s=0.1, max_epochs=10),) * 4, concurrency=2, command=True)
    # no early trials in the plan: the start-up of a search without them
    figs = Figures(startup_s=9.0, startup_solo_s=1.0, fresh_worker_s=0.0, setup_s=0.0, turnover_s=0.0, report_s=0.5, exit_s=0.25, spread=0.0)
    w = predict(plan, figures=figs)
    assert w.trials_s == pytest.approx(2.0, rel=REL) and w.turnover_s == pytest.approx(0.0, abs=1e-9)
    assert w.total_s == pytest.approx(1.0 + 2.0 + 0.5 + 0.25, rel=REL)
    assert sum(w.parts().values()) == pytest.approx(w.total_s, rel=REL)
    assert w.epoch_fraction == pytest.approx(1.0, rel=REL)
    # contention slows every part alike; the API (no command) has no final table or exit
    w2 = predict(plan, figures=figs, contention=2.0)
    assert w2.total_s == pytest.approx(2 * w.total_s, rel=REL)
    api = predict(SearchPlan(trials=plan.trials, concurrency=2, command=False), figures=figs)
    assert api.total_s == pytest.approx(3.0, rel=REL)


def test_predict_turnover_is_what_overheads_add():
    figs = Figures(startup_s=0.0, fresh_worker_s=2.0, setup_s=0.5, turnover_s=0.1, tail_s=0.4, report_s=0.0, exit_s=0.0, spread=0.0)
    w = predict(SearchPlan(trials=(TrialPlan(epoch_s=1.0, max_epochs=5),) * 4, concurrency=2), figures=figs)
    assert w.trials_s == pytest.approx(10.0, rel=REL)
    assert w.trials_s + w.turnover_s == pytest.approx(13.1 + 0.4, rel=REL)  # as in the slot test, plus the Tuner's tail


def test_predict_early_stopping_from_history_and_after_search_parts():
    figs = Figures(startup_s=0.0, fresh_worker_s=0.0, setup_s=0.0, report_s=0.0, exit_s=0.0, replay_start_s=1.0, test_s=3.0,
                   best_fractions=(0.2,), spread=0.0)
    es = TrialPlan(epoch_s=1.0, max_epochs=30, patience=3)
    plan = SearchPlan(trials=(es,) * 4, concurrency=2, repeats=Repeats(top=1, seeds=2, slots=2), test_split=True, test_cold=False,
                      device_runs=((TrialPlan(epoch_s=0.5, max_epochs=30, patience=3),) * 4,))
    w = predict(plan, figures=figs)
    assert w.epoch_fraction == pytest.approx(9 / 30, rel=REL)
    assert w.trials_s == pytest.approx(18.0, rel=REL)  # 4 trials of 9 epochs, 2 at a time
    assert w.repeats_s == pytest.approx(1.0 + 9.0, rel=REL)  # the replay's start, then 2 runs side by side
    assert w.devices_s == pytest.approx(1.0 + 9.0, rel=REL)  # 4 runs of 4.5 s, 2 at a time
    assert w.test_s == pytest.approx(3.0, rel=REL)


def test_predict_interval_brackets_the_estimate():
    plan = SearchPlan(trials=(TrialPlan(epoch_s=0.05, max_epochs=30, patience=3),) * 24, concurrency=2,
                      pruning=Pruning(kind="asha", max_t=30))
    w = predict(plan, figures=Figures())
    assert w.low_s < w.total_s < w.high_s
    assert 0 < w.epoch_fraction < 0.5  # ASHA and early stopping together


def test_predict_interval_takes_the_cost_models_bounds_together():
    figs = Figures(startup_s=1.0, startup_solo_s=1.0, fresh_worker_s=0.0, setup_s=0.0, report_s=0.0, exit_s=0.0, spread=0.0)
    plan = SearchPlan(trials=(TrialPlan(epoch_s=1.0, max_epochs=10, low=0.5, high=2.0),) * 4, concurrency=2, command=False)
    w = predict(plan, figures=figs)
    assert w.total_s == pytest.approx(21.0, rel=REL)
    assert w.low_s == pytest.approx(1.0 + 10.0, rel=REL) and w.high_s == pytest.approx(1.0 + 40.0, rel=REL)
    spread = predict(SearchPlan(trials=(TrialPlan(epoch_s=1.0, max_epochs=10),) * 4, concurrency=2, command=False),
                     figures=replace(figs, spread=0.1))
    assert spread.low_s == pytest.approx(0.9 + 20.0, rel=REL) and spread.high_s == pytest.approx(1.1 + 20.0, rel=REL)


def test_remaining_time_of_a_live_search():
    plan = TrialPlan(epoch_s=1.0, max_epochs=10)
    left = remaining_trials_s(running=[Running(plan=plan, done=5, running_for_s=5.0)], pending=[plan], concurrency=1, figures=BARE)
    assert left == pytest.approx(15.0, rel=REL)
    assert remaining_trials_s(running=[], pending=[], concurrency=2, figures=BARE) == 0.0
    # the rungs' records so far: with many trials recorded at rung 1, a pending trial is mostly pruned there
    asha = Pruning(kind="asha", max_t=9)
    crowded = remaining_trials_s(running=[], pending=[TrialPlan(epoch_s=1.0, max_epochs=9)], concurrency=1, figures=BARE,
                                 pruning=asha, recorded={1: 50, 3: 17, 9: 6}, seeds=64)
    fresh = remaining_trials_s(running=[], pending=[TrialPlan(epoch_s=1.0, max_epochs=9)], concurrency=1, figures=BARE, pruning=asha)
    assert fresh == pytest.approx(9.0, rel=REL)  # the first trial at every rung continues
    assert crowded < 4.0


def test_overheads_move_toward_what_finished_trials_measured():
    figs = Figures(speed=1.0, setup_s=0.1, fresh_worker_s=2.0)
    slow = [Finished(train_s=2.0, wall_s=2.3)] * 2  # 0.3 s of set-up
    c = overheads(figs, finished=slow, weight=2.0)
    assert c.setup_s == pytest.approx(0.2, rel=REL)  # halfway after two trials (2 / (2 + 2))
    assert c.fresh_worker_s == pytest.approx(2.0, rel=REL)  # no fresh trial measured
    assert c.speed == figs.speed  # the trials' seconds are the in-run correction's (hpbench.cost.correct), not this
    assert overheads(figs, finished=[]) == figs
    # a fresh worker's start: halfway after one slot's first trial (its sibling started with it)
    one = overheads(figs, finished=[Finished(train_s=1.0, wall_s=4.1, fresh=True)])
    assert one.fresh_worker_s == pytest.approx((2.0 + 3.0) / 2, rel=REL)  # 4.1 - 1.0 - 0.1 of set-up = 3.0 measured


def test_remaining_time_is_priced_with_the_in_run_correction():
    """The live ETA's trial seconds: predicted x the correction of the trial's regime (the pooled
    one for a regime without its own) blended with the machine's speed figure as if the figure were
    SPEED_PRIOR_TRIALS more trials (geometric), the speed figure alone before any correction."""
    from hpbench.cost.walltime import SPEED_PRIOR_TRIALS, slowness

    def blend(factor: float, n: int, speed: float = 1.0) -> float:
        w = n / (n + SPEED_PRIOR_TRIALS)
        return float(factor**w * speed ** (1 - w))

    pooled = {"all": Correction(factor=2.0, n_trials=4, regime="all")}
    plan = TrialPlan(epoch_s=1.0, max_epochs=10)
    assert SPEED_PRIOR_TRIALS == 2.0 and blend(2.0, 4) == pytest.approx(2.0 ** (2 / 3), rel=REL)
    assert slowness(plan, figures=replace(BARE, speed=0.5), c=1.0, factors=pooled) == pytest.approx(blend(2.0, 4, 0.5), rel=REL)
    big = {"all": Correction(factor=2.0, n_trials=10_000, regime="all")}
    assert slowness(plan, figures=replace(BARE, speed=0.5), c=1.0, factors=big) == pytest.approx(2.0, rel=1e-3)  # evidence wins
    # running: 5 of 10 epochs done in the 10 s the correction says they take; then 5 x f s; then a pending 10 x f s
    f = blend(2.0, 4)
    left = remaining_trials_s(running=[Running(plan=plan, done=5, running_for_s=10 * f / 2)], pending=[plan], concurrency=1, figures=BARE,
                              factors=pooled)
    assert left == pytest.approx(5 * f + 10 * f, rel=REL)
    factors = {**pooled, "compute": Correction(factor=3.0, n_trials=4, regime="compute")}
    compute, memory = replace(plan, regime="compute"), replace(plan, regime="memory")
    assert remaining_trials_s(running=[], pending=[compute], concurrency=1, figures=BARE, factors=factors) == pytest.approx(
        10 * blend(3.0, 4), rel=REL)
    assert remaining_trials_s(running=[], pending=[memory], concurrency=1, figures=BARE, factors=factors) == pytest.approx(
        10 * blend(2.0, 4), rel=REL)
    # no correction yet: the machine's speed figure at the contention
    figs = replace(BARE, speed=1.5)
    assert remaining_trials_s(running=[], pending=[plan], concurrency=1, figures=figs, contention=2.0) == pytest.approx(30.0, rel=REL)
    assert remaining_trials_s(running=[], pending=[plan], concurrency=1, figures=figs, contention=2.0, factors={}) == pytest.approx(30.0, rel=REL)
    # the first epoch's figure is inside the corrected seconds (measured train_s), not added again
    first = replace(BARE, first_epoch_s=4.0)
    assert remaining_trials_s(running=[], pending=[plan], concurrency=1, figures=first) == pytest.approx(14.0, rel=REL)
    assert remaining_trials_s(running=[], pending=[plan], concurrency=1, figures=first, factors=pooled) == pytest.approx(10 * f, rel=REL)


def test_estimate_interval_takes_each_trials_p10_p90(write_study):
    """The estimate's interval: each trial at its cost model's P10 / P90 (hpbench.cost.trial_time,
    the predicted_s_p10 / _p90 columns), none where the device model has no interval."""
    from conftest import TINY_STUDY

    from hpbench.cost.estimate import search_plan, trial_plan
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 1")))
    params = {"optimizer": "adam", "lr": 0.01}
    cols = {"predicted_s": 3.0, "predicted_s_p10": 1.5, "predicted_s_p90": 6.0}
    p = trial_plan(study, params, epoch_s=1.0, columns=cols)
    assert (p.low, p.high, p.max_epochs) == (0.5, 2.0, 3)
    assert (trial_plan(study, params, epoch_s=1.0, columns={"predicted_s": 3.0, "predicted_s_p10": None}).low, trial_plan(study, params, epoch_s=1.0).high) == (1.0, 1.0)
    w = predict(search_plan(study, [p] * 4, cpus=1, command=False), figures=BARE)
    assert w.total_s == pytest.approx(12.0, rel=REL)  # 4 trials x 3 epochs x 1 s, one at a time
    assert w.low_s == pytest.approx(6.0, rel=REL) and w.high_s == pytest.approx(24.0, rel=REL)


# -- the machine's history -------------------------------------------------------------------------
def _times(starts, ends, train, *, epochs=3, predicted=0.1, stop="pruned", best=None):
    return [record.TrialTimes(started_at=s, ended_at=e, train_s=t, epochs=epochs, max_epochs=30, stop_reason=stop,
                               predicted_epoch_s=predicted, best_epoch=best) for s, e, t in zip(starts, ends, train, strict=True)]


def test_slot_figures_from_hand_made_trials():
    # two fresh workers (3 s beyond training), then trials with 0.2 s of set-up after 0.1-s gaps
    trials = _times([0.0, 0.0, 4.1, 4.1, 8.4], [4.0, 4.0, 8.3, 8.3, 12.6], [1.0, 1.0, 4.0, 4.0, 4.0])
    f = record.slot_figures(trials, concurrency=2)
    assert f["setup_s"] == pytest.approx(0.2, rel=REL)
    assert f["fresh_worker_s"] == pytest.approx(2.8, rel=REL)
    assert f["turnover_s"] == pytest.approx(0.1, rel=REL)


def test_history_record_round_trip_and_figures(tmp_path):
    assert history.load(tmp_path) == []
    trials = _times([0.0, 0.0, 4.1, 4.1], [4.0, 4.0, 8.3, 8.3], [1.0, 1.0, 4.0, 4.0], epochs=10, predicted=0.2,
                    stop="early_stopped", best=6)
    rec = record.search_record(run_id="a", study="s", trials=trials, started_at=-5.0, command=True, ray_started=True, cpus=2,
                                concurrency=2, cpus_per_trial=1.0, contention=2.0, phases={"search_s": 8.3, "test_s": 1.0})
    assert rec["startup_s"] == pytest.approx(5.0, rel=REL)
    assert rec["best_fractions"] == pytest.approx([0.2] * 4, rel=REL)
    assert rec["speed"] == pytest.approx(1.25, rel=REL)  # median of 0.5 and 2.0
    # its predictions from a model cached before it started: its final table holds no calibration wait (history.clean_report)
    history.append(tmp_path, {**rec, "out": "/r", "started_at": -5.0, "phases_end_at": 10.0, "model": history.tag_of(-10.0).to_dict()})
    assert history.finish(tmp_path, out="/r", started_at=-5.0, report_end=12.0, exit_s=1.0)
    assert not history.finish(tmp_path, out="/other", started_at=-5.0, report_end=12.0, exit_s=1.0)
    (got,) = history.load(tmp_path)
    assert got["report_s"] == pytest.approx(2.0, rel=REL) and got["total_s"] == pytest.approx(18.0, rel=REL)
    f = history.figures(history.load(tmp_path), study="s")
    assert f.startup_s == pytest.approx(2.5, rel=REL)  # 5 s under contention 2
    assert f.speed == pytest.approx(0.625, rel=REL)
    assert f.test_s == pytest.approx(0.5, rel=REL) and f.report_s == pytest.approx(1.0, rel=REL)
    assert f.best_fractions == pytest.approx((0.2,) * 4, rel=REL)
    assert f.source("startup_s") == "1 earlier searches here" and f.source("speed") == "1 earlier runs of this study"
    assert f.source("replay_start_s") == "prior"
    assert history.figures([], study="s") == Figures()


def test_history_reads_the_speed_from_later_epochs_and_the_first_epochs_extra_apart():
    # predicted 0.1 s per epoch; measured 0.3 s for the first epoch and 0.2 s for later ones
    t = [record.TrialTimes(started_at=0.0, ended_at=2.0, train_s=1.9, epochs=9, max_epochs=9, stop_reason="completed",
                            predicted_epoch_s=0.1, first_epoch_s=0.3, later_epoch_s=0.2),
         record.TrialTimes(started_at=0.0, ended_at=0.5, train_s=0.3, epochs=1, max_epochs=9, stop_reason="pruned",
                            predicted_epoch_s=0.1, first_epoch_s=0.3)]
    rec = record.search_record(run_id="b", study="s", trials=t, started_at=0.0, command=False, ray_started=False, cpus=2,
                                concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={})
    assert rec["speed"] == pytest.approx(2.0, rel=REL)  # not 1.9 / 0.9 nor 0.3 / 0.1
    assert rec["first_epoch_s"] == pytest.approx(0.1, rel=REL)
    assert rec["startup_s"] is None  # Ray was up already: no start-up to learn from
    f = history.figures([rec])
    # the replay charges the first epoch's extra once per trial, on top of its set-up
    w = predict(SearchPlan(trials=(TrialPlan(epoch_s=0.1, max_epochs=10),), concurrency=1), figures=replace(f, setup_s=0.0, fresh_worker_s=0.0))
    assert w.trials_s == pytest.approx(2.0, rel=REL) and w.turnover_s == pytest.approx(0.1 + f.tail_s, rel=REL)


def test_history_prefers_the_same_study_and_skips_what_a_record_did_not_measure(tmp_path):
    other = {"schema": history.SCHEMA, "study": "other", "best_fractions": [0.9], "startup_s": 9.0, "command": False, "ray_started": True}
    mine = {"schema": history.SCHEMA, "study": "mine", "best_fractions": [0.1], "startup_s": 3.0, "command": True, "ray_started": True}
    f = history.figures([mine, other], study="mine")
    assert f.best_fractions == (0.1,) and f.startup_s == pytest.approx(3.0, rel=REL)  # the API's start-up is not a command's
    assert history.figures([other], study="new").best_fractions == (0.9,)
    assert history.figures([{"schema": history.SCHEMA, "study": "x"}], study="x").best_fractions == PRIOR_BEST


def test_a_search_without_early_trials_has_its_own_start_up_figure():
    """The helper trains no early trial beside Ray's start in a search of fewer than 4 trials (or
    with --no-early-trials): its start-up is read from such searches only, the others' from theirs."""
    def rec(startup: float, **kw: object) -> dict:
        return {"schema": history.SCHEMA, "study": "s", "startup_s": startup, "command": True, "ray_started": True, **kw}

    recs = [rec(10.0, n_search=24), rec(9.0, n_search=4), rec(6.0, n_search=1), rec(7.0, n_search=12, early_trials=False),
            rec(11.0, n_search=2, early_trials=True)]
    assert [history.early_trials(r) for r in recs] == [True, True, False, False, True]
    assert history.early_trials({"startup_s": 5.0})  # a record that says nothing of it: as most searches run
    f = history.figures(recs, study="s")
    assert f.startup_s == pytest.approx(10.0, rel=REL) and f.startup_solo_s == pytest.approx(6.5, rel=REL)  # medians of 10, 9, 11 / 6, 7
    assert f.startup(early=True, contention=1.0) == pytest.approx(10.0, rel=REL)
    assert f.startup(early=False, contention=2.0) == pytest.approx(13.0, rel=REL)
    assert f.source("startup_solo_s") == "2 earlier searches here" == f.startup_source(early=False)
    # each such search's own data taken out, the data figure's put in (Figures.startup takes that figure out again):
    # a loader's 0.9 s in the one solo search is not every later solo search's
    loaded = history.figures([rec(10.0, n_search=24, data_s=0.1), rec(7.0, n_search=1, data_s=0.9)], study="s")
    assert loaded.startup_solo_s == pytest.approx(7.0 - 0.9 + 0.1, rel=REL)
    assert loaded.startup(early=False, contention=1.0, data_s=0.0) == pytest.approx(6.1, rel=REL)
    # none measured yet: the start-up figure x the ratio measured here
    only = history.figures(recs[:2], study="s")
    assert only.startup_solo_s == 0.0
    assert only.startup(early=False, contention=1.0) == pytest.approx(9.5 * SOLO_STARTUP_RATIO, rel=REL)
    assert "without early trials" in only.startup_source(early=False)
    # and the replay starts a plan without early trials on it
    plan = SearchPlan(trials=(TrialPlan(epoch_s=0.1, max_epochs=1),) * 2, concurrency=1, command=False)
    assert predict(plan, figures=f).startup_s == pytest.approx(6.5, rel=REL)
    assert predict(replace(plan, early=1, early_max=1), figures=f).startup_s == pytest.approx(10.0, rel=REL)


def test_a_search_too_small_for_importances_has_its_own_final_table_figure(write_study):
    """The final table of a search of fewer than 3 trials scores no parameter importances (no
    fANOVA): its seconds are read from such searches only, the others' from theirs, each study's own
    runs first; before any, the larger searches' figure x the ratio measured here."""
    def rec(report: float, n: int | None, study: str = "other") -> dict:
        return {"schema": history.SCHEMA, "study": study, "report_s": report, "command": True, **({"n_search": n} if n else {}),
                "started_at": 1.0, "model": history.tag_of(0.0).to_dict()}  # on a model cached before it: no calibration wait in report_s

    recs = [rec(2.0, 24), rec(1.8, 3), rec(2.2, None), rec(1.2, 1), rec(1.0, 2), rec(9.0, 2, study="api") | {"command": False}]
    assert [history.importance(r) for r in recs] == [True, True, True, False, False, False]
    f = history.figures(recs, study="s")
    assert f.report_s == pytest.approx(2.0, rel=REL) and f.report_small_s == pytest.approx(1.1, rel=REL)
    assert f.report(importance=True, contention=1.0) == pytest.approx(2.0, rel=REL)
    assert f.report(importance=False, contention=2.0) == pytest.approx(2.2, rel=REL)
    assert f.report_source(importance=False) == "2 earlier searches here"
    # the study's own last runs first, of its own kind
    mine = [rec(0.7, 1, study="s"), rec(0.9, 1, study="s"), rec(3.0, 12, study="s")]
    own = history.figures(recs + mine, study="s")
    assert own.report_small_s == pytest.approx(0.8, rel=REL) and own.report_s == pytest.approx(3.0, rel=REL)
    assert own.source("report_small_s") == "2 earlier runs of this study"
    # none measured yet: the larger searches' figure x the ratio
    big = history.figures(recs[:3], study="s")
    assert big.report_small_s == 0.0 and big.report(importance=False, contention=1.0) == pytest.approx(2.0 * SMALL_REPORT_RATIO, rel=REL)
    assert "without importances" in big.report_source(importance=False)
    # the plan of a 2-trial search prices the shorter table; the live ETA's plan of one trial standing for 24 the longer
    from conftest import TINY_STUDY

    from hpbench.cost.estimate import search_plan
    from hpbench.study.parse import load_study

    figs = replace(BARE, report_s=2.0, report_small_s=1.0, spread=0.0)
    study = load_study(write_study(TINY_STUDY))
    one = TrialPlan(epoch_s=0.1, max_epochs=1)
    assert predict(search_plan(study, [one, one], cpus=2), figures=figs).report_s == pytest.approx(1.0, rel=REL)
    assert predict(search_plan(study, [one], cpus=2, n_search=24), figures=figs).report_s == pytest.approx(2.0, rel=REL)
    assert predict(search_plan(study, [one] * 3, cpus=2), figures=figs).report_s == pytest.approx(2.0, rel=REL)


def test_the_speed_ratio_is_the_studys_own_when_it_ran_here():
    recs = [{"study": "gru", "speed": 3.0, "contention": 1.5}, *({"study": f"mlp{i}", "speed": 1.0} for i in range(5))]
    assert history.figures(recs, study="gru").speed == pytest.approx(2.0, rel=REL)  # its own, over its contention
    assert history.figures(recs, study="gru").source("speed") == "1 earlier runs of this study"
    assert history.figures(recs, study="new").speed == pytest.approx(1.0, rel=REL)  # the machine's last searches


def test_history_keeps_the_newest_records_and_survives_a_bad_file(tmp_path):
    history.history_file(tmp_path).parent.mkdir(parents=True, exist_ok=True)
    history.history_file(tmp_path).write_text("{not json")
    assert history.load(tmp_path) == []
    for i in range(history.KEEP + 3):
        history.append(tmp_path, {"schema": history.SCHEMA, "run_id": str(i)})
    got = history.load(tmp_path)
    assert len(got) == history.KEEP and got[-1]["run_id"] == str(history.KEEP + 2)
    assert json.loads(history.history_file(tmp_path).read_text())["searches"][0]["run_id"] == "3"


# -- the machine, the clock, the budget ------------------------------------------------------------
def test_contention_formula_and_probe():
    assert clock.contention(probe=1.0, own=2, cpus=2) == 1.0  # an idle machine that fits the trials
    assert clock.contention(probe=1.0, own=4, cpus=2) == pytest.approx(2.0, rel=REL)  # our own trials overcommit it
    assert clock.contention(probe=3.0, own=2, cpus=2) == pytest.approx(3.0, rel=REL)  # 4 threads of other work + our 2
    assert clock.probe_contention(0.02) >= 1.0
    assert 0 <= clock.worker_niceness() <= 19
    assert clock.process_started_at() <= clock.time.time()
    assert clock.n_cpus() >= 1


def test_the_commands_clock_starts_when_its_process_was_spawned_not_before():
    """A child's start as process_started_at reads it lies between its spawn (the parent's clock
    just before) and its own first statement: btime + starttime read 0.7-0.85 s before the spawn
    on the development VM (btime is rounded down to the second)."""
    import subprocess
    import sys

    code = "import time; now = time.time(); from hpbench.cost import clock; print(clock.process_started_at(), now)"
    before = clock.time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    started, child_now = float(out[0]), float(out[1])
    assert before - 0.02 <= started <= child_now  # 0.02: the kernel keeps the start in 10-ms ticks


def test_budget_spends_the_commands_clock():
    from hpbench.dispatch.budget import Budget

    now = [0.0]
    b = Budget(seconds=10.0, clock=lambda: now[0] + 2.0)  # 2 s of after-search work reserved
    assert not b.exhausted()
    now[0] = 7.9
    assert not b.exhausted()
    now[0] = 8.0
    assert b.exhausted()
    b = Budget(flops=100.0)
    b.charge(flops=120.0)
    assert b.exhausted()


# -- the live ETA on a results store, without Ray -----------------------------------------------------
def test_search_clock_eta_and_record_without_ray(tmp_path, write_study):
    from conftest import TINY_STUDY

    from hpbench.dispatch import clock_record
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=4, started_at=clock.time.time() - 5.0, history_dir=tmp_path / "h")
    assert sc.elapsed() >= 5.0
    params = study.space.sample(random.Random(0))
    store.start("t0", params)
    sc.trial_started("t0")
    assert sc.eta_s(store) is None  # nothing known of the trials' cost yet
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 4)
    sc.plan = plan
    sc._eta = (0.0, -2, None)  # recompute now
    first = sc.eta_s(store)
    assert first is not None and first > 0
    store.annotate("t0", {"predicted_epoch_s": 0.01})
    store.epoch("t0", {"epoch": 1, "epoch_s": 0.02, "val_accuracy": 0.5, "val_loss": 1.0})
    store.finish("t0")
    sc.note(store)
    assert len(sc.trace) == 1 and sc.trace[0][1:3] == [0, 1]
    sc.phases_done()
    rec = clock_record.record(sc, store, out=tmp_path / "out")
    assert rec is not None and rec["n_trials"] == 1 and rec["command"] is True and rec["eta"] == sc.trace
    assert rec["study_key"] == study.fingerprint()  # the next estimate of the same study reads its span (hpbench.cost.own_runs)
    assert math.isclose(rec["speed"], 2.0, rel_tol=REL)  # 0.02 s measured for 0.01 s predicted
    assert history.load(tmp_path / "h")[-1]["run_id"] == rec["run_id"]


def test_live_eta_with_the_model_family_only_in_the_space(tmp_path):
    """studies/claims/recurrent.toml names its family only in [space]: the trials not started yet
    are priced from the study's own settings (this crashed a real search once)."""
    from hpbench.cost.estimate import trial_plan
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study("studies/claims/recurrent.toml")
    assert trial_plan(study, {}, epoch_s=0.5) == TrialPlan(epoch_s=0.5, max_epochs=20)
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=3, history_dir=None)
    store.start("t0", {"family": "gru"})
    store.annotate("t0", {"predicted_epoch_s": 0.5})
    sc.trial_started("t0")
    eta = sc.eta_s(store)
    assert eta is not None and eta > 0


def test_the_probe_is_blended_with_the_last_minutes_searches():
    now = 10_000.0
    recs = [{"probe": 3.0, "at": now - 2000}, {"probe": 1.2, "at": now - 300}, {"probe": 1.4, "at": now - 100}]
    assert history.recent_probes(recs, now=now) == [1.2, 1.4]  # the first is older than the window
    assert history.blended_probe([4.1, 1.6], recs, now=now) == pytest.approx(1.5, rel=REL)  # median of 4.1, 1.6, 1.2, 1.4
    assert history.blended_probe([2.0], [], now=now) == 2.0


def test_fused_repeats_count_once_per_group():
    from hpbench.cost.walltime import repeat_plans

    top = [TrialPlan(epoch_s=0.1, max_epochs=5, fuse=8), TrialPlan(epoch_s=0.1, max_epochs=5, fuse=2), TrialPlan(epoch_s=0.1, max_epochs=5)]
    assert len(repeat_plans(top, seeds=5)) == 1 + 3 + 5
    assert len(repeat_plans(top, seeds=0)) == 0


def test_a_phase_after_the_search_is_timed_from_its_planning(tmp_path, write_study):
    from conftest import TINY_STUDY

    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    sc = SearchClock(study=load_study(write_study(TINY_STUDY)), n_trials=4)
    with sc.entering("repeats") as phase:
        assert sc.phase == "repeats" and sc.sizes["repeats"] == 0
        phase.size(3)
        sc.trial_started("r0")
    assert sc.sizes["repeats"] == 3 and sc.trials["repeats"] == ["r0"]
    assert 0.0 <= sc.measured["replay_start_s"] <= sc.measured["repeats_s"]


def test_live_eta_of_a_grid_knows_the_trials_left(tmp_path, write_study):
    """A grid runs in the order the estimate enumerates it: after its expensive points, the
    ETA prices the cheap ones left, not the average of those seen (batch_size's grid read +65%)."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "grid"').replace("trials = 4", "trials = 6")
    study = load_study(write_study(text.replace("lr = { loguniform = [1e-3, 1e-1] }", "lr = { grid = [0.001, 0.01, 0.1] }")))

    def eta(plan_s: list[float]) -> float:
        store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
        sc = SearchClock(study=study, n_trials=6)
        for i, params in enumerate(study.space.grid()[:2]):
            store.start(f"t{i}", params)
            store.annotate(f"t{i}", {"predicted_epoch_s": plan_s[i]})
            store.epoch(f"t{i}", {"epoch": 3, "epoch_s": plan_s[i], "val_accuracy": 0.5})
            store.finish(f"t{i}")
            sc.trial_started(f"t{i}")
        fut: Future[list[float]] = Future()
        fut.set_result(plan_s)
        sc.plan = fut
        got = sc.eta_s(store)
        assert got is not None
        return got

    cheap_left = eta([1.0, 1.0, 0.01, 0.01, 0.01, 0.01])
    dear_left = eta([0.01, 0.01, 1.0, 1.0, 1.0, 1.0])
    assert cheap_left + 2.0 < dear_left  # 4 trials x 3 epochs x ~1 s, 2 at a time: about 6 s more


def test_live_eta_prices_the_trials_left_at_tunes_pace_the_dispatchers_factor_once_it_has_one(tmp_path, write_study):
    """The live ETA prices the trials left at the pace of Tune's trials' epochs
    (hpbench.cost.pace): after 4 ended trials the same factor the dispatcher gives new
    predictions (corrected_s); 4 pending trials x 3 epochs, one at a time, cost 12 s x the factor.
    Before 4 trials the dispatcher has no correction, and the ETA already its pace."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.corrections import corrected_columns
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 1").replace("trials = 4", "trials = 8")))

    def live(factor: float, ended: int) -> tuple[float, SearchClock, ResultsStore]:
        store = ResultsStore(out=tmp_path / f"out{factor}{ended}", metric=study.settings.metric, mode=study.settings.mode,
                             param_keys=study.space.keys())
        sc = SearchClock(study=study, n_trials=8)
        for i in range(ended):
            store.start(f"t{i}", {"optimizer": "adam", "lr": 0.01})
            sc.trial_started(f"t{i}")
            for e in range(3):
                store.epoch(f"t{i}", {"epoch": e + 1, "epoch_s": factor / 3, "val_accuracy": 0.5})
            store.finish(f"t{i}")
            store.annotate(f"t{i}", {"predicted_epoch_s": 1.0 / 3, "predicted_spent_s": 1.0, "regime": "compute"})
        plan: Future[list[float]] = Future()
        plan.set_result([1.0] * 8)
        sc.plan = plan
        eta = sc.eta_s(store)
        assert eta is not None
        return eta, sc, store

    two, sc, store = live(2.0, 4)
    assert sc.correction is not None and sc.correction.factor == pytest.approx(2.0, rel=REL)
    assert sc.correction.label() == "corrected from 4 trials"
    # one trial's corrected seconds: the same correction's per-trial factor (cost.correct.shrunk_log_mean)
    assert corrected_columns(store, {"predicted_s": 1.0, "regime": "compute"})["corrected_s"] == pytest.approx(sc.correction.per_trial, rel=REL)
    four, sc, _ = live(4.0, 4)
    assert sc.factors["compute"].factor == pytest.approx(4.0, rel=REL)
    # the trials left: 4 x 3 epochs of 1/3 s predicted (the ended trials' mean), x 4 instead of x 2,
    # each blended with the speed figure (hpbench.cost.walltime.slowness: 4 trials against its 2)
    speed = sc.figures.at("speed", sc.contention())
    assert four - two == pytest.approx(4 * 1.0 * (4.0 ** (2 / 3) - 2.0 ** (2 / 3)) * speed ** (1 / 3), rel=1e-3)
    assert sc.parts[2] == pytest.approx(4.0 ** (2 / 3) * speed ** (1 / 3), rel=1e-3)  # the trace keeps the slowness it used
    _, sc, store = live(2.0, 3)
    assert "corrected_s" not in corrected_columns(store, {"predicted_s": 1.0, "regime": "compute"})
    assert sc.correction is not None and sc.correction.factor == pytest.approx(2.0, rel=REL) and sc.correction.n_trials == 3
    assert "compute" not in sc.factors  # a regime's own from 4 trials, the pooled one before
    _, sc, _ = live(2.0, 0)
    assert sc.correction is None and sc.factors == {}


def test_budget_runs_on_the_search_clock(write_study):
    """--budget-s compares the command's clock (the ETA's) plus the after-search work with the budget."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.budget import Budget
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    sc = SearchClock(study=study, n_trials=4, started_at=clock.time.time() - 30.0)
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 4)
    sc.plan = plan
    reserve = sc.budget_s() - sc.elapsed()
    assert reserve > 0  # the final table and the exit of a whole command
    assert 30.0 <= sc.budget_s() < 30.0 + reserve + 1.0
    assert Budget(seconds=25.0, clock=sc.budget_s).exhausted()
    assert not Budget(seconds=3600.0, clock=sc.budget_s).exhausted()


def test_asha_cost_is_replayed_as_asha(write_study):
    from conftest import TINY_STUDY

    from hpbench.cost.estimate import pruning
    from hpbench.study.parse import load_study

    text = TINY_STUDY.replace("max_epochs = 3", "max_epochs = 27")
    assert pruning(load_study(write_study(text))).kind == "none"
    p = pruning(load_study(write_study(text.replace('scheduler = "none"', 'scheduler = "asha-cost"'))))
    assert p.kind == "asha" and p.rungs() == (1, 3, 9, 27)


def test_history_is_read_at_this_processs_priority(monkeypatch):
    """Searches at another nice (tests at nice 19 beside busy processes) do not price this one;
    with none at this priority, every record does."""
    recs = [{"study": "a", "nice": 19}, {"study": "b"}, *({"study": f"c{i}", "nice": 0} for i in range(3))]
    monkeypatch.setattr(history, "niceness", lambda: 0)
    assert [r["study"] for r in history.at_this_priority(recs)] == ["c0", "c1", "c2"]
    assert len(history.at_this_priority(recs[:4])) == 4  # fewer than MIN_SAME_PRIORITY at this nice: every record
    probed = [*recs, *({"study": f"p{i}", "nice": 0, "probe_nice": history.PROBE_NICE} for i in range(3))]
    assert [r["study"] for r in history.at_this_priority(probed)] == ["p0", "p1", "p2"]  # probed as this version probes
    monkeypatch.setattr(history, "niceness", lambda: 5)
    assert len(history.at_this_priority(recs)) == 5
    monkeypatch.undo()
    assert isinstance(history.niceness(), int)


def test_early_trials_count_in_the_eta_but_not_in_the_slot_figures(tmp_path, write_study):
    """Trials trained in the helper while Ray starts (hpbench.dispatch.early) are no longer priced
    as trials still to start; the record's start-up and slot figures stay Tune's."""
    from conftest import TINY_STUDY

    from hpbench.dispatch import clock_record
    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 1")))
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    plan: Future[list[float]] = Future()
    plan.set_result([1.0] * 4)
    seen, blind = SearchClock(study=study, n_trials=4, history_dir=tmp_path / "h"), SearchClock(study=study, n_trials=4)
    for sc in (seen, blind):
        sc.plan = plan
    for i, tid in enumerate([EARLY_ID.format(0), EARLY_ID.format(1), "tune_00000"]):
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        store.annotate(tid, {"predicted_epoch_s": 1.0})
        store.epoch(tid, {"epoch": 1, "epoch_s": 1.0, "val_accuracy": 0.5})
        store.finish(tid)
        seen.trial_started(tid)
        if i == 2:
            blind.trial_started(tid)
    a, b = seen.eta_s(store), blind.eta_s(store)
    assert a is not None and b is not None
    assert b - a > 2 * 3 * 0.5  # the blind clock still prices the two early trials (3 epochs of ~1 s each)
    rec = clock_record.record(seen, store, out=tmp_path / "out")
    assert rec is not None and rec["n_trials"] == 1  # Tune's trial only


def test_fused_repeats_start_later_than_single_runs_and_each_kind_is_read_from_its_own_records():
    """A replay phase's start to its first trial: 1.5-2.2 s where its runs train one by one, 3.9-5.9 s
    where they train as fused groups (five quiet benchmarks/eta.py runs); one figure for both
    priced transfer_finetune's unfused repeats +35-60%."""
    figs = Figures(startup_s=0.0, fresh_worker_s=0.0, setup_s=0.0, report_s=0.0, exit_s=0.0, replay_start_s=1.5, fused_start_s=4.5,
                   test_s=0.0, spread=0.0, tail_s=0.0)
    single = TrialPlan(epoch_s=1.0, max_epochs=3)
    one_by_one = predict(SearchPlan(trials=(single,) * 2, concurrency=2, repeats=Repeats(top=1, seeds=2, slots=2)), figures=figs)
    fused = predict(SearchPlan(trials=(replace(single, fuse=3),) * 2, concurrency=2, repeats=Repeats(top=1, seeds=2, slots=1)), figures=figs)
    assert one_by_one.repeats_s == pytest.approx(1.5 + 3.0, rel=REL) and fused.repeats_s == pytest.approx(4.5 + 3.0, rel=REL)
    recs = [{"schema": history.SCHEMA, "study": "a", "replay_start_s": 1.6, "contention": 1.0},
            {"schema": history.SCHEMA, "study": "b", "fused_start_s": 4.2, "contention": 1.0},
            {"schema": history.SCHEMA, "study": "c", "fused_start_s": 5.0, "contention": 2.0}]
    f = history.figures(recs)
    assert f.replay_start_s == pytest.approx(1.6, rel=REL) and f.fused_start_s == pytest.approx((4.2 + 2.5) / 2, rel=REL)
    assert f.source("fused_start_s") == "2 earlier searches here"
    assert history.figures(recs[:1]).fused_start_s == Figures().fused_start_s  # no fused record yet: the prior


@pytest.mark.parametrize("members, key", [(3, "fused_start_s"), (1, "replay_start_s")])
def test_the_record_files_a_replay_start_under_its_kind(tmp_path, write_study, members, key):
    from conftest import TINY_STUDY

    from hpbench.dispatch import clock_record
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=4, history_dir=tmp_path / "cache")
    with sc.entering("repeats"):
        store.start("r0.m0", {"optimizer": "adam", "lr": 0.01})
        store.annotate("r0.m0", {"fused_members": members})
        sc.trial_started("r0.m0")
    rec = clock_record.append(sc, store, out=tmp_path / "out", history_dir=tmp_path / "cache")
    other = {"fused_start_s", "replay_start_s"} - {key}
    assert isinstance(rec[key], float) and not other & set(rec)
    assert history.load(tmp_path / "cache")[-1][key] == rec[key]
    assert rec["early_trials"] is True  # whether its start-up had early trials beside it (the clock's default)
    solo = SearchClock(study=study, n_trials=1, history_dir=tmp_path / "cache", early=False)
    assert clock_record.append(solo, store, out=tmp_path / "out", history_dir=tmp_path / "cache")["early_trials"] is False


def test_the_test_split_costs_the_drivers_torch_import_unless_the_repeats_loaded_it(write_study):
    """The test split is evaluated in the driver: 1.7-3.1 s where it is the driver's first use of
    torch (signals, digits_cnn, a tiny MLP study), 0.04-0.17 s after repeats whose grouping counted
    FLOPs with torch there (eta-repeats; the tiny study with repeats 0.06 s). One figure for both
    priced signals' split at eta-repeats' 0.04 s. Each kind has its figure, the record files the
    measured seconds under its kind, and the estimate tells them apart by the repeats."""
    from hpbench.cost.estimate import test_cold
    from hpbench.study.parse import load_study

    figs = Figures(startup_s=0.0, fresh_worker_s=0.0, setup_s=0.0, report_s=0.0, exit_s=0.0, test_s=0.1, test_cold_s=2.0, spread=0.0)
    one = (TrialPlan(epoch_s=0.1, max_epochs=2),)
    cold = predict(SearchPlan(trials=one, concurrency=1, test_split=True), figures=figs)
    warm = predict(SearchPlan(trials=one, concurrency=1, test_split=True, test_cold=False), figures=figs)
    none = predict(SearchPlan(trials=one, concurrency=1), figures=figs)
    assert (cold.test_s, warm.test_s, none.test_s) == (pytest.approx(2.0, rel=REL), pytest.approx(0.1, rel=REL), 0.0)
    recs = [{"schema": history.SCHEMA, "study": "a", "test_cold_s": 2.4, "contention": 1.0},
            {"schema": history.SCHEMA, "study": "b", "test_s": 0.05, "contention": 1.0}]
    f = history.figures(recs, study="c")
    assert f.test_cold_s == pytest.approx(2.4, rel=REL) and f.test_s == pytest.approx(0.05, rel=REL)
    assert history.figures(recs, study="a").source("test_cold_s") == "1 earlier runs of this study"
    from conftest import TINY_STUDY

    plain = load_study(write_study(TINY_STUDY))
    assert test_cold(plain, n_repeats=0) and not test_cold(plain, n_repeats=3)
    clipped = load_study(write_study(TINY_STUDY.replace("max_epochs = 3", "max_epochs = 3\nclip_norm = 1.0"), name="clipped.toml"))
    assert test_cold(clipped, n_repeats=3)  # its repeats cannot fuse: nothing counts FLOPs in the driver before the split


def test_a_trial_without_early_stopping_ends_at_its_own_stops_fraction():
    """Without early stopping a trial runs max_epochs, unless the figures hold where such trials
    ended by their own stop (:attr:`Figures.end_fractions`, a live search's); a running trial is
    drawn past the epochs it has; with early stopping the best-epoch fractions decide, as before."""
    from hpbench.cost.walltime import drawn_epochs

    free, es = TrialPlan(epoch_s=0.1, max_epochs=16), TrialPlan(epoch_s=0.1, max_epochs=16, patience=2)
    assert natural_epochs(free, 0.1) == 16 and natural_epochs(free, 0.1, 11 / 16) == 11 and natural_epochs(free, 0.1, 0.0) == 1
    figs = replace(BARE, best_fractions=(0.25,), end_fractions=(0.5,))
    rng = random.Random(0)
    assert drawn_epochs(free, rng, figs) == 8 and drawn_epochs(es, rng, figs) == 6  # 4 + patience 2
    assert drawn_epochs(free, rng, figs, done=9) == 10  # none of the ends past its 9 epochs: one more
    assert drawn_epochs(free, rng, replace(figs, end_fractions=(0.5, 1.0)), done=9) == 16
    assert drawn_epochs(free, rng, replace(figs, end_fractions=())) == 16
    plans = [free, es, free]
    assert [t.epochs for t in sim_trials(plans, random.Random(3), figures=replace(figs, end_fractions=()), c=1.0)] == [16, 6, 16]
    assert [t.epochs for t in sim_trials(plans, random.Random(3), figures=figs, c=1.0)] == [8, 6, 8]
    # a search's record keeps where its trials ended by themselves; the same study's next estimate reads them, no other's
    times = [record.TrialTimes(started_at=0.0, ended_at=1.0, train_s=1.0, epochs=e, max_epochs=16, stop_reason=s)
             for e, s in ((11, "collapsed"), (16, "completed"), (3, "pruned"), (5, "diverged"))]
    rec = record.search_record(run_id="r", study="gan", trials=times, started_at=0.0, command=True, ray_started=True, cpus=2, concurrency=2,
                               cpus_per_trial=1.0, contention=1.0, phases={})
    assert rec["end_fractions"] == pytest.approx([11 / 16, 1.0, 5 / 16], rel=REL)
    assert history.figures([rec], study="gan").end_fractions == pytest.approx((11 / 16, 1.0, 5 / 16), rel=REL)
    assert history.figures([rec], study="other").end_fractions == ()
    assert history.figures([{**rec, "end_fractions": [1.0, 1.0]}], study="gan").end_fractions == ()  # every trial ran its epochs


def test_the_upper_bound_prices_dear_good_configurations_while_the_study_has_measured_none():
    """A first search of a study (its cost-score correlation the prior's 0) may be one whose dear
    configurations are its good ones, kept by ASHA and chosen by TPE: the upper bound is priced at
    the studies' upper quartile (RHO_HIGH), the estimate itself at the prior; a study that measured
    its own correlation keeps it for both."""
    from hpbench.cost.quality import RHO_HIGH, Focus

    costs = [0.05 * 1.5 ** (i % 8) for i in range(32)]
    plan = SearchPlan(trials=tuple(TrialPlan(epoch_s=e, max_epochs=20, patience=3) for e in costs), concurrency=2,
                      pruning=Pruning(kind="asha", max_t=20), focus=Focus(start=10, k=5))
    figs = Figures(spread=0.0)
    first = predict(plan, figures=figs)
    measured = predict(plan, figures=replace(figs, sources={"quality_rho": "3 earlier runs of this study"}))
    high = predict(plan, figures=replace(figs, quality_rho=RHO_HIGH, sources={"quality_rho": "3 earlier runs of this study"}))
    assert 0 < RHO_HIGH < 1
    assert first.total_s == pytest.approx(measured.total_s, rel=REL) and first.low_s == pytest.approx(measured.low_s, rel=REL)
    assert first.high_s == pytest.approx(high.high_s, rel=REL) and first.high_s > measured.high_s * 1.05


def _four_running(tmp_path, write_study, monkeypatch):
    """A live clock with four trials of the tiny study running one epoch in, and its monotonic
    clock frozen at ``now[0]`` (moved by the test): (clock, store, now)."""
    from conftest import TINY_STUDY

    from hpbench.dispatch import eta as eta_module
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    sc = SearchClock(study=study, n_trials=4, started_at=clock.time.time() - 5.0)
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 4)
    sc.plan = plan
    now = [1000.0]
    monkeypatch.setattr(eta_module.time, "monotonic", lambda: now[0])
    for i in range(4):
        store.start(f"t{i}", study.space.sample(random.Random(i)))
        sc.trial_started(f"t{i}")
        store.annotate(f"t{i}", {"predicted_epoch_s": 0.01})
        store.epoch(f"t{i}", {"epoch": 1, "epoch_s": 0.01, "val_accuracy": 0.5, "val_loss": 1.0})
    return sc, store, now


def test_a_burst_of_trial_ends_is_priced_again_once_the_etas_cost_allows(tmp_path, write_study, monkeypatch):
    """The early trials are taken in at once when Tune's first trial reports: the first end prices
    the ETA, the rest find that pricing too recent for its cost (ETA_DUTY); the live view's next
    refresh prices it again with every one of them ended, and the trace keeps both."""
    sc, store, now = _four_running(tmp_path, write_study, monkeypatch)
    sc.catch_up(store)
    assert sc.trace == []  # nothing behind before anything ended
    for i in range(3):  # three ends in one instant
        store.finish(f"t{i}")
        sc.note(store)
        sc._eta_cost_s = 1.0  # the first pricing took 1 s: the next may come 9 s later
    assert [p[2] for p in sc.trace] == [1, 2, 3] and len({p[3] for p in sc.trace}) == 1  # the burst's first pricing, shown throughout
    sc.catch_up(store)
    assert len(sc.trace) == 3  # the cap holds
    now[0] += 10.0
    sc.catch_up(store)
    assert len(sc.trace) == 4 and sc.trace[-1][2] == 3 and sc.trace[-1][3] != sc.trace[0][3]  # priced with the 3 ended
    sc.catch_up(store)
    assert len(sc.trace) == 4  # caught up: nothing more


def test_trial_ends_inside_the_minimum_gap_show_the_last_eta_counted_down(tmp_path, write_study, monkeypatch):
    """Trials ending every few ms (one-epoch trials by the thousand) kept the pricing at its duty cap
    on Tune's loop: an end less than ETA_MIN_GAP_S after the last pricing shows that pricing's ETA
    less the seconds since (never below 0), and the live view's refresh prices it once the gap has
    passed, with every trial ended by then."""
    from hpbench.dispatch.eta import ETA_MIN_GAP_S

    sc, store, now = _four_running(tmp_path, write_study, monkeypatch)  # the clock frozen between steps: a pricing costs 0 s
    store.finish("t0")
    sc.note(store)
    priced = sc.trace[-1][3]
    assert priced > 0.2
    now[0] += 0.2
    store.finish("t1")
    sc.note(store)  # inside the gap: the last pricing, counted down
    assert [p[2] for p in sc.trace] == [1, 2] and sc.trace[-1][3] == pytest.approx(priced - 0.2, rel=REL)
    sc.catch_up(store)
    assert len(sc.trace) == 2  # still inside the gap
    now[0] += ETA_MIN_GAP_S
    sc.catch_up(store)
    assert len(sc.trace) == 3 and sc.trace[-1][2] == 2 and sc.trace[-1][3] != pytest.approx(priced - 0.2 - ETA_MIN_GAP_S, rel=REL)
    sc._eta = (now[0], sc._eta[1], 0.1)  # a pricing that read 0.1 s left ...
    now[0] += 0.3
    assert sc.eta_s(store) == 0.0  # ... reads 0, not -0.2, 0.3 s later


def test_the_live_eta_replays_fewer_times_where_many_trials_are_left() -> None:
    """Each replay draws every trial running and left: up to 64 of them, 16 replays; beyond, as many
    as 1,024 drawn trials allow, and never fewer than 2 (2,000 trials left: 2 replays, not 16)."""
    from hpbench.dispatch.eta import LIVE_SEEDS, live_seeds

    assert [live_seeds(n) for n in (0, 1, 64)] == [LIVE_SEEDS] * 3
    assert [live_seeds(n) for n in (65, 150, 512, 2_000)] == [16, 7, 2, 2]
    assert all(live_seeds(n) >= live_seeds(n + 1) for n in range(1, 3_000))


def test_a_best_epoch_worked_out_once_draws_what_it_drew_each_time() -> None:
    """drawn_epochs' memo (the live ETA replays hundreds of trials left at each trial's end) changes no draw."""
    figs = Figures(best_fractions=(0.1, 0.3, 0.6, 0.9), best_lrs=(1e-3, 1e-2, 0.0, 3e-3), best_batches=(32.0, 0.0, 128.0, 64.0))
    plans = [TrialPlan(epoch_s=0.1, max_epochs=40, patience=3, lr=lr, batch=b) for lr in (None, 1e-3, 3e-2) for b in (None, 16.0, 256.0)]
    memo: dict[tuple[int, float | None, float | None], float] = {}
    a, b = random.Random(7), random.Random(7)
    for _ in range(5):
        for p in plans:
            for done in (0, 4):
                assert drawn_epochs(p, a, figs, done=done, memo=memo) == drawn_epochs(p, b, figs, done=done)
    assert memo  # it was used
