"""Random numbers drawn in a step (dropout's mask) are priced per element at the device's measured
rate of their generator, not as a memory fill (hpbench.cost.rng; schema 12, count rules 3). No Ray."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from hpbench.cost import rng
from hpbench.cost.calibrate import _well_formed
from hpbench.cost.count import count_module_step
from hpbench.cost.device import DeviceModel
from hpbench.cost.fit import FIXED
from hpbench.cost.ops import COUNT_RULES, classify
from hpbench.cost.predict import features, predict_epoch, seconds
from hpbench.cost.regime import Regime, regime_of

REL = 1e-5
BERNOULLI_S = 5e-9  # seconds per element: this session's CPU drew bernoulli_ at 5.5 ns


def _mlp(dropout: float) -> nn.Module:
    layers: list[nn.Module] = [nn.Linear(30, 256), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(256, 10))


def _step(dropout: float, batch: int = 128):
    return count_module_step(_mlp(dropout), x=torch.zeros(batch, 30), y=torch.zeros(batch, dtype=torch.int64),
                             loss_fn=nn.CrossEntropyLoss(), eval_x=torch.zeros(batch, 30))


def _device(**rates: float) -> DeviceModel:
    return DeviceModel(device="cpu", name="test", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                       bandwidth_bytes_per_s=1e10, op_overhead_s=1e-6, random_s_per_element=dict(rates),
                       coef={"step": 1e-4, "op": 5e-6, "view": 1e-6, "matmul": 1.0, "memory": 1.0, "random": 1.0})


def test_a_dropout_layer_draws_one_mask_per_training_step_and_none_in_evaluation():
    cost = _step(0.2)
    drawn = [op for op in cost.ops if op.kind == "random"]
    assert [(op.name, op.phase, op.shape) for op in drawn] == [("bernoulli_", "forward", (128 * 256,))]
    assert drawn[0].flops == 128 * 256  # one draw per element
    assert not [op for op in _step(0.0).ops if op.kind == "random"]


def test_the_mask_is_priced_at_the_measured_rate_per_element():
    with_, without = _step(0.2), _step(0.0)
    dev = _device(bernoulli=BERNOULLI_S)
    f = features(with_.ops, device=dev)
    assert f["random"] == pytest.approx(128 * 256 * BERNOULLI_S, rel=REL)
    assert features(without.ops, device=dev)["random"] == 0.0
    # the epoch's price grows by the masks it draws (plus the dropout's element-wise ops and their dispatch)
    ep = [predict_epoch(full=c, last=None, n_steps=100, device=dev, eval_cost=c).epoch_s for c in (with_, without)]
    assert ep[0] - ep[1] > 100 * 128 * 256 * BERNOULLI_S
    # the same model priced without a measured rate (a hypothetical device): the draw costs nothing extra
    bare = features(with_.ops, device=_device())
    assert bare["random"] == 0.0
    assert seconds(f, dev.coef) - seconds(bare, dev.coef) == pytest.approx(128 * 256 * BERNOULLI_S, rel=REL)


def test_each_drawing_op_is_priced_by_its_generator_family():
    rates = {"bernoulli": 5e-9, "uniform": 2e-9, "normal": 3e-9}
    assert rng.seconds(op="bernoulli_", elements=1000, per_element_s=rates) == pytest.approx(5e-6, rel=REL)
    assert rng.seconds(op="randn", elements=1000, per_element_s=rates) == pytest.approx(3e-6, rel=REL)
    assert rng.seconds(op="rand_like", elements=1000, per_element_s=rates) == pytest.approx(2e-6, rel=REL)
    assert rng.seconds(op="add", elements=1000, per_element_s=rates) == 0.0
    assert rng.seconds(op="normal_", elements=1000, per_element_s={}) == 0.0
    assert set(rng.OPS.values()) == set(rng.FAMILIES)
    # classify: a draw is its own kind, a fill stays a fill
    x = torch.empty(4, 5)
    assert classify("normal_", (x,), {}, x, matmul_flops=0) == ("random", 20.0)
    assert classify("zeros_like", (x,), {}, x, matmul_flops=0) == ("fill", 0.0)


def test_a_step_bound_by_its_draws_is_compute_bound_and_the_fit_holds_the_term_at_one():
    assert FIXED["random"] == 1.0  # the suite's probes draw nothing: the fit could not see the term
    assert regime_of({"random": 1.0, "memory": 0.1, "op": 0.1}, {"random": 1.0, "memory": 1.0, "op": 1.0}) is Regime.COMPUTE
    assert COUNT_RULES >= 3  # prices counted when a draw was a fill are made again (hpbench.cost.history.ModelTag)


def test_the_device_model_keeps_its_rates_and_refuses_bad_ones():
    dev = _device(bernoulli=BERNOULLI_S, uniform=2e-9, normal=3e-9)
    back = DeviceModel.from_dict(dev.to_dict())
    assert back.random_s_per_element == dev.random_s_per_element
    assert _well_formed(back)
    assert not _well_formed(dataclasses.replace(dev, random_s_per_element={"bernoulli": -1.0}))
    assert not _well_formed(dataclasses.replace(dev, random_s_per_element={"bernoulli": math.nan}))
    # a model written before schema 12 has no rates: it loads, and its draws cost nothing extra
    old = {k: v for k, v in dev.to_dict().items() if k != "random_s_per_element"}
    assert DeviceModel.from_dict(old).random_s_per_element == {}


def test_measure_gives_a_positive_rate_per_family():
    rates = rng.measure(device="cpu", rounds=1)
    assert set(rates) == set(rng.FAMILIES)
    assert all(math.isfinite(r) and r > 0 for r in rates.values())


class _Stacked(nn.Module):
    def __init__(self, layers: int, dropout: float):
        super().__init__()
        self.r = nn.GRU(6, 64, num_layers=layers, dropout=dropout, batch_first=True)
        self.h = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.h(self.r(x)[0][:, -1])


@pytest.mark.parametrize("whole", [(), ("GRU",)])
def test_a_stacked_recurrent_layers_dropout_draws_a_mask_per_inner_layer_counted_whole_or_not(whole):
    def drawn(layers: int, dropout: float) -> list[tuple[str, tuple[int, ...], str]]:
        cost = count_module_step(_Stacked(layers, dropout), x=torch.zeros(32, 16, 6), y=torch.zeros(32, dtype=torch.int64),
                                 loss_fn=nn.CrossEntropyLoss(), eval_x=torch.zeros(32, 16, 6), whole_recurrent=whole)
        return [(op.phase, op.shape, op.module) for op in cost.ops if op.kind == "random"]

    assert drawn(3, 0.2) == [("forward", (16 * 32 * 64,), "r")] * 2  # layers 1 and 2's outputs (seq x batch x hidden), not the last's
    assert drawn(1, 0.0) == [] and drawn(3, 0.0) == []
    # kept by the time model when the grid prices the layer itself
    cost = count_module_step(_Stacked(2, 0.2), x=torch.zeros(32, 16, 6), y=torch.zeros(32, dtype=torch.int64), loss_fn=nn.CrossEntropyLoss(),
                             whole_recurrent=whole)
    assert features(cost.ops, device=_device(bernoulli=BERNOULLI_S))["random"] == pytest.approx(16 * 32 * 64 * BERNOULLI_S, rel=REL)
