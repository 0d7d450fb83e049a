"""Whole-trial cost terms, regimes, prediction intervals and the in-run correction: pure logic,
no Ray, no training (issue 13)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpbench.cost import trial_time as tt
from hpbench.cost.annotate import spent
from hpbench.cost.correct import Correction, EndedTrial, RunningFactors, corrected_seconds, interval_bounds, replay, scale_factors
from hpbench.cost.device import DeviceModel
from hpbench.cost.ops import OpRecord, StepCost
from hpbench.cost.predict import FEATURES, features, predict_epoch
from hpbench.cost.regime import Regime, regime_of, shares

REL = 1e-5


def test_state_working_set_is_weights_gradients_and_optimizer_state():
    # the memory-bound MLP: 64 -> 3 x 1024 -> 10 with biases
    n = 64 * 1024 + 1024 + 2 * (1024 * 1024 + 1024) + 1024 * 10 + 10
    assert tt.state_working_set_bytes(n_params=n, optimizer="adam") == pytest.approx(4 * n * 4, rel=REL)  # w, g, m, v
    assert tt.state_working_set_bytes(n_params=n, optimizer="sgd") == pytest.approx(4 * n * 2, rel=REL)
    assert tt.state_working_set_bytes(n_params=n, optimizer="amsgrad") == pytest.approx(4 * n * 5, rel=REL)
    assert 30e6 < tt.state_working_set_bytes(n_params=n, optimizer="adam") < 40e6


def test_warmup_concurrency_and_trial_seconds():
    assert tt.warmup_seconds(epoch_s=2.0, warmup_fraction=0.25) == pytest.approx(0.5, rel=REL)
    assert tt.warmup_seconds(epoch_s=2.0, warmup_fraction=-0.1) == 0.0
    assert tt.warmup_seconds(epoch_s=2.0, warmup_fraction=0.25, first_epoch_s=0.02) == pytest.approx(0.52, rel=REL)
    slow = {"memory-bound": 1.6, "compute-bound": 1.1}
    assert tt.concurrency_slowdown(regime=Regime.MEMORY, max_concurrent=1, slowdowns=slow) == 1.0
    assert tt.concurrency_slowdown(regime=Regime.MEMORY, max_concurrent=2, slowdowns=slow) == pytest.approx(1.6, rel=REL)
    assert tt.concurrency_slowdown(regime=Regime.MEMORY, max_concurrent=3, slowdowns=slow) == pytest.approx(2.2, rel=REL)
    assert tt.concurrency_slowdown(regime=Regime.OVERHEAD, max_concurrent=2, slowdowns=slow) == 1.0  # not measured: none
    # 3 epochs of 1 s, a first epoch 40% slower, two trials at once on a memory-bound step
    assert tt.trial_seconds(epoch_s=1.0, n_epochs=3, warmup_fraction=0.4, slowdown=1.6) == pytest.approx(1.6 * 3.4, rel=REL)
    assert tt.trial_seconds(epoch_s=1.0, n_epochs=0, warmup_fraction=0.4) == 0.0


def test_quantile_matches_numpy():
    xs = [0.7, 1.3, 0.9, 1.0, 1.8, 1.1, 0.95]
    for q in (0.0, 0.1, 0.5, 0.9, 1.0):
        assert tt.quantile(xs, q) == pytest.approx(float(np.quantile(xs, q)), rel=REL)


def test_residual_intervals_per_regime_with_pooled_fallback():
    res = [(Regime.COMPUTE, x) for x in (0.9, 1.0, 1.1, 1.2)] + [(Regime.MEMORY, 1.5), (Regime.MEMORY, 2.0)]
    iv = tt.residual_intervals(res)
    assert iv[str(Regime.COMPUTE)] == pytest.approx((np.quantile([0.9, 1.0, 1.1, 1.2], 0.1), np.quantile([0.9, 1.0, 1.1, 1.2], 0.9)), rel=REL)
    pooled = [0.9, 1.0, 1.1, 1.2, 1.5, 2.0]
    assert iv["all"] == pytest.approx((np.quantile(pooled, 0.1), np.quantile(pooled, 0.9)), rel=REL)
    assert iv[str(Regime.MEMORY)] == iv["all"]  # two residuals: too few of its own
    assert tt.residual_intervals([]) == {} and tt.residual_intervals([(Regime.COMPUTE, -1.0)]) == {}


def test_interval_always_contains_the_prediction():
    iv = {str(Regime.COMPUTE): (1.1, 1.4), "all": (0.8, 1.2)}
    assert tt.interval(predicted_s=10.0, regime=Regime.COMPUTE, intervals=iv) == pytest.approx((10.0, 14.0), rel=REL)
    assert tt.interval(predicted_s=10.0, regime=Regime.MEMORY, intervals=iv) == pytest.approx((8.0, 12.0), rel=REL)
    assert tt.interval(predicted_s=10.0, regime=Regime.MEMORY, intervals={}) is None


def test_regime_is_the_largest_share():
    coef = {"matmul": 1.0, "memory": 2.0, "memory_optimizer": 1.0, "op": 1e-5, "step": 1e-4}
    f = {"matmul": 0.1, "memory": 0.01, "memory_optimizer": 0.05, "op": 1000.0, "step": 10.0}
    s = shares(f, coef)
    assert s[Regime.COMPUTE] == pytest.approx(0.1 / 0.181, rel=REL) and s[Regime.MEMORY] == pytest.approx(0.07 / 0.181, rel=REL)
    assert math.fsum(s.values()) == pytest.approx(1.0, rel=REL)
    assert regime_of(f, coef) == Regime.COMPUTE
    assert regime_of({**f, "memory_optimizer": 0.5}, coef) == Regime.MEMORY
    assert regime_of({**f, "op": 1e5}, coef) == Regime.OVERHEAD
    assert regime_of({}, coef) == Regime.OVERHEAD


KERNEL_TERMS = ("matmul", "conv", "memory", "memory_strided", "memory_optimizer")


def _device(**kw):
    # in-cache copies at 100 GB/s up to 1 MB, DRAM at 10 GB/s from 64 MB
    return DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1.0, 1e9), matmul_flops_per_s=(1e10, 1e10), peak_flops_per_s=1e10,
                       bandwidth_bytes=(1e6, 64e6), bandwidth_curve=(1e11, 1e10), coef={k: 1.0 if k in KERNEL_TERMS else 1e-6 for k in FEATURES}, **kw)


def _step(opt_bytes=4e5):
    ops = (OpRecord(name="addmm", kind="matmul", phase="forward", flops=1e6, bytes=1e5),
           OpRecord(name="_foreach_mul_", kind="elementwise", phase="optimizer", flops=0.0, bytes=opt_bytes))
    return StepCost(batch_size=8, n_params=1000, ops=ops, flop_counter_flops=1_000_000)


def test_optimizer_ops_are_priced_at_the_state_working_set_bandwidth():
    dev = _device()
    in_cache = features(_step().ops, device=dev)["memory_optimizer"]
    assert in_cache == pytest.approx(4e5 / dev.bandwidth(4e5), rel=REL)
    dram = features(_step().ops, device=dev, state_bytes=64e6)["memory_optimizer"]
    assert dram == pytest.approx(4e5 / 1e10, rel=REL) and dram > 5 * in_cache
    assert features(_step().ops, device=dev, state_bytes=64e6)["memory"] == 0.0  # forward ops keep their own


def test_predict_epoch_reports_its_regime():
    dev = _device()
    small = predict_epoch(full=_step(), last=None, n_steps=10, device=dev, n_eval_chunks=0)
    big = predict_epoch(full=_step(opt_bytes=4e7), last=None, n_steps=10, device=dev, n_eval_chunks=0, state_bytes=64e6)
    assert big.regime == Regime.MEMORY and big.epoch_s > small.epoch_s
    hypo = predict_epoch(full=_step(), last=None, n_steps=10, device=DeviceModel.hypothetical_device(flops_per_s=1e9))
    assert hypo.regime == Regime.COMPUTE


def test_spent_adds_warmup_once_and_scales_the_interval():
    cols = {"flops_per_epoch": 1e6, "predicted_epoch_s": 2.0, "predicted_warmup_s": 0.5, "predicted_s": 10.5,
            "predicted_s_p10": 8.4, "predicted_s_p90": 12.6}
    out = spent(cols, epochs_run=2, measured_s=5.0)
    assert out["predicted_spent_s"] == pytest.approx(4.5, rel=REL)
    assert out["predicted_spent_s_p10"] == pytest.approx(4.5 * 0.8, rel=REL) and out["predicted_spent_s_p90"] == pytest.approx(4.5 * 1.2, rel=REL)
    assert out["prediction_error"] == pytest.approx((4.5 - 5.0) / 5.0, rel=REL)
    assert spent(cols, epochs_run=0, measured_s=None)["predicted_spent_s"] == 0.0
    old = spent({"flops_per_epoch": 1e6, "predicted_epoch_s": 2.0}, epochs_run=3, measured_s=6.0)  # results from before issue 13
    assert old["predicted_spent_s"] == pytest.approx(6.0, rel=REL) and old["predicted_spent_s_p10"] is None


def test_scale_factors_need_min_trials_and_fall_back_to_pooled():
    ended = [("memory-bound", 1.0, 2.0), ("memory-bound", 1.0, 2.2), ("memory-bound", 2.0, 3.6), ("compute-bound", 1.0, 1.1)]
    assert scale_factors(ended[:3]) == {}
    f = scale_factors(ended)
    assert f["all"].factor == pytest.approx((2.0 + 2.2 + 3.6 + 1.1) / (1.0 + 1.0 + 2.0 + 1.0), rel=REL) and f["all"].n_trials == 4
    assert "memory-bound" not in f  # three of its own: not yet
    f = scale_factors([*ended, ("memory-bound", 1.0, 2.4)])
    assert f["memory-bound"].factor == pytest.approx(10.2 / 5.0, rel=REL) and f["memory-bound"].n_trials == 4
    s, c = corrected_seconds(10.0, "memory-bound", f)
    ratios = (2.0, 2.2, 1.8, 2.4)  # the memory-bound trials' measured / predicted
    assert s == pytest.approx(10.0 * math.exp(sum(map(math.log, ratios)) / 8), rel=REL)
    assert c is not None and c.label() == "corrected from 4 trials (memory-bound)"
    s, c = corrected_seconds(10.0, "compute-bound", f)
    assert c is not None and c.regime == "all" and c.label() == "corrected from 5 trials"
    assert corrected_seconds(10.0, "compute-bound", {}) == (10.0, None)
    assert scale_factors([("x", 0.0, 1.0), ("x", 1.0, float("nan"))] * 4) == {}  # no usable pair
    with pytest.raises(ValueError, match="min_trials"):
        scale_factors(ended, min_trials=0)


def test_scale_factor_is_held_by_the_trials_that_hold_the_seconds():
    # three 10 s trials 20% slower than predicted and a 1 ms trial whose fixed costs read 10x:
    # the factor is the seconds' (36.01 / 30.001), not the middle of the ratios (1.2 and 10)
    ended = [("overhead-bound", 10.0, 12.0)] * 3 + [("overhead-bound", 0.001, 0.01)]
    f = scale_factors(ended)
    assert f["overhead-bound"].factor == pytest.approx(36.01 / 30.001, rel=REL)


def test_one_trials_correction_is_the_shrunk_geometric_mean():
    """A trial's corrected seconds use exp(Σ log r / (n + 4)): four trials at 1.5x move it half
    way in log space (1.5^0.5), not all the way; the ETA's factor stays the ratio of sums."""
    from hpbench.cost.correct import PRIOR_TRIALS, shrunk_log_mean

    assert PRIOR_TRIALS == 4.0
    ended = [("overhead-bound", 1.0, 1.5), ("overhead-bound", 2.0, 3.0), ("overhead-bound", 0.5, 0.75), ("overhead-bound", 4.0, 6.0)]
    f = scale_factors(ended)
    assert f["overhead-bound"].factor == pytest.approx(1.5, rel=REL)
    assert f["overhead-bound"].per_trial == pytest.approx(1.5 ** 0.5, rel=REL)
    s, c = corrected_seconds(2.0, "overhead-bound", f)
    assert s == pytest.approx(2.0 * 1.5 ** 0.5, rel=REL) and c is not None and c.n_trials == 4
    # ratios 2 and 0.5 cancel in log space, whatever their seconds
    assert shrunk_log_mean([(1.0, 2.0), (10.0, 5.0)]) == pytest.approx(1.0, rel=REL)
    assert shrunk_log_mean([(1.0, 2.0)] * 8) == pytest.approx(2.0 ** (8 / 12), rel=REL)
    assert Correction(factor=1.2, n_trials=4, regime="all").per_trial == 1.2  # an older Correction: the ratio of sums


def test_trials_outside_ray_never_count():
    """Early trials (trained in the helper, not a Ray worker) never feed the correction, as the
    dispatcher passes none (corrections.ended_pairs); a 3-tuple counts as in Ray."""
    early = [("overhead-bound", 1.0, 1.0, False)] * 4  # the helper's pace: as predicted
    in_ray = [("overhead-bound", 1.0, 1.5, True)] * 3 + [("overhead-bound", 1.0, 1.5)]
    assert scale_factors(early) == {} and interval_bounds(early) is None
    assert scale_factors([*early, *in_ray[:3]]) == {}  # 3 in Ray: not yet
    f = scale_factors([*early, *in_ray])  # 4 in Ray: those alone
    assert f["all"].n_trials == 4 and f["overhead-bound"].factor == pytest.approx(1.5, rel=REL)
    running = RunningFactors()
    for i, o in enumerate([*early, *in_ray]):
        running.set(str(i), o)
    assert running.factors()["all"].n_trials == 4 and running.bounds() == interval_bounds(in_ray)
    trials = [EndedTrial(regime="overhead-bound", predicted_s=1.0, measured_s=1.0, started_at=0.0, ended_at=1.0, in_ray=False)
              for _ in range(4)]
    trials += [EndedTrial(regime="overhead-bound", predicted_s=1.0, measured_s=1.5, started_at=2.0 + i, ended_at=2.5 + i) for i in range(5)]
    out = replay(trials)
    assert out[:8] == [None] * 8  # 4 early trials and 3 in Ray ended before the 8th: not enough
    assert out[8] is not None and out[8][0] == pytest.approx(1.5 ** 0.5, rel=REL) and out[8][1].n_trials == 4  # from the 4 in Ray


def test_replay_corrects_only_from_trials_ended_before_the_start():
    # a machine 2x slower than predicted: trials 0-3 sequential, 4 and 5 start after them
    trials = [EndedTrial(regime="memory-bound", predicted_s=1.0, measured_s=2.0, started_at=float(i), ended_at=i + 0.9) for i in range(4)]
    trials += [EndedTrial(regime="memory-bound", predicted_s=3.0, measured_s=6.3, started_at=4.0, ended_at=5.0),
               EndedTrial(regime="memory-bound", predicted_s=1.0, measured_s=1.0, started_at=3.5, ended_at=4.5)]
    out = replay(trials)
    assert out[:4] == [None] * 4
    assert out[4] is not None and out[4][0] == pytest.approx(3.0 * 2.0 ** 0.5, rel=REL)  # half way to 2x in log space (4 trials + 4 prior)
    assert out[4][1].factor == pytest.approx(2.0, rel=REL) and out[4][1].per_trial == pytest.approx(2.0 ** 0.5, rel=REL)
    assert (out[4][1].n_trials, out[4][1].regime) == (4, "memory-bound")
    assert out[5] is None  # started before the fourth trial ended


def test_suite_fit_rows_gives_warmup_and_leave_one_out_intervals():
    from hpbench.cost.suite import fit_rows

    rng = np.random.default_rng(0)
    true = {"op": 1e-5, "step": 1e-4, "memory": 2.0, "matmul": 1.0}
    rows = []
    for i in range(12):
        f = {"op": float(rng.integers(100, 5000)), "step": float(rng.integers(10, 200)), "memory": float(rng.uniform(0, 0.02)),
             "matmul": float(rng.uniform(0, 0.05)), "epoch": 1.0}
        t = sum(true[k] * f[k] for k in true) * (1.0 + 0.05 * (i % 3 - 1))  # +-5% noise
        rows.append((f, t, t * (1.3 if i % 2 else 1.5)))
    fit = fit_rows(rows)
    assert fit.warmup_fraction == pytest.approx(0.3, rel=REL)  # P25 of six 0.3 and six 0.5 (hpbench.cost.warmup)
    lo, hi = fit.intervals["all"]
    assert 0.85 < lo < 1.0 < hi < 1.15


def test_suite_intervals_hold_out_a_whole_kind_of_network():
    """With kinds, each probe is predicted by a fit that saw no probe of its kind: a kind whose
    networks run 1.5x what the other kinds' fit says shows up in the interval, while
    leave-one-out (its own twins in the fit) hides it."""
    from hpbench.cost.suite import fit_rows

    rows, kinds = [], []
    for i in range(12):
        kind = "slow" if i % 3 == 0 else "plain"
        f = {"op": 100.0 * (i + 1), "step": 10.0 * (12 - i), "epoch": 1.0}
        t = (1e-5 * f["op"] + 1e-4 * f["step"]) * (1.5 if kind == "slow" else 1.0)
        f["module"] = f["op"] if kind == "slow" else 0.0  # what only the slow kind has: a term the others cannot fit
        rows.append((f, t, t))
        kinds.append(kind)
    loo = fit_rows(rows).intervals["all"]
    lko = fit_rows(rows, kinds=kinds).intervals["all"]
    assert lko[1] > loo[1] + 0.2 and lko[1] > 1.3
    with pytest.raises(ValueError, match="kinds"):
        fit_rows(rows, kinds=kinds[:3])


def test_device_model_round_trips_the_new_fields():
    m = _device(warmup_fraction=0.2, concurrency_slowdown={"memory-bound": 1.7}, intervals={"all": (0.9, 1.3)})
    assert DeviceModel.from_dict(m.to_dict()) == m


def test_corrected_columns_from_the_store(tmp_path: Path):
    from hpbench.dispatch.corrections import corrected_columns
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    cols = {"predicted_s": 3.0, "regime": "overhead-bound"}
    for i in range(4):
        tid = f"t{i}"
        store.start(tid, {"lr": 0.1})
        store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 1.5})
        store.finish(tid)
        store.annotate(tid, {"regime": "overhead-bound", "predicted_spent_s": 1.0})
        run_band = {"corrected_s_p10": pytest.approx(4.5, rel=REL), "corrected_s_p90": pytest.approx(4.5, rel=REL)}  # ratios 1.5, no scatter
        assert corrected_columns(store, cols) == ({} if i < 1 else run_band if i < 3 else {"corrected_s": pytest.approx(3.0 * 1.5 ** 0.5, rel=REL),
                                                                     "correction": "corrected from 4 trials (overhead-bound)",
                                                                     # four ratios of 1.5: no scatter, the interval is 3.0 x 1.5
                                                                     "corrected_s_p10": pytest.approx(4.5, rel=REL),
                                                                     "corrected_s_p90": pytest.approx(4.5, rel=REL)})


def test_prediction_check_reports_coverage_correction_and_regimes():
    from hpbench.report import prediction
    from hpbench.report.data import ReportData

    n = 8
    trials = pd.DataFrame({"trial": range(n), "epochs": [3] * n, "train_s": [2.0] * n, "measured_s": [2.0] * n,
                           "predicted_spent_s": [1.0] * n, "predicted_spent_s_p10": [0.8, 1.5, 1.5, 1.5, 1.5, 1.5, 0.5, 0.5],
                           "predicted_spent_s_p90": [1.2, 2.5, 2.5, 2.5, 2.5, 2.5, 1.0, 1.0],
                           "regime": ["memory-bound"] * 4 + ["compute-bound"] * 4,
                           "started_at": [float(i) for i in range(n)], "ended_at": [i + 0.5 for i in range(n)]})
    d = ReportData(path=Path("."), name="t", metric="val_accuracy", mode="max", params=[], space={}, max_epochs=3,
                   trials=trials, repeats=trials.iloc[0:0], epochs=pd.DataFrame(), storage="")
    a = prediction.analyse(d)
    assert a["inside_interval"] == pytest.approx(5 / 8, rel=REL) and a["n_interval"] == 8
    assert a["median_ape"] == pytest.approx(0.5, rel=REL)
    # every trial 2x its prediction: trial k (4..7) corrected from the k ended before it, by 2^(k / (k + 4))
    want = float(np.median([1 - 2 ** (k / (k + 4) - 1) for k in range(4, 8)]))
    assert a["n_corrected"] == 4 and a["corrected_from"] == 4 and a["corrected_median_ape"] == pytest.approx(want, rel=REL)
    assert a["per_regime"]["memory-bound"] == {"n": 4, "median_ape": pytest.approx(0.5, rel=REL)}
    from io import StringIO

    from rich.console import Console

    con = Console(file=StringIO(), width=120)
    con.print(prediction.render(d))
    text = con.file.getvalue()
    assert "measured inside predicted P10-P90" in text and "62% of 8" in text and "corrected from >= 4 trials" in text
    # every ratio 2.0: no scatter, the run's interval (from 2 ended trials) is [2, 2] x the prediction: every trial inside
    assert a["inside_corrected"] == pytest.approx(1.0, rel=REL) and a["n_corrected_interval"] == 6
    assert "measured inside the run's P10-P90" in text and "100% of 6" in text


def test_trainer_fixed_costs_from_a_tiny_trial():
    from hpbench.cost.trainer_probe import fixed_costs

    per_epoch, first = fixed_costs([0.020, 0.0015, 0.0030, 0.0014, 0.0016], predicted_epoch_s=0.0010)
    assert per_epoch == pytest.approx(0.0004, rel=REL) and first == pytest.approx(0.020 - 0.0014, rel=REL)
    assert fixed_costs([0.001, 0.002, 0.002], predicted_epoch_s=0.005) == (0.0, 0.0)  # never negative
    with pytest.raises(ValueError, match="at least 2 epochs"):
        fixed_costs([0.01], predicted_epoch_s=0.0)


def test_trainer_probe_trains_in_a_fresh_process():
    from hpbench.cost.trainer_probe import N_EPOCHS, N_TRIALS, epoch_seconds

    runs = epoch_seconds(threads=1, device="cpu")
    assert len(runs) == N_TRIALS >= 2 and all(len(eps) == N_EPOCHS and all(e > 0 for e in eps) for eps in runs)


def test_the_first_epoch_extra_is_a_reused_workers():
    """The fresh process's first trial (first kernels, autograd threads: once per worker) is not
    what later trials in a reused worker pay: only the trials after it count."""
    from hpbench.cost.trainer_probe import reused_fixed_costs

    fresh = [0.050, 0.002, 0.002]
    reused = [[0.006, 0.002, 0.0021], [0.004, 0.0019, 0.002], [0.009, 0.0025, 0.002]]
    per_epoch, first = reused_fixed_costs([fresh, *reused], predicted_epoch_s=0.0015)
    assert per_epoch == pytest.approx(0.0004, rel=REL)  # the smallest steady epoch over the reused trials, less the prediction
    assert first == pytest.approx(0.004, rel=REL)  # median of 0.004, 0.0021, 0.007: the fresh trial's 0.048 is not charged
    assert reused_fixed_costs([fresh], predicted_epoch_s=0.0015)[1] == pytest.approx(0.048, rel=REL)  # nothing else measured


def test_predict_trial_adds_the_trainer_fixed_costs_and_the_slowdown():
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
    from hpbench.cost.annotate import predict_trial

    cfg = TrialConfig(seed=0, data=DataConfig(dataset="iris"), model=ModelConfig(family="mlp", params={"depth": 1, "width": 8}),
                      optimizer=OptimizerConfig(name="adam", lr=1e-3), train=TrainConfig(max_epochs=3, batch_size="full"),
                      metric="val_loss", mode="min", threads=1)
    base = _device()
    plain = predict_trial(cfg, device_model=base)
    dev = _device(warmup_fraction=0.5, first_epoch_s=0.01, trainer_epoch_s=0.002, concurrency_slowdown={plain["regime"]: 1.5},
                  intervals={"all": (0.8, 1.25)})
    one, two = predict_trial(cfg, device_model=dev), predict_trial(cfg, device_model=dev, max_concurrent=2)
    e = plain["predicted_epoch_s"]
    assert one["predicted_epoch_s"] == pytest.approx(e + 0.002, rel=REL)
    assert one["predicted_warmup_s"] == pytest.approx(0.01 + 0.5 * e, rel=REL)  # first_epoch_s: every trial's first epoch
    assert one["predicted_s"] == pytest.approx(3 * (e + 0.002) + 0.01 + 0.5 * e, rel=REL)
    assert two["predicted_s"] == pytest.approx(1.5 * one["predicted_s"], rel=REL) and two["concurrency_slowdown"] == 1.5
    assert (one["predicted_s_p10"], one["predicted_s_p90"]) == pytest.approx((0.8 * one["predicted_s"], 1.25 * one["predicted_s"]), rel=REL)
    assert plain["predicted_s_p10"] is None


def test_concurrency_slowdowns_are_median_together_over_median_alone():
    from hpbench.cost.concurrency import slowdowns

    alone = {"memory-bound": [1.0, 1.1, 0.9], "compute-bound": [2.0, 2.0, 2.2], "overhead-bound": [1.0]}
    together = [{"memory-bound": [1.3, 1.5], "compute-bound": [1.9, 2.0], "overhead-bound": [5.0]},
                {"memory-bound": [1.4, 1.2], "compute-bound": [2.1, 2.0]}]
    out = slowdowns(alone, together)
    assert out["memory-bound"] == pytest.approx(1.35, rel=REL)
    assert out["compute-bound"] == 1.0  # never below one: sharing cannot speed a trial up
    assert out["overhead-bound"] == 2.0  # at most two: more is other load
    assert slowdowns({"memory-bound": []}, together) == {}


def test_concurrency_is_measured_in_two_real_trial_processes():
    from hpbench.cost.concurrency import measure
    from hpbench.cost.suite import Probe

    tiny = Probe(kind="mlp", n_in=8, depth=1, width=8, batch_size=16, n_train=64, n_val=16)
    out = measure({"overhead-bound": tiny}, threads=1)
    assert set(out) == {"overhead-bound"} and 1.0 <= out["overhead-bound"] <= 2.0


def test_most_bound_picks_each_regimes_probe_by_its_share():
    from hpbench.cost.suite import QUICK, most_bound, probe_features

    dev = _device()
    probes = QUICK[:4]
    picked = most_bound(dev, dev.coef, probes=probes)
    assert set(picked) == {str(r) for r in Regime}
    share = {p: shares(probe_features(p, dev), dev.coef) for p in probes}
    for r, p in picked.items():
        assert all(share[p][Regime(r)] >= share[q][Regime(r)] for q in probes)


def test_seconds_outside_the_model_join_the_overhead_share():
    from hpbench.cost.regime import regime_with_overhead

    coef = {"matmul": 1.0, "memory": 1.0, "op": 1e-5}
    f = {"matmul": 0.3, "memory": 0.1, "op": 1000.0}  # compute 0.3 s, memory 0.1 s, overhead 0.01 s
    assert regime_with_overhead(f, coef, overhead_s=0.0) == Regime.COMPUTE
    assert regime_with_overhead(f, coef, overhead_s=0.28) == Regime.COMPUTE  # 0.29 s of overhead < 0.3 s
    assert regime_with_overhead(f, coef, overhead_s=0.3) == Regime.OVERHEAD
    assert regime_with_overhead({}, coef, overhead_s=0.0) == Regime.OVERHEAD


def test_predict_trial_prices_the_evaluation_passes_the_trainer_takes():
    """The trainer evaluates in passes sized by what a row of activations costs
    (hpbench.train.build.eval_rows: a transformer on 500-step sequences takes 64 rows, not 8,192);
    the cost model counts the validation in the passes the trainer takes, of equal rows, so that
    their FLOPs stay the validation rows' own."""
    import torch
    from test_models import cfg as trial

    from hpbench.cost.annotate import data_shape, epoch_steps, eval_chunk, eval_passes, predict_trial
    from hpbench.train.build import build, eval_rows, load_data

    seqs = trial(family="transformer", dataset="adding", options={"seq_len": 500, "n_samples": 420}, batch_size=64, preprocess=())
    n_val = data_shape(seqs)[1]
    assert n_val == 84
    cpu = torch.device("cpu")
    data = load_data(seqs, cpu)
    assert eval_chunk(seqs) == eval_rows(build(seqs, data.splits, cpu), data.splits, batch_size=64) == 64
    assert eval_passes(seqs) == (2, 42)
    full = epoch_steps(seqs)[2]
    evals = [op for op in full.ops if op.phase == "eval"]
    assert any(op.kind == "matmul" and 42 * 500 in op.shape for op in evals)  # one pass's embedding: 42 rows of 500 steps
    assert not any(op.kind == "matmul" and 84 * 500 in op.shape for op in full.ops)
    assert predict_trial(seqs, device_model=_device())["predicted_epoch_s"] > 0
    assert eval_chunk(trial(dataset="digits", model={"depth": 2, "width": 128}, batch_size=64)) == 8192
