"""The live ETA's pace (hpbench.cost.pace): pure functions, no store, no Ray."""

from __future__ import annotations

import math

import pytest

REL = 1e-5


def test_tunes_pace_is_pooled_from_the_first_trial_and_per_regime_from_four():
    from hpbench.cost.pace import pace_factors

    assert pace_factors([]) == {}
    one = pace_factors([("compute", 2.0, 3.0)])
    assert set(one) == {"all"} and one["all"].factor == pytest.approx(1.5, rel=REL) and one["all"].n_trials == 1
    obs = [("compute", 1.0, 2.0)] * 4 + [("memory", 1.0, 1.0), ("memory", 0.0, 1.0), ("memory", 1.0, math.nan)]
    f = pace_factors(obs)
    assert set(f) == {"all", "compute"}  # memory has one valid observation of three: pooled only
    assert f["all"].factor == pytest.approx(9.0 / 5.0, rel=REL) and f["all"].n_trials == 5  # ratio of sums
    assert f["compute"].factor == pytest.approx(2.0, rel=REL) and f["compute"].label() == "corrected from 4 trials (compute)"


def test_the_early_trials_move_the_speed_figure_as_trials_against_its_two():
    from hpbench.cost.figures import Figures
    from hpbench.cost.pace import helper_moved

    f = Figures(speed=1.2, family_speeds={"gru": 2.0})
    assert helper_moved(f, [], contention=1.5) is f
    assert helper_moved(f, [(0.0, 1.0), (1.0, -1.0)], contention=1.5) is f  # nothing valid
    g = helper_moved(f, [(1.0, 3.0), (3.0, 6.0)], contention=1.5)  # pace 9 / 4, two trials: half the way in logs
    assert g.speed_of(None, 1.5) == pytest.approx(math.sqrt(1.2 * 1.5 * 2.25), rel=REL)
    assert g.speed_of("gru", 1.5) == pytest.approx(math.sqrt(2.0 * 1.5 * 2.25), rel=REL)
    assert g.speed_of("cnn", 1.5) == g.speed_of(None, 1.5)  # a family of no figure of its own: the study-wide one
    free = Figures(speed=1.0, speed_free=True, trials_contention=2.0)  # a contention-free figure at the trials' contention
    h = helper_moved(free, [(1.0, 4.0)], contention=1.0)  # one trial against the figure's 2: a third of the way
    assert h.speed_of(None, 1.0) == pytest.approx(2.0 ** (2 / 3) * 4.0 ** (1 / 3), rel=REL)
