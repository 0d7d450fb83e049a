"""The live ETA's inputs (hpbench.dispatch.eta): which trials teach it what, without Ray."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

REL = 1e-5


def _store(tmp_path, study, name="out"):
    from hpbench.results.store import ResultsStore

    return ResultsStore(out=tmp_path / name, metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())


def _clock(study, *, n_trials: int, epoch_s: float):
    """A search's live clock whose sampled configurations cost ``epoch_s`` an epoch each."""
    from hpbench.dispatch.eta import SearchClock

    sc = SearchClock(study=study, n_trials=n_trials)
    plan: Future[list[float]] = Future()
    plan.set_result([epoch_s] * n_trials)
    sc.plan = plan
    return sc


def _ended(store, tid: str, *, measured_s: float, predicted_s: float, wall_s: float | None = None, reported_at: float | None = None) -> None:
    store.start(tid, {"optimizer": "adam", "lr": 0.01})
    store.epoch(tid, {"epoch": 1, "epoch_s": measured_s, "val_accuracy": 0.5, **({"reported_at": reported_at} if reported_at else {})})
    store.finish(tid)
    store.annotate(tid, {"predicted_epoch_s": predicted_s, "predicted_spent_s": predicted_s, "regime": "compute",
                         **({"wall_s": wall_s} if wall_s is not None else {})})


def test_early_trials_move_the_etas_speed_figure_and_tunes_trials_its_pace(tmp_path, write_study):
    """The early trials (trained in the helper while Ray starts) ran at other measured / predicted
    ratios than Tune's workers: the dispatcher's correction of one trial's seconds learns from
    Tune's ended trials only, from 4 of them; the ETA's pace (hpbench.cost.pace) takes the early
    trials' as the weaker evidence (the speed figure moved toward it, 2 trials against its 2) and
    Tune's epochs that began after them from the first trial on (3 trials against the moved figure's 2)."""
    import time

    from conftest import TINY_STUDY

    from hpbench.dispatch.corrections import corrected_columns, ended_pairs
    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 12")))
    store = _store(tmp_path, study)
    sc = SearchClock(study=study, n_trials=12)
    plan: Future[list[float]] = Future()
    plan.set_result([1.0] * 12)
    sc.plan = plan
    for i in range(2):  # early trials 5x their prediction
        _ended(store, EARLY_ID.format(i), measured_s=5.0, predicted_s=1.0)
        sc.trial_started(EARLY_ID.format(i))
    later = time.time() + 10.0  # Tune's epochs began after the early trials stopped
    for i in range(3):  # Tune's, 2x
        _ended(store, f"tune_{i}", measured_s=2.0, predicted_s=1.0, reported_at=later)
        sc.trial_started(f"tune_{i}")
    assert [p for p in ended_pairs(store)] == [("compute", 1.0, 2.0)] * 3
    assert "corrected_s" not in corrected_columns(store, {"predicted_s": 1.0, "regime": "compute"})  # 3 of Tune's: no correction yet (the run's interval alone, 30d4caa)
    assert sc.eta_s(store) is not None
    assert sc.correction is not None and sc.correction.factor == pytest.approx(2.0, rel=REL) and sc.correction.n_trials == 3
    moved = (sc.figures.at("speed", sc.contention()) * 5.0) ** 0.5
    assert sc.parts[2] == pytest.approx(2.0 ** (3 / 5) * moved ** (2 / 5), rel=1e-3) and sc.parts[3] == 3
    _ended(store, "tune_3", measured_s=2.0, predicted_s=1.0, reported_at=later)
    sc.trial_started("tune_3")
    assert corrected_columns(store, {"predicted_s": 1.0, "regime": "compute"})["correction"] == "corrected from 4 trials (compute)"
    sc._eta = (0.0, -2, None)  # recompute now
    assert sc.eta_s(store) is not None
    assert sc.correction is not None and sc.correction.factor == pytest.approx(2.0, rel=REL) and sc.correction.n_trials == 4
    assert sc.trace == [] and len(sc.parts) == 5 and sc.parts[2] == pytest.approx(2.0 ** (2 / 3) * moved ** (1 / 3), rel=1e-3) and sc.parts[3] == 4


def test_the_studys_own_speed_figure_is_not_moved_by_its_early_trials(tmp_path, write_study):
    """A speed figure from the study's own earlier runs (their Tune trials') stands against the
    early trials' pace; one from other studies' searches here moves toward it, as the prior does."""
    from dataclasses import replace

    from conftest import TINY_STUDY

    from hpbench.cost.figures import Figures
    from hpbench.dispatch.early import EARLY_ID
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 12")))
    store = _store(tmp_path, study)
    for i in range(2):  # early trials 4x their prediction
        _ended(store, EARLY_ID.format(i), measured_s=4.0, predicted_s=1.0)
    slowness = {}
    for source in ("3 earlier runs of this study", "10 earlier searches here"):
        sc = _clock(study, n_trials=12, epoch_s=1.0)
        sc.figures = replace(Figures(speed=1.2), sources={"speed": source})
        for i in range(2):
            sc.trial_started(EARLY_ID.format(i))
        assert sc.eta_s(store) is not None and sc.correction is None
        slowness[source] = (sc.parts[2], sc.figures.at("speed", sc.contention()))
    own, figure = slowness["3 earlier runs of this study"]
    assert own == pytest.approx(figure, rel=1e-3)
    moved, figure = slowness["10 earlier searches here"]
    assert moved == pytest.approx((figure * 4.0) ** 0.5, rel=1e-3)


def test_tunes_epochs_beside_the_early_trials_set_no_pace_and_a_running_trial_sets_it_as_far_as_it_went(tmp_path, write_study):
    """While an early trial trains, no Tune epoch counts; after, only those that began after it
    stopped (its neighbours then ran three trainers on two cores); a running Tune trial counts its
    epochs so far, and each read takes in only what was reported since (the sums are kept)."""
    import time

    from conftest import TINY_STUDY

    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.epoch_pace import EpochPace
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 12")))
    store = _store(tmp_path, study)
    pace = EpochPace()
    early = EARLY_ID.format(0)
    store.start(early, {"optimizer": "adam", "lr": 0.01})
    store.annotate(early, {"predicted_epoch_s": 0.5, "predicted_warmup_s": 0.5, "regime": "compute"})
    store.epoch(early, {"epoch": 1, "epoch_s": 3.0, "val_accuracy": 0.5})
    store.start("t0", {"optimizer": "adam", "lr": 0.01})
    store.annotate("t0", {"predicted_epoch_s": 1.0, "regime": "memory"})
    store.epoch("t0", {"epoch": 1, "epoch_s": 4.0, "reported_at": time.time(), "val_accuracy": 0.5})
    ids = [early, "t0"]
    assert pace.read(store, ids) == ([], [(1.0, 3.0)])  # the early trial runs: Tune's epochs wait; its first epoch with its warm-up
    store.finish(early)
    after = float(store.row(early)["ended_at"])
    assert pace.read(store, ids) == ([], [(1.0, 3.0)])  # t0's first epoch began before the early trial stopped
    store.epoch("t0", {"epoch": 2, "epoch_s": 1.5, "reported_at": after + 1.0, "val_accuracy": 0.6})  # began 0.5 s before: beside it
    store.epoch("t0", {"epoch": 3, "epoch_s": 2.0, "reported_at": after + 3.0, "val_accuracy": 0.6})
    assert pace.read(store, ids) == ([("memory", 1.0, 2.0)], [(1.0, 3.0)])
    store.epoch("t0", {"epoch": 4, "epoch_s": 3.0, "reported_at": after + 6.0, "val_accuracy": 0.7})
    tune, _ = pace.read(store, ids)
    assert tune == [("memory", 2.0, 5.0)] and tune == EpochPace().read(store, ids)[0]  # kept sums, as a fresh read
    store.annotate("t0", {"predicted_epoch_s": 2.0})  # priced again: summed again from its first epoch
    assert pace.read(store, ids)[0] == [("memory", 4.0, 5.0)]


def test_a_running_trials_epochs_price_the_trials_left_before_any_ended(tmp_path, write_study):
    """No trial has ended, one of Tune's runs at 3x its prices: the trials left are priced at
    that pace (one trial against the figure's 2), not at the figure, and more so as its epochs
    come (the same trial, read again: still one observation, its pace now 3x over more epochs)."""
    from conftest import TINY_STUDY

    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 8")))
    store = _store(tmp_path, study)
    sc = _clock(study, n_trials=8, epoch_s=0.5)
    assert sc.eta_s(store) is not None and sc.correction is None
    at_figure = sc.parts[2]
    store.start("t0", {"optimizer": "adam", "lr": 0.01})
    sc.trial_started("t0")
    store.annotate("t0", {"predicted_epoch_s": 0.5, "regime": "compute"})
    store.epoch("t0", {"epoch": 1, "epoch_s": 1.5, "val_accuracy": 0.5})
    sc._eta = (0.0, -2, None)  # recompute now
    assert sc.eta_s(store) is not None
    assert sc.correction is not None and sc.correction.n_trials == 1 and sc.correction.factor == pytest.approx(3.0, rel=REL)
    assert sc.parts[2] == pytest.approx(3.0 ** (1 / 3) * at_figure ** (2 / 3), rel=1e-3) and sc.parts[3] == 1
    store.epoch("t0", {"epoch": 2, "epoch_s": 1.5, "val_accuracy": 0.6})
    sc._eta = (0.0, -2, None)
    assert sc.eta_s(store) is not None and sc.correction is not None and sc.correction.n_trials == 1
    assert sc.correction.factor == pytest.approx(3.0, rel=REL)


def test_the_fresh_workers_and_set_up_are_read_from_tunes_trials(tmp_path, write_study):
    """A fresh worker's start is what Tune's first trials per slot measured beyond their epochs,
    and the set-up what the later ones did; the early trials (no worker, no Ray) measure neither:
    taken as the search's first trials they priced a fresh worker at ~0 s and every later trial's
    set-up at a fresh worker's seconds (the quickstart's ETA at 25% read +137%)."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.timings import finished_trials
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = _store(tmp_path, study)
    ids = [EARLY_ID.format(0), EARLY_ID.format(1), "tune_0", "tune_1", "tune_2"]
    walls = [1.01, 1.02, 4.0, 4.1, 1.2]  # 1 s of epochs each: the fresh workers' ~3 s, then a 0.2-s set-up
    for tid, wall in zip(ids, walls, strict=True):
        _ended(store, tid, measured_s=1.0, predicted_s=1.0, wall_s=wall)
    finished = finished_trials(store, [ids, ["rep_0", "rep_1", "rep_2"]], concurrency=2)
    assert [(f.wall_s, f.fresh) for f in finished] == [(4.0, True), (4.1, True), (1.2, False)]
    for i, wall in enumerate([3.0, 3.5, 1.1]):  # a phase after the search (repeats): fresh workers again
        _ended(store, f"rep_{i}", measured_s=1.0, predicted_s=1.0, wall_s=wall)
    finished = finished_trials(store, [ids, ["rep_0", "rep_1", "rep_2"]], concurrency=2)
    assert [f.fresh for f in finished] == [True, True, False, True, True, False]


def test_the_repeats_are_priced_as_the_best_trials_so_far_measured(tmp_path, write_study):
    """The live ETA prices the repeats (re-runs of the best search trials) at the seconds per
    epoch the best trial so far measured, not at the first trials' predictions: which trial
    leads moves the after-search part by its measured epochs (2 repeats on 2 slots, 3 epochs
    each: 3 x (3.0 - 0.3) s)."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 2\nrepeats = 2\nrepeats_top = 1")))
    after = []
    for best in ("slow", "fast"):
        store = _store(tmp_path, study, name=f"out-{best}")
        sc = SearchClock(study=study, n_trials=4, repeats=2)
        for tid, epoch_s in (("slow", 3.0), ("fast", 0.3)):
            store.start(tid, {"optimizer": "adam", "lr": 0.01})
            store.epoch(tid, {"epoch": 1, "epoch_s": epoch_s, "val_accuracy": 0.9 if tid == best else 0.5})
            store.finish(tid)
            store.annotate(tid, {"predicted_epoch_s": 0.1, "predicted_spent_s": 0.1, "regime": "compute"})
            sc.trial_started(tid)
        after.append(sc._after_s(sc.figures, sc.contention(), [0.1] * 4, store))
    assert after[0] - after[1] == pytest.approx(3 * (3.0 - 0.3), rel=REL)
    predicted = sc._after_s(sc.figures, sc.contention(), [0.1] * 4)  # no store: the first trials' predictions, at the speed figure
    assert after[1] - predicted == pytest.approx(3 * (0.3 - 0.1 * sc.figures.at("speed", sc.contention())), rel=REL)


def test_the_repeats_are_priced_as_the_best_trials_at_the_end_not_the_best_so_far(tmp_path, write_study):
    """At 25% of batch_size's grid every ended trial was a dear batch-16 one; the search's best at
    the end was a cheap batch-256 one. While trials are left, each draw of the live ETA takes the
    best of the trials so far (their scores) and of the trials left (scored by the search's line
    at their cost): with 15 cheap trials left and the ended scores spread, a cheap one is the best
    in most draws, and the repeats' part falls most of the way from the best-so-far price to the
    cheap one's (the priced best so far: 3 epochs of 3.0 s each)."""
    from conftest import TINY_STUDY

    from hpbench.cost.quality import fit_score_line
    from hpbench.cost.walltime import TrialPlan
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 2\nrepeats = 2\nrepeats_top = 1")))

    def after(scores: list[float], pending: list[TrialPlan]) -> float:
        store = _store(tmp_path, study, name=f"out-{len(pending)}-{scores[0]}")
        sc = SearchClock(study=study, n_trials=20, repeats=2)
        for i, v in enumerate(scores):
            tid = f"t{i}"
            store.start(tid, {"optimizer": "adam", "lr": 0.01})
            for e in (1, 2, 3):
                store.epoch(tid, {"epoch": e, "epoch_s": 3.0, "val_accuracy": v})
            store.finish(tid)
            store.annotate(tid, {"predicted_epoch_s": 1.0, "predicted_spent_s": 3.0, "regime": "compute"})
            sc.trial_started(tid)
        line = fit_score_line([1.0] * len(scores), scores)
        return sc._after_s(sc.figures, sc.contention(), [1.0], store, pending=pending, line=line)

    cheap = [TrialPlan(epoch_s=0.01, max_epochs=3)] * 15
    spread = [0.90, 0.95, 0.97, 0.93, 0.85]
    best_so_far = after(spread, [])
    left = after(spread, cheap)
    all_cheap = after([0.10, 0.12, 0.11, 0.09, 0.10], cheap[:1] * 15)  # ended scores far below the line's draws: never the best
    assert best_so_far - all_cheap > 3 * 2.0  # the best so far's 3 measured epochs of 3 s against the cheap ones'
    assert all_cheap <= left < all_cheap + 0.3 * (best_so_far - all_cheap)


def test_a_later_trial_cannot_beat_a_best_that_reached_the_metrics_best_value():
    """Recurrent's trials reach accuracy 1.0, and the first to reach it is re-run: a trial left is
    drawn no higher than the metric's best value, and a tie goes to the trial that came first.
    Without that bound the line's draws beat it."""
    from hpbench.cost.live import repeat_choices
    from hpbench.cost.quality import ScoreLine
    from hpbench.cost.walltime import TrialPlan
    from hpbench.study.metrics import best_value

    first, other, dear = (TrialPlan(epoch_s=s, max_epochs=20) for s in (0.1, 0.15, 0.5))
    known = [(first, 1.0), (other, 0.9)]
    high = ScoreLine(a=1.2, b=0.0, sigma=0.05)  # every draw above 1.0
    assert best_value("val_accuracy") == 1.0 and best_value("val_loss") == 0.0 and best_value("val_reward") is None
    bounded = repeat_choices(known=known, pending=[dear] * 6, top=1, line=high, ceiling=best_value("val_accuracy"))
    assert bounded and all(c == (first,) for c in bounded)
    unbounded = repeat_choices(known=known, pending=[dear] * 6, top=1, line=high)
    assert all(c == (dear,) for c in unbounded)
    # without a line (fewer than 4 scores): the scored trials in their order, each unscored one anywhere among them
    blind = repeat_choices(known=known, pending=[dear], top=1, line=None, seeds=64)
    assert {c[0] for c in blind} == {first, dear} and all(c[0] != other for c in blind)


def test_a_started_trial_not_priced_yet_counts_as_the_trials_left(tmp_path, write_study):
    """The helper prices a trial after it started: until then, the repeats' candidates take it at
    the trials left's mean cost, not at a second per epoch (transfer_scratch's ETA at 25% read
    87.7 s for 17.1 s: a started trial without a price won the draws)."""
    from conftest import TINY_STUDY

    from hpbench.cost.walltime import slowness
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 2\nrepeats = 2\nrepeats_top = 1")))
    store = _store(tmp_path, study, name="out")
    sc = SearchClock(study=study, n_trials=4, repeats=2)
    store.start("ended", {"optimizer": "adam", "lr": 0.01})
    store.epoch("ended", {"epoch": 1, "epoch_s": 0.2, "val_accuracy": 0.9})
    store.finish("ended")
    store.annotate("ended", {"predicted_epoch_s": 0.1, "predicted_spent_s": 0.1, "regime": "compute"})
    store.start("started", {"optimizer": "sgd", "lr": 0.1})
    for t in ("ended", "started"):
        sc.trial_started(t)
    plans = dict(zip(("ended", "started"), sc._known_plans(store, sc.figures, sc.contention(), fallback=0.05), strict=True))
    assert plans["started"][0].epoch_s == pytest.approx(0.05, rel=REL) and plans["started"][1] is None
    speed = slowness(plans["ended"][0], figures=sc.figures, c=sc.contention())
    assert plans["ended"][1] == pytest.approx(0.9, rel=REL) and plans["ended"][0].epoch_s == pytest.approx(0.2 / speed, rel=REL)  # measured


def test_the_eta_during_the_start_up_counts_the_start_up_left(tmp_path, write_study):
    """The early trials end while Ray starts (quickstart: 6 of 24 at 8.9 s, Tune's first trial at
    11.7 s): until Tune's first trial starts the ETA holds the start-up still ahead (the
    start-up figure less the command's elapsed seconds), one second less for each second
    later; once a Tune trial started, none."""
    import math
    import time

    from conftest import TINY_STUDY

    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 8")))
    store = _store(tmp_path, study)
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 8)

    def eta(ago: float, tune: bool = False) -> tuple[float, float]:
        sc = SearchClock(study=study, n_trials=8, started_at=time.time() - ago)
        sc.plan = plan
        for t in [EARLY_ID.format(0), EARLY_ID.format(1), *(["tune_0"] if tune else [])]:
            sc.trial_started(t)
        return sc._eta_now(store) or 0.0, sc.figures.startup_s

    if not any(t in store for t in (EARLY_ID.format(0), EARLY_ID.format(1), "tune_0")):
        for t in (EARLY_ID.format(0), EARLY_ID.format(1), "tune_0"):
            _ended(store, t, measured_s=0.01, predicted_s=0.01)
    (at1, startup), (at3, _) = eta(1.0), eta(3.0)
    assert startup > 3.0 and at1 - at3 == pytest.approx(2.0, abs=0.05)  # the start-up left: 1 s of elapsed is 1 s less
    (late, _), (later, _) = eta(startup + 1.0), eta(startup + 5.0)
    # past the start-up figure: nothing more left of it, but the overrun is the command's pace so far
    # (hpbench.cost.live.startup_drift): what is left (all of it the parts the cost model does not
    # price, but for the trials' few ms) grows by the square root of the overrun
    assert later / late == pytest.approx(math.sqrt((startup + 5.0) / (startup + 1.0)), rel=0.02)
    (tune1, _), (tune3, _) = eta(1.0, tune=True), eta(3.0, tune=True)
    assert tune1 == pytest.approx(tune3, abs=0.2) and at1 - tune1 > 1.0  # Tune started: no start-up left (the start-up measured moves the after-search parts a little)


def test_running_early_trials_take_none_of_tunes_slots(tmp_path, write_study):
    """The early trials train in the helper while Ray starts, in no Tune slot: one ended and three
    still running leave the ETA's trials left what four ended leave (replayed in Tune's slots, the
    running ones took both as warm workers, and the quickstart's trials left read 3.0 s for 5.7 s)."""
    import time

    from conftest import TINY_STUDY

    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 16")))
    left = []
    for n_ended in (4, 1):
        store = _store(tmp_path, study, name=f"out{n_ended}")
        sc = SearchClock(study=study, n_trials=16, started_at=time.time() - 60.0)  # past the start-up: no start-up left to count
        plan: Future[list[float]] = Future()
        plan.set_result([0.5] * 16)
        sc.plan = plan
        for i in range(4):
            tid = EARLY_ID.format(i)
            if i < n_ended:
                _ended(store, tid, measured_s=0.5, predicted_s=0.5)
            else:
                store.start(tid, {"optimizer": "adam", "lr": 0.01})
                store.epoch(tid, {"epoch": 1, "epoch_s": 0.5, "val_accuracy": 0.5})
                store.annotate(tid, {"predicted_epoch_s": 0.5})
            sc.trial_started(tid)
        assert sc.eta_s(store) is not None
        left.append(sc.parts[0])
    assert left[1] == pytest.approx(left[0], rel=REL) and left[0] > 4 * sc.figures.fresh_worker_s / 2  # the 12 Tune trials left, fresh workers included


def test_the_repeats_fuse_as_the_sampled_configurations_until_the_trials_are_counted(tmp_path, write_study):
    """The helper counts the trials' FLOPs behind the early trials, so a small study reaches 25% of
    its trials before any is counted: its repeats were priced unfused then (eta-repeats: 4.5 s at
    25%, 8.1 s taken fused). With the sampled configurations' FLOPs per step (the estimate's, or
    the helper's), the after-search part is the one the counted trials give; without, unfused."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("max_concurrent = 2", "max_concurrent = 2\nrepeats = 4\nrepeats_top = 1")))
    after = {}
    for case in ("counted", "not counted", "sampled"):
        store = _store(tmp_path, study, name=case)
        sc = SearchClock(study=study, n_trials=8, repeats=4)
        plan: Future[list[float]] = Future()
        plan.set_result([0.1] * 8)
        sc.plan = plan
        if case == "sampled":
            flops: Future[float | None] = Future()
            flops.set_result(1e6)  # 3,300 such steps fit a fused step: all 4 repeats fuse (hpbench.cost.fusion)
            sc.step_flops = flops
        for tid in ("a", "b"):
            store.start(tid, {"optimizer": "adam", "lr": 0.01})
            store.epoch(tid, {"epoch": 1, "epoch_s": 0.3, "val_accuracy": 0.9 if tid == "a" else 0.5})
            store.finish(tid)
            store.annotate(tid, {"predicted_epoch_s": 0.1, "predicted_spent_s": 0.1, "regime": "compute",
                                 **({"flops_per_step": 1e6} if case == "counted" else {})})
            sc.trial_started(tid)
        assert sc.eta_s(store) is not None
        after[case] = sc.parts[1]
        assert sc._fuse == (1 if case == "not counted" else 4)  # up to 4 at once (then 2 groups of 2 on the 2 slots)
    assert after["sampled"] == pytest.approx(after["counted"], rel=REL)
    assert after["not counted"] != pytest.approx(after["counted"], rel=0.05)


def test_trials_without_early_stopping_end_where_the_searchs_own_stops_say(tmp_path, write_study):
    """A trial without early stopping may still end early by its task's own rule (a GAN's collapse:
    gan_stability's trials mostly ran 11 of 16 epochs, and its live ETA at 25% priced the rest at
    16, +39%). Once the search's own trials have so ended, the trials left are drawn from where they
    did, blended with "all max_epochs" as :func:`~hpbench.cost.live.own_fractions` blends; ends that are
    not the trials' own (a budget's cut, the scheduler's pruning) teach nothing."""
    from conftest import TINY_STUDY

    from hpbench.dispatch import timings
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 12").replace("max_epochs = 3", "max_epochs = 10")))
    left = {}
    for stop in ("collapsed", "budget"):
        store = _store(tmp_path, study, name=stop)
        sc = _clock(study, n_trials=12, epoch_s=1.0)
        for i in range(4):
            tid = f"tune_{i}"
            store.start(tid, {"optimizer": "adam", "lr": 0.01})
            for e in range(5):
                store.epoch(tid, {"epoch": e + 1, "epoch_s": 0.1, "val_accuracy": 0.5})
            store.annotate(tid, {"stop_reason": stop, "predicted_epoch_s": 0.1, "predicted_spent_s": 0.5, "regime": "compute"})
            store.finish(tid)
            sc.trial_started(tid)
        assert timings.end_fractions(store, sc.trials["search"], max_epochs=lambda t: 10) == ([0.5] * 4 if stop == "collapsed" else [])
        assert sc.eta_s(store) is not None
        left[stop] = sc.parts[0]
    # 8 trials left: half of the draws at 5 epochs (4 own ends against 4 for the prior), the rest at 10
    assert left["collapsed"] < 0.85 * left["budget"]


def test_ended_trials_not_priced_yet_stand_at_what_they_measured(tmp_path, write_study):
    """A first search's helper prices the trials behind the early trial it trains: an ended trial
    without a prediction (and without a note saying why) enters the live ETA at its measured seconds
    per epoch over the speed figure, as a cost of the pool and of the score line, so the trials left
    price like the trials that ran, dear ones included (the held-out long study read -65 to -82%
    at 25% from the few cheap trials priced by then)."""
    from conftest import TINY_STUDY

    from hpbench.cost.annotate import COST_NOTE
    from hpbench.dispatch import timings
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))

    def clock(measured_s: float, name: str):
        store = _store(tmp_path, study, name=name)
        sc = _clock(study, n_trials=12, epoch_s=0.05)
        for i in range(5):
            t = f"t{i}"
            store.start(t, {"optimizer": "adam", "lr": 0.01})
            for e in (1, 2):
                store.epoch(t, {"epoch": e, "epoch_s": measured_s, "val_accuracy": 0.5 + 0.1 * i})
            store.finish(t)
            store.annotate(t, {"train_s": 2 * measured_s})
            sc.trial_started(t)
        store.annotate("t0", {"predicted_epoch_s": 0.05, "predicted_spent_s": 0.1, "regime": "compute"})
        store.annotate("t1", {COST_NOTE: "cost not predicted: ValueError: no"})
        store.start("running", {"optimizer": "adam", "lr": 0.01})
        sc.trial_started("running")
        return sc, store

    sc, store = clock(0.4, "dear")
    stand_in = timings.stand_in_costs(store, ["t0", "t1", "t2", "t3", "t4", "running"], speed=2.0)
    assert stand_in == {t: pytest.approx(0.2, rel=REL) for t in ("t2", "t3", "t4")}  # priced, noted and running ones left out
    costs, _ = timings.quality_pairs(store, ["t0", "t2"], stand_in=stand_in)
    assert costs == [pytest.approx(0.05, rel=REL), pytest.approx(0.2, rel=REL)]
    dear = sc.eta_s(store)
    cheap_sc, cheap_store = clock(0.05, "cheap")
    cheap = cheap_sc.eta_s(cheap_store)
    assert dear is not None and cheap is not None and dear > 1.5 * cheap


def test_once_every_trial_ended_the_eta_is_priced_again_however_recent_the_last_pricing(tmp_path, write_study):
    """The last trial ending within ETA_MIN_GAP_S of the one before left the previous pricing,
    counted down, as the ETA, and the trace kept it: "4/4 done, 0 running, ETA 00:19" with 3 s
    left (bug hunt s48/h4; Tune takes no later step to catch up). Once every trial has ended the
    pricing is made again: no trial left to price."""
    from conftest import TINY_STUDY

    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 2")))
    store = _store(tmp_path, study)
    sc = _clock(study, n_trials=2, epoch_s=5.0)
    for tid in ("a", "b"):
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        store.annotate(tid, {"predicted_epoch_s": 5.0, "predicted_spent_s": 5.0, "regime": "compute"})
        sc.trial_started(tid)
    for tid in ("a", "b"):  # b ends a few ms after a: within the cap on repricing
        store.epoch(tid, {"epoch": 1, "epoch_s": 5.0, "val_accuracy": 0.5})
        store.finish(tid)
        sc.note(store)
    first, last = sc.trace[-2], sc.trace[-1]
    assert first[2] == 1 and first[4] > 0  # b priced as running
    assert last[2] == 2 and last[4] == 0.0, sc.trace  # nothing left: not the counted-down pricing
