"""Speed figures learned from contention-free seconds (each epoch's CPU time beside its wall time,
hpbench.dispatch.timings.free_s), and the live ETA pricing them at the contention its own trials
measure (hpbench.cost.figures.Figures.trials_contention). Without Ray."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hpbench.cost import history, record
from hpbench.cost.figures import Figures
from hpbench.dispatch.timings import free_s, measured_contention, trial_times
from hpbench.results.columns import EPOCH_CPU_S

REL = 1e-5


def _store(tmp_path, name="out"):
    from hpbench.results.store import ResultsStore

    return ResultsStore(out=tmp_path / name, metric="val_accuracy", mode="max", param_keys=["lr"])


def _trial(store, tid: str, *, wall: list[float], cpu: list[float] | None, predicted_s: float, at: float, end: bool = True) -> None:
    store.start(tid, {"lr": 0.01})
    for e, w in enumerate(wall, start=1):
        store.epoch(tid, {"epoch": e, "epoch_s": w, "val_accuracy": 0.5, **({EPOCH_CPU_S: cpu[e - 1]} if cpu is not None else {})})
    if end:
        store.finish(tid)
    store.annotate(tid, {"predicted_epoch_s": predicted_s, "started_at": at, **({"ended_at": at + sum(wall) + 0.5} if end else {})})


def test_contention_free_seconds_from_a_hand_made_epochs_table(tmp_path):
    """A 1-thread trial that got half a core: wall 1.0 + 3 x 0.6 s, CPU 0.5 + 3 x 0.3 s. Its
    first epoch counts 0.5 s, its later ones 0.3 s, its contention 2.8 / 1.4 = 2; with 2 threads
    (a process's CPU time) the wall seconds stay and no contention is claimed; an epoch without
    CPU time (a table from before the column) keeps its wall seconds."""
    assert free_s({"epoch_s": 0.6, EPOCH_CPU_S: 0.3}, threads=1) == pytest.approx(0.3, rel=REL)
    assert free_s({"epoch_s": 0.6, EPOCH_CPU_S: 0.7}, threads=1) == pytest.approx(0.6, rel=REL)  # never above the wall's
    assert free_s({"epoch_s": 0.6}, threads=1) == free_s({"epoch_s": 0.6, EPOCH_CPU_S: 0.3}, threads=2) == pytest.approx(0.6, rel=REL)
    store = _store(tmp_path)
    _trial(store, "a", wall=[1.0, 0.6, 0.6, 0.6], cpu=[0.5, 0.3, 0.3, 0.3], predicted_s=0.1, at=100.0)
    _trial(store, "old", wall=[1.0, 0.6], cpu=None, predicted_s=0.1, at=100.0)
    [a, old] = trial_times(store, ["a", "old"], max_epochs=lambda t: 10)
    assert (a.first_epoch_s, a.later_epoch_s, a.contention) == pytest.approx((0.5, 0.3, 2.0), rel=REL)
    assert a.train_s == pytest.approx(2.8, rel=REL)  # the trial's wall seconds stay its wall seconds (the set-up figures read them)
    assert (old.first_epoch_s, old.later_epoch_s, old.contention) == (1.0, 0.6, None)
    [two] = trial_times(store, ["a"], max_epochs=lambda t: 10, threads=2)
    assert (two.first_epoch_s, two.later_epoch_s, two.contention) == (1.0, 0.6, None)


def _record(tmp_path, name: str, *, wall: float, cpu: float | None) -> dict:
    """Four trials of the same work (predicted 0.1 s per epoch, measured 0.2 s of CPU) at ``wall`` s an epoch."""
    store = _store(tmp_path, name)
    for i in range(4):
        _trial(store, f"t{i}", wall=[wall] * 4, cpu=None if cpu is None else [cpu] * 4, predicted_s=0.1, at=100.0 + 10 * i)
    times = trial_times(store, [f"t{i}" for i in range(4)], max_epochs=lambda t: 10)
    return record.search_record(run_id=name, study="s", trials=times, started_at=90.0, command=True, ray_started=True, cpus=2,
                                 concurrency=1, cpus_per_trial=1, contention=1.0, phases={})


def test_history_learned_from_a_loaded_record_equals_the_one_from_a_quiet_record(tmp_path):
    """The same work run quiet (wall = CPU = 0.2 s an epoch) and loaded (wall 0.5 s, CPU 0.2 s:
    2.5x contention): both records teach a speed of 2.0 (the loaded run's wall seconds read 5.0),
    and so do the history's figures; their re-pricing configurations hold the same seconds. A
    wall-clock record of the study (from before the column) gives way to them."""
    quiet, loaded = _record(tmp_path, "quiet", wall=0.2, cpu=0.2), _record(tmp_path, "loaded", wall=0.5, cpu=0.2)
    assert quiet["speed"] == pytest.approx(2.0, rel=REL) and loaded["speed"] == pytest.approx(2.0, rel=REL)
    assert quiet["speed_free"] and loaded["speed_free"]
    assert (quiet["speed_contention"], loaded["speed_contention"]) == pytest.approx((1.0, 2.5), rel=REL)
    assert [c["epoch_s"] for c in quiet["configs"]] == pytest.approx([c["epoch_s"] for c in loaded["configs"]], rel=REL)
    wall_only = _record(tmp_path, "wall", wall=0.5, cpu=None)
    assert wall_only["speed"] == pytest.approx(5.0, rel=REL) and not wall_only["speed_free"]
    for pool in ([quiet], [loaded], [wall_only, loaded], [loaded, wall_only]):
        f = history.figures(pool, study="s")
        assert f.speed == pytest.approx(2.0, rel=REL) and f.speed_free and f.source("speed") == "1 earlier runs of this study"
        assert history.figures(pool, study="other").speed == pytest.approx(2.0, rel=REL)  # the machine's too
    old = history.figures([wall_only], study="s")
    assert old.speed == pytest.approx(5.0, rel=REL) and not old.speed_free  # nothing better: the wall clock's, as before


def test_a_contention_free_speed_is_priced_at_the_contention_the_trials_measure():
    """A contention-free speed of 1.5 reads 1.5 x the probe's contention until the trials measured
    theirs, then 1.5 x theirs (2.0 -> 3.0); a wall-clock speed carries the contention it was
    learned at and is never multiplied by the trials' (no double count)."""
    free = Figures(speed=1.5, speed_free=True, first_epoch_s=0.2)
    assert free.at("speed", 1.2) == pytest.approx(1.8, rel=REL)
    measured = Figures(speed=1.5, speed_free=True, first_epoch_s=0.2, trials_contention=2.0)
    assert measured.at("speed", 1.2) == pytest.approx(3.0, rel=REL) and measured.at("first_epoch_s", 1.2) == pytest.approx(0.4, rel=REL)
    assert measured.at("startup_s", 1.2) == pytest.approx(Figures().startup_s * 1.2, rel=REL)  # the other figures stay at the probe's
    wall = Figures(speed=1.5, trials_contention=2.0)
    assert wall.at("speed", 1.0) == pytest.approx(1.5, rel=REL)


def test_the_live_eta_measures_its_trials_contention_from_their_latest_epochs(tmp_path, write_study):
    """The search's Tune trials' last epochs (wall / contention-free seconds), the early ones (trained
    in the helper while Ray started) left out; the ETA's trials are then priced at the
    contention-free figure x that contention (slowness 1.5 x 2 before any in-run correction), moved
    toward the early trial's pace (9x its prediction; one trial against the figure's 2: a third of
    the way, in logs; hpbench.cost.pace), and the trace records it."""
    from conftest import TINY_STUDY

    from hpbench.dispatch.early import EARLY_ID
    from hpbench.dispatch.eta import SearchClock
    from hpbench.study.parse import load_study

    store = _store(tmp_path)
    _trial(store, EARLY_ID.format(0), wall=[0.9, 0.9], cpu=[0.1, 0.1], predicted_s=0.1, at=100.0)
    assert measured_contention(store, [EARLY_ID.format(0)], threads=1, n_trials=4) is None
    _trial(store, "t0", wall=[5.0, 0.4, 0.4, 0.4, 0.4], cpu=[1.0, 0.2, 0.2, 0.2, 0.2], predicted_s=0.1, at=100.0, end=False)
    _trial(store, "t1", wall=[0.3], cpu=[0.15], predicted_s=0.1, at=101.0, end=False)
    ids = [EARLY_ID.format(0), "t0", "t1"]
    assert measured_contention(store, ids, threads=1, n_trials=4) == pytest.approx(1.5 / 0.75, rel=REL)  # t0's last 3 and t1's
    assert measured_contention(store, ids, threads=2, n_trials=4) is None

    study = load_study(write_study(TINY_STUDY.replace("trials = 4", "trials = 12")))
    sc = SearchClock(study=study, n_trials=12)
    sc.figures = Figures(speed=1.5, speed_free=True)
    for t in ids:
        sc.trial_started(t)
    assert sc.eta_s(store) is not None and sc.correction is None
    assert sc.parts[2] == pytest.approx(3.0 ** (2 / 3) * 9.0 ** (1 / 3), rel=1e-3) and sc.parts[4] == pytest.approx(2.0, rel=1e-3)


def test_the_per_family_speed_figure_prices_each_family_at_its_own():
    """A study that searches the model family: its GRUs ran 3x their predictions, its CNNs 1x (the
    study-wide median 2.0 moved with the mix its searcher chose). The record keeps each family's
    median; the study's figures give a GRU 3.0, a CNN 1.0, a family never run and a trial of no
    family the study-wide figure, each at the trials' measured contention; a record re-priced
    against another model keeps no family figure (its families were priced by the old model)."""
    from hpbench.cost.record import TrialTimes
    from hpbench.cost.walltime import TrialPlan, slowness

    def trial(i: int, family: str, ratio: float) -> TrialTimes:
        return TrialTimes(started_at=100.0 + i, ended_at=110.0 + i, train_s=4.0, epochs=4, max_epochs=10, stop_reason="completed",
                          predicted_epoch_s=0.1, first_epoch_s=0.1 * ratio, later_epoch_s=0.1 * ratio, params={"family": family}, contention=1.0)

    trials = [trial(0, "gru", 3.0), trial(1, "gru", 3.0), trial(2, "cnn", 1.0), trial(3, "cnn", 1.0), trial(4, "gru", 2.0)]
    rec = {**record.search_record(run_id="r", study="s", trials=trials, started_at=90.0, command=True, ray_started=True, cpus=2,
                                   concurrency=1, cpus_per_trial=1, contention=1.0, phases={}), "model": NEW.to_dict()}
    assert rec["family_speeds"] == pytest.approx({"gru": 3.0, "cnn": 1.0}, rel=REL) and rec["speed"] == pytest.approx(2.0, rel=REL)
    f = history.figures([rec], study="s", model=NEW)
    assert f.family_speeds == pytest.approx({"gru": 3.0, "cnn": 1.0}, rel=REL)
    f = replace(f, trials_contention=1.5)
    assert [slowness(TrialPlan(epoch_s=0.1, max_epochs=10, family=fam), figures=f, c=1.0) for fam in ("gru", "cnn", "mlp", None)] == \
        pytest.approx([4.5, 1.5, 3.0, 3.0], rel=REL)
    assert history.figures([rec], study="other", model=NEW).family_speeds == {}  # another study's families are not its own
    repriced = history.figures([rec], study="s", model=history.ModelTag(schema=NEW.schema, measured_at=3_000.0), repriced={"r": 1.2})
    assert repriced.speed == pytest.approx(1.2, rel=REL) and repriced.family_speeds == {}


NEW = history.ModelTag(schema=8, measured_at=2_000.0)


def test_a_contention_free_speed_is_priced_at_the_contention_the_studys_trials_met_before(tmp_path):
    """Before the live search measures its own, a contention-free speed is priced at the contention
    the study's trials met in its latest runs (the median of their records' 1.0 and 2.5 and 2.5:
    two trials of a max_concurrent = 2 study share 2 cores with the driver), not at the probe's 1;
    another study reads the machine's; wall-clock records claim none."""
    quiet, loaded = _record(tmp_path, "quiet", wall=0.2, cpu=0.2), _record(tmp_path, "loaded", wall=0.5, cpu=0.2)
    f = history.figures([quiet, loaded, loaded], study="s")
    assert f.trials_contention == pytest.approx(2.5, rel=REL) and f.at("speed", 1.0) == pytest.approx(2.0 * 2.5, rel=REL)
    assert history.figures([quiet, loaded, {**loaded, "study": "t"}], study="s").trials_contention == pytest.approx(1.75, rel=REL)
    assert history.figures([quiet, {**loaded, "study": "t"}], study="new").trials_contention == pytest.approx(1.75, rel=REL)
    assert history.figures([_record(tmp_path, "wall", wall=0.5, cpu=None)], study="s").trials_contention is None
