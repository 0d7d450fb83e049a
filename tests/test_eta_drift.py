"""The live ETA follows the command's own start-up (hpbench.cost.live.startup_drift): what it has
measured of its start-up, against the figure, moves the start-up still ahead and the parts the
cost model does not price. Pure functions on hand-made figures, and the search clock without Ray."""

from __future__ import annotations

import math
from concurrent.futures import Future

import pytest

from hpbench.cost import history
from hpbench.cost.figures import Figures
from hpbench.cost.live import DRIFT_BOUNDS, OVERHEADS, drifted, startup_drift, startup_left_s

REL = 1e-5


def test_the_start_ups_ratio_is_what_it_measured_so_far():
    # Tune's first trial started: the whole start-up measured (11.2 s of a 7.8-s figure, the quiet quickstart's)
    assert startup_drift(startup_s=7.8, elapsed_s=20.0, first_trial_s=11.2, ray_s=5.0, ray_at_s=5.0) == pytest.approx(11.2 / 7.8, rel=REL)
    # before: Ray's start against its figure (7 s of 5 s), whatever the seconds spent so far
    assert startup_drift(startup_s=8.0, elapsed_s=7.0, ray_s=5.0, ray_at_s=7.0) == pytest.approx(1.4, rel=REL)
    assert startup_drift(startup_s=8.0, elapsed_s=6.0, ray_s=5.0, ray_at_s=4.0) == pytest.approx(0.8, rel=REL)  # faster
    # nothing measured yet (Ray not up, or no figure of it here): 1 until the figure is overrun, then at least the overrun
    assert startup_drift(startup_s=8.0, elapsed_s=6.0) == pytest.approx(1.0, rel=REL)
    assert startup_drift(startup_s=8.0, elapsed_s=6.0, ray_s=0.0, ray_at_s=4.0) == pytest.approx(1.0, rel=REL)
    assert startup_drift(startup_s=8.0, elapsed_s=10.0) == pytest.approx(1.25, rel=REL)
    assert startup_drift(startup_s=8.0, elapsed_s=10.0, ray_s=5.0, ray_at_s=4.0) == pytest.approx(1.25, rel=REL)  # not ended
    # bounded; no figure, no ratio
    assert startup_drift(startup_s=8.0, elapsed_s=40.0) == pytest.approx(DRIFT_BOUNDS[1], rel=REL)
    assert startup_drift(startup_s=8.0, elapsed_s=1.0, first_trial_s=1.0) == pytest.approx(DRIFT_BOUNDS[0], rel=REL)
    assert startup_drift(startup_s=0.0, elapsed_s=5.0) == 1.0


def test_the_start_up_left_after_rays_start_scales_as_rays_start_did():
    # figure 8 s, Ray's 5 s; Ray up at 7 s (1.4x): its 3 s to Tune's first trial take 4.2 s: 11.2 s in all
    drift = startup_drift(startup_s=8.0, elapsed_s=9.0, ray_s=5.0, ray_at_s=7.0)
    assert startup_left_s(startup_s=8.0, elapsed_s=9.0, drift=drift) == pytest.approx(7.0 + 3.0 * 1.4 - 9.0, rel=REL)
    # past the figure with nothing measured: none left, the ratio at least the overrun
    assert startup_left_s(startup_s=8.0, elapsed_s=9.0, drift=startup_drift(startup_s=8.0, elapsed_s=9.0)) == 0.0


def test_drifted_moves_the_parts_the_cost_model_does_not_price():
    f = Figures(startup_s=8.0, ray_s=5.0, fresh_worker_s=2.0, setup_s=0.2, turnover_s=0.1, tail_s=0.4, replay_start_s=0.5,
                test_s=1.0, report_s=1.5, exit_s=1.2, speed=1.3, first_epoch_s=0.05)
    g = drifted(f, 2.25)  # the square root: 1.5x
    for name in OVERHEADS:
        assert getattr(g, name) == pytest.approx(1.5 * getattr(f, name), rel=REL), name
    # not the start-up (startup_left_s takes the whole ratio) nor what is a ratio to the cost model's predictions
    assert (g.startup_s, g.ray_s, g.speed, g.first_epoch_s) == (f.startup_s, f.ray_s, f.speed, f.first_epoch_s)
    assert drifted(f, 1.0) == f
    assert drifted(f, 4.0, power=1.0).report_s == pytest.approx(6.0, rel=REL)


def test_the_history_reads_rays_start_from_whole_commands_that_started_it():
    recs = [{"schema": history.SCHEMA, "study": "s", "command": True, "ray_started": True, "ray_s": v, "startup_s": v + 3.0,
             "contention": 1.0} for v in (4.0, 5.0, 6.0)]
    recs += [{"schema": history.SCHEMA, "study": "s", "command": True, "ray_started": False, "ray_s": 0.5, "contention": 1.0},
             {"schema": history.SCHEMA, "study": "s", "command": False, "ray_started": True, "ray_s": 0.7, "contention": 1.0}]
    f = history.figures(recs, study="s")
    assert f.ray_s == pytest.approx(5.0, rel=REL) and f.source("ray_s") == "3 earlier searches here"
    assert history.figures([], study="s").ray_s == 0.0 and history.figures([], study="s").source("ray_s") == "prior"


def _clock(tmp_path, write_study, monkeypatch, *, ago: float, ray_at: float | None, tune_started: float | None = None):
    import time

    from conftest import TINY_STUDY

    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.eta import SearchClock
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 8")))
    store = ResultsStore(out=tmp_path / f"out-{ago}-{ray_at}-{tune_started}", metric=study.settings.metric, mode=study.settings.mode,
                         param_keys=study.space.keys())
    now = time.time()
    sc = SearchClock(study=study, n_trials=8, started_at=now - ago)
    monkeypatch.setattr(sc, "contention", lambda: 1.0)  # figures as written, whatever this machine's CPUs
    # no slot overheads: the trials left are the same whatever the ratio, the start-up and the after-search parts move
    sc.figures = Figures(startup_s=8.0, ray_s=5.0, fresh_worker_s=0.0, setup_s=0.0, turnover_s=0.0, report_s=1.5, exit_s=1.0,
                         best_fractions=(1.0,), sources={"startup_s": "3 earlier searches here", "ray_s": "3 earlier searches here"})
    plan: Future[list[float]] = Future()
    plan.set_result([0.01] * 8)
    sc.plan = plan
    if ray_at is not None:
        sc.measured["ray_s"] = ray_at
    for i in range(2):  # two early trials ended while Ray started
        tid = EARLY_ID.format(i)
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        store.epoch(tid, {"epoch": 1, "epoch_s": 0.01, "val_accuracy": 0.5})
        store.finish(tid)
        store.annotate(tid, {"predicted_epoch_s": 0.01, "predicted_spent_s": 0.01, "regime": "compute"})
        sc.trial_started(tid)
    if tune_started is not None:
        store.start("tune_0", {"optimizer": "adam", "lr": 0.01})
        store.annotate("tune_0", {"predicted_epoch_s": 0.01, "started_at": now - ago + tune_started})
        sc.trial_started("tune_0")
    assert sc._eta_now(store) is not None
    return sc


def test_a_slow_start_up_moves_the_start_up_left_and_the_after_search_parts(tmp_path, write_study, monkeypatch):
    """Session 8's quiet quickstart read its ETA at 25% at 8.6 s, past its 7.8-s start-up figure,
    Tune's first trial at 11.2 s: the start-up left read 0 and the after-search parts 3.1 s for
    4.0 s (-31%). Here Ray's start at 1.4x its figure: 11.2 - 7 = 4.2 s of start-up left (3.2 s
    more than at 1x), the final table and exit x sqrt(1.4)."""
    on_time = _clock(tmp_path, write_study, monkeypatch, ago=7.0, ray_at=5.0)
    slow = _clock(tmp_path, write_study, monkeypatch, ago=7.0, ray_at=7.0)
    assert slow.parts[0] - on_time.parts[0] == pytest.approx(8.0 * 1.4 - 8.0, abs=0.05)  # elapsed moves a few ms between them
    # (the parts are kept to the millisecond)
    assert on_time.parts[1] == pytest.approx(2.5, abs=1e-3) and slow.parts[1] == pytest.approx(2.5 * math.sqrt(1.4), abs=1e-3)
    # past the figure, nothing measured but the overrun: no start-up left, the after-search parts at least the overrun's
    late = _clock(tmp_path, write_study, monkeypatch, ago=10.0, ray_at=None)
    assert late.parts[1] == pytest.approx(2.5 * math.sqrt(1.25), rel=2e-3)  # elapsed read a few ms after 10 s
    # Tune's first trial started at 11.2 s: the start-up measured, whatever Ray's start read
    started = _clock(tmp_path, write_study, monkeypatch, ago=12.0, ray_at=5.0, tune_started=11.2)
    assert started.parts[1] == pytest.approx(2.5 * math.sqrt(11.2 / 8.0), abs=1e-3)


def test_repeats_that_cannot_fuse_are_priced_one_by_one(write_study):
    """The runner fuses a configuration's repeats only where they can fuse
    (:func:`hpbench.cost.fusion.unfusable`); the FLOPs rule alone priced recurrent's clip_norm
    repeats as one group (19.6 s for the 50.6 s its five runs took, session 9's hold 3)."""
    from conftest import TINY_STUDY

    from hpbench.cost.estimate import fuse_of
    from hpbench.cost.fusion import fuse_members
    from hpbench.study.parse import load_study

    params = {"optimizer": "adam", "lr": 0.01}
    plain = load_study(write_study(TINY_STUDY))
    clipped = load_study(write_study(TINY_STUDY.replace("batch_size = 64", "batch_size = 64\nclip_norm = 1.0")))
    assert fuse_of(plain, params, n_repeats=5, flops_per_step=1e6) == fuse_members(n_repeats=5, flops_per_step=1e6) == 5
    assert fuse_of(clipped, params, n_repeats=5, flops_per_step=1e6) == 1
    assert fuse_of(plain, params, n_repeats=5, flops_per_step=None) == 1  # unknown cost: unfused, as before


def test_each_ended_trial_prices_its_repeats_by_its_own_step(tmp_path, write_study):
    """The live ETA prices the best trials' repeats by each trial's own FLOPs per step, as the
    runner decides per configuration; before, one rule from the first trial's settings and the
    search's median FLOPs priced every configuration's repeats alike."""
    from conftest import TINY_STUDY

    from hpbench.cost.fusion import fuse_members
    from hpbench.dispatch.timings import repeat_fuse
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    store = ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    for tid, flops in (("small", 1e6), ("large", 1e10), ("unpriced", None)):
        store.start(tid, {"optimizer": "adam", "lr": 0.01}, cost={"flops_per_step": flops} if flops else None)
    assert repeat_fuse(study, store, "small", n_repeats=5) == fuse_members(n_repeats=5, flops_per_step=1e6) == 5
    assert repeat_fuse(study, store, "large", n_repeats=5) == fuse_members(n_repeats=5, flops_per_step=1e10) == 1
    assert repeat_fuse(study, store, "unpriced", n_repeats=5) == 1  # unknown cost: unfused
    assert repeat_fuse(study, store, "unpriced", n_repeats=5, flops_per_step=1e6) == 5  # ... unless the caller knows it


def test_a_machines_first_command_reads_its_start_up_from_rays_start(tmp_path, write_study, monkeypatch):
    """No search has run on this machine: Ray's start is priced as the start-up figure's share
    (STARTUP_PER_RAY, the ratio measured over 14 quiet runs here), so a machine that starts Ray
    slower than the prior (9.25 s for 8.0 / 1.32) already moves the start-up left before Tune's
    first trial, as a history-measured figure would."""
    from hpbench.cost.figures import STARTUP_PER_RAY
    from hpbench.results.store import ResultsStore

    assert Figures(startup_s=8.0).ray_up(contention=2.0) == pytest.approx(2 * 8.0 / STARTUP_PER_RAY, rel=REL)
    assert Figures(startup_s=8.0, ray_s=5.0).ray_up(contention=1.0) == pytest.approx(5.0, rel=REL)
    sc = _clock(tmp_path, write_study, monkeypatch, ago=9.5, ray_at=9.25)
    sc.figures = Figures(startup_s=8.0, fresh_worker_s=0.0, setup_s=0.0, turnover_s=0.0, report_s=1.5, exit_s=1.0, best_fractions=(1.0,))
    assert sc.figures.source("ray_s") == "prior"
    drift = sc._drift(ResultsStore(out=tmp_path / "empty", metric="val_accuracy", mode="max", param_keys=[]), 1.0)
    assert drift == pytest.approx(9.25 / (8.0 / STARTUP_PER_RAY), rel=REL)  # not 9.5 / 8.0: Ray's start says more
