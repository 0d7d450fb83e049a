"""The claims runner's logic without running it (benchmarks/claims.py runs the real searches):
every claim study splits into valid per-arm studies, and verdicts follow the 95% intervals."""

from __future__ import annotations

import tomllib

import pytest

from benchmarks import claims as C
from hpbench.study.parse import parse_study


@pytest.mark.parametrize("name", sorted(C.ARMS))
def test_every_arm_is_a_valid_study_with_its_value_fixed_and_its_own_search(name, tmp_path):
    raw = tomllib.loads((C.STUDIES / f"{name}.toml").read_text())
    key = C.ARMS[name]
    values = raw["space"][key]["grid"]
    got = C.arms(name, tmp_path)
    assert [label for label, _ in got] == [str(v) for v in values] and len(values) >= 2
    for (label, arm), value in zip(got, values, strict=True):
        assert key not in arm["space"] and arm["space"], "the arm keeps a space of its own to tune"
        assert arm["study"]["name"] == f"{name}-{label}" and arm["study"]["repeats"] >= 5 and arm["study"]["repeats_top"] == 1
        if name in C.REFERENCES:
            continue  # needs the saved trial of its first step; its keys are checked below
        study = parse_study(arm, source=f"{name}.toml", base_dir=C.STUDIES)
        from hpbench.study.resolve import trial_config

        cfg = trial_config(study, study.space.grid()[0])
        where = {"optimizer": cfg.optimizer.name, "init": cfg.train.init, "batch_size": cfg.train.batch_size, "family": cfg.model.family,
                 "train.early_stopping.patience": cfg.train.early_stopping.patience if cfg.train.early_stopping else None}
        assert where[key] == value


def test_references_point_at_this_runs_output(tmp_path):
    (_, arm), *_ = C.arms("transfer_finetune", tmp_path)
    assert arm["model"]["init_from"] == f"{tmp_path / 'transfer_pretrain'}:best"
    (_, student), *_ = C.arms("distill_student", tmp_path)
    assert student["distill"]["teacher"] == f"{tmp_path / 'distill_teacher'}:best" and student["distill"]["alpha"] == 0.0


def _arm(values):
    return {"seeds": [{"m": v} for v in values]}


@pytest.mark.parametrize(
    ("better", "other", "lower", "verdict"),
    [
        ([1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 1.9, 2.05, 2.0], True, C.HELD),  # clearly lower time
        ([2.0, 2.1, 1.9, 2.05, 2.0], [1.0, 1.1, 0.9, 1.0, 1.05], True, C.NOT_HELD),  # clearly higher: the opposite shown
        ([1.0, 2.0, 0.5, 1.8, 1.2], [1.1, 1.9, 0.7, 1.5, 1.4], True, C.UNCLEAR),
        ([0.97, 0.98, 0.975, 0.97, 0.98], [0.1, 0.11, 0.1, 0.1, 0.1], False, C.HELD),  # clearly higher accuracy
    ],
)
def test_verdicts_follow_the_interval_of_the_advantage(better, other, lower, verdict):
    c = C.compare(_arm(better), _arm(other), "m", lower_is_better=lower)
    assert c["verdict"] == verdict
    lo, hi = c["ci95"]
    assert lo <= c["advantage"] <= hi
    sign = 1 if not lower else -1
    assert c["advantage"] == pytest.approx(sign * (sum(better) / 5 - sum(other) / 5), rel=1e-9)


def test_a_claim_holds_only_when_every_comparison_holds():
    assert C.overall([C.HELD, C.HELD]) == C.HELD
    assert C.overall([C.HELD, C.UNCLEAR]) == C.UNCLEAR
    assert C.overall([C.UNCLEAR, C.NOT_HELD, C.HELD]) == C.NOT_HELD
    assert C.overall([]) == C.UNCLEAR
