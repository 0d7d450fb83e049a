"""Real searches (Ray) on data in the shapes users have: signals from a NumPy file with the test
split it came with, used as given and said so in the report; a streamed ``.npy`` read by
DataLoader workers inside the trials; the generated signals study."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.data.prepare import load_raw
from hpbench.dispatch.runner import SearchOptions, run_search
from hpbench.study.parse import load_study

pytestmark = pytest.mark.slow

STUDY = """
[study]
name = "{name}"
metric = "val_accuracy"
trials = 2
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
{data}
preprocess = ["standardize"]

[model]
family = "cnn"
channels = 8
width = 16

[train]
max_epochs = 2
batch_size = 64

[space]
lr = {{ loguniform = [1e-3, 1e-2] }}
"""


@pytest.fixture(scope="module")
def signal_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    raw = load_raw("signals", {"n_samples": 1000, "length": 48, "channels": 2, "noise": 0.3})
    np.savez(root / "signals.npz", x=raw.x[:800], y=raw.y[:800], x_test=raw.x[800:], y_test=raw.y[800:])
    np.save(root / "x.npy", raw.x[:800])
    np.save(root / "y.npy", raw.y[:800])
    return root


def test_npz_with_its_own_test_split_through_a_real_search(ray_local, signal_files, tmp_path):
    path = tmp_path / "npz.toml"
    path.write_text(STUDY.format(name="npz", data=f'dataset = "{signal_files / "signals.npz"}"'))
    out = tmp_path / "out"
    run_search(load_study(path), SearchOptions(out=out))
    trials = hpbench.load(out)
    assert len(trials) == 2 and trials["best_val_accuracy"].max() > 0.4  # six waveforms: chance is 1/6
    assert trials["test_accuracy"].notna().any()  # the given test split was evaluated after the search
    record = json.loads((out / "study.json").read_text())["data"]
    assert record["given"] == ["test"] and record["kind"] == "signal" and record["input_shape"] == [2, 48]
    assert (record["n_train"], record["n_val"], record["n_test"]) == (640, 160, 200)
    res = CliRunner().invoke(app, ["report", str(out), "--section", "leaderboard"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())  # the console wraps long lines
    assert "test split as given with the data" in text and "val split carved out (0.2, stratified, seed 0)" in text


def test_streamed_npy_with_dataloader_workers_through_a_real_search(ray_local, signal_files, tmp_path):
    path = tmp_path / "stream.toml"
    data = f'x = "{signal_files / "x.npy"}"\ny = "{signal_files / "y.npy"}"\nstream = true\nnum_workers = 1'
    path.write_text(STUDY.format(name="stream", data=data))
    out = tmp_path / "out"
    run_search(load_study(path), SearchOptions(out=out))
    trials = hpbench.load(out)
    assert len(trials) == 2 and (trials["status"] == "finished").all(), trials.get("error")
    assert trials["best_val_accuracy"].max() > 0.4
    record = json.loads((out / "study.json").read_text())["data"]
    assert record["streamed"] and record["num_workers"] == 1 and record["n"] == 800
    assert trials["predicted_s"].notna().all()  # the cost model predicted from the headers, not the data


def test_a_streamed_npy_named_by_a_relative_path_trains(ray_local, signal_files, tmp_path, monkeypatch):
    """``x = "x.npy"`` as the README writes it, run from the data's folder: a streamed file is
    opened in each trial's Ray worker, whose working directory is its own. The path was kept
    relative and every trial failed with FileNotFoundError (bug hunt s47h4)."""
    monkeypatch.chdir(signal_files)
    path = tmp_path / "rel.toml"
    path.write_text(STUDY.format(name="rel", data='x = "x.npy"\ny = "y.npy"\nstream = true'))
    out = tmp_path / "out"
    study = load_study(path)
    assert study.config["data"]["dataset"] == str((signal_files / "x.npy").resolve())  # absolute once validated
    run_search(study, SearchOptions(out=out))
    trials = hpbench.load(out)
    assert len(trials) == 2 and (trials["status"] == "finished").all(), trials.get("error")
