"""A machine's first search calibrates its cost model beside the first trials: the progress says
so until the model is cached (hpbench.dispatch.calibration_watch). No Ray."""

from __future__ import annotations

import json
from io import StringIO

from rich.console import Console

from hpbench.cost import history
from hpbench.dispatch import calibration_watch
from hpbench.dispatch.calibration_watch import CalibrationWatch
from hpbench.study.parse import load_study
from tests.conftest import TINY_STUDY


def _study(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    return load_study(path)


def _cache_model(cache, study):
    cache.mkdir(parents=True, exist_ok=True)
    threads = max(1, int(study.resources.cpus_per_trial))
    history.device_cache_file(cache, str(study.config["train"].get("device", "cpu")), threads).write_text(
        json.dumps({"schema": 1, "measured_at": 1.0}))


def test_a_watch_runs_until_the_model_is_cached_and_none_is_made_when_it_is(tmp_path, monkeypatch):
    study, cache = _study(tmp_path), tmp_path / "devices"
    watch = CalibrationWatch.of(study, cache_dir=cache)
    assert watch is not None and watch.running()
    assert "no cost model of the study's device at 1 thread yet" in watch.notice()
    monkeypatch.setattr(calibration_watch, "EVERY_S", 0.0)
    _cache_model(cache, study)
    assert not watch.running()
    assert CalibrationWatch.of(study, cache_dir=cache) is None  # a cached model: nothing to watch


def test_the_progress_line_says_the_calibration_runs_until_it_ended(tmp_path, monkeypatch):
    from hpbench.dispatch.eta import SearchClock
    from hpbench.dispatch.progress import Progress
    from hpbench.results.store import ResultsStore

    study, cache = _study(tmp_path), tmp_path / "devices"
    monkeypatch.setattr(calibration_watch, "EVERY_S", 0.0)
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=study.space.keys())
    clock = SearchClock(study=study, n_trials=4)
    clock.calibration = CalibrationWatch.of(study, cache_dir=cache)
    progress = Progress(store=store, n_trials=4, console=Console(file=StringIO(), width=200), study_name="tiny", clock=clock)
    assert "the cost model's calibration (once)" in progress._summary()
    _cache_model(cache, study)
    assert "calibration" not in progress._summary()


def test_the_wait_behind_a_first_calibration_is_left_out_of_the_final_tables_figure(tmp_path):
    """The command's wait for its last cost predictions behind a machine's first calibration is
    timed apart (calibration_wait_s) and moves the end of the phases with it, so that report_s (the
    final table, from phases_end_at) stays the final table's: a first quickstart recorded 140 s
    there, and later estimates priced a ~1-minute command at 3.5-7 min (bug hunt s47h1). A wait
    with no calibration running stays in report_s."""
    import time

    from hpbench.dispatch.eta import SearchClock

    study = _study(tmp_path)
    clock = SearchClock(study=study, n_trials=4)
    clock.calibration = CalibrationWatch.of(study, cache_dir=tmp_path / "devices")  # nothing cached: calibrating
    clock.phases_done()
    end = clock.phases_end_at
    seen: list[bool] = []
    clock.close_predictions(lambda calibrating: (seen.append(calibrating), time.sleep(0.2)))
    assert seen == [True] and clock.measured["calibration_wait_s"] >= 0.2 and clock.phases_end_at >= end + 0.2
    clock.calibration = None  # a calibrated machine: the wait is the final table's
    clock.phases_done()
    end = clock.phases_end_at
    clock.measured.pop("calibration_wait_s")
    clock.close_predictions(lambda calibrating: seen.append(calibrating))
    assert seen == [True, False] and clock.phases_end_at == end and "calibration_wait_s" not in clock.measured
