"""Plugins: entries that installed packages add to hpbench's registries through entry points.

The registry's own rules are checked with fake entry points (no install, no Ray). Then a real
plugin package (tests/plugins/hpbench_toy) is installed with pip into this environment for the
module's tests and uninstalled after: ``hpbench plugins`` lists it, a study names its family,
dataset and optimizer, and a real search runs them in Ray workers (fresh processes that find
the plugin through the installed package's metadata, as a user's would).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hpbench
from hpbench.catalog.registries import REGISTRIES
from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.registry import Registry
from hpbench.study.parse import parse_study

TOY = Path(__file__).parent / "plugins" / "hpbench_toy"


def _fake_registry(monkeypatch, *eps: tuple[str, str]) -> Registry:
    reg: Registry = Registry(what="widget", group="hpbench.test_widgets")
    reg.register("builtin", doc="a built-in")(lambda **kw: ("builtin", kw))
    found = [EntryPoint(name=n, value=v, group="hpbench.test_widgets") for n, v in eps]
    calls: list[str] = []

    def entry_points(*, group: str) -> list[EntryPoint]:
        calls.append(group)
        return found if group == "hpbench.test_widgets" else []

    monkeypatch.setattr("hpbench.registry.entry_points", entry_points)
    reg.calls = calls  # type: ignore[attr-defined]
    return reg


def test_plugins_load_lazily_only_when_a_name_is_not_built_in(monkeypatch):
    reg = _fake_registry(monkeypatch, ("good", "tests.helpers.fake_plugins:GOOD"))
    assert "builtin" in reg and reg.get("builtin").doc == "a built-in"
    assert reg.calls == []  # a built-in name never reads the entry points
    assert "good" in reg
    assert reg.calls == ["hpbench.test_widgets"]
    entry = reg.get("good")
    assert entry.name == "good" and entry.doc == "a good plugin" and entry.meta == {"task": "multiclass"}
    assert entry.defaults() == {"size": 3} and entry.build(size=5) == ("built", {"size": 5})
    assert reg.names() == ("builtin", "good") and reg.names(plugins=False) == ("builtin",)
    assert "other" not in reg and reg.calls == ["hpbench.test_widgets"]  # read once per process


def test_broken_and_clashing_plugins_are_kept_out_and_explained(monkeypatch):
    reg = _fake_registry(
        monkeypatch,
        ("builtin", "tests.helpers.fake_plugins:GOOD"),  # the name is hpbench's
        ("missing", "tests.helpers.no_such_module:thing"),
        ("number", "tests.helpers.fake_plugins:NOT_A_BUILDER"),
        ("bare", "tests.helpers.fake_plugins:bare"),
        ("bare", "tests.helpers.fake_plugins:GOOD"),  # a second plugin under a name already taken
    )
    assert reg.names() == ("builtin", "bare")
    assert reg.get("builtin").doc == "a built-in"
    assert reg.get("bare").doc == "a bare builder" and reg.get("bare").params == {}
    errors = {(p.name, p.value): p.error for p in reg.plugins()}
    assert errors[("builtin", "tests.helpers.fake_plugins:GOOD")] == "the name 'builtin' is taken by hpbench"
    assert errors[("missing", "tests.helpers.no_such_module:thing")].startswith("ModuleNotFoundError: No module named 'tests.helpers.no_such_module'")
    assert errors[("number", "tests.helpers.fake_plugins:NOT_A_BUILDER")] == "must name an hpbench.registry.entry(...) or a builder, not int"
    assert errors[("bare", "tests.helpers.fake_plugins:bare")] == ""
    assert errors[("bare", "tests.helpers.fake_plugins:GOOD")] == "the name 'bare' is taken by another plugin"
    with pytest.raises(KeyError, match=r"unknown widget 'missing'.*plugin tests.helpers.no_such_module:thing \(\?\) was not loaded: ModuleNotFoundError"):
        reg.get("missing")


def test_unhashable_values_are_no_names():
    from hpbench.train.optimizers import OPTIMIZERS

    assert [1] not in OPTIMIZERS and {"a": 1} not in OPTIMIZERS


def test_every_registry_has_its_own_plugin_group():
    groups = [n.group for n in REGISTRIES]
    assert len(set(groups)) == len(groups) and all(g.startswith("hpbench.") for g in groups)


def test_no_plugins_installed_says_so():
    if any(n.registry.plugins() for n in REGISTRIES):
        pytest.skip("plugins are installed in this environment")
    res = CliRunner().invoke(app, ["plugins"])
    assert res.exit_code == 0 and "no plugins installed" in res.output and "hpbench.families" in res.output


# -- a real plugin package, installed with pip ---------------------------------------------------------
def _forget() -> None:
    for named in REGISTRIES:
        named.registry.forget_plugins()


@pytest.fixture(scope="module")
def toy_plugin(tmp_path_factory):
    """tests/plugins/hpbench_toy installed into this environment (built from a copy, offline),
    uninstalled after this module's tests."""
    src = tmp_path_factory.mktemp("plugin") / "hpbench_toy"
    shutil.copytree(TOY, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "--no-index", str(src)], check=True)
    _forget()
    try:
        yield src
    finally:
        subprocess.run([*pip, "uninstall", "-y", "hpbench-toy"], check=True)
        _forget()


def test_hpbench_plugins_lists_the_installed_plugin(toy_plugin):
    res = subprocess.run([sys.executable, "-m", "hpbench.cli", "plugins"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"},
                         cwd=Path(__file__).parents[1])
    assert res.returncode == 1, res.stderr  # two of the toy package's entries are kept out
    assert "2 plugin(s) kept out" in res.stdout
    lines = {ln.split("│")[2].strip(): ln for ln in res.stdout.splitlines() if ln.count("│") >= 5}
    assert "hpbench-toy 0.1.0" in lines["toy_mlp"] and "ok: toy one-hidden-layer MLP (a plugin)" in lines["toy_mlp"]
    assert "hpbench.datasets" in lines["toy_blobs"] and "hpbench.optimizers" in lines["toy_sgd"]
    assert "kept out: the name 'mlp' is taken by hpbench" in lines["mlp"]
    assert "kept out: ModuleNotFoundError: No module named 'hpbench_toy.missing'" in lines["toy_broken"]


TOY_STUDY = {
    "study": {"name": "toy", "metric": "val_accuracy", "mode": "max", "trials": 4, "searcher": "random", "scheduler": "none",
              "max_concurrent": 2},
    "data": {"dataset": "toy_blobs", "n_samples": 240},
    "model": {"family": "toy_mlp", "activation": "tanh"},
    "optimizer": {"lr": 0.05},
    "train": {"max_epochs": 4, "batch_size": 32},
    "space": {"optimizer": {"choice": ["toy_sgd", "adam"]}, "model.hidden": {"choice": [4, 16]}},
}


def test_a_study_names_the_plugin_entries_and_their_parameters_are_checked(toy_plugin):
    study = parse_study(TOY_STUDY)
    assert study.config["model"] == {"family": "toy_mlp", "activation": "tanh", "task": "supervised"}  # the task is defaulted
    assert study.config["data"]["dataset"] == "toy_blobs" and study.config["data"]["n_samples"] == 240
    bad = {**TOY_STUDY, "model": {"family": "toy_mlp", "hidden": 0}}
    with pytest.raises(StudyError, match=r"model.hidden: must be >= 1, but got 0"):
        parse_study(bad)
    with pytest.raises(StudyError, match=r"model.depth: unknown key"):
        parse_study({**TOY_STUDY, "model": {"family": "toy_mlp", "depth": 2}})
    with pytest.raises(StudyError, match=r"train.init: unknown initialization, .*plugin hpbench_toy.missing:init \(hpbench-toy 0.1.0\) "
                                         r"was not loaded: ModuleNotFoundError"):
        parse_study({**TOY_STUDY, "train": {"init": "toy_broken"}})


@pytest.mark.slow
def test_a_real_search_runs_the_plugin_in_ray_workers(toy_plugin, ray_local, tmp_path):
    from hpbench.dispatch.runner import SearchOptions, run_search

    run_search(parse_study(TOY_STUDY), SearchOptions(out=tmp_path / "out"), console=None)
    trials = hpbench.load(tmp_path / "out")
    assert len(trials) == 4 and set(trials["status"]) == {"finished"}, trials[["status", "error"]]
    assert trials["error"].isna().all()
    assert set(trials["model.hidden"]) <= {4, 16} and set(trials["optimizer"]) <= {"toy_sgd", "adam"}
    assert trials["n_params"].isin([4 * 4 + 4 + 4 * 3 + 3, 4 * 16 + 16 + 16 * 3 + 3]).all()  # the toy MLP's own shapes
    assert trials["best_val_accuracy"].max() > 0.8  # well-separated blobs: it really trained
