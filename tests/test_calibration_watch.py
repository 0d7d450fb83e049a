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
from tests.helpers.devices import device_cache


def _study(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(TINY_STUDY)
    return load_study(path)


def _cache_model(cache, study):
    """A model of the study's device (the CPU, at 1 thread) as this version's calibration caches it."""
    cache.mkdir(parents=True, exist_ok=True)
    assert str(study.config["train"].get("device", "cpu")) == "cpu" and max(1, int(study.resources.cpus_per_trial)) == 1
    device_cache(cache, 1.0)


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


def _older_model(cache, *, schema: int = 6, **versions: str) -> None:
    """The study's device model as an older hpbench cached it: its schema (and its identity's) lower
    than this version's, or (``versions``) measured with other hardware or library versions."""
    cache.mkdir(parents=True, exist_ok=True)
    model = device_cache(cache, 1.0).to_dict()
    model.update(schema=schema, versions={**model["versions"], "schema": str(schema), **versions}, measured_at=1.0)
    history.device_cache_file(cache, "cpu", 1).write_text(json.dumps(model))


def test_a_model_cached_by_an_older_hpbench_is_recalibrated_as_a_missing_one_and_said_so(tmp_path, monkeypatch):
    """Bug hunt s52h4 #1: a device model cached by an older hpbench (schema 6), which the calibration's
    load refuses and measures again, was a model to the driver: no notice, no "being calibrated" on the
    waiting line, and the calibration wait recorded as the final table's 116.7 s. It is no model to
    either now, the notice says why it is measured again, and the wait is timed apart."""
    import time

    from hpbench.cost import calibrate
    from hpbench.dispatch.eta import SearchClock

    study, cache = _study(tmp_path), tmp_path / "devices"
    _older_model(cache)
    assert calibrate.load_cached(history.device_cache_file(cache, "cpu", 1), "cpu") is None  # the calibration's load refuses it ...
    watch = CalibrationWatch.of(study, cache_dir=cache)
    assert watch is not None and watch.running()  # ... and so does the driver: the search calibrates
    notice = watch.notice()
    assert "cached cost model of the study's device at 1 thread is from an older hpbench (model schema 6" in notice
    assert "it is recalibrated beside the first trials, once" in notice
    clock = SearchClock(study=study, n_trials=4, history_dir=cache)
    assert clock.model is None  # its figures and record: as on a machine with no model
    clock.calibration = CalibrationWatch.of(study, cache_dir=cache)  # (the clock's own watches the default cache)
    clock.phases_done()
    end = clock.phases_end_at
    seen: list[bool] = []
    clock.close_predictions(lambda calibrating: (seen.append(calibrating), time.sleep(0.2)))
    assert seen == [True] and clock.measured["calibration_wait_s"] >= 0.2 and end is not None and clock.phases_end_at >= end + 0.2
    monkeypatch.setattr(calibration_watch, "EVERY_S", 0.0)
    _cache_model(cache, study)  # the helper's calibration cached this version's model
    assert not watch.running() and CalibrationWatch.of(study, cache_dir=cache) is None


def test_a_model_of_another_identity_is_recalibrated_and_said_so(tmp_path):
    study, cache = _study(tmp_path), tmp_path / "devices"
    _older_model(cache, schema=history.MODEL_SCHEMA, torch="0.0.1")
    watch = CalibrationWatch.of(study, cache_dir=cache)
    assert watch is not None and "was measured with other hardware or versions (torch 0.0.1 -> " in watch.notice()


def test_a_search_that_calibrated_records_its_wait_even_when_there_was_none(tmp_path, monkeypatch):
    """A record says that its final table holds no calibration wait (calibration_wait_s = 0) when the
    calibration ended before the command's close: hpbench.cost.learned reads its report_s then."""
    from hpbench.dispatch.eta import SearchClock

    study, cache = _study(tmp_path), tmp_path / "devices"
    clock = SearchClock(study=study, n_trials=4)
    clock.calibration = CalibrationWatch.of(study, cache_dir=cache)
    monkeypatch.setattr(calibration_watch, "EVERY_S", 0.0)
    _cache_model(cache, study)
    clock.phases_done()
    end = clock.phases_end_at
    clock.close_predictions(lambda calibrating: None)
    assert clock.measured["calibration_wait_s"] == 0.0 and clock.phases_end_at == end
