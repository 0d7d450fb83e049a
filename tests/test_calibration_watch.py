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
