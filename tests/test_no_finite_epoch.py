"""A trial that diverges before any epoch's weights are kept (in its first epoch) has no weights
(bug hunt s51/h1, finding 2): it saved its all-NaN weights under ``best_epoch = 1``, which
``load_model`` returned and ``init_from`` started every trial from, without a word. Now its
``best_epoch`` is NA and no weights file is written (the single trainer, a fused member, ``hpbench
train``); readers say why it has none; a weights file holding NaN (an older folder's) is refused
where a training would start from it. No Ray."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from test_models import cfg

torch = pytest.importorskip("torch")

import hpbench  # noqa: E402
from hpbench.results.files import STUDY_JSON  # noqa: E402
from hpbench.results.store import ResultsStore  # noqa: E402
from hpbench.results.weights import ReferenceError_, WeightsFileError, resolve_reference, weights_path  # noqa: E402
from hpbench.train.fused import train_fused  # noqa: E402
from hpbench.train.trainer import StopReason, train  # noqa: E402
from tests.helpers.saved_trials import DIGITS_MLP, train_and_save  # noqa: E402

# SGD at lr 1e6 on diabetes: the loss is not finite in the first epoch (the hunt's cases/div_reg.toml)
DIVERGES = {"dataset": "diabetes", "model": {"depth": 1, "width": 16}, "optimizer": "sgd", "lr": 1e6, "epochs": 3}


def test_a_trial_that_diverges_in_its_first_epoch_has_no_best_epoch_and_saves_no_weights():
    states: list[dict[str, Any]] = []
    out = train(cfg(**DIVERGES), on_state=states.append)
    assert out.stop_reason == StopReason.DIVERGED and len(out.history) == 1
    assert out.best_epoch is None and out.history[-1]["best_epoch"] is None  # was 1: its NaN weights, "the best"
    assert "final_model" not in states[-1]  # was the all-NaN weights, saved as weights/<trial>.pt


def test_a_fused_member_that_diverges_in_its_first_epoch_saves_no_weights():
    c = cfg(**DIVERGES)
    sane = dataclasses.replace(c, optimizer=dataclasses.replace(c.optimizer, lr=1e-3))
    records: dict[int, Any] = {}

    def report(member: int, row: dict[str, Any], weights: Any) -> bool:
        if "stop_reason" in row:
            records[member] = weights
        return False

    outs = train_fused([c, sane], report=report, record=True)
    assert [o.stop_reason for o in outs] == [StopReason.DIVERGED, StopReason.COMPLETED]
    assert outs[0].best_epoch is None and len(outs[0].history) == 1 and records[0] is None
    assert outs[1].best_epoch is not None and records[1] is not None  # the member beside it saves its own


def test_hpbench_train_of_a_configuration_that_diverges_at_once_writes_nothing(tmp_path):
    from rich.console import Console

    from hpbench.errors import StudyError

    raw = {"study": {"name": "div", "metric": "val_loss"}, "data": {"dataset": "diabetes"}, "model": {"family": "mlp", "depth": 1, "width": 16},
           "optimizer": {"name": "sgd", "lr": 1e6}, "train": {"max_epochs": 3}}
    with pytest.raises(StudyError, match=r"train: the training diverged .* in epoch 1, before any epoch's weights were kept"):
        hpbench.train_study(hpbench.Study.from_dict(raw), out=tmp_path / "t", console=Console(quiet=True))
    assert not (tmp_path / "t" / "model.pt").exists()


def diverged_folder(out: Path) -> Path:
    """A search's results: trial 0 finished (with weights), trial 1 diverged in its first epoch (none)."""
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=[])
    rows = [{"epoch": 1, "val_accuracy": 0.9, "stop_reason": "completed", "best_epoch": 1},
            {"epoch": 1, "val_accuracy": math.nan, "stop_reason": "diverged", "best_epoch": None}]
    for i, r in enumerate(rows):
        store.start(f"t{i}", {})
        store.epoch(f"t{i}", r)
        store.finish(f"t{i}")
    store.flush(force=True)
    raw = {"study": {"name": "d"}, "data": {"dataset": "digits"}, "model": {"family": "mlp"}}
    (out / STUDY_JSON).write_text(json.dumps({"name": "d", "settings": {"metric": "val_accuracy", "mode": "max"}, "raw": raw, "space": {},
                                              "config": {"model": {"task": "supervised"}}}), encoding="utf-8")
    return out


def test_readers_say_a_trial_that_diverged_in_its_first_epoch_has_no_weights(tmp_path):
    from typer.testing import CliRunner

    from hpbench.cli import app

    out = diverged_folder(tmp_path / "r")
    said = "trial 1 diverged in its first epoch: its loss was not finite, so it has no weights (best_epoch NA)"
    res = hpbench.Results(out)
    assert res.trial(1).best_epoch is None
    for load in (res.load_model, res.load_predictor):
        with pytest.raises(FileNotFoundError, match=re_(said)):
            load(1)
    with pytest.raises(FileNotFoundError, match=re_(said)):
        hpbench.load_model(weights_path(out, 1))
    with pytest.raises(ReferenceError_, match=re_(said)):
        resolve_reference(f"{out}:1")
    shown = CliRunner().invoke(app, ["best", str(out), "--trial", "1"], env={"COLUMNS": "300"})  # the sentence on one line of the table
    assert shown.exit_code == 0 and said in " ".join(shown.output.split()) and "best - of 1 (diverged)" in shown.output, shown.output
    heading = shown.output.splitlines()[0]  # its value is NA: said so, not "val_accuracy nan"
    assert "val_accuracy - (max), no value: diverged" in heading and "nan" not in shown.output.lower(), shown.output


def re_(text: str) -> str:
    import re

    return re.escape(text)


def nan_weights(tmp_path: Path) -> Path:
    """A saved trial whose weights are NaN, as a trial that diverged in its first epoch saved them before."""
    from hpbench.train.weights import dumps

    path, record = train_and_save(tmp_path / "pre")
    record["state_dict"] = {k: torch.full_like(v, math.nan) if v.is_floating_point() else v for k, v in record["state_dict"].items()}
    path.write_bytes(dumps(record))
    return path


def test_init_from_weights_that_are_not_finite_is_refused_by_the_preflight_naming_the_file(tmp_path):
    from hpbench.preflight.run import check_study
    from hpbench.study.parse import parse_study
    from hpbench.train.transfer import apply

    path = nan_weights(tmp_path)
    raw = {**DIGITS_MLP, "model": {**DIGITS_MLP["model"], "init_from": f"{tmp_path / 'pre'}:0"}}
    found = [str(p) for p in check_study(parse_study(raw))]
    assert any("model.init_from: refused: its weights are not finite (1.weight holds NaN or inf)" in p and str(path) in p for p in found), found
    with pytest.raises(WeightsFileError, match="its weights are not finite"):  # --no-preflight: the trial says so
        apply(torch.nn.Linear(1, 1), path)


def test_init_from_a_nan_weights_file_exits_2_and_writes_nothing(tmp_path):
    from typer.testing import CliRunner

    from hpbench.cli import app

    path = nan_weights(tmp_path)
    study = tmp_path / "s.toml"
    study.write_text(f'[study]\nname = "ft"\nmetric = "val_accuracy"\ntrials = 1\n[data]\ndataset = "digits"\npreprocess = ["standardize"]\n'
                     f'[model]\nfamily = "mlp"\ndepth = 1\nwidth = 32\ninit_from = "{tmp_path / "pre"}:0"\n[train]\nmax_epochs = 1\n',
                     encoding="utf-8")
    res = CliRunner().invoke(app, ["search", str(study), "--out", str(tmp_path / "out")])
    flat = " ".join(res.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
    assert res.exit_code == 2, res.output
    assert "model.init_from" in flat and "its weights are not finite" in flat and path.name in flat, flat
    assert not (tmp_path / "out").exists()
