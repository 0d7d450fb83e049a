"""The search's first configuration (hpbench.space.defaults): known keys at their libraries'
defaults, the rest by the mid-point rule, every value within its dimension; and the study's
first points (enqueued ones replace it, a grid has none, default_first = false turns it off)."""

from __future__ import annotations

import math

import pytest

from hpbench.space.defaults import default_point, midpoint
from hpbench.space.distributions import Choice, LogUniform, RandInt, Uniform
from hpbench.space.space import Dimension, SearchSpace
from hpbench.study.parse import parse_study


def _space(**dims: tuple[str, object] | tuple[str, object, dict[str, tuple[object, ...]]]) -> SearchSpace:
    out = []
    for key, spec in dims.items():
        path, dist, *when = spec
        out.append(Dimension(key=key.replace("__", "."), path=path, dist=dist, when=when[0] if when else {}))  # type: ignore[arg-type]
    return SearchSpace(dims=tuple(out))


def test_the_quickstart_space_starts_from_adam_at_its_default_rate():
    space = _space(
        optimizer=("optimizer.name", Choice(("sgd", "momentum", "adagrad", "rmsprop", "adam", "amsgrad", "adamw"))),
        lr=("optimizer.lr", LogUniform(1e-4, 1e-1)),
        batch_size=("train.batch_size", Choice((16, 64, 256, "full"))),
        init=("train.init", Choice(("xavier_normal", "kaiming_uniform", "zeros", "xavier_uniform"))),
        model__depth=("model.depth", RandInt(1, 4)),
        model__width=("model.width", Choice((512, 32, 128))),
        model__activation=("model.activation", Choice(("tanh", "gelu", "relu"))),
        optimizer__momentum=("optimizer.momentum", Uniform(0.5, 0.99), {"optimizer": ("momentum", "nesterov")}),
    )
    point = default_point(space, fixed={})
    # 32 lies as near 16 as 64 on a log scale: the larger; the middle width of the three by size
    assert point == {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "init": "xavier_uniform", "model.depth": 2,
                     "model.width": 128, "model.activation": "relu"}  # momentum: not Adam's


def test_a_conditional_dimension_appears_where_its_condition_holds_at_its_known_value():
    space = _space(optimizer=("optimizer.name", Choice(("sgd", "momentum"))),
                   lr=("optimizer.lr", LogUniform(1e-4, 3e-1)),
                   optimizer__momentum=("optimizer.momentum", Uniform(0.5, 0.99), {"optimizer": ("momentum",)}),
                   optimizer__weight_decay=("optimizer.weight_decay", LogUniform(1e-5, 1e-1)))
    point = default_point(space, fixed={})
    assert point["optimizer"] == "momentum"  # preferred to plain SGD
    assert point["lr"] == pytest.approx(1e-2, rel=1e-9)  # the SGD family's (Keras's)
    assert point["optimizer.momentum"] == pytest.approx(0.9)
    assert point["optimizer.weight_decay"] == pytest.approx(1e-5)  # none but AdamW's: the lowest


def test_a_fixed_optimizer_sets_the_rate_and_a_value_outside_the_range_takes_the_nearer_bound():
    space = _space(lr=("optimizer.lr", LogUniform(2e-2, 1.0)), optimizer__weight_decay=("optimizer.weight_decay", LogUniform(1e-4, 1e-3)))
    assert default_point(space, fixed={"optimizer": {"name": "adagrad"}})["lr"] == pytest.approx(2e-2)  # 1e-2, clipped up
    adamw = default_point(space, fixed={"optimizer": {"name": "adamw"}})
    assert adamw["optimizer.weight_decay"] == pytest.approx(1e-3)  # PyTorch's 0.01, clipped down
    assert adamw["lr"] == pytest.approx(2e-2)


@pytest.mark.parametrize(("task", "rate"), [("rl", 3e-4), ("gan", 2e-4)])
def test_rl_and_gan_start_from_their_references_rates(task, rate):
    space = _space(lr=("optimizer.lr", LogUniform(1e-5, 1e-2)), train__d_lr=("train.d_lr", LogUniform(1e-5, 1e-2)),
                   train__gamma=("train.gamma", Uniform(0.9, 0.999)), train__entropy_coef=("train.entropy_coef", LogUniform(1e-5, 1e-2)))
    point = default_point(space, fixed={"optimizer": {"name": "adam"}}, task=task)
    assert point["lr"] == pytest.approx(rate)
    assert point["train.d_lr"] == pytest.approx(rate)
    assert point["train.gamma"] == pytest.approx(0.99)
    assert point["train.entropy_coef"] == pytest.approx(1e-5)


def test_the_full_batch_only_when_no_mini_batch_is_offered():
    assert default_point(_space(b=("train.batch_size", Choice(("full", 1024)))), fixed={}) == {"b": 1024}
    assert default_point(_space(b=("train.batch_size", Choice(("full",)))), fixed={}) == {"b": "full"}
    assert default_point(_space(b=("train.batch_size", RandInt(8, 20))), fixed={}) == {"b": 20}


@pytest.mark.parametrize(("dist", "expected"), [
    (Uniform(0.0, 0.5), 0.25),
    (LogUniform(1e-4, 1e-2), 1e-3),
    (RandInt(1, 2), 1),
    (RandInt(1, 5), 3),
    (Choice((64, 16, 32)), 32),
    (Choice((32, 64, 128, 256)), 128),
    (Choice(("rnn", "lstm", "gru")), "rnn"),  # names: the first listed
    (Choice(((0.5, 0.999), (0.9, 0.999))), (0.5, 0.999)),
])
def test_the_mid_point_rule(dist, expected):
    value = midpoint(dist)
    assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected
    assert dist.contains(value)


def test_every_value_lies_within_its_dimension_and_is_what_the_searcher_could_draw():
    space = _space(family=("model.family", Choice(("rnn", "lstm", "gru", "transformer"))),
                   lr=("optimizer.lr", LogUniform(3e-4, 3e-2)),
                   model__layers=("model.layers", RandInt(1, 2)),
                   model__hidden_size=("model.hidden_size", Choice((16, 32, 64)), {"family": ("rnn", "lstm", "gru")}),
                   model__heads=("model.heads", Choice((2, 4)), {"family": ("transformer",)}),
                   model__dropout=("model.dropout", Uniform(0.1, 0.5)),
                   x=("train.clip_norm", Uniform(0.5, 2.0)))
    point = default_point(space, fixed={"optimizer": {"name": "adam"}})
    assert point == {"family": "rnn", "lr": pytest.approx(1e-3), "model.layers": 1, "model.hidden_size": 32, "model.dropout": 0.1,
                     "x": pytest.approx(1.25)}
    for dim in space:
        if dim.key in point:
            assert dim.dist.contains(point[dim.key]), dim.key
    assert math.isfinite(point["lr"])


def test_the_study_files_own_value_comes_first_where_the_searched_range_holds_it():
    space = _space(family=("model.family", Choice(("rnn", "lstm", "gru", "transformer"))),
                   lr=("optimizer.lr", LogUniform(3e-4, 3e-2)),
                   batch_size=("train.batch_size", Choice((32, 128))),
                   model__hidden_size=("model.hidden_size", Choice((16, 32, 64)), {"family": ("rnn", "lstm", "gru")}),
                   train__early_stopping__patience=("train.early_stopping.patience", RandInt(2, 8)))
    written = {"model": {"family": "gru", "hidden_size": 64}, "optimizer": {"lr": 0.1},
               "train": {"batch_size": 64, "early_stopping": {"patience": 3}}}
    point = default_point(space, fixed={"optimizer": {"name": "adam"}}, written=written)
    # the written family, hidden size and patience; lr 0.1 and batch 64 lie outside their ranges: the rules' values
    assert point == {"family": "gru", "lr": pytest.approx(1e-3), "batch_size": 32, "model.hidden_size": 64,
                     "train.early_stopping.patience": 3}
    transformer = default_point(space, fixed={}, written={"model": {"family": "transformer", "hidden_size": 64}})
    assert "model.hidden_size" not in transformer  # its condition does not hold for the written family
    assert default_point(space, fixed={}, written={})["family"] == "rnn"  # nothing written: the first listed


STUDY = """
[study]
name = "t"
{extra}
[data]
dataset = "iris"
[model]
family = "mlp"
[space]
lr = {{ loguniform = [1e-4, 1e-1] }}
"model.width" = {{ choice = [16, 64, 256] }}
"""


def _study(extra: str = "", *, lr: str = "{ loguniform = [1e-4, 1e-1] }"):
    import tomllib

    text = STUDY.format(extra=extra).replace("{ loguniform = [1e-4, 1e-1] }", lr)
    return parse_study(tomllib.loads(text), source="t.toml")


def test_a_study_runs_its_default_configuration_first():
    settings = _study().settings
    assert settings.first_points == ({"lr": pytest.approx(1e-3), "model.width": 64},)
    assert settings.enqueue == ()


def test_a_study_that_sets_a_searched_key_starts_from_its_own_value():
    settings = _study(lr="{ loguniform = [1e-4, 1e-1] }").settings
    assert settings.first_points[0]["model.width"] == 64  # [model] writes no width: the middle one
    import tomllib

    text = STUDY.format(extra="").replace('family = "mlp"', 'family = "mlp"\nwidth = 256')
    own = parse_study(tomllib.loads(text), source="t.toml").settings
    assert own.first_points == ({"lr": pytest.approx(1e-3), "model.width": 256},)


def test_enqueued_points_replace_it_a_grid_has_none_and_it_can_be_turned_off():
    assert _study('enqueue = [{ lr = 0.01 }]').settings.first_points == ({"lr": 0.01},)
    assert _study("default_first = false").settings.first_points == ()
    grid = _study('searcher = "grid"\n', lr="{ choice = [0.001, 0.01] }").settings
    assert grid.first_points == ()


def test_the_estimate_prices_the_first_points_as_the_search_runs_them():
    from hpbench.cost.estimate import configurations

    study = _study()
    configs = configurations(study, n=5)
    drawn = configurations(_study("default_first = false"), n=5)
    assert configs[0] == {"lr": pytest.approx(1e-3), "model.width": 64}  # the default configuration first
    assert configs[1:] == drawn[1:]  # then the same draws as without it
    partial = configurations(_study('enqueue = [{ "model.width" = 256 }]'), n=3)
    assert partial[0] == {"lr": drawn[0]["lr"], "model.width": 256}  # what the point leaves out: from the draw in its place
    assert partial[1:] == drawn[1:3]


def test_complete_fills_what_a_point_leaves_out_where_its_conditions_hold():
    import random

    space = _space(optimizer=("optimizer.name", Choice(("adam", "momentum"))),
                   optimizer__momentum=("optimizer.momentum", Uniform(0.5, 0.99), {"optimizer": ("momentum",)}),
                   lr=("optimizer.lr", LogUniform(1e-4, 1e-1)))
    like = {"optimizer": "adam", "lr": 0.02}
    point = space.complete({"optimizer": "momentum"}, random.Random(0), like=like)
    assert point["optimizer"] == "momentum" and point["lr"] == 0.02 and 0.5 <= point["optimizer.momentum"] <= 0.99
    assert space.complete({"optimizer": "adam"}, random.Random(0), like={"optimizer": "momentum", "optimizer.momentum": 0.7}).keys() \
        == {"optimizer", "lr"}


def test_a_distribution_without_a_middle_gives_a_fixed_draw_of_it():
    import random

    from hpbench.space.distributions import Distribution

    class Odd(Distribution):
        def sample(self, rng: random.Random) -> int:
            return rng.randint(0, 10**6)

    assert midpoint(Odd()) == midpoint(Odd()) == random.Random(0).randint(0, 10**6)
