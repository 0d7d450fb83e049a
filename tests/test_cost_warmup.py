"""The device model's warm-up constants read robustly and held at their ceilings
(:mod:`hpbench.cost.warmup`): synthetic measurements and cached models, no calibration run, no Ray.
Session 50's bug hunt h4: a 2-thread calibration on the busy machine stored warmup_fraction 86.2,
first_epoch_s 0.336 s and trainer_epoch_s 0.065 s, and priced every 2-thread trial 5-130x too high."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hpbench.cost import calibrate as C
from hpbench.cost import warmup
from hpbench.cost.device import DeviceModel
from hpbench.cost.predict import FEATURES
from hpbench.cost.suite import fit_rows

REL = 1e-5
OH = 1.2085e-06  # the hunter's 2-thread model's dispatch floor (s)
HUNTER = {"warmup_fraction": 86.21503185211539, "first_epoch_s": 0.33572, "trainer_epoch_s": 0.06529105093284943}
QUIET = {"warmup_fraction": 0.199, "first_epoch_s": 0.001, "trainer_epoch_s": 0.0}  # its 1-thread model, 15 minutes earlier


def _model(**kw) -> DeviceModel:
    return DeviceModel(device="cpu", name="t", threads=2, matmul_flops=(1.0, 1e9), matmul_flops_per_s=(1e10, 1e10), peak_flops_per_s=1e10,
                       bandwidth_bytes=(1e6, 64e6), bandwidth_curve=(1e11, 1e10), op_overhead_s=OH,
                       coef={k: 1.0 if k in ("matmul", "conv", "random", "activation") else 1e-6 for k in FEATURES}, **kw)


def _rows(ratios):
    return [({"op": 1000.0 * (i + 1), "epoch": 1.0}, 1e-3 * (i + 1), 1e-3 * (i + 1) * (1.0 + r)) for i, r in enumerate(ratios)]


def test_the_fit_reads_a_low_quantile_of_first_over_fastest():
    quiet = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.6, 0.8, 1.2]
    assert fit_rows(_rows(quiet)).warmup_fraction == pytest.approx(0.1375, rel=REL)  # P25, linear interpolation
    # a burst over 7 of the 12 first epochs (they run back to back): the median read the burst, P25 does not
    burst = [*quiet[:5], 40.0, 50.0, 60.0, 70.0, 80.0, 86.2, 90.0]
    assert fit_rows(_rows(burst)).warmup_fraction == pytest.approx(0.1375, rel=REL)
    assert warmup.warmup_fraction([]) == 0.0 and warmup.warmup_fraction([-0.2, -0.1]) == 0.0


def test_the_hunters_constants_are_held_at_their_ceilings_and_recorded():
    m = warmup.bounded(_model(**HUNTER))
    assert m.warmup_fraction == pytest.approx(warmup.WARMUP_CEILING, rel=REL)
    assert m.first_epoch_s == pytest.approx(warmup.FIRST_EPOCH_CEILING_OPS * OH, rel=REL)  # 12 ms
    assert m.trainer_epoch_s == pytest.approx(warmup.TRAINER_EPOCH_CEILING_OPS * OH, rel=REL)
    assert m.bounded == pytest.approx(HUNTER, rel=REL)
    assert warmup.bounded(m) == m  # held once: reading it again changes nothing
    line = warmup.describe(m)
    assert line is not None and "warmup_fraction 86.2 -> 1" in line and "--recalibrate --threads 2" in line


def test_quiet_constants_and_a_hypothetical_device_are_left_as_they_are():
    m = _model(**QUIET)
    assert warmup.bounded(m) is m and warmup.describe(m) is None
    hyp = DeviceModel.hypothetical_device(flops_per_s=1e12)
    assert warmup.bounded(hyp) is hyp  # not a CPU: the ceilings were derived on one
    gpu = dataclasses.replace(_model(**HUNTER), device="cuda:0")
    assert warmup.bounded(gpu) is gpu  # a GPU's first epoch pays library handles and kernel selection too


def _cached(tmp_path, model: DeviceModel):
    path = tmp_path / "vm-cpu-t2.json"
    path.write_text(json.dumps({**model.to_dict(), "versions": C.identity("cpu")}), encoding="utf-8")
    return C.load_cached(path, "cpu")


def test_a_cached_model_with_the_hunters_warmup_prices_a_trial_within_the_ceilings(tmp_path):
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
    from hpbench.cost.annotate import predict_trial

    cfg = TrialConfig(seed=0, data=DataConfig(dataset="iris"), model=ModelConfig(family="mlp", params={"depth": 2, "width": 256}),
                      optimizer=OptimizerConfig(name="adam", lr=1e-3), train=TrainConfig(max_epochs=10, batch_size="full"),
                      metric="val_loss", mode="min", threads=2)
    bad = _cached(tmp_path, _model(**HUNTER))
    assert bad is not None and bad.warmup_fraction == pytest.approx(1.0, rel=REL) and bad.bounded == pytest.approx(HUNTER, rel=REL)
    steady = predict_trial(cfg, device_model=_model())["predicted_epoch_s"]  # the epoch without any trainer constant
    got = predict_trial(cfg, device_model=bad)
    # before: 0.336 + 86.2 x the epoch of warm-up; now at most the first-epoch ceiling plus one epoch
    assert got["predicted_warmup_s"] == pytest.approx(warmup.FIRST_EPOCH_CEILING_OPS * OH + steady, rel=REL)
    assert got["predicted_epoch_s"] == pytest.approx(steady + warmup.TRAINER_EPOCH_CEILING_OPS * OH, rel=REL)
    good = _cached(tmp_path, _model(**QUIET))
    assert good is not None and good.bounded == {}
    assert (good.warmup_fraction, good.first_epoch_s, good.trainer_epoch_s) == (QUIET["warmup_fraction"], QUIET["first_epoch_s"], 0.0)
    again = predict_trial(cfg, device_model=good)
    assert again["predicted_warmup_s"] == pytest.approx(0.001 + 0.199 * steady, rel=REL)


def test_a_price_key_names_the_warmup_rules(monkeypatch):
    from types import SimpleNamespace

    from hpbench.cost import prices

    study = SimpleNamespace(settings=SimpleNamespace(max_concurrent=1), resources=SimpleNamespace(cpus_per_trial=2))
    now = prices.price_key("k", study=study, dataset="iris", family="mlp")
    monkeypatch.setattr(prices, "BOUND_RULES", warmup.BOUND_RULES + 1)
    assert now is not None and prices.price_key("k", study=study, dataset="iris", family="mlp") != now


@pytest.mark.parametrize("field, value", [("calibration_s", None), ("calibration_s", "2 min"), ("calibration_s", [1.0]),
                                          ("calibration_s", float("inf")), ("measured_at", None), ("measured_at", "yesterday")])
def test_a_cached_model_whose_times_are_not_numbers_is_measured_again(tmp_path, field, value):
    """Bug hunt s50/h8, finding 5: a null calibration_s got through and `hpbench devices` crashed formatting it."""
    good = _model(**QUIET)
    assert _cached(tmp_path, good) is not None
    path = tmp_path / "vm-cpu-t2.json"
    path.write_text(json.dumps({**good.to_dict(), "versions": C.identity("cpu"), field: value}), encoding="utf-8")
    assert C.load_cached(path, "cpu") is None
