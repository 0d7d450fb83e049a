"""Trained models loaded back through the public API (``Results.load_model`` / ``load_predictor``,
``Trained.load_model`` / ``load_predictor``): a user family (``package.module:build``) that the
study names is built, imported from the current directory as the search's trials import it; one
the study does not name is refused (a weights file alone cannot choose which code runs); an rl
policy and a gan generator come from ``Trained.load_model`` as from ``Results.load_model``. Real
training of tiny studies by ``hpbench.train_study`` (no Ray)."""

from __future__ import annotations

import json
import shutil
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import hpbench
from hpbench.results.files import STUDY_JSON
from hpbench.results.weights import WeightsFileError, weights_path
from tests.test_gan_study import GAN
from tests.test_rl_study import RL

torch = pytest.importorskip("torch")

QUIET = Console(file=StringIO())
MODULE_NAME = "own_family_f3"
FAMILY = f"{MODULE_NAME}:build"
MODULE = '''
import torch.nn as nn


class Own(nn.Module):
    def __init__(self, n_in, width, n_out):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, n_out))

    def forward(self, x):
        return self.net(x)


def build(*, input_shape, n_outputs, params):
    return Own(input_shape[0], int(params.get("width", 8)), n_outputs)
'''


def own_study(family: object = FAMILY, space: dict[str, Any] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {"study": {"name": "own", "seed": 0}, "data": {"dataset": "iris"}, "model": {"family": family, "width": 8},
                           "optimizer": {"name": "adam", "lr": 0.01}, "train": {"max_epochs": 2}}
    if space is not None:
        raw["space"] = space
    return raw


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A folder holding the user's module, as the current directory (its import is undone after)."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / f"{MODULE_NAME}.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])  # only hpbench's import adds the current directory
    monkeypatch.delitem(sys.modules, MODULE_NAME, raising=False)
    return folder


def train(raw: dict[str, Any], out: Path) -> hpbench.Trained:
    return hpbench.train_study(hpbench.Study.from_dict(raw, source="own.toml"), out=out, console=QUIET)


def results_of(trained: hpbench.Trained, raw: dict[str, Any], out: Path) -> hpbench.Results:
    """A search's results folder whose trial 0 saved ``trained``'s model, its record naming ``raw``."""
    out.mkdir(parents=True)
    record = {"name": "own", "settings": {"metric": "val_accuracy", "mode": "max"}, "raw": raw, "space": {}}
    (out / STUDY_JSON).write_text(json.dumps(record), encoding="utf-8")
    weights_path(out, 0).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(trained.weights, weights_path(out, 0))
    return hpbench.Results(out)


def outputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x)


# -- D1: a user family ------------------------------------------------------------------------
def test_a_user_family_loads_from_train_study_and_from_a_search_s_results(here, tmp_path):
    trained = train(own_study(), tmp_path / "trained")
    x = torch.randn(5, 4)
    want = outputs(trained.model.cpu(), x)
    searched = own_study(family="mlp", space={"family": {"choice": ["mlp", FAMILY]}})  # a searched family counts too
    for name, raw in (("fixed", own_study()), ("searched", searched)):
        res = results_of(trained, raw, tmp_path / name)
        model = res.load_model(0)
        assert type(model).__name__ == "Own" and not model.training and torch.equal(outputs(model, x), want)
        assert FAMILY in res.families
        predictor = res.load_predictor(0)
        assert predictor.task == "multiclass" and len(predictor.predict(x.numpy())) == 5
    assert trained.load_predictor().predict(x.numpy()).shape == (5,)
    assert torch.equal(outputs(trained.load_model(), x), want)


def test_a_family_the_study_does_not_name_is_refused_and_says_which_it_names(here, tmp_path):
    trained = train(own_study(), tmp_path / "trained")
    res = results_of(trained, own_study(family="other_f3:build"), tmp_path / "other")
    del sys.modules[MODULE_NAME]  # training imported it; the refusal must not
    for load in (res.load_model, res.load_predictor):
        with pytest.raises(WeightsFileError, match=r"refused to build family 'own_family_f3:build': the study that reads the file does not "
                                                   r"name it .*the user families it names: 'other_f3:build'"):
            load(0)
    assert MODULE_NAME not in sys.modules  # refused before its module was imported


def test_a_user_module_that_does_not_import_here_is_named(here, tmp_path, monkeypatch):
    trained = train(own_study(), tmp_path / "trained")
    res = results_of(trained, own_study(), tmp_path / "res")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(here)])
    monkeypatch.delitem(sys.modules, MODULE_NAME)
    for load in (lambda: res.load_model(0), trained.load_predictor, lambda: trained.load_model()):
        with pytest.raises(ModuleNotFoundError, match=rf"family '{FAMILY}' needs the module '{MODULE_NAME}', which does not import here "
                                                      rf".*current directory {elsewhere}"):
            load()


# -- D6: Trained.load_model of every task -----------------------------------------------------
def test_trained_load_model_is_the_network_in_eval_mode(tmp_path):
    raw = own_study(family="mlp")
    trained = train(raw, tmp_path / "trained")
    x = torch.randn(3, 4)
    model = trained.load_model()
    assert not model.training and torch.equal(outputs(model, x), outputs(trained.model.cpu(), x))


def test_trained_load_model_of_an_rl_study_is_the_policy_results_load_model_gives(tmp_path):
    from hpbench.train.rl.normalize import NormalizedPolicy

    raw = {**RL, "study": {"name": "rl_tiny"}, "train": {**RL["train"], "max_epochs": 1, "normalize_obs": True}}
    trained = train(raw, tmp_path / "trained")
    policy = trained.load_model()
    assert isinstance(policy, NormalizedPolicy) and not policy.training  # it takes raw observations
    obs = torch.randn(4, 4) * 3
    want = outputs(results_of(trained, raw, tmp_path / "res").load_model(0), obs)
    assert all(torch.equal(a, b) for a, b in zip(outputs(policy, obs), want, strict=True))
    with pytest.raises(ValueError, match=r"task is 'rl': its model is what load_model\(\) gives .*Trained\.load_model"):
        trained.load_predictor()


def test_trained_load_model_of_a_gan_study_is_its_generator(tmp_path):
    raw = {**GAN, "study": {"name": "gan_tiny"}, "train": {**GAN["train"], "max_epochs": 1}}
    trained = train(raw, tmp_path / "trained")
    generator = trained.load_model()
    z = torch.randn(6, GAN["model"]["latent_dim"])
    samples = outputs(generator, z)
    assert samples.shape == (6, 2) and not generator.training  # ring8: points in the plane
    assert torch.equal(samples, outputs(results_of(trained, raw, tmp_path / "res").load_model(0), z))
    with pytest.raises(ValueError, match=r"task is 'gan': its model is what load_model\(\) gives"):
        trained.load_predictor()
