"""A gan study has no test split (bug hunt s49/h5): its model is a generator, whose input is noise,
so the supervised test evaluation crashed `hpbench train` and `hpbench search` after every trial
had trained (train saved nothing; every re-run of the search crashed again). Each way the data
gets one is refused before anything trains, and the test split's paths skip a task without a
supervised test evaluation (a results folder written before the refusal). No Ray."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.preflight.problems import PreflightFailed
from hpbench.preflight.run import preflight
from hpbench.results.files import STUDY_JSON
from hpbench.results.store import ResultsStore
from hpbench.study.parse import parse_study
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study
from tests.test_gan_study import problems, study

RING8 = 'dataset = "ring8"\nn_samples = 2000\n'


def _with_test_split(s: Study) -> Study:
    """``s`` as a results folder written before the refusal holds it: a gan study with test_fraction 0.2."""
    return dataclasses.replace(s, config={**s.config, "data": {**s.config["data"], "test_fraction": 0.2}})


def _load(**_: Any) -> dict[str, Any]:
    """A user loader returning a test split with its data."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)).astype(np.float32), rng.integers(0, 3, 300)
    return {"x": x[:200], "y": y[:200], "x_test": x[200:], "y_test": y[200:]}


# -- refused when the study is read, or by the pre-flight ----------------------------------------------

@pytest.mark.parametrize("data", [{"test_fraction": 0.2}, {"test_fraction": 0.0}])
def test_test_fraction_is_refused_for_a_gan(data):
    found = problems(study(data=data))
    assert any(k == "data.test_fraction" and "does not apply to task 'gan'" in r for k, r, _ in found), found


def test_a_numpy_test_split_is_refused_for_a_gan(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 2)).astype(np.float32), rng.integers(0, 2, 100)
    for name in ("x", "y", "x_test", "y_test"):
        np.save(tmp_path / f"{name}.npy", x if name.startswith("x") else y)
    np.savez(tmp_path / "own.npz", x=x, y=y, x_test=x[:20], y_test=y[:20])
    np.savez(tmp_path / "keras.npz", x_train=x, y_train=y, x_test=x[:20], y_test=y[:20])  # keras.datasets' layout
    np.savez(tmp_path / "plain.npz", x=x, y=y)
    gan = {"dataset": None, "n_samples": None}
    npy = problems(study(data={**gan, "x": str(tmp_path / "x.npy"), "y": str(tmp_path / "y.npy"),
                               "x_test": str(tmp_path / "x_test.npy"), "y_test": str(tmp_path / "y_test.npy")}))
    assert {"data.x_test", "data.y_test"} <= {k for k, r, _ in npy if "does not apply to task 'gan'" in r}, npy
    for name in ("own.npz", "keras.npz"):
        found = problems(study(data={**gan, "dataset": str(tmp_path / name)}))
        assert any(k == "data.dataset" and "comes with a test split" in r and "x_test" in str(v) for k, r, v in found), found
    parse_study(study(data={**gan, "dataset": str(tmp_path / "plain.npz")}), source="gan.toml")  # no test split: fine


def test_a_user_loaders_test_split_is_refused_by_the_preflight_for_a_gan():
    s = parse_study(study(data={"dataset": f"{__name__}:_load", "n_samples": None},
                          study={"metric": "val_frechet_distance"}), source="gan.toml")
    with pytest.raises(PreflightFailed) as err:
        preflight(s)
    assert any(p.key == "data.dataset" and "comes with a test split" in p.rule for p in err.value.problems), err.value.problems


def test_train_with_a_test_split_exits_2_before_training(tmp_path):
    path = tmp_path / "gan.toml"
    path.write_text(f'[data]\n{RING8}[model]\ntask = "gan"\nfamily = "mlp"\n', encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["train", str(path), "--out", str(out), "--set", "data.test_fraction=0.2", "--epochs", "1"])
    assert res.exit_code == 2, res.output
    assert "data.test_fraction" in res.output and "gan" in res.output
    assert not out.exists()


# -- the test split's paths skip a gan (defence in depth) --------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Study, hpbench.Trained]:
    """A tiny gan trained by hpbench.train_study from a study with a test split (as read before the refusal)."""
    s = _with_test_split(parse_study(study(train={"max_epochs": 1}), source="gan.toml"))
    return s, hpbench.train_study(s, out=tmp_path_factory.mktemp("gan") / "trained", console=Console(quiet=True))


def test_train_study_of_a_gan_with_a_test_split_saves_its_model_without_test_metrics(trained):
    s, t = trained
    assert trial_config(s, {}).data.test_fraction == 0.2
    assert t.weights.is_file() and (t.out / "metrics.json").is_file()
    assert not any(k.startswith("test_") for k in t.metrics) and "val_modes_hq" in t.metrics


def _finished_store(out: Path) -> ResultsStore:
    store = ResultsStore(out=out, metric="val_modes_hq", mode="max", param_keys=["lr"])
    store.start("a", {"lr": 0.001})
    store.epoch("a", {"epoch": 1, "val_modes_hq": 3.5, "epoch_s": 0.1})
    store.finish("a")
    return store


def test_a_gan_results_folder_with_a_test_split_is_never_untested_nor_evaluated(tmp_path, trained):
    from hpbench.dispatch.test_split import evaluate_best_on_test, untested
    from hpbench.results.weights import weights_path

    s, t = trained
    store = _finished_store(tmp_path / "o")
    path = weights_path(store.out, int(next(iter(store.rows()))["trial"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(t.weights, path)  # the best trial's saved generator
    assert not untested(s, store)  # it was seen as untested on every re-run, which crashed again
    assert evaluate_best_on_test(s, store) == 0  # it fed the generator the test split's samples as noise
    assert not any(k.startswith("test_") for k in next(iter(store.rows())))


def test_a_gan_results_folder_whose_data_came_with_a_test_split_is_not_untested(tmp_path):
    from hpbench.dispatch.test_split import untested

    s = parse_study(study(), source="gan.toml")
    store = _finished_store(tmp_path / "o")
    store.out.mkdir(parents=True, exist_ok=True)
    (store.out / STUDY_JSON).write_text(json.dumps({"data": {"given": ["test"]}}), encoding="utf-8")  # an .npz with x_test, before
    assert not untested(s, store)
