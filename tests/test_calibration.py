"""Calibration: ECE against a hand-computed example, temperature scaling on an overconfident
toy model, the trainer's calibration fields, and the study keys. No Ray."""

from __future__ import annotations

import math

import pytest
import torch

from hpbench.errors import StudyError
from hpbench.study.parse import parse_study
from hpbench.train.calibration import calibrate, ece, fit_temperature, nll, reliability


def _two_class(p: list[float]) -> torch.Tensor:
    """Logits [0, log(p / (1 - p))]: class 1 with probability p."""
    return torch.tensor([[0.0, math.log(q / (1 - q))] for q in p])


def test_ece_matches_hand_computed_example():
    # confidences 0.9, 0.9 (one right, one wrong) and 0.6, 0.6 (both right):
    # ECE = 2/4 * |0.5 - 0.9| + 2/4 * |1.0 - 0.6| = 0.4
    logits = _two_class([0.9, 0.9, 0.6, 0.6])
    y = torch.tensor([1, 0, 1, 1])
    assert ece(logits, y) == pytest.approx(0.4, rel=1e-5)
    rel = reliability(logits, y)
    assert sum(rel.count) == 4 and len(rel.count) == 15
    assert rel.count[13] == 2  # 0.9 lies in (13/15, 14/15]


def test_ece_of_a_binary_logit_equals_its_two_class_form():
    z = torch.tensor([2.0, -1.0, 0.5, -3.0])
    y = torch.tensor([1, 1, 0, 0])
    assert ece(z, y) == pytest.approx(ece(torch.stack([torch.zeros(4), z], 1), y), rel=1e-5)  # float32: relative 1e-5
    assert nll(z.reshape(-1, 1), y) == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(z, y.float()).item(), rel=1e-5)


def test_temperature_scaling_fixes_an_overconfident_model():
    g = torch.Generator().manual_seed(0)
    n, c = 2000, 5
    calibrated = torch.randn(n, c, generator=g)
    y = torch.multinomial(torch.softmax(calibrated, 1), 1, generator=g).reshape(-1)  # labels drawn from the model itself
    overconfident = 4.0 * calibrated
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(4.0, rel=0.15)
    out = calibrate(overconfident, y)
    assert out["nll_after"] < out["nll_before"]
    assert out["ece_after"] < out["ece_before"]
    assert (overconfident / t).argmax(1).equal(overconfident.argmax(1))  # accuracy unchanged


def _raw(**train):
    return {"study": {"name": "c", "metric": "val_ece"}, "data": {"dataset": "iris"}, "model": {"family": "mlp", "depth": 1, "width": 8},
            "train": {"max_epochs": 3, **train}}


def test_trainer_records_ece_nll_and_temperature_fields():
    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    study = parse_study(_raw(calibration="temperature"))
    assert study.settings.mode == "min"  # val_ece: lower is better
    out = train(trial_config(study, {}))
    first, last = out.history[0], out.history[-1]
    assert {"val_ece", "val_nll"} <= set(first)
    assert {"temperature", "ece_before", "ece_after", "nll_before", "nll_after", "reliability"} <= set(last)
    assert last["temperature"] > 0 and last["nll_after"] <= last["nll_before"] + 1e-9


def test_calibration_key_is_validated():
    with pytest.raises(StudyError, match=r"train.calibration"):
        parse_study(_raw(calibration="platt"))
    raw = _raw(calibration="temperature")
    raw["data"] = {"dataset": "diabetes"}
    raw["study"]["metric"] = "val_loss"
    with pytest.raises(StudyError, match=r"train.calibration: applies to classification"):
        parse_study(raw)
