"""2-D convolutions priced from their own micro-benchmarks (issue 13): each plain nn.Conv2d call
recorded whole with its shape (output positions, map side, channels, kernel, whether its input
needs a gradient) and its convolution_backward attributed to it, a layer priced at its shape's
rate from the device's grid (its ops skipped), the FLOP-curve pricing when the device has no
grid, and the grid kept by the device cache. No Ray; the one timing (a tiny grid) asserts only
what it returns, not how fast."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hpbench.cost.conv import MODES, TRAIN_FLOPS_FACTOR, conv_flops
from hpbench.cost.count import count_module_step, count_step
from hpbench.cost.device import DeviceModel
from hpbench.cost.predict import features

AXES = ((1024, 16384), (2, 8, 32), (1, 8, 64), (4, 16, 64), (3,))
N_SHAPES = math.prod(len(ax) for ax in AXES)
CNN = {"conv_depth": 2, "channels": 3, "kernel": 3, "pool": "max", "batch_norm": True, "activation": "relu", "width": 16,
       "dropout": 0.0, "global_pool": False}


def _device(rates: tuple[float, float, float] | None) -> DeviceModel:
    grid = tuple((r,) * N_SHAPES for r in rates) if rates else ()
    return DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(5e10, 5e10), peak_flops_per_s=5e10,
                       bandwidth_bytes_per_s=1e11, conv_flops=(1e3, 1e9), conv_flops_per_s=(1e10, 1e10), conv_backward_flops_per_s=(1e10, 1e10),
                       conv_grid=AXES if rates else (), conv_grid_flops_per_s=grid)


def _cnn_step() -> object:
    # digits-like 8x8 images: block 1 (1 -> 3 channels, 8x8), pool, block 2 (3 -> 6 channels, 4x4)
    return count_step(family="cnn", model_params=CNN, input_shape=(8, 8), n_outputs=10, task="multiclass", batch_size=5, eval_size=7)


def test_each_conv_call_is_recorded_with_its_shape_and_owns_its_backward() -> None:
    st = _cnn_step()
    calls = [(op.phase, op.shape, op.module) for op in st.ops if op.kind == "conv2d"]  # type: ignore[attr-defined]
    # (batch·H·W, side, C_in, C_out, kernel, input needs a gradient): the first layer reads the data (no gradient)
    assert calls == [("forward", (5 * 64, 8, 1, 3, 3, 0), "body.0"), ("forward", (5 * 16, 4, 3, 6, 3, 1), "body.4"),
                     ("eval", (7 * 64, 8, 1, 3, 3, 0), "body.0"), ("eval", (7 * 16, 4, 3, 6, 3, 0), "body.4")]
    conv_backward = [op.module for op in st.ops if op.phase == "backward" and op.name == "convolution_backward"]  # type: ignore[attr-defined]
    assert conv_backward == ["body.4", "body.0"]  # each layer's gradient is its own (the autograd node's sequence number)
    others = [op for op in st.ops if op.phase == "backward" and op.module in ("body.0", "body.4")]  # type: ignore[attr-defined]
    assert {op.name for op in others} == {"convolution_backward"}  # batch norm's and pooling's gradients stay theirs


def test_a_strided_or_grouped_conv_is_left_to_its_ops() -> None:
    for m in (nn.Conv2d(4, 8, 3, stride=2), nn.Conv2d(4, 8, 3, groups=2), nn.Conv2d(4, 8, (3, 1)), nn.Conv1d(4, 8, 3)):
        x = torch.zeros(2, 4, 9, 9) if isinstance(m, nn.Conv2d) else torch.zeros(2, 4, 9)
        assert not [op for op in count_module_step(m, x=x).ops if op.kind == "conv2d"]


def test_a_layer_is_priced_from_the_grid_and_its_own_ops_are_skipped() -> None:
    st = _cnn_step()
    plain, dev = _device(None), _device((2e9, 5e9, 4e9))
    ops = st.ops  # type: ignore[attr-defined]
    no_conv = [op for op in ops if op.module not in ("body.0", "body.4")]  # the model without its convolutions
    f_grid, f_plain, f_rest = features(ops, device=dev), features(ops, device=plain), features(no_conv, device=plain)
    # a first layer at its own rate; both are smaller than the grid's quickest shape (1024 positions, 1 -> 4
    # channels): each takes that shape's time in its mode (a kernel call's floor)
    floor = TRAIN_FLOPS_FACTOR * conv_flops(positions=1024, c_in=1, c_out=4, kernel=3)
    first, second = floor / 4e9, floor / 2e9
    assert f_grid["conv"] == pytest.approx(first + second, rel=1e-5)
    for k in ("matmul", "op", "op_backward", "view", "memory", "memory_strided", "module"):  # batch norm, pooling, the head: as before
        assert f_grid[k] == pytest.approx(f_rest[k], rel=1e-5)
    assert f_plain["op"] == pytest.approx(f_rest["op"] + 2, rel=1e-5)  # without a grid each layer's convolution op is counted
    assert f_plain["conv"] > 0 and f_rest["conv"] == 0.0
    ev = features(ops, device=dev, phases=("eval",))
    flops_eval = 2 * conv_flops(positions=1024, c_in=1, c_out=4, kernel=3)
    assert ev["conv"] == pytest.approx(flops_eval / 5e9, rel=1e-5)


def test_without_a_grid_a_conv_is_priced_by_its_ops_as_before() -> None:
    st = _cnn_step()
    ops = st.ops  # type: ignore[attr-defined]
    no_records = [op for op in ops if op.kind != "conv2d"]
    plain = _device(None)
    assert features(ops, device=plain) == pytest.approx(features(no_records, device=plain), rel=1e-5)
    old = DeviceModel.from_dict({k: v for k, v in plain.to_dict().items() if not k.startswith("conv_grid")})  # an older cache's model
    assert not old.prices_conv() and features(ops, device=old) == pytest.approx(features(no_records, device=old), rel=1e-5)


def test_the_rate_between_grid_shapes_follows_a_power_law_and_is_clamped() -> None:
    def law(p: float, s: float, i: float, o: float) -> float:
        return 1e8 * p ** 0.2 * s ** 0.5 * i ** 0.4 * o ** 0.7

    rates = tuple(law(p, s, i, o) for p in AXES[0] for s in AXES[1] for i in AXES[2] for o in AXES[3] for _ in AXES[4])
    dev = DeviceModel(device="cpu", name="t", threads=1, conv_grid=AXES, conv_grid_flops_per_s=(rates, rates, rates))
    assert dev.conv_shape_rate((4096.0, 4.0, 3.0, 12.0, 3.0), "train") == pytest.approx(law(4096.0, 4.0, 3.0, 12.0), rel=1e-5)
    assert dev.conv_shape_rate((1e6, 1.0, 256.0, 512.0, 5.0), "eval") == pytest.approx(law(16384.0, 2.0, 64.0, 64.0), rel=1e-5)


def test_below_the_grids_fewest_positions_a_call_takes_at_least_the_quickest_measured_calls_time() -> None:
    """A small batch's convolution is a kernel call's fixed cost (batch 2 took 0.76-0.98 of batch
    16's time here), where the rate held at the grid's edge priced it at positions / 1024 of that:
    below the fewest positions a call takes at least the quickest grid shape's time in its mode;
    a larger one keeps the edge's rate, and above the edge the rate is the grid's."""
    from hpbench.cost.conv import layer_seconds

    rate = 1e9
    dev = DeviceModel(device="cpu", name="t", threads=1, conv_grid=AXES, conv_grid_flops_per_s=((rate,) * N_SHAPES,) * 3)
    floor = TRAIN_FLOPS_FACTOR * conv_flops(positions=1024, c_in=1, c_out=4, kernel=3) / rate  # the grid's cheapest shape
    for positions in (12, 128):
        assert layer_seconds(shape=(positions, 2, 1, 4, 3, 1), train=True, rate=dev.conv_shape_rate) == pytest.approx(floor, rel=1e-5)
    work = TRAIN_FLOPS_FACTOR * conv_flops(positions=512, c_in=8, c_out=16, kernel=3) / rate  # above the floor: its work at the edge's rate
    assert work > floor
    assert layer_seconds(shape=(512, 8, 8, 16, 3, 1), train=True, rate=dev.conv_shape_rate) == pytest.approx(work, rel=1e-5)
    assert dev.conv_shape_rate((2048.0, 8.0, 1.0, 4.0, 3.0), "train") == pytest.approx(rate, rel=1e-5)
    assert layer_seconds(shape=(12, 2, 1, 4, 3, 0), train=False, rate=dev.conv_shape_rate) == pytest.approx(floor / TRAIN_FLOPS_FACTOR, rel=1e-5)


def test_the_conv_grid_survives_the_cache_and_a_broken_one_is_measured_again() -> None:
    from hpbench.cost.calibrate import _well_formed

    dev = _device((1e9, 2e9, 3e9))
    assert DeviceModel.from_dict(dev.to_dict()) == dev and _well_formed(dev) and dev.prices_conv()
    d = dev.to_dict()
    assert not _well_formed(DeviceModel.from_dict({**d, "conv_grid_flops_per_s": [[1e9] * N_SHAPES] * 2}))  # a mode missing
    assert not _well_formed(DeviceModel.from_dict({**d, "conv_grid_flops_per_s": [[1e9] * 3] * 3}))
    assert not _well_formed(DeviceModel.from_dict({**d, "conv_grid_flops_per_s": [[0.0] * N_SHAPES] * 3}))
    assert not _well_formed(DeviceModel.from_dict({**d, "conv_grid": [[1024], [2], [1], [4]]}))
    assert not _well_formed(DeviceModel.from_dict({**d, "conv_grid": []}))  # rates without their grid


def test_a_measured_grid_has_a_positive_rate_per_shape_and_mode() -> None:
    from hpbench.cost.conv import measure_conv_grid

    axes = ((64, 128), (4,), (1, 2), (3,), (3,))
    out, first = measure_conv_grid(device="cpu", axes=axes, min_s=1e-4)
    assert len(out) == len(MODES)
    for rates in out:
        assert len(rates) == 4 and all(r > 0 and math.isfinite(r) for r in rates)
    assert len(first) == 2 and all(s >= 0 and math.isfinite(s) for s in first)


def test_each_new_conv_shape_pays_its_first_call_once_in_the_first_epoch() -> None:
    from hpbench.config import DataConfig, ModelConfig, OptimizerConfig, TrainConfig, TrialConfig
    from hpbench.cost.annotate import predict_trial

    # digits: 1437 training rows at batch 1000 (a full and a last batch: two shapes per layer), one evaluation chunk
    cfg = TrialConfig(seed=0, data=DataConfig(dataset="digits", options={}), model=ModelConfig(family="cnn", params=CNN),
                      optimizer=OptimizerConfig(name="sgd", lr=1e-3), train=TrainConfig(max_epochs=2, batch_size=1000),
                      metric="val_loss", mode="min", threads=1)
    dev = _device((2e9, 5e9, 4e9))
    with_first = DeviceModel.from_dict({**dev.to_dict(), "conv_first_call_s": [0.01, 0.001]})
    base, first = predict_trial(cfg, device_model=dev), predict_trial(cfg, device_model=with_first)
    # 2 layers x (full, last) training shapes at 10 ms, 2 layers x 1 evaluation shape at 1 ms
    assert first["predicted_warmup_s"] - base["predicted_warmup_s"] == pytest.approx(4 * 0.01 + 2 * 0.001, rel=1e-5)
    assert first["predicted_epoch_s"] == pytest.approx(base["predicted_epoch_s"], rel=1e-5)  # the steady epochs pay none
