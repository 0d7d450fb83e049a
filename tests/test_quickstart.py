"""Acceptance: the embedded default study (studies/quickstart.toml) through a real local Ray
runtime: best val_accuracy >= 0.95, and the all-zero initialization (enqueued first, as a
reference) visibly fails to learn."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

import hpbench
from hpbench.dispatch.runner import SearchOptions, run_search
from hpbench.study.parse import load_study
from tests.conftest import STUDIES

pytestmark = pytest.mark.slow


def test_quickstart_finds_a_good_mlp_and_shows_the_symmetry_problem(ray_local, tmp_path):
    study = load_study(STUDIES / "quickstart.toml")
    run_search(study, SearchOptions(out=tmp_path / "quickstart"), console=Console(file=StringIO()))
    trials = hpbench.load(tmp_path / "quickstart")
    assert len(trials) == 24 and (trials["status"] == "finished").all()
    assert trials["best_val_accuracy"].max() >= 0.95
    zeros = trials[trials["init"] == "zeros"]
    assert len(zeros) >= 1
    assert zeros["best_val_accuracy"].max() < 0.3  # chance is 0.1: the symmetric network cannot learn
    twin = trials[(trials["init"] == "xavier_uniform") & (trials["lr"] == 0.001) & (trials["model.width"] == 128)
                  & (trials["model.depth"] == 2) & (trials["optimizer"] == "adam")]
    assert len(twin) >= 1 and twin["best_val_accuracy"].max() > 0.9  # the Xavier twin of the zero-init reference learns
