"""Search-space sampling and grids, in memory (no Optuna study, no Ray)."""

from __future__ import annotations

import random

import optuna

from hpbench.space import Choice, Dimension, LogUniform, RandInt, SearchSpace, Uniform
from hpbench.study.parse import load_study
from tests.conftest import STUDIES

SPACE = SearchSpace(
    dims=(
        Dimension(key="optimizer", path="optimizer.name", dist=Choice(("sgd", "momentum", "adam"))),
        Dimension(key="lr", path="optimizer.lr", dist=LogUniform(1e-4, 1e-1)),
        Dimension(key="optimizer.momentum", path="optimizer.momentum", dist=Uniform(0.5, 0.99), when={"optimizer": ("momentum",)}),
        Dimension(key="model.depth", path="model.depth", dist=RandInt(1, 3)),
    )
)


def test_conditional_absent_not_defaulted():
    rng = random.Random(0)
    seen = set()
    for _ in range(200):
        p = SPACE.sample(rng)
        seen.add(p["optimizer"])
        assert ("optimizer.momentum" in p) == (p["optimizer"] == "momentum")
        assert 1e-4 <= p["lr"] <= 1e-1 and p["model.depth"] in (1, 2, 3)
    assert seen == {"sgd", "momentum", "adam"}


def test_randint_is_inclusive():
    rng = random.Random(1)
    assert {SPACE.sample(rng)["model.depth"] for _ in range(200)} == {1, 2, 3}


def test_define_by_run_with_optuna_respects_conditions():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        SPACE.define_by_run(trial)
        p = trial.params
        assert ("optimizer.momentum" in p) == (p["optimizer"] == "momentum")
        study.tell(trial, 0.0)


def test_grid_expands_conditionals_only_where_active():
    space = SearchSpace(
        dims=(
            Dimension(key="optimizer", path="optimizer.name", dist=Choice(("sgd", "momentum"))),
            Dimension(key="optimizer.momentum", path="optimizer.momentum", dist=Choice((0.5, 0.9)), when={"optimizer": ("momentum",)}),
            Dimension(key="model.depth", path="model.depth", dist=RandInt(1, 2)),
        )
    )
    grid = space.grid()
    assert len(grid) == (1 + 2) * 2
    assert {"optimizer": "sgd", "model.depth": 1} in grid
    assert {"optimizer": "momentum", "optimizer.momentum": 0.9, "model.depth": 2} in grid
    assert len({tuple(sorted(p.items())) for p in grid}) == len(grid)


def test_quickstart_space_sampling_and_fingerprint():
    study = load_study(STUDIES / "quickstart.toml")
    p = study.space.sample(random.Random(3))
    assert set(p) >= {"optimizer", "lr", "batch_size", "init"}
    assert study.space.fingerprint() == load_study(STUDIES / "quickstart.toml").space.fingerprint()
    assert not study.space.is_finite()
