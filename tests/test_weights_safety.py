"""Weights files come from other people's results folders ([model] init_from, [distill] teacher):
reading one must never run code. A crafted pickle planted as a trial's weights file is refused
with a clear error, at the edge (exit 2, nothing written) and again where the trainer loads it,
and the command it carries never runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.results.weights import WeightsFileError, check_weights_file, weights_path
from hpbench.train.weights import build_saved_model, load_record
from tests.helpers.saved_trials import train_and_save


class Evil:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def folder(tmp_path):
    """A real results folder with a good trial 0; returns (folder, good record)."""
    _, record = train_and_save(tmp_path / "theirs")
    return tmp_path / "theirs", record


def plant(path: Path, payload: object, *, protocol: int = 2, zip_format: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if zip_format:
        torch.save(payload, path, pickle_protocol=protocol)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=protocol))


def malicious(record: dict, marker: Path) -> dict:
    return {**record, "params": {**record["params"], "width": Evil(marker)}}


@pytest.mark.parametrize(("protocol", "zip_format"), [(2, True), (4, True), (5, True), (2, False)])
def test_a_planted_pickle_is_refused_and_runs_nothing(folder, tmp_path, protocol, zip_format):
    out, record = folder
    marker = tmp_path / "pwned"
    bad = weights_path(out, 1)
    plant(bad, malicious(record, marker), protocol=protocol, zip_format=zip_format)
    with pytest.raises(WeightsFileError, match=r"refused|not a weights file") as info:
        load_record(bad)
    assert str(bad) in str(info.value)
    assert not marker.exists(), "the planted command ran"


def test_torch_itself_refuses_it_too(folder, tmp_path, monkeypatch):
    """Defence in depth: with the pickle scan skipped, torch.load(weights_only=True) refuses it."""
    import hpbench.train.weights as W

    out, record = folder
    marker = tmp_path / "pwned"
    bad = weights_path(out, 1)
    plant(bad, malicious(record, marker))
    monkeypatch.setattr(W, "check_weights_file", lambda path: None)
    with pytest.raises(WeightsFileError, match="not a weights file torch loads safely"):
        load_record(bad)
    assert not marker.exists()


def test_the_good_file_passes_the_scan_and_loads(folder):
    out, record = folder
    check_weights_file(weights_path(out, 0))
    rec = load_record(weights_path(out, 0))
    model = build_saved_model(rec)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), record["state_dict"].values(), strict=True))


@pytest.mark.parametrize("section", ["init_from", "teacher"])
def test_a_study_naming_the_planted_trial_exits_2_before_anything_runs(folder, tmp_path, section):
    out, record = folder
    marker = tmp_path / "pwned"
    plant(weights_path(out, 1), malicious(record, marker))
    study = tmp_path / "s.toml"
    where = f"{out}:1"
    extra = f'init_from = "{where}"' if section == "init_from" else ""
    distill = f'\n[distill]\nteacher = "{where}"\n' if section == "teacher" else ""
    study.write_text(f'[study]\nname = "mine"\nmetric = "val_accuracy"\n[data]\ndataset = "digits"\n'
                     f'[model]\nfamily = "mlp"\ndepth = 1\nwidth = 32\n{extra}\n{distill}', encoding="utf-8")
    res = CliRunner().invoke(app, ["search", str(study), "--out", str(tmp_path / "out")])
    key = "model.init_from" if section == "init_from" else "distill.teacher"
    text = " ".join(res.stderr.split())
    assert res.exit_code == 2, res.output
    assert key in text and "refused: loading it would run posix.system" in text, text
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert not (tmp_path / "out").exists() and not marker.exists()


def test_a_record_cannot_choose_the_code_that_builds_its_model(folder):
    """A safe pickle whose family names user code (or bad parameters) is not built: only a
    registered family with valid parameters, or a user family the reading study names itself."""
    _, record = folder
    with pytest.raises(WeightsFileError, match="refused to build family 'os:system'"):
        build_saved_model({**record, "family": "os:system"})
    with pytest.raises(WeightsFileError, match=r"mlp.width must be <= 65536"):
        build_saved_model({**record, "params": {**record["params"], "width": 10**9}})
    with pytest.raises(WeightsFileError, match="has no parameter 'evil'"):
        build_saved_model({**record, "params": {**record["params"], "evil": 1}})
    with pytest.raises(WeightsFileError, match="do not fit"):
        build_saved_model({**record, "params": {**record["params"], "width": 8}})
    user = "tests.helpers.flaky:build"
    spec = {**record, "family": user, "params": {"dir": "/nonexistent"}}
    with pytest.raises(WeightsFileError, match="refused to build family"):
        build_saved_model(spec)


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_a_truncated_or_garbled_weights_file_is_an_error_not_a_traceback(folder, content):
    out, _ = folder
    bad = weights_path(out, 2)
    bad.write_bytes(content)
    with pytest.raises(WeightsFileError):
        load_record(bad)


def test_a_truncated_real_weights_file_is_refused(folder):
    out, _ = folder
    good = weights_path(out, 0).read_bytes()
    bad = weights_path(out, 3)
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(WeightsFileError):
        load_record(bad)


@pytest.mark.parametrize("record", ['[1, 2]', '{"settings": 3}', '{"settings": {"metric": "val_accuracy"}}'])
def test_a_hostile_study_record_behind_best_is_an_error(folder, tmp_path, record):
    from hpbench.errors import StudyError
    from hpbench.study.parse import parse_study

    out, _ = folder
    (out / "study.json").write_text(record)
    (out / "trials.parquet").write_bytes(b"not parquet")
    with pytest.raises(StudyError, match=r"model.init_from: .*cannot tell its best trial"):
        parse_study({"data": {"dataset": "digits"}, "model": {"family": "mlp", "init_from": f"{out}:best"}})



def test_best_names_the_best_search_trial_not_a_repeat_or_device_run(folder):
    """``RESULTS:best`` is the trial ``Results.best`` and the leaderboard call best: a repeat row
    (another seed of a search trial) or a device comparison that scored higher is not it."""
    import shutil

    import pandas as pd

    from hpbench.results.weights import best_trial

    out, _ = folder
    for t in (1, 2, 3):
        shutil.copy(weights_path(out, 0), weights_path(out, t))
    pd.DataFrame({
        "trial": [0, 1, 2, 3], "status": ["finished"] * 4, "best_val_accuracy": [0.90, 0.93, 0.99, 0.98],
        "repeat": [0, 0, 1, 0], "device_of": [None, None, None, 1.0],
    }).to_parquet(out / "trials.parquet")
    assert best_trial(out) == 1


def test_a_fixed_key_of_another_searched_family_does_not_spoil_the_saved_weights():
    """[model] ff_width (the transformer's) fixed beside a searched family: a gru trial's weights
    file held ff_width and refused to load ('gru has no parameter'), so the test split was never
    evaluated (found by benchmarks/race.py)."""
    from types import SimpleNamespace

    from hpbench.models import build_model
    from hpbench.study.parse import load_study
    from hpbench.study.resolve import trial_config
    from hpbench.train.weights import record

    study = load_study(Path(__file__).resolve().parents[1] / "studies" / "race" / "signals.toml", overrides=["model.ff_width=64"])
    cfg = trial_config(study, {"family": "gru", "lr": 0.01, "model.layers": 1, "model.hidden_size": 16})
    assert cfg.model.params.get("ff_width") == 64
    splits = SimpleNamespace(input_shape=(3, 48), n_outputs=6, task="multiclass", kind="signal")
    model = build_model("gru", input_shape=(3, 48), n_outputs=6, params=dict(cfg.model.params), kind="signal")
    rec = record(cfg, splits, model, temperature=None)  # type: ignore[arg-type]
    assert "ff_width" not in rec["params"] and rec["params"]["hidden_size"] == 16
    again = build_saved_model(rec)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values(), strict=True))
