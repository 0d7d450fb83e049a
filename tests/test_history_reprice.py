"""A recalibration keeps a study's speed figure: each history record keeps a few configurations and
the seconds per epoch they measured, re-priced against the current device model at read time
(hpbench.cost.reprice) and cached per model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from hpbench.cost import history, record, reprice
from hpbench.cost.annotate import predict_trial
from hpbench.cost.device import DeviceModel
from hpbench.cost.history import ModelTag
from hpbench.cost.record import TrialTimes
from hpbench.dispatch.repricing import Repricing
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config
from tests.helpers.studies import TINY_STUDY

REL = 1e-5
A = ModelTag(schema=7, measured_at=1_000.0)
B = ModelTag(schema=7, measured_at=2_000.0)
COEF = {"epoch": 1e-3, "step": 1e-4, "module": 2e-6, "op": 5e-6, "op_backward": 3e-6, "op_nograd": 2e-6, "view": 1e-6,
        "matmul": 1.0, "conv": 1.0, "memory": 1.0, "memory_strided": 1.0, "memory_optimizer": 1.0}


def _device(scale: float, measured_at: float) -> DeviceModel:
    """A device model whose every time coefficient (and the trainer's seconds per epoch) is ``scale`` x the first's."""
    return DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                       bandwidth_bytes_per_s=1e10, coef={k: v * scale for k, v in COEF.items()}, trainer_epoch_s=2e-3 * scale,
                       measured_at=measured_at)


def _trial(params: dict, *, later_epoch_s: float, predicted: float, epochs: int = 3) -> TrialTimes:
    return TrialTimes(started_at=0.0, ended_at=1.0, train_s=epochs * later_epoch_s, epochs=epochs, max_epochs=3, stop_reason="completed",
                      predicted_epoch_s=predicted, first_epoch_s=later_epoch_s, later_epoch_s=later_epoch_s, params=params)


def _record(trials: list[TrialTimes], model: ModelTag, *, study: str = "tiny") -> dict:
    rec = record.search_record(run_id=f"run-{model.measured_at}-{len(trials)}", study=study, trials=trials, started_at=0.0, command=True,
                                ray_started=True, cpus=2, concurrency=2, cpus_per_trial=1.0, contention=1.0, phases={},
                                configs=reprice.configs(trials))
    return {**rec, "model": model.to_dict()}


def test_a_record_repriced_against_a_second_model_gives_the_ratio_by_hand(write_study):
    """Against model A a search's two configurations ran 2x and 4x their predictions (its speed:
    the median, 3.0). Model B prices every epoch 2x A's (each coefficient and the trainer's
    epoch doubled), so against B they ran 1x and 2x: speed 1.5, which the figures then read for
    the study (the prior, 1.0, without the re-pricing; A's own records still read 3.0)."""
    study = load_study(write_study(TINY_STUDY))
    dev_a, dev_b = _device(1.0, A.measured_at), _device(2.0, B.measured_at)
    configs = [{"optimizer": "adam", "lr": 0.01}, {"optimizer": "sgd", "lr": 0.05}]

    def price(dev: DeviceModel):
        return lambda p: predict_trial(trial_config(study, dict(p)), device_model=dev, max_concurrent=2)["predicted_epoch_s"]

    pa, pb = (price(dev_a)(p) for p in configs), (price(dev_b)(p) for p in configs)
    pa, pb = list(pa), list(pb)
    assert pb[0] == pytest.approx(2 * pa[0], rel=REL) and pb[1] == pytest.approx(2 * pa[1], rel=REL)  # B: every epoch 2x A's
    rec = _record([_trial(configs[0], later_epoch_s=2.0 * pa[0], predicted=pa[0]), _trial(configs[1], later_epoch_s=4.0 * pa[1], predicted=pa[1])], A)
    assert rec["speed"] == pytest.approx(3.0, rel=REL)
    todo = reprice.wanted([rec], study="tiny", model=B)
    assert [r["run_id"] for r in todo] == [rec["run_id"]]
    speeds = reprice.speeds(todo, price(dev_b))
    assert speeds[rec["run_id"]] == pytest.approx(1.5, rel=REL)  # median(1.0, 2.0)
    assert history.figures([rec], study="tiny", model=B, repriced=speeds).speed == pytest.approx(1.5, rel=REL)
    assert history.figures([rec], study="tiny", model=B).speed == pytest.approx(1.0, rel=REL)  # no re-pricing: the prior
    assert history.figures([rec], study="tiny", model=A, repriced=speeds).speed == pytest.approx(3.0, rel=REL)  # A reads its own
    assert reprice.wanted([rec], study="tiny", model=A) == []  # nothing to re-price against its own model


def test_only_the_studys_latest_records_of_another_model_are_repriced():
    """The study's last 3 records are read for its speed: those of another model among them are
    re-priced; once its last 3 runs were on the current model, none; other studies' never."""
    t = [_trial({"lr": 0.1}, later_epoch_s=1.0, predicted=1.0)]
    old = [_record(t, A) | {"run_id": f"a{i}"} for i in range(4)]
    other = _record(t, A, study="other") | {"run_id": "o"}
    assert [r["run_id"] for r in reprice.wanted([*old, other], study="tiny", model=B)] == ["a1", "a2", "a3"]
    new = [_record(t, B) | {"run_id": f"b{i}"} for i in range(3)]
    assert [r["run_id"] for r in reprice.wanted([*old, new[0], other], study="tiny", model=B)] == ["a2", "a3"]
    assert reprice.wanted([*old, *new], study="tiny", model=B) == []
    assert reprice.wanted(old, study="tiny", model=None) == []


def test_a_record_keeps_configurations_spread_over_its_predicted_epochs():
    """Kept: 6 trials from the cheapest predicted epoch to the dearest, evenly (not the first of
    equal epochs: the recurrent claim's were all its RNNs, 1.9x their predictions where its
    trials' median was 1.1x); a trial without parameters or a later epoch cannot be re-priced."""
    trials = [_trial({"lr": 0.01 * i}, later_epoch_s=0.1, predicted=0.1 * (11 - i)) for i in range(11)]  # predicted 1.1 .. 0.1
    trials.append(TrialTimes(started_at=0.0, ended_at=1.0, train_s=1.0, epochs=9, max_epochs=9, stop_reason="completed", later_epoch_s=0.1))
    trials.append(_trial({"lr": 0.5}, later_epoch_s=0.0, predicted=5.0))
    kept = reprice.configs(trials)
    assert [round(c["predicted_epoch_s"], 6) for c in kept] == [0.1, 0.3, 0.5, 0.7, 0.9, 1.1]
    assert kept[0] == {"params": {"lr": 0.1}, "epoch_s": 0.1, "epochs": 3, "predicted_epoch_s": pytest.approx(0.1, rel=REL)}
    assert len(reprice.configs(trials[:3])) == 3


def test_the_cache_keeps_each_models_speeds(tmp_path):
    reprice.save_cache(tmp_path, B, {"r1": 1.5})
    reprice.save_cache(tmp_path, B, {"r2": 0.5})
    assert reprice.load_cache(tmp_path, B) == {"r1": 1.5, "r2": 0.5}
    assert reprice.load_cache(tmp_path, A) == {} and reprice.load_cache(tmp_path, None) == {}
    for i in range(reprice.CACHED_MODELS):  # newer models push the oldest out
        reprice.save_cache(tmp_path, ModelTag(schema=7, measured_at=3_000.0 + i), {"r": 1.0})
    assert reprice.load_cache(tmp_path, B) == {}
    assert reprice.load_cache(tmp_path, ModelTag(schema=7, measured_at=3_000.0)) == {"r": 1.0}


def test_the_search_reprices_what_the_cache_has_not_got(write_study, tmp_path):
    """The search's clock: the cached speeds at once; the others priced in its helper (here a
    thread pool and a fixed price), then cached for the next search against the same model."""
    study = load_study(write_study(TINY_STUDY))
    t = [_trial({"optimizer": "adam", "lr": 0.01}, later_epoch_s=0.3, predicted=0.1)]
    recs = [_record(t, A) | {"run_id": "a0"}, _record(t, A) | {"run_id": "a1"}]
    reprice.save_cache(tmp_path, B, {"a0": 9.0})

    def priced(study, records):
        return reprice.speeds(records, lambda p: 0.2)

    r = Repricing(study=study, records=recs, model=B, history_dir=tmp_path, price_with=priced)
    assert r.speeds == {"a0": 9.0} and not r.take()
    with ThreadPoolExecutor(1) as pool:
        r.start(pool)
    assert r.take() and r.speeds == {"a0": 9.0, "a1": pytest.approx(1.5, rel=REL)}
    assert not r.take()
    assert reprice.load_cache(tmp_path, B) == {"a0": 9.0, "a1": pytest.approx(1.5, rel=REL)}
    again = Repricing(study=study, records=recs, model=B, history_dir=tmp_path, price_with=priced)
    with ThreadPoolExecutor(1) as pool:
        again.start(pool)
    assert not again.take()  # nothing left to price
