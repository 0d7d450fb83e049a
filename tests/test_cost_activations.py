"""An activation other than ReLU is priced at its ops' measured excess over ReLU's per element, at
the op's size (hpbench.cost.activations; device schema 12). No Ray."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from hpbench.cost import activations as A
from hpbench.cost.calibrate import _well_formed
from hpbench.cost.count import count_module_step
from hpbench.cost.device import DeviceModel
from hpbench.cost.fit import FIXED
from hpbench.cost.predict import features
from hpbench.models import ACTIVATIONS
from hpbench.models.layers import activation

REL = 1e-5
# seconds per element at A.SIZES: ReLU's ops flat, tanh 2 ns more forward, its backward as ReLU's
RATES = {"relu": (1e-10, 1e-10, 1e-10), "threshold_backward": (2e-10, 2e-10, 2e-10), "tanh": (3e-9, 2.1e-9, 2.1e-9),
         "tanh_backward": (2e-10, 2e-10, 2e-10), "gelu": (1e-9, 4e-10, 2e-10), "gelu_backward": (1e-9, 8e-10, 4e-10)}


def _device(rates: dict[str, tuple[float, ...]]) -> DeviceModel:
    return DeviceModel(device="cpu", name="test", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                       bandwidth_bytes_per_s=1e10, op_overhead_s=1e-6, activation_s_per_element=rates,
                       coef={"step": 1e-4, "op": 5e-6, "view": 1e-6, "matmul": 1.0, "memory": 1.0, "activation": 1.0})


def _mlp(act: nn.Module, batch: int = 128):
    model = nn.Sequential(nn.Linear(30, 256), act, nn.Linear(256, 10))
    return count_module_step(model, x=torch.zeros(batch, 30), y=torch.zeros(batch, dtype=torch.int64), loss_fn=nn.CrossEntropyLoss())


def test_the_excess_over_relu_at_the_ops_size():
    at = 32768
    assert A.excess_seconds(op="tanh", elements=at, per_element_s=RATES) == pytest.approx(at * 2e-9, rel=REL)
    assert A.excess_seconds(op="tanh_backward", elements=at, per_element_s=RATES) == 0.0  # as ReLU's
    # between two measured sizes: log-log interpolation of each rate; beyond the ends: held
    mid = math.sqrt(A.SIZES[0] * A.SIZES[1])
    assert A.excess_seconds(op="gelu", elements=mid, per_element_s=RATES) == pytest.approx(mid * (math.sqrt(1e-9 * 4e-10) - 1e-10), rel=REL)
    assert A.excess_seconds(op="gelu", elements=10 * A.SIZES[-1], per_element_s=RATES) == pytest.approx(10 * A.SIZES[-1] * 1e-10, rel=REL)
    # never below 0, and nothing for ReLU itself, another op, an op or baseline not measured
    assert A.excess_seconds(op="gelu", elements=at, per_element_s=RATES | {"relu": (1e-8,) * 3}) == 0.0
    for op, rates in (("relu", RATES), ("add", RATES), ("elu", RATES), ("tanh", {"tanh": RATES["tanh"]})):
        assert A.excess_seconds(op=op, elements=at, per_element_s=rates) == 0.0


def test_every_activation_hpbench_offers_is_priced_against_relu():
    for name in ACTIVATIONS:
        cost = _mlp(activation(name))
        own = {op.name for op in cost.ops if op.module == "1" and op.kind == "elementwise"}  # its forward
        assert own and own <= set(A.OPS), (name, sorted(own))
        backward = {op.name for op in cost.ops if op.phase == "backward" and op.name in A.OPS}
        assert len(backward) == 1, (name, sorted(backward))


def test_a_tanh_network_pays_its_excess_and_a_relu_network_nothing():
    dev = _device(RATES)
    tanh, relu = _mlp(nn.Tanh()), _mlp(nn.ReLU())
    assert features(relu.ops, device=dev)["activation"] == 0.0
    f = features(tanh.ops, device=dev)
    assert f["activation"] == pytest.approx(128 * 256 * 2e-9, rel=REL)  # the forward's excess; its backward costs ReLU's
    # every other term as the ReLU network's
    g = features(relu.ops, device=dev)
    assert {k: v for k, v in f.items() if k not in ("activation", "memory")} == pytest.approx(
        {k: v for k, v in g.items() if k not in ("activation", "memory")}, rel=REL)
    # a model measured without the rates (before schema 12, hypothetical): no excess
    assert features(tanh.ops, device=_device({}))["activation"] == 0.0
    assert FIXED["activation"] == 1.0  # the suite's networks use ReLU: the fit could not see the term


def test_the_device_model_keeps_the_rates_and_refuses_bad_ones():
    dev = _device(RATES)
    back = DeviceModel.from_dict(dev.to_dict())
    assert back.activation_s_per_element == RATES
    assert _well_formed(back)
    assert not _well_formed(dataclasses.replace(dev, activation_s_per_element={"tanh": (1e-9, 1e-9)}))  # one rate per size
    assert not _well_formed(dataclasses.replace(dev, activation_s_per_element={"tanh": (1e-9, -1.0, 1e-9)}))


def test_measure_gives_a_positive_rate_per_op_and_size():
    rates = A.measure(device="cpu", rounds=1)
    assert set(rates) == set(A.OPS)
    assert all(len(v) == len(A.SIZES) and all(math.isfinite(r) and r > 0 for r in v) for v in rates.values())
