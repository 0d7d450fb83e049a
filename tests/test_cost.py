"""Cost model: FLOP counts against closed forms, time model, budget and cost ranking (no Ray)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from hpbench.cost import formulas as F
from hpbench.cost.count import count_module_step
from hpbench.cost.device import DeviceModel
from hpbench.cost.estimate import asha_epoch_fraction
from hpbench.cost.predict import features, op_kernel, predict_epoch, seconds


def _matmul(cost, phase):
    return sum(op.flops for op in cost.ops if op.phase == phase and op.kind == "matmul")


def test_linear_forward_and_backward_closed_form():
    x = torch.zeros(8, 32, requires_grad=True)
    c = count_module_step(nn.Linear(32, 16), x=x)
    assert _matmul(c, "forward") == F.linear_forward(n_in=32, n_out=16, n_samples=8) == 2 * 32 * 16 * 8
    assert _matmul(c, "backward") == F.linear_backward(n_in=32, n_out=16, n_samples=8) == 2 * _matmul(c, "forward")
    # no input gradient when the input does not require it
    c = count_module_step(nn.Linear(32, 16), x=torch.zeros(8, 32))
    assert _matmul(c, "backward") == F.linear_backward(n_in=32, n_out=16, n_samples=8, input_grad=False)
    assert c.flop_counter_flops == _matmul(c, "forward") + _matmul(c, "backward")


def test_conv2d_closed_form():
    c = count_module_step(nn.Conv2d(3, 8, 3, padding=1), x=torch.zeros(2, 3, 10, 10))
    assert _matmul(c, "forward") == F.conv2d_forward(c_in=3, c_out=8, kernel=(3, 3), out_hw=(10, 10), n_samples=2)


@pytest.mark.parametrize(("cls", "gates"), [(nn.RNN, 1), (nn.GRU, 3), (nn.LSTM, 4)])
def test_recurrent_gate_matmuls_per_timestep(cls, gates):
    n_in, h, t, b = 8, 16, 5, 4
    c = count_module_step(cls(n_in, h, batch_first=True), x=torch.zeros(b, t, n_in))
    assert _matmul(c, "forward") == F.recurrent_forward(gates=gates, n_in=n_in, hidden=h, seq_len=t, n_samples=b)
    assert c.forward_flops > _matmul(c, "forward")  # gate element-wise ops are counted too
    # FlopCounterMode on a real CPU tensor may count 0 (fused oneDNN kernel); the meta count does not
    assert c.flop_counter_flops > 0


def test_transformer_against_6n_per_token():
    d, ff, t, b = 128, 512, 16, 4
    layer = nn.TransformerEncoderLayer(d, 4, ff, dropout=0.0, batch_first=True)
    c = count_module_step(layer, x=torch.zeros(b, t, d, requires_grad=True))
    n = sum(p.numel() for p in layer.parameters())
    kaplan = F.transformer_train_per_token(n_params=n) * b * t
    counted = c.forward_flops + c.backward_flops
    assert abs(counted - kaplan) / kaplan < 0.25  # attention scores and element-wise ops add a little


def test_optimizer_update_counts_elementwise():
    c = count_module_step(nn.Linear(100, 100), x=torch.zeros(4, 100), optimizer="adam")
    n = 100 * 100 + 100
    assert 5 * n <= c.optimizer_flops <= 2 * F.ADAM_PER_PARAMETER * n


def test_count_needs_no_real_tensors():
    big = nn.Linear(4096, 4096)
    c = count_module_step(big, x=torch.zeros(1024, 4096))
    assert c.n_params == 4096 * 4097
    assert next(iter(big.parameters())).device.type == "cpu"  # the model passed in is untouched


def _device(**kw):
    base = dict(device="cpu", name="test", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                bandwidth_bytes_per_s=1e10, op_overhead_s=1e-6, coef={"step": 1e-4, "op": 5e-6, "view": 1e-6, "compute": 1.0, "conv": 1.0, "memory": 1.0})
    return DeviceModel(**{**base, **kw})


def test_textbook_example_on_hypothetical_device():
    # 1 TFLOP per iteration, 100 iterations: 10 s at 10 TFLOP/s, 5 s at 20 TFLOP/s
    for rate, expect in ((10e12, 10.0), (20e12, 5.0)):
        dev = DeviceModel.hypothetical_device(flops_per_s=rate)
        assert F.naive_seconds(flops=1e12 * 100, flops_per_s=dev.peak_flops_per_s) == pytest.approx(expect)
    from hpbench.cost.ops import OpRecord, StepCost

    step = StepCost(batch_size=1, n_params=1, flop_counter_flops=int(1e12),
                    ops=(OpRecord(name="mm", kind="matmul", phase="forward", flops=1e12, bytes=0.0),))
    for rate, expect in ((10e12, 10.0), (20e12, 5.0)):
        ep = predict_epoch(full=step, last=None, n_steps=100, device=DeviceModel.hypothetical_device(flops_per_s=rate), n_eval_chunks=0)
        assert ep.epoch_s == pytest.approx(expect)
    with pytest.raises(ValueError, match="got -1"):
        DeviceModel.hypothetical_device(flops_per_s=-1)


def test_small_steps_are_overhead_bound():
    dev = _device()
    small = count_module_step(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), x=torch.zeros(16, 64))
    f = features(small.ops, device=dev)
    t = seconds(f, dev.coef)
    assert t > 10 * small.total_flops / dev.peak_flops_per_s  # far above FLOPs / peak
    assert dev.matmul_rate(1e3) < dev.matmul_rate(1e6) < dev.matmul_rate(1e9) == dev.matmul_rate(1e12)


def test_device_model_roundtrip():
    dev = _device(attention_grid=((8, 64), (16,), (4, 16)), attention_grid_s=((1e-9,) * 4, (2e-9,) * 4))
    assert DeviceModel.from_dict(dev.to_dict()) == dev
    # a model written under an older schema (its attention fit's coefficients, a field no longer kept) still reads
    old = {**dev.to_dict(), "schema": 12, "attention_coef": [1e-6, 0.0, 1e-9, 2e-6, 0.0, 2e-9]}
    assert DeviceModel.from_dict(old) == dev


def test_asha_fraction():  # the wall time's replay (hpbench.cost.simulate) is tested in test_walltime.py
    assert asha_epoch_fraction(max_epochs=27, grace_period=1, reduction_factor=3) == pytest.approx((1 + 2 / 3 + 6 / 9 + 18 / 27) / 27)
    assert asha_epoch_fraction(max_epochs=1, grace_period=1, reduction_factor=3) == 1.0


def test_spent_columns():
    from hpbench.cost.annotate import spent

    cols = {"flops_per_epoch": 1e9, "predicted_epoch_s": 2.0}
    out = spent(cols, epochs_run=3, measured_s=5.0)
    assert out["flops_spent"] == 3e9 and out["predicted_spent_s"] == 6.0
    assert out["prediction_error"] == pytest.approx(0.2)
    assert spent({}, epochs_run=3, measured_s=5.0)["flops_spent"] is None


def test_pareto_and_budget():
    from hpbench.report.cost import best_under_budget, metric_per_cost, pareto_front, prediction_error

    df = pd.DataFrame({"trial": [0, 1, 2, 3], "acc": [0.5, 0.9, 0.7, 0.95], "predicted_flops": [1.0, 10.0, 20.0, 100.0],
                       "prediction_error": [0.1, -0.2, 0.05, None]})
    front = pareto_front(df, metric="acc", mode="max")
    assert list(front["trial"]) == [0, 1, 3]
    assert best_under_budget(df, metric="acc", mode="max", budget=50)["trial"] == 1
    assert best_under_budget(df, metric="acc", mode="max", budget=0.5) is None
    assert metric_per_cost(df, metric="acc")[0] == pytest.approx(0.5)
    e = prediction_error(df)
    assert e["n"] == 3 and e["median_abs"] == pytest.approx(0.1)
    assert not math.isnan(e["p90_abs"])


def test_budget_stopper():
    from hpbench.dispatch.budget import Budget

    b = Budget(flops=100.0)
    assert not b.exhausted()
    b.charge(flops=60.0, seconds=1.0)
    assert not b.exhausted()
    b.charge(flops=60.0, seconds=1.0)
    assert b.exhausted()
    with pytest.raises(ValueError, match="got 0"):
        Budget(flops=0)


# -- the per-op roofline time model (pure formulas; no timing assertions) ---------------------------

def test_interp_loglog():
    from hpbench.cost.device import interp_loglog

    xs, ys = (1e3, 1e6), (1e8, 1e11)
    assert interp_loglog(xs, ys, 1e3) == pytest.approx(1e8)
    assert interp_loglog(xs, ys, math.sqrt(1e3 * 1e6)) == pytest.approx(math.sqrt(1e8 * 1e11))  # geometric midpoint
    assert interp_loglog(xs, ys, 1e9) == 1e11  # flat beyond the last point
    assert interp_loglog(xs, ys, 1e2) == pytest.approx(1e7)  # below the first: time flat (rate ∝ size)
    with pytest.raises(ValueError, match="at least one point"):
        interp_loglog((), (), 1.0)


def test_matmul_roofline_and_attention_from_its_grid():
    from hpbench.cost.predict import matmul_seconds

    assert matmul_seconds(flops=1e9, nbytes=1e3, flops_per_s=1e11, bytes_per_s=1e10) == pytest.approx(1e-2)  # arithmetic bound
    assert matmul_seconds(flops=1e3, nbytes=1e9, flops_per_s=1e11, bytes_per_s=1e10) == pytest.approx(1e-1)  # memory bound
    # seconds per score over (blocks, T, head dim): 1 ns forward and 3 ns backward at 8 blocks, 2 / 6 ns at 64
    grid = ((8, 64), (16,), (4, 16))
    dev = _device(attention_grid=grid, attention_grid_s=((1e-9, 1e-9, 2e-9, 2e-9), (3e-9, 3e-9, 6e-9, 6e-9)))
    assert dev.attention_seconds(bh=8, t_q=16, t_k=16, d=8) == pytest.approx(8 * 16 * 16 * 1e-9)
    assert dev.attention_seconds(bh=64, t_q=16, t_k=16, d=8, backward=True) == pytest.approx(64 * 16 * 16 * 6e-9)
    # between two measured block counts the per-score cost moves geometrically (16 blocks: a third of the way from 8 to 64
    # in log), at the geometric mean of the two lengths
    assert dev.attention_seconds(bh=16, t_q=32, t_k=8, d=4) == pytest.approx(16 * 32 * 8 * 2 ** (1 / 3) * 1e-9, rel=1e-5)
    # a larger head dim than the grid's in proportion
    assert dev.attention_seconds(bh=64, t_q=16, t_k=16, d=64) == pytest.approx(4 * dev.attention_seconds(bh=64, t_q=16, t_k=16, d=16))
    # past the largest length or block count: the edge's seconds plus the further scores (blocks) at the marginal
    # seconds from the value before the edge: a launch-bound kernel's fixed cost is not charged again per score
    two = _device(attention_grid=((8, 64), (16, 64), (16,)), attention_grid_s=((4e-9, 1e-9, 2e-9, 1e-9), (4e-9, 1e-9, 2e-9, 1e-9)))
    at_16, at_64 = 8 * 16 * 16 * 4e-9, 8 * 64 * 64 * 1e-9  # 8 blocks: 8.2 us at T 16, 32.8 us at T 64
    marginal = (at_64 - at_16) / (64 * 64 - 16 * 16)
    assert two.attention_seconds(bh=8, t_q=128, t_k=128, d=16) == pytest.approx(at_64 + (128 * 128 - 64 * 64) * marginal, rel=1e-9)
    assert two.attention_seconds(bh=8, t_q=128, t_k=128, d=16) < 8 * 128 * 128 * 1e-9  # less than the edge's per-score cost held
    edge, before_edge = 64 * 64 * 64 * 1e-9, 8 * 64 * 64 * 1e-9
    assert two.attention_seconds(bh=128, t_q=64, t_k=64, d=16) == pytest.approx(edge + 64 * (edge - before_edge) / 56, rel=1e-9)
    assert _device().attention_seconds(bh=4, t_q=8, t_k=8, d=16) > 0  # unmeasured: matmul roofline of its FLOPs


def test_conv_rate_falls_back_to_matmul_curve():
    dev = _device()
    assert dev.conv_rate(1e6) == dev.matmul_rate(1e6)
    dev = _device(conv_flops=(1e6, 1e9), conv_flops_per_s=(1e9, 1e10), conv_backward_flops_per_s=(5e8, 5e9))
    assert dev.conv_rate(1e9) == 1e10 and dev.conv_rate(1e9, backward=True) == 5e9


def test_fit_coef_recovers_coefficients_and_holds_fixed_ones():
    from hpbench.cost.suite import fit_coef

    true = {"step": 1e-4, "op": 3e-6, "matmul": 1.0, "memory": 2.0}
    rows = []
    for i in range(1, 9):
        f = {"step": float(10 * i), "op": float(100 * i * i), "matmul": 1e-3 * (9 - i), "memory": 1e-4 * (i % 3 + 1)}
        rows.append((f, sum(true[k] * f[k] for k in true)))
    coef, err = fit_coef(rows, fixed={"matmul": 1.0})
    assert coef["matmul"] == 1.0 and err < 1e-6
    for k in ("step", "op", "memory"):
        assert coef[k] == pytest.approx(true[k], rel=1e-4)


def test_steady_state_optimizer_step_is_recorded():
    c = count_module_step(nn.Linear(10, 10), x=torch.zeros(4, 10), optimizer="rmsprop", reuse_optimizer=False)
    step = [op.name for op in c.ops if op.phase == "optimizer"]
    # the state is created once, by the first update, which runs unrecorded (no consumer read it)
    assert "zeros_like" not in step and not any(op.phase == "optimizer_init" for op in c.ops)
    assert "addcdiv_" in step and c.optimizer_flops > 0  # RMSprop has no fused kernel: its ops one by one


@pytest.mark.parametrize("optimizer", ["adam", "amsgrad", "adamw", "sgd", "momentum", "adagrad"])
def test_an_update_torch_fuses_is_counted_as_its_one_kernel(optimizer, monkeypatch):
    """The trainer runs these on torch's fused kernel (hpbench.train.optimizers): one launch, the
    op-by-op update's FLOPs, and each parameter, gradient and state tensor moved once (read, and
    written back for parameters and states): Adam's 40 weights + 4 biases = 44 floats, with 2
    moments (AMSGrad 3), SGD's momentum and Adagrad's sum 1, plain SGD none."""
    c = count_module_step(nn.Linear(10, 4), x=torch.zeros(4, 10), optimizer=optimizer, reuse_optimizer=False)
    update = [op for op in c.ops if op.phase == "optimizer" and not op.name.startswith("profiler::")]
    kernel = {"adam": "adam", "amsgrad": "adam", "adamw": "adamw", "sgd": "sgd", "momentum": "sgd", "adagrad": "adagrad"}[optimizer]
    assert [op.name for op in update] == [f"_fused_{kernel}_"]
    states = {"adam": 2, "amsgrad": 3, "adamw": 2, "sgd": 0, "momentum": 1, "adagrad": 1}[optimizer]
    assert update[0].bytes == 4 * 44 * (2 + 1 + 2 * states)
    import hpbench.train.optimizers as optimizers

    monkeypatch.setattr(optimizers, "has_fused_kernel", lambda opt: False)  # the same update, recorded op by op
    by_op = count_module_step(nn.Linear(10, 4), x=torch.zeros(4, 10), optimizer=optimizer, reuse_optimizer=False)
    assert len([op for op in by_op.ops if op.phase == "optimizer"]) > 3
    assert update[0].flops == pytest.approx(by_op.optimizer_flops, rel=1e-9) and update[0].flops > 0


def test_module_calls_and_recurrent_fusion():
    class Net(nn.Module):
        def __init__(self, cell):
            super().__init__()
            self.rnn, self.head = cell(3, 8, batch_first=True), nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.rnn(x)[0][:, -1])

    lstm = count_module_step(Net(nn.LSTM), x=torch.zeros(2, 5, 3))
    gru = count_module_step(Net(nn.GRU), x=torch.zeros(2, 5, 3))
    assert sum(op.kind == "module" for op in lstm.ops if op.phase == "forward") == 3  # Net, rnn, head
    # on CPU an LSTM trains as one oneDNN kernel per layer; a GRU runs its per-timestep ops one by one
    assert any(op.fused for op in lstm.ops) and not any(op.fused for op in gru.ops)
    dev = _device()
    assert features(gru.ops, device=dev)["op"] > features(lstm.ops, device=dev)["op"]


def test_attention_is_one_fused_op_and_flops_are_unchanged():
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    c = count_module_step(layer, x=torch.zeros(2, 6, 32, requires_grad=True))
    att = [op for op in c.ops if op.kind == "attention"]
    assert [op.name for op in att] == ["sdpa", "sdpa_backward"] and att[0].shape == (2 * 4, 6, 6, 8)
    assert all(op.flops == 0 for op in att)  # its FLOPs stay with the math-path ops it replaces
    assert any(op.kind == "replaced" for op in c.ops)
    assert _matmul(c, "forward") > 0


def test_attention_trained_with_dropout_is_priced_on_the_path_the_device_runs():
    """A CPU runs attention with dropout as its math path (its fused kernel takes no dropout); a GPU fuses it."""
    x = torch.zeros(4, 6, 32, requires_grad=True)
    with_dropout = count_module_step(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True), x=x)
    fused = [op for op in with_dropout.ops if op.kind == "attention"]
    math_path = [op for op in with_dropout.ops if op.attention_path == "math"]
    assert [op.name for op in fused] == ["sdpa", "sdpa_backward"] and all(op.attention_path == "fused" for op in fused)
    assert {"bmm", "bernoulli_"} <= {op.name for op in math_path}  # the scores' products and the attention's dropout mask
    assert not any(op.kind == "replaced" for op in with_dropout.ops)
    assert {op.kind for op in math_path if op.name == "bmm"} == {"matmul"}
    rates = {"random_s_per_element": {"bernoulli": 1e-9, "uniform": 1e-9, "normal": 2e-9}}
    cpu, gpu = _device(**rates), _device(device="cuda:0", **rates)
    assert not cpu.fuses_attention_dropout and gpu.fuses_attention_dropout
    on_cpu, on_gpu = features(with_dropout.ops, device=cpu), features(with_dropout.ops, device=gpu)
    math_matmul = sum(op_kernel(op, device=cpu)[1] for op in math_path if op.kind == "matmul")
    fused_s = sum(op_kernel(op, device=gpu)[1] for op in fused)
    assert math_matmul > 0 and fused_s > 0
    assert on_cpu["random"] > on_gpu["random"]  # the attention's mask is drawn inside the GPU's kernel
    # the CPU prices every op but the fused kernels: the math path's backward products too
    no_fused = [op for op in with_dropout.ops if op.kind != "attention"]
    assert on_cpu == pytest.approx(features(no_fused, device=cpu), rel=1e-5)
    backward_bmm = [op for op in no_fused if op.phase == "backward" and op.name == "bmm"]
    assert backward_bmm and on_cpu["matmul"] > features([op for op in no_fused if op not in backward_bmm], device=cpu)["matmul"]
    # a GPU prices the fused kernels and none of the math path, forward or backward
    no_math = [op for op in with_dropout.ops if op.attention_path != "math" and op not in backward_bmm]
    assert on_gpu["matmul"] == pytest.approx(features(no_math, device=gpu)["matmul"], rel=1e-5)
    assert on_gpu["matmul"] < on_cpu["matmul"] + fused_s and math_matmul > 0
    # evaluation (no dropout) and a layer without dropout keep the one fused kernel on every device
    no_dropout = count_module_step(nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True), x=x)
    assert not any(op.attention_path for op in no_dropout.ops)
    assert not any(op.attention_path for op in with_dropout.ops if op.phase == "eval")


def test_attention_asked_for_its_weights_is_priced_as_its_math_path():
    """nn.MultiheadAttention called as a user calls it (need_weights defaults to True) returns the
    attention weights, so it runs its math path on every device (bmm, softmax), not the fused kernel."""

    class SelfAttention(nn.Module):
        def __init__(self, need_weights: bool | None) -> None:
            super().__init__()
            self.attn, self.need_weights = nn.MultiheadAttention(32, 4, batch_first=True), need_weights

        def forward(self, x):
            kw = {} if self.need_weights is None else {"need_weights": self.need_weights}
            return self.attn(x, x, x, **kw)[0]

    x = torch.zeros(4, 6, 32, requires_grad=True)
    weights = count_module_step(SelfAttention(None), x=x)
    assert not any(op.kind in ("attention", "replaced") for op in weights.ops)
    assert {"bmm", "_softmax"} <= {op.name for op in weights.ops if op.phase == "forward"}
    assert any(op.name == "bmm" for op in weights.ops if op.phase == "backward")
    fused = count_module_step(SelfAttention(False), x=x)
    assert [op.name for op in fused.ops if op.kind == "attention"] == ["sdpa", "sdpa_backward"]
    dev = _device()
    assert features(weights.ops, device=dev)["matmul"] != features(fused.ops, device=dev)["matmul"]


def test_epoch_features_sum_steps_eval_and_epoch():
    from hpbench.cost.predict import epoch_features

    dev = _device()
    step = count_module_step(nn.Linear(8, 4), x=torch.zeros(4, 8), eval_x=torch.zeros(16, 8))
    one = features(step.ops, device=dev)
    ev = features(step.ops, device=dev, phases=("eval",))
    f = epoch_features(full=step, last=None, n_steps=5, device=dev, eval_cost=step, n_eval_chunks=1)
    assert f["epoch"] == 1.0 and f["step"] == 5.0 and ev["step"] == 0.0
    assert f["op"] == pytest.approx(5 * one["op"] + ev["op"])
    assert f["op_nograd"] == pytest.approx(5 * one["op_nograd"] + ev["op_nograd"])
    with pytest.raises(ValueError, match="got 0"):
        epoch_features(full=step, last=None, n_steps=0, device=dev)


def test_bandwidth_follows_measured_copy_curve_clamped_at_both_ends():
    from hpbench.cost.device import interp_clamped

    assert interp_clamped((1e6, 1e8), (1e11, 1e10), 1e3) == 1e11  # below the smallest copy: the in-cache rate
    assert interp_clamped((1e6, 1e8), (1e11, 1e10), 1e9) == 1e10  # beyond the largest: DRAM
    assert interp_clamped((1e6, 1e8), (1e11, 1e10), 1e7) == pytest.approx(math.sqrt(1e11 * 1e10))
    with pytest.raises(ValueError, match="at least one point"):
        interp_clamped((), (), 1.0)
    assert _device().bandwidth(1e3) == _device().bandwidth_bytes_per_s  # no curve: the large-copy bandwidth
    dev = _device(bandwidth_bytes=(1e6, 1e8), bandwidth_curve=(1e11, 1e10))
    assert dev.bandwidth(1e4) == 1e11 and dev.bandwidth(1e9) == 1e10
    assert DeviceModel.from_dict(dev.to_dict()) == dev  # the curve survives the cache


def test_optimizer_element_wise_ops_get_their_own_memory_feature():
    c = count_module_step(nn.Linear(64, 64), x=torch.zeros(8, 64), optimizer="adam")
    f = features(c.ops, device=_device())
    assert f["memory_optimizer"] > 0 and f["memory"] > 0
    opt_only = features([op for op in c.ops if op.phase == "optimizer"], device=_device())
    assert opt_only["memory"] == 0 and opt_only["memory_optimizer"] == pytest.approx(f["memory_optimizer"])


def test_calibration_times_the_trainers_epoch(monkeypatch):
    """The suite's timed epoch is hpbench.train.epoch.train_epoch (precision included), not a copy."""
    import torch

    from hpbench.cost import suite
    from hpbench.train import epoch

    calls = []

    def spy(*args, **kw):
        calls.append(kw["precision"].precision)
        return epoch.train_epoch(*args, **kw)

    monkeypatch.setattr(suite, "train_epoch", spy)
    p = suite.Probe(kind="mlp", n_in=8, depth=1, width=8, batch_size=16, n_train=64, n_val=16)
    assert suite.measure_probe(p, device="cpu") > 0
    assert calls and set(calls) == {"fp32"}
    model, shape = suite.build_probe(p)
    x, y = torch.randn(64, *shape), torch.randint(0, 10, (64,))
    suite.time_epochs(model, x=x, y=y, x_val=x[:8], y_val=y[:8], batch_size=16, optimizer="adam", device="cpu", n_epochs=1, precision="bf16")
    assert calls[-1] == "bf16"


def test_calibrate_replaces_fields_of_the_measured_base(monkeypatch):
    """calibrate() measures with the micro-benchmarks and fills coef/versions on the same model."""
    from hpbench.cost import calibrate as C
    from hpbench.cost import microbench as mb

    monkeypatch.setattr(mb, "measure_overhead", lambda *, device, repeats: 1e-6)
    monkeypatch.setattr(mb, "measure_matmul", lambda *, device, sizes, overhead_s, repeats: ((1.0, 8.0), (1e9, 2e9)))
    monkeypatch.setattr(mb, "measure_conv", lambda *, device, overhead_s: ((1.0,), (1e9,), (1e9,)))
    monkeypatch.setattr(mb, "MATMUL_GRID_CPU", ((1, 4), (2,), (8,)))
    monkeypatch.setattr(mb, "measure_matmul_grid", lambda *, device, axes, overhead_s, rounds: (1e9, 3e9))
    monkeypatch.setattr(mb, "measure_bandwidth", lambda *, device, repeats: 1e10)
    # the recurrent and convolution grids measured for real, at one small shape each (their whole
    # grids took ~11 s of this test; tests/test_cost_recurrent.py and test_cost_conv.py check them)
    monkeypatch.setattr(C.rnn, "RECURRENT_GRID_CPU", ((4,), (2,), (8,), (8,)))
    monkeypatch.setattr(C.conv, "CONV_GRID_CPU", ((64,), (4,), (2,), (2,), (3,)))
    monkeypatch.setattr(C.rnn, "measure_workspace_cliff", lambda *, device: (1e6, 2e6, 1e-9))
    monkeypatch.setattr(mb, "measure_bandwidth_curve", lambda *, device, overhead_s, repeats: ((1.0,), (1e10,)))
    shapes = math.prod(len(ax) for ax in mb.ATTENTION_GRID_CPU)
    monkeypatch.setattr(mb, "attention_grid_seconds", lambda *, device, axes, overhead_s: ((1e-9,) * shapes, (2e-9,) * shapes))
    fitted = C.suite.SuiteFit(coef={"op": 1e-6}, fit_error=0.1, warmup_fraction=0.3, intervals={"all": (0.9, 1.2)})
    monkeypatch.setattr(C.suite, "fit", lambda base, *, device, quick: fitted)
    monkeypatch.setattr(C.suite, "most_bound", lambda base, coef, *, probes: {"memory-bound": probes[0]})
    monkeypatch.setattr(C.concurrency, "measure", lambda probes, *, threads, device: {r: 1.5 for r in probes})
    monkeypatch.setattr(C.trainer_probe, "measure", lambda base, *, threads, device: (0.002, 0.015))
    m = C.calibrate(device="cpu", threads=1)
    # first_epoch_s above its ceiling of 10,000 dispatch floors (1e-6 s here) is held there, the measured value recorded
    assert m.trainer_epoch_s == 0.002 and m.first_epoch_s == pytest.approx(0.01, rel=1e-9) and m.bounded == {"first_epoch_s": 0.015}
    # the grid's rates held at 1.1x the largest square product's (2e9): 3e9 is a small shape's overhead artefact
    assert m.matmul_grid == ((1, 4), (2,), (8,)) and m.matmul_grid_flops_per_s == pytest.approx((1e9, 2.2e9), rel=1e-12)
    assert m.peak_flops_per_s == 2e9 and m.coef == {"op": 1e-6} and m.fit_error == 0.1 and m.versions == C.identity("cpu")
    assert m.warmup_fraction == 0.3 and m.intervals == {"all": (0.9, 1.2)} and m.concurrency_slowdown == {"memory-bound": 1.5}
    assert m.recurrent_grid == ((4,), (2,), (8,), (8,)) and all(len(r) == 1 and r[0] > 0 for rates in m.recurrent_flops_per_s.values() for r in rates)
    assert m.conv_grid == ((64,), (4,), (2,), (2,), (3,)) and all(len(r) == 1 and r[0] > 0 for r in m.conv_grid_flops_per_s)
    assert m.recurrent_cliff == (1e6, 2e6, 1e-9)
    assert m.attention_grid == mb.ATTENTION_GRID_CPU and m.attention_grid_s == ((1e-9,) * shapes, (2e-9,) * shapes)
    assert DeviceModel.from_dict(m.to_dict()) == m


def _fake_calibration(monkeypatch):
    from hpbench.cost import calibrate as C

    model = DeviceModel(device="cpu", name="fake", threads=1, matmul_flops=(1.0,), matmul_flops_per_s=(1e9,), peak_flops_per_s=1e9,
                        versions=C.identity("cpu"))
    calls = []
    monkeypatch.setattr(C, "calibrate", lambda **kw: calls.append(kw) or model)
    monkeypatch.setenv(C.WORKER_THREAD_ENV, "1")  # as a trial's worker: calibrated in this process
    return C, model, calls


def test_calibration_runs_in_a_trial_workers_thread_environment(monkeypatch, tmp_path):
    """Ray starts trial workers with OMP_NUM_THREADS = their CPUs: a process without it is
    calibrated in a child that has it, one with it in place."""
    from hpbench.cost import calibrate as C

    monkeypatch.delenv(C.WORKER_THREAD_ENV, raising=False)
    env = C.worker_env(2)
    assert env is not None and env[C.WORKER_THREAD_ENV] == "2"
    monkeypatch.setenv(C.WORKER_THREAD_ENV, "2")
    assert C.worker_env(2) is None and C.worker_env(1) is not None
    model = DeviceModel(device="cpu", name="fake", threads=1, versions=C.identity("cpu"))
    seen = []
    monkeypatch.setattr(C, "calibrate_as_worker", lambda **kw: seen.append(("child", kw["threads"])) or model)
    monkeypatch.setattr(C, "calibrate", lambda **kw: seen.append(("here", kw["threads"])) or model)
    C.device_model(device="cpu", threads=1, cache_dir=tmp_path)
    C.device_model(device="cpu", threads=2, cache_dir=tmp_path)
    assert seen == [("child", 1), ("here", 2)]


def test_device_cache_honours_xdg_cache_home(monkeypatch, tmp_path):
    C, _model, _ = _fake_calibration(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert C.default_cache_dir() == tmp_path / "xdg" / "hpbench" / "devices"
    C.device_model(device="cpu", threads=1)
    assert C.cache_file(tmp_path / "xdg" / "hpbench" / "devices", "cpu", 1).is_file()
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert C.default_cache_dir() == Path(os.path.expanduser("~/.cache/hpbench/devices"))


def test_device_cache_write_is_atomic_and_leaves_other_writers_alone(monkeypatch, tmp_path):
    """`estimate` and the prediction helper may write the cache at once: each through its own
    temporary file (the fixed '<name>.tmp' of another writer is neither truncated nor renamed
    away), so the cache always holds one whole model."""
    C, model, _ = _fake_calibration(monkeypatch)
    path = C.cache_file(tmp_path, "cpu", 1)
    tmp_path.mkdir(exist_ok=True)
    other = path.with_suffix(".tmp")
    other.write_text("another writer, half way")
    assert C.device_model(device="cpu", threads=1, cache_dir=tmp_path) == model
    assert other.read_text() == "another writer, half way"
    assert DeviceModel.from_dict(json.loads(path.read_text())) == model
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize("content", ["[1, 2, 3]", '"text"', "{", '{"device": "cpu"}', "null",
                                     '{"device": "cpu", "name": "x", "threads": 1, "peak_flops_per_s": "fast"}',
                                     '{"device": "cpu", "name": "x", "threads": 1, "matmul_flops": [1, 2], "matmul_flops_per_s": [1]}'])
def test_a_bad_device_cache_is_measured_again_not_trusted(monkeypatch, tmp_path, content):
    C, model, calls = _fake_calibration(monkeypatch)
    path = C.cache_file(tmp_path, "cpu", 1)
    raw = json.loads(content) if content not in ("{",) else None
    if isinstance(raw, dict) and len(raw) > 1:  # same host identity: only the malformed values make it bad
        raw["versions"] = C.identity("cpu")
        content = json.dumps(raw)
    path.write_text(content)
    assert C.device_model(device="cpu", threads=1, cache_dir=tmp_path) == model
    assert len(calls) == 1
