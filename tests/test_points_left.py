"""Which first points (default, enqueued, grid) a resumed or extended search still runs: a point
one of the earlier trials already trained is not run again. Pure: no Ray, no training."""

from __future__ import annotations

import pytest

from hpbench.dispatch.searchers import points_left
from hpbench.study.parse import load_study
from tests.helpers.studies import TINY_STUDY

BASE = TINY_STUDY.replace('searcher = "random"', 'searcher = "tpe"').replace('optimizer = { choice = ["adam", "sgd"] }',
                                                                           'optimizer = { choice = ["adam", "momentum"] }')


def _study(write_study, model: str, space: str = "", study: str = ""):
    text = BASE.replace('family = "mlp"\ndepth = 1\nwidth = 32', model).replace("[space]\n", f"[space]\n{space}\n")
    return load_study(write_study(text.replace('searcher = "tpe"', f'searcher = "tpe"\n{study}')))


@pytest.mark.parametrize(("model", "depth", "rerun"), [
    ('family = "mlp"\nwidth = 32', "randint = [1, 3]", False),  # the first run's MLPs had the family's depth, 2: the default's
    ('family = "mlp"\ndepth = 1\nwidth = 32', "randint = [1, 3]", False),  # the study's own depth, 1: the default's too
    ('family = "mlp"\nwidth = 32', "randint = [3, 5]", True),  # the default's depth, 4, is a network not trained yet
])
def test_the_default_configuration_is_not_rerun_after_a_dimension_is_added(write_study, model, depth, rerun):
    """--force after adding model.depth to the space ran the default configuration (Adam, lr 1e-3)
    a second time: the first run's trial 0 trained it, with no depth recorded (bug hunt s47h3,
    finding 4)."""
    study = _study(write_study, model, f'"model.depth" = {{ {depth} }}')
    (default,) = study.settings.first_points
    assert default["optimizer"] == "adam" and default["lr"] == pytest.approx(1e-3)
    done = [{"optimizer": "adam", "lr": 0.001, "model.depth": None}, {"optimizer": "momentum", "lr": 0.0123, "model.depth": None}]
    assert points_left(study, [dict(default)], done) == ([dict(default)] if rerun else [])


def test_an_enqueued_point_matches_a_trial_run_with_the_optimizers_default_of_an_added_key(write_study):
    """optimizer.momentum added (when momentum): a trial of the momentum optimizer that recorded
    none ran with its default momentum, 0.9; an enqueued momentum of 0.5 is another configuration."""
    space = '"optimizer.momentum" = { uniform = [0.5, 0.99], when = { optimizer = ["momentum"] } }'
    study = _study(write_study, 'family = "mlp"\nwidth = 32', space,
                   'enqueue = [{ optimizer = "momentum", lr = 0.01, "optimizer.momentum" = 0.9 }, '
                   '{ optimizer = "momentum", lr = 0.01, "optimizer.momentum" = 0.5 }]')
    points = [dict(p) for p in study.settings.first_points]
    done = [{"optimizer": "momentum", "lr": "0.01", "optimizer.momentum": float("nan")}]  # as read back from the tables
    assert points_left(study, points, done) == [points[1]]


def test_a_user_familys_default_is_unknown_so_the_point_runs_again(write_study):
    """A user family's own default for an added key cannot be known: the default point runs."""
    study = _study(write_study, 'family = "tests.helpers.flaky:build"', '"model.width" = { choice = [16, 32] }')
    (default,) = study.settings.first_points
    assert points_left(study, [dict(default)], [{"optimizer": "adam", "lr": 0.001, "model.width": None}]) == [dict(default)]


def test_a_point_equal_to_an_earlier_trial_is_still_skipped_once(write_study):
    study = _study(write_study, 'family = "mlp"\nwidth = 32')
    (default,) = study.settings.first_points
    done = [{"optimizer": "adam", "lr": 0.001}]
    assert points_left(study, [dict(default), dict(default)], done) == [dict(default)]  # one trial accounts for one point
