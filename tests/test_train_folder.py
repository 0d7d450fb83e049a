"""What ``hpbench train`` leaves in its folder (bug hunt s51/h5, findings 1 and 3): the
``study.toml`` beside the model is the study it trained (``--set``, ``--epochs`` and a dict-made
study included), another study's training there is refused unless forced, and a training killed
midway never leaves its new ``metrics.json`` beside the old ``model.pt``. No Ray: 1-2 epochs of a
tiny MLP in this process."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.api.retrain import METRICS_FILE, MODEL_FILE, check_train
from hpbench.cli import app
from hpbench.results.files import STUDY_TOML, OutputError
from tests.helpers.studies import TINY_STUDY

QUIET = Console(quiet=True)
runner = CliRunner()
FIXED = TINY_STUDY.split("[space]")[0].replace('name = "tiny"', 'name = "fixed"') + '\n[optimizer]\nname = "adam"\nlr = 0.02\n'


def _metrics(folder: Path) -> dict[str, float]:
    return json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))["metrics"]


def _same(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys() and "val_accuracy" in a
    for k, v in a.items():
        assert b[k] == pytest.approx(v, rel=1e-5), k


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_the_study_toml_written_is_the_study_trained_with_set_and_epochs(write_study, tmp_path):
    """``--set`` and ``--epochs`` were dropped: the study.toml said width 32, lr 0.02 and 3 epochs
    beside a model of width 8 trained 2 epochs at lr 0.05, and retraining it gave another model."""
    path = write_study(FIXED, "fixed.toml")
    a, b = tmp_path / "a", tmp_path / "b"
    r = runner.invoke(app, ["train", str(path), "--out", str(a), "--epochs", "2", "--set", "optimizer.lr=0.05", "--set", "model.width=8"])
    assert r.exit_code == 0, r.output
    written = tomllib.loads((a / STUDY_TOML).read_text(encoding="utf-8"))
    assert written["model"]["width"] == 8 and written["optimizer"]["lr"] == 0.05 and written["train"]["max_epochs"] == 2
    assert written["study"]["name"] == "fixed"
    r = runner.invoke(app, ["train", str(a / STUDY_TOML), "--out", str(b)])  # "retrain what a holds"
    assert r.exit_code == 0, r.output
    _same(_metrics(a), _metrics(b))
    assert hpbench.load_model(a)[1].out_features == hpbench.load_model(b)[1].out_features == 8


def test_a_dict_made_study_writes_its_study_toml_with_its_data_file_made_absolute(tmp_path, monkeypatch):
    """``train_study(Study.from_dict(...))`` wrote no study.toml (and left an earlier training's there)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    rows = ["a,b,c,label", *(f"{p:.4f},{q:.4f},{s:.4f},{'yes' if p + q > 0 else 'no'}" for p, q, s in x)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    raw = {"study": {"seed": 0, "metric": "val_accuracy", "mode": "max"}, "data": {"dataset": "d.csv", "target": "label"},
           "model": {"family": "mlp", "depth": 1, "width": 4}, "train": {"max_epochs": 2}}
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    hpbench.train_study(hpbench.Study.from_dict(raw, name="dicty"), out=out, console=QUIET)
    written = tomllib.loads((out / STUDY_TOML).read_text(encoding="utf-8"))
    assert written["data"]["dataset"] == str((tmp_path / "d.csv").resolve()) and written["study"]["name"] == "dicty"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the written study trains from anywhere, into its own folder: the same study
    again = hpbench.train_study(hpbench.Study.from_toml(out / STUDY_TOML), out=out, console=QUIET)
    _same(_metrics(out), again.metrics)


def test_a_forced_training_into_another_study_s_folder_replaces_its_study_toml(write_study, tmp_path):
    out = tmp_path / "out"
    hpbench.train_study(hpbench.Study.from_toml(write_study(FIXED, "fixed.toml")), out=out, epochs=1, console=QUIET)
    raw = tomllib.loads(FIXED)
    raw["model"]["width"] = 4
    hpbench.train_study(hpbench.Study.from_dict(raw), out=out, epochs=1, force=True, console=QUIET)
    assert tomllib.loads((out / STUDY_TOML).read_text(encoding="utf-8"))["model"]["width"] == 4  # not the earlier width 32
    assert hpbench.load_model(out)[1].out_features == 4


def test_training_another_study_into_a_trained_folder_is_refused_unless_forced(write_study, tmp_path):
    """Every ``best --study-out`` study is named ``<name>-best``: training the runner-up replaced
    the winner's model.pt with exit 0 and no word."""
    path = write_study(FIXED, "fixed.toml")
    out = tmp_path / "out"
    r = runner.invoke(app, ["train", str(path), "--out", str(out), "--epochs", "1"])
    assert r.exit_code == 0, r.output
    before = _files(out)
    r = runner.invoke(app, ["train", str(path), "--out", str(out), "--epochs", "1", "--set", "model.width=8"])
    assert r.exit_code == 2
    flat = " ".join(r.output.split())
    for part in (str(out), "another study", "'fixed'", "--force", "--out"):
        assert part in flat, part
    assert _files(out) == before  # nothing written
    with pytest.raises(OutputError, match="force=True"):
        check_train(hpbench.Study.from_toml(path), epochs=2, out=out)  # 2 epochs: another training than the 1 there
    r = runner.invoke(app, ["train", str(path), "--out", str(out), "--epochs", "1"])  # the same study again: said, not refused
    assert r.exit_code == 0, r.output
    assert "replacing" in " ".join(r.output.split())
    r = runner.invoke(app, ["train", str(path), "--out", str(out), "--epochs", "1", "--set", "model.width=8", "--force"])
    assert r.exit_code == 0, r.output
    assert hpbench.load_model(out)[1].out_features == 8


def test_a_training_killed_midway_never_leaves_its_metrics_beside_the_old_model(write_study, tmp_path, monkeypatch):
    from hpbench.api import train_folder

    path = write_study(FIXED, "fixed.toml")
    out = tmp_path / "out"
    hpbench.train_study(hpbench.Study.from_toml(path), out=out, epochs=1, console=QUIET)
    old = _metrics(out)
    other = hpbench.Study.from_toml(path, overrides={"model.width": 8})

    real = train_folder.atomic_write_bytes

    def killed(target: Path, data: bytes) -> None:
        if target.name == MODEL_FILE:
            raise KeyboardInterrupt
        real(target, data)

    monkeypatch.setattr(train_folder, "atomic_write_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        hpbench.train_study(other, out=out, epochs=1, force=True, console=QUIET)
    monkeypatch.undo()
    record = json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    assert "metrics" not in record  # no metrics beside a model.pt that is not theirs (the new ones, nor the old)
    assert record["state"] == "incomplete" and record["study"] == "fixed"
    assert old  # the old model.pt is still the old study's, and nothing claims otherwise
    assert check_train(other, epochs=1, out=out) == out  # its own unfinished folder: trained again
    with pytest.raises(OutputError, match="unfinished"):
        check_train(hpbench.Study.from_toml(path), epochs=1, out=out)
    hpbench.train_study(other, out=out, epochs=1, console=QUIET)
    assert "metrics" in json.loads((out / METRICS_FILE).read_text(encoding="utf-8"))
    assert hpbench.load_model(out)[1].out_features == 8


def test_epochs_that_break_a_rule_of_the_study_are_refused_before_training(write_study, tmp_path):
    """The written study must read back: ``--epochs 1`` under a 1.5-epoch warm-up was a ValueError
    traceback from the schedule; now it is the study's rule, named with the epochs, and nothing is written."""
    path = write_study(FIXED.replace("[train]", '[lr_schedule]\nname = "warmup_cosine"\nwarmup_epochs = 1.5\n\n[train]'), "warm.toml")
    with pytest.raises(hpbench.StudyError, match=r"\(with 1 epochs\): lr_schedule\.warmup_epochs: must be < train\.max_epochs"):
        check_train(hpbench.Study.from_toml(path), epochs=1, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_each_epoch_line_is_one_line_when_the_output_is_not_a_terminal(write_study, tmp_path):
    """Piped (Rich's 80 columns), an epoch's line of metrics wrapped onto a second line, which
    a reader of the log (``grep epoch``) lost (bug hunt s51/v1)."""
    path = write_study(FIXED, "fixed.toml")
    r = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "a"), "--epochs", "2"], env={"COLUMNS": "40"})
    assert r.exit_code == 0, r.output
    lines = [line for line in r.output.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all("val_accuracy" in line and "val_loss" in line for line in lines), r.output
