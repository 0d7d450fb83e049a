"""The calibration section names the study's task when it has no classes to calibrate (rl, gan),
read from a results directory's study record; a supervised study keeps its own message."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.report.data import load_report


def _results(path: Path, *, task: str | None, metric: str) -> Path:
    """A minimal results directory: the study record, one finished trial and its epoch."""
    path.mkdir()
    model = {"family": "mlp", **({"task": task} if task else {})}
    record = {"name": "s", "settings": {"metric": metric, "mode": "max"}, "space": {}, "config": {"model": model, "train": {"max_epochs": 1}}}
    (path / "study.json").write_text(json.dumps(record), encoding="utf-8")
    pd.DataFrame({"trial": [0], "status": ["finished"], f"best_{metric}": [1.0], "best_epoch": [1]}).to_parquet(path / "trials.parquet")
    pd.DataFrame({"trial": [0], "trial_id": ["a"], "epoch": [1], metric: [1.0]}).to_parquet(path / "epochs.parquet")
    return path


@pytest.mark.parametrize(("task", "metric"), [("rl", "val_return"), ("gan", "val_fid")])
def test_the_calibration_section_of_an_rl_or_gan_study_names_its_task(tmp_path, task, metric):
    results = _results(tmp_path / task, task=task, metric=metric)
    assert load_report(results).task == task
    res = CliRunner().invoke(app, ["report", str(results), "--section", "calibration"])
    assert res.exit_code == 0, res.output
    assert f"applies to classification only, not to this study's task ({task})" in " ".join(res.output.split())
    assert "val_ece" not in res.output


def test_a_supervised_study_without_val_ece_keeps_its_message(tmp_path):
    results = _results(tmp_path / "sup", task=None, metric="val_accuracy")
    assert load_report(results).task == "supervised"
    res = CliRunner().invoke(app, ["report", str(results), "--section", "calibration"])
    assert res.exit_code == 0, res.output
    assert "no val_ece column" in res.output
