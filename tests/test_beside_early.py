"""Tune's trials that trained beside a long early trial do not set the pace of the rest of the
search (hpbench.dispatch.beside_early): neither the in-run correction nor the contention the live
ETA measures reads them. Without Ray."""

from __future__ import annotations

import math

import pytest

REL = 1e-5


def _store(tmp_path, write_study):
    from conftest import TINY_STUDY

    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    study = load_study(write_study(TINY_STUDY))
    return ResultsStore(out=tmp_path / "out", metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())


def _trial(store, tid: str, *, began: float, ended: float | None, measured_s: float = 2.0, predicted_s: float = 1.0) -> None:
    store.start(tid, {"optimizer": "adam", "lr": 0.01})
    store.epoch(tid, {"epoch": 1, "epoch_s": measured_s, "val_accuracy": 0.5, "reported_at": began + measured_s,
                      "epoch_cpu_s": measured_s / 2})
    if ended is not None:
        store.finish(tid)
        store.annotate(tid, {"predicted_epoch_s": predicted_s, "predicted_spent_s": predicted_s, "regime": "compute"})
    store.annotate(tid, {"started_at": began, **({"ended_at": ended} if ended is not None else {})})


def test_when_the_early_trials_stopped_training(tmp_path, write_study):
    from hpbench.dispatch.beside_early import early_busy_until
    from hpbench.dispatch.early import EARLY_ID

    store = _store(tmp_path, write_study)
    assert early_busy_until(store) is None  # no early trials
    _trial(store, EARLY_ID.format(0), began=100.0, ended=110.0)
    assert early_busy_until(store) == 110.0
    _trial(store, EARLY_ID.format(1), began=110.0, ended=None)  # running in the helper
    assert early_busy_until(store) == math.inf
    store.finish(EARLY_ID.format(1))
    store.annotate(EARLY_ID.format(1), {"ended_at": 130.0})
    assert early_busy_until(store) == 130.0


def test_a_trial_is_beside_the_early_ones_when_they_trained_for_a_quarter_of_its_run(tmp_path, write_study):
    from hpbench.dispatch.beside_early import BESIDE_SHARE, beside_early
    from hpbench.dispatch.early import EARLY_ID

    store = _store(tmp_path, write_study)
    _trial(store, EARLY_ID.format(0), began=100.0, ended=130.0)
    _trial(store, "tune_a", began=120.0, ended=140.0)  # 10 of its 20 s beside
    _trial(store, "tune_b", began=128.0, ended=148.0)  # 2 of 20 s
    _trial(store, "tune_c", began=131.0, ended=135.0)  # after
    until = 130.0
    assert BESIDE_SHARE == 0.25
    assert beside_early(store, "tune_a", until=until) and not beside_early(store, "tune_b", until=until)
    assert not beside_early(store, "tune_c", until=until) and not beside_early(store, EARLY_ID.format(0), until=until)
    assert not beside_early(store, "tune_a", until=None)  # no early trials
    _trial(store, "tune_running", began=125.0, ended=None)  # running: its run so far
    assert beside_early(store, "tune_running", until=until, now=135.0) and not beside_early(store, "tune_running", until=until, now=200.0)


def test_the_in_run_correction_reads_the_trials_after_a_long_early_trial(tmp_path, write_study):
    """The held-out long study: its first Tune trials ran beside a 20-epoch early trial at x1.46-1.60
    of their predictions, the ones after at x0.92-1.02; the correction, the dispatcher's and the
    ETA's alike, is taken from the latter."""
    from hpbench.dispatch.corrections import Corrections, ended_pairs
    from hpbench.dispatch.early import EARLY_ID

    store = _store(tmp_path, write_study)
    corrections = Corrections()
    _trial(store, EARLY_ID.format(0), began=100.0, ended=None)  # still training in the helper
    for i in range(4):  # Tune's first trials, 3x their predictions beside it
        _trial(store, f"tune_{i}", began=110.0 + i, ended=116.0 + i, measured_s=3.0)
    assert ended_pairs(store) == [] and corrections.factors(store) == {}
    store.finish(EARLY_ID.format(0))
    store.annotate(EARLY_ID.format(0), {"ended_at": 120.0})
    for i in range(4, 8):  # after it: at their predictions
        _trial(store, f"tune_{i}", began=121.0 + i, ended=123.0 + i, measured_s=1.0)
    assert ended_pairs(store) == [("compute", 1.0, 1.0)] * 4
    factors = corrections.factors(store)
    assert factors["all"].factor == pytest.approx(1.0, rel=REL) and factors["all"].n_trials == 4


def test_the_live_contention_skips_the_epochs_beside_the_early_trials(tmp_path, write_study):
    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.timings import measured_contention

    store = _store(tmp_path, write_study)
    _trial(store, EARLY_ID.format(0), began=100.0, ended=None)
    _trial(store, "tune_0", began=105.0, ended=None, measured_s=2.0)  # epoch_s 2.0 over 1.0 CPU-s: contention 2
    assert measured_contention(store, [EARLY_ID.format(0), "tune_0"], threads=1, n_trials=4) is None  # the early trial still trains
    store.finish(EARLY_ID.format(0))
    store.annotate(EARLY_ID.format(0), {"ended_at": 110.0})
    assert measured_contention(store, [EARLY_ID.format(0), "tune_0"], threads=1, n_trials=4) is None  # its epoch came at 107 s
    store.epoch("tune_0", {"epoch": 2, "epoch_s": 1.2, "val_accuracy": 0.6, "reported_at": 111.2, "epoch_cpu_s": 1.0})
    assert measured_contention(store, [EARLY_ID.format(0), "tune_0"], threads=1, n_trials=4) == pytest.approx(1.2, rel=REL)
