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


def test_wilson_interval_by_hand():
    # 0 of 16: [0, z^2 / (n + z^2)]; 4 of 16: ((p + z^2/2n) -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    assert C.wilson(0, 16) == pytest.approx([0.0, 3.8416 / 19.8416], rel=1e-5)
    assert C.wilson(4, 16) == pytest.approx([0.101819, 0.494988], rel=1e-5)  # (0.298403 -+ 0.196584) with z = 1.96
    assert C.wilson(16, 16)[1] == 1.0 and C.wilson(0, 0) == [None, None]


def test_the_gan_claim_counts_how_configurations_end(tmp_path, monkeypatch):
    """Four hand-made configurations of the gan_stability grid: two collapse (on one mode, on
    none), one converges to 3 modes, one covers 8/8 at hq 0.9: the shares, the best, the vanilla
    setting and the verdict follow."""
    import json

    import pandas as pd

    raw = tomllib.loads((C.STUDIES / "gan_stability.toml").read_text(encoding="utf-8"))
    (tmp_path / "gan_stability").mkdir()
    (tmp_path / "gan_stability" / "study.json").write_text(json.dumps({"raw": raw}), encoding="utf-8")
    trials = pd.DataFrame({"trial": [0, 1, 2, 3], "lr": [1e-4, 3e-4, 1e-3, 3e-3], "optimizer.betas": ["[0.5, 0.999]"] * 4,
                           "train.d_lr": [1e-4, 1e-3, 1e-3, 1e-3], "stop_reason": ["collapsed", "collapsed", "completed", "completed"],
                           "epochs": [11, 11, 16, 16], "best_val_modes_hq": [0.1, 1.9, 3.5, 8.9], "train_s": [1.0, 1.0, 2.0, 2.0]})
    epochs = pd.DataFrame({"trial": [0, 1, 2, 3], "epoch": [11, 11, 16, 16], "val_modes_covered": [0.0, 1.0, 3.0, 8.0],
                           "val_hq_fraction": [0.01, 0.95, 0.5, 0.9]})
    monkeypatch.setattr(C, "tables", lambda path: (trials, epochs))
    r = C.gan(tmp_path)
    assert (r["n"], r["stable"], r["good"]) == (4, 2, 1) and r["collapsed_at"] == {"no mode": 1, "one mode": 1}
    assert r["best"]["lr"] == 3e-3 and r["best"]["optimizer.betas"] == [0.5, 0.999] and r["stable_modes_median"] == 5.5
    assert r["vanilla"]["lr"] == 1e-4 and r["vanilla"]["modes"] == 0.0
    assert r["held"] == C.UNCLEAR  # 1 of 4 at 8/8: Wilson [0.05, 0.70] straddles one half
