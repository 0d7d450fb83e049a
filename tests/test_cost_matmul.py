"""The shape-aware matmul term (issue 13): each product's (M, K, N) recorded forward and backward,
the rate read from a grid of measured shapes by log-space interpolation, and the prediction
pricing a narrow product slower than a square one of the same FLOPs. No Ray; the one timing
(a tiny grid) asserts only what it returns, not how fast."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hpbench.cost.count import count_module_step
from hpbench.cost.device import DeviceModel, interp_grid
from hpbench.cost.ops import OpRecord, matmul_dims
from hpbench.cost.predict import op_kernel


def test_each_product_of_a_step_records_its_own_shape():
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 10))
    c = count_module_step(net, x=torch.zeros(32, 20), y=torch.zeros(32, dtype=torch.int64), loss_fn=nn.CrossEntropyLoss(),
                          eval_x=torch.zeros(50, 20))
    shapes = sorted((op.phase, op.shape) for op in c.ops if op.kind == "matmul")
    assert shapes == sorted([
        ("forward", (1, 32, 20, 16)), ("forward", (1, 32, 16, 10)),  # x W1^T, h W2^T
        ("backward", (1, 32, 10, 16)),  # the head's input gradient: dy W2
        ("backward", (1, 10, 32, 16)), ("backward", (1, 16, 32, 20)),  # weight gradients: dy^T h (K = the batch); no input gradient for x
        ("eval", (1, 50, 20, 16)), ("eval", (1, 50, 16, 10)),
    ])
    for op in c.ops:
        if op.kind == "matmul":
            _, m, k, n = op.shape
            assert op.flops == 2 * m * k * n  # the shape is the one FlopCounterMode counted


def test_matmul_dims_of_batched_and_other_ops():
    a, b = torch.zeros(3, 4, 5, device="meta"), torch.zeros(3, 5, 6, device="meta")
    assert matmul_dims("bmm", (a, b)) == (3, 4, 5, 6)
    assert matmul_dims("baddbmm", (torch.zeros(3, 4, 6), a, b)) == (3, 4, 5, 6)
    assert matmul_dims("add", (a, a)) == ()
    assert matmul_dims("mm", (a,)) == ()  # malformed: no shape rather than a wrong one


def test_grid_interpolation_is_exact_for_a_power_law_and_clamped_beyond():
    axes = ((1.0, 4.0, 16.0), (2.0, 8.0), (1.0, 2.0, 4.0, 8.0))

    def law(m: float, k: float, n: float) -> float:
        return 1e9 * m ** 0.5 * k ** 0.25 * n ** -0.3

    values = tuple(law(m, k, n) for m in axes[0] for k in axes[1] for n in axes[2])  # N fastest
    for point in ((1.0, 2.0, 1.0), (16.0, 8.0, 8.0), (3.0, 5.0, 6.0), (10.0, 2.5, 1.5)):
        assert interp_grid(axes, values, point) == pytest.approx(law(*point), rel=1e-5)
    assert interp_grid(axes, values, (64.0, 100.0, 0.5)) == pytest.approx(law(16.0, 8.0, 1.0), rel=1e-5)  # each dimension held at its edge
    assert interp_grid(((5.0,),), (3e9,), (100.0,)) == pytest.approx(3e9, rel=1e-5)  # a one-point axis
    with pytest.raises(ValueError, match="a value per grid point"):
        interp_grid(axes, values[:-1], (1.0, 2.0, 1.0))


def _grid_device(**kw: object) -> DeviceModel:
    # One measured landscape: products with N < 16 run at a fifth of the rate (a vector's width)
    axes = ((1, 1024), (1, 1024), (1, 8, 16, 1024))
    rates = tuple((1e10 if n < 16 else 5e10) for _m in axes[0] for _k in axes[1] for n in axes[2])
    return DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(5e10, 5e10),
                       peak_flops_per_s=5e10, bandwidth_bytes_per_s=1e15, matmul_grid=axes, matmul_grid_flops_per_s=rates, **kw)  # type: ignore[arg-type]


def test_a_narrow_head_is_priced_at_its_shapes_rate_not_the_square_curves():
    dev = _grid_device()
    head = OpRecord(name="addmm", kind="matmul", phase="forward", flops=2.0 * 1024 * 256 * 8, bytes=0.0, shape=(1, 1024, 256, 8))
    wide = OpRecord(name="addmm", kind="matmul", phase="forward", flops=2.0 * 1024 * 256 * 16, bytes=0.0, shape=(1, 1024, 256, 16))
    assert op_kernel(head, device=dev) == ("matmul", pytest.approx(head.flops / 1e10, rel=1e-5))
    assert op_kernel(wide, device=dev) == ("matmul", pytest.approx(wide.flops / 5e10, rel=1e-5))
    # no recorded shape (a custom op), or no grid (an older model): the square-matmul curve at its FLOPs
    custom = OpRecord(name="lib::mm", kind="matmul", phase="forward", flops=head.flops, bytes=0.0)
    assert op_kernel(custom, device=dev)[1] == pytest.approx(head.flops / 5e10, rel=1e-5)
    plain = DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(5e10, 5e10), peak_flops_per_s=5e10,
                        bandwidth_bytes_per_s=1e15)
    assert op_kernel(head, device=plain)[1] == pytest.approx(head.flops / 5e10, rel=1e-5)


def test_the_grid_survives_the_cache_and_a_broken_grid_is_measured_again():
    from hpbench.cost.calibrate import _well_formed

    dev = _grid_device()
    assert DeviceModel.from_dict(dev.to_dict()) == dev and _well_formed(dev)
    assert not _well_formed(DeviceModel.from_dict({**dev.to_dict(), "matmul_grid_flops_per_s": [1e9] * 3}))
    assert not _well_formed(DeviceModel.from_dict({**dev.to_dict(), "matmul_grid_flops_per_s": [0.0] * 16}))


def test_measured_grid_has_a_positive_rate_per_shape():
    from hpbench.cost.microbench import measure_matmul_grid

    axes = ((1, 8), (4,), (2, 16))
    rates = measure_matmul_grid(device="cpu", axes=axes, min_s=1e-4)
    assert len(rates) == 4 and all(r > 0 and math.isfinite(r) for r in rates)
