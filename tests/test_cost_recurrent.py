"""Recurrent layers priced from their own micro-benchmarks (issue 13): each nn.RNN/GRU/LSTM call
recorded whole with its shape and its backward ops attributed to it, a layer priced at its
shape's rate from the cell's grid (its ops skipped), the older op-by-op pricing when the device
has no grid, and the grid kept by the device cache. No Ray; the one timing (a tiny grid)
asserts only what it returns, not how fast."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hpbench.cost.count import count_module_step, count_step
from hpbench.cost.device import DeviceModel
from hpbench.cost.predict import features
from hpbench.cost.recurrent import TRAIN_FLOPS_FACTOR, layer_flops, layer_shapes

AXES = ((4, 16), (1, 16, 128), (1, 16, 128), (8, 32, 128))
N_SHAPES = math.prod(len(ax) for ax in AXES)


def _params(**kw: object) -> dict[str, object]:
    return {"hidden_size": 16, "layers": 1, "bidirectional": False, "dropout": 0.0, **kw}


@pytest.mark.parametrize("family, cell", [("rnn", "RNN"), ("gru", "GRU"), ("lstm", "LSTM")])
def test_each_recurrent_call_is_recorded_with_its_shape_and_its_backward_ops(family: str, cell: str) -> None:
    st = count_step(family=family, model_params=_params(hidden_size=12, layers=2, bidirectional=True), input_shape=(20, 3),
                    n_outputs=4, task="multiclass", batch_size=8, eval_size=50)
    calls = [(op.name, op.phase, op.shape, op.module) for op in st.ops if op.kind == "recurrent"]
    # (seq, batch, input, hidden, layers, directions): batch_first (batch, time, features) read as such
    assert calls == [(f"recurrent:{cell}", "forward", (20, 8, 3, 12, 2, 2), "rnn"), (f"recurrent:{cell}", "eval", (20, 50, 3, 12, 2, 2), "rnn")]
    backward = [op for op in st.ops if op.phase == "backward" and op.kind not in ("free", "fill")]
    mine = [op for op in backward if op.module == "rnn"]
    # the recurrence's gradient ops are its own (by the autograd node's sequence number); the head's are not
    assert len(mine) > 20 * 2 * 2 and len(backward) - len(mine) >= 2
    assert all(op.module == "" for op in backward if op.kind == "matmul" and op.shape[1:] in ((1, 8, 4), (1, 4, 24)))


def test_a_time_major_and_an_unbatched_call_read_their_own_layout() -> None:
    rnn = nn.GRU(5, 7, num_layers=1)  # (time, batch, features)
    c = count_module_step(rnn, x=torch.zeros(11, 3, 5))
    assert [op.shape for op in c.ops if op.kind == "recurrent"] == [(11, 3, 5, 7, 1, 1)]
    c = count_module_step(nn.LSTM(5, 7, batch_first=True), x=torch.zeros(11, 5))
    assert [op.shape for op in c.ops if op.kind == "recurrent"] == [(11, 1, 5, 7, 1, 1)]


def test_stacked_bidirectional_layers_read_hidden_times_directions() -> None:
    assert layer_shapes(n_in=3, hidden=12, layers=2, dirs=2) == [(3, 12), (3, 12), (24, 12), (24, 12)]
    assert layer_flops(cell="LSTM", seq_len=10, batch=2, n_in=3, hidden=4) == 4 * (2 * 3 * 4 + 2 * 4 * 4) * 10 * 2


def _device(rates: dict[str, tuple[float, float]] | None) -> DeviceModel:
    grid = {cell: ((tr,) * N_SHAPES, (ev,) * N_SHAPES) for cell, (tr, ev) in (rates or {}).items()}
    return DeviceModel(device="cpu", name="t", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(5e10, 5e10), peak_flops_per_s=5e10,
                       bandwidth_bytes_per_s=1e11, recurrent_grid=AXES if rates else (), recurrent_flops_per_s=grid)


@pytest.mark.parametrize("family, cell", [("gru", "GRU"), ("lstm", "LSTM")])
def test_a_layer_is_priced_from_its_cells_grid_and_its_own_ops_are_skipped(family: str, cell: str) -> None:
    st = count_step(family=family, model_params=_params(hidden_size=12, layers=2), input_shape=(20, 3), n_outputs=4, task="multiclass",
                    batch_size=8, eval_size=50)
    plain = _device(None)
    dev = _device({cell: (2e9, 5e9)})
    head_only = [op for op in st.ops if op.module != "rnn"]  # the model without its recurrent layer
    f_grid, f_plain, f_head = (features(st.ops, device=dev), features(st.ops, device=plain), features(head_only, device=plain))
    layer_train = sum(TRAIN_FLOPS_FACTOR * layer_flops(cell=cell, seq_len=20, batch=8, n_in=k, hidden=h)
                      for k, h in layer_shapes(n_in=3, hidden=12, layers=2, dirs=1)) / 2e9
    assert f_grid["matmul"] == pytest.approx(f_head["matmul"], rel=1e-5) and f_plain["recurrent"] == 0.0
    assert f_grid["recurrent"] == pytest.approx(layer_train, rel=1e-5)
    for k in ("op", "op_backward", "view", "memory", "memory_strided"):  # the layer's hundreds of ops are in its measurement
        assert f_grid[k] == pytest.approx(f_head[k], rel=1e-5)
    assert f_plain["op"] > f_grid["op"]  # op by op: GRU's per-timestep ops, or the fused LSTM's one launch per call
    ev = features(st.ops, device=dev, phases=("eval",))
    ev_head = features(head_only, device=plain, phases=("eval",))
    layer_eval = sum(layer_flops(cell=cell, seq_len=20, batch=50, n_in=k, hidden=h) for k, h in layer_shapes(n_in=3, hidden=12, layers=2, dirs=1))
    assert ev["matmul"] == pytest.approx(ev_head["matmul"], rel=1e-5) and ev["recurrent"] == pytest.approx(layer_eval / 5e9, rel=1e-5)


@pytest.mark.parametrize("family, cell", [("rnn", "RNN"), ("gru", "GRU"), ("lstm", "LSTM")])
def test_a_layer_its_device_prices_whole_is_counted_whole_at_the_same_price(family: str, cell: str) -> None:
    """Counted whole (a stand-in of the same outputs, its ops unrecorded, its gate products'
    FLOPs): the same features for a device with the cell's grid, every weight's optimizer update,
    the layers around it as before, FLOPs within the decomposed count's element-wise share."""
    kw = dict(family=family, model_params=_params(hidden_size=12, layers=2, bidirectional=True), input_shape=(20, 3), n_outputs=4,
              task="multiclass", batch_size=8, eval_size=50)
    ops_by_op, whole = count_step(**kw), count_step(**kw, whole_recurrent=(cell,))  # type: ignore[arg-type]
    dev = _device({cell: (2e9, 5e9)})
    for phases in (("forward", "backward", "optimizer"), ("eval",)):
        assert features(whole.ops, device=dev, phases=phases) == pytest.approx(features(ops_by_op.ops, device=dev, phases=phases), rel=1e-5)
    assert not [op for op in whole.ops if op.module == "rnn" and op.kind not in ("recurrent", "recurrent_grad", "module", "fused")]
    assert [op.name for op in whole.ops if op.phase == "optimizer"] == [op.name for op in ops_by_op.ops if op.phase == "optimizer"]
    assert [op for op in whole.ops if op.module != "rnn"] == [op for op in ops_by_op.ops if op.module != "rnn"]  # the head, the loss
    forward = sum(layer_flops(cell=cell, seq_len=20, batch=8, n_in=k, hidden=12) for k, _ in layer_shapes(n_in=3, hidden=12, layers=2, dirs=2))
    assert whole.forward_flops == pytest.approx(forward + sum(op.flops for op in whole.ops if op.phase == "forward" and op.module != "rnn"), rel=1e-9)
    assert whole.backward_flops > 2 * forward
    assert whole.total_flops == pytest.approx(ops_by_op.total_flops, rel=0.1) and whole.flops("eval") == pytest.approx(ops_by_op.flops("eval"), rel=0.1)
    assert not whole.uncounted


def test_a_time_major_an_unbatched_and_a_packed_call_counted_whole() -> None:
    gru = nn.GRU(5, 7, num_layers=2, bidirectional=True)  # (time, batch, features)
    c = count_module_step(gru, x=torch.zeros(11, 3, 5), whole_recurrent=("GRU",))
    assert [op.shape for op in c.ops if op.kind == "recurrent"] == [(11, 3, 5, 7, 2, 2)]
    c = count_module_step(nn.LSTM(5, 7, batch_first=True), x=torch.zeros(11, 5), whole_recurrent=("LSTM",))
    assert [op.shape for op in c.ops if op.kind == "recurrent"] == [(11, 1, 5, 7, 1, 1)] and c.forward_flops > 0
    lstm = nn.LSTM(5, 7, batch_first=True)
    out, (h, cell) = lstm(torch.zeros(2, 11, 5))
    c = count_module_step(lstm, x=torch.zeros(2, 11, 5), loss_fn=lambda o, _y: o.sum(), whole_recurrent=("LSTM",))
    assert [op.shape for op in c.ops if op.kind == "recurrent"] == [(11, 2, 5, 7, 1, 1)] and out.shape == (2, 11, 7) and h.shape == cell.shape == (1, 2, 7)


def test_without_a_grid_for_its_cell_a_layer_is_priced_by_its_ops_as_before() -> None:
    st = count_step(family="gru", model_params=_params(), input_shape=(15, 2), n_outputs=3, task="multiclass", batch_size=4)
    no_records = [op for op in st.ops if op.kind != "recurrent"]
    for dev in (_device(None), _device({"LSTM": (2e9, 5e9)})):  # no grid at all; a grid without GRU
        assert features(st.ops, device=dev) == pytest.approx(features(no_records, device=dev), rel=1e-5)
        assert features(st.ops, device=dev)["op"] > 15  # the per-timestep ops priced one by one


def test_the_rate_between_grid_shapes_follows_a_power_law_and_is_clamped() -> None:
    def law(s: float, b: float, i: float, h: float) -> float:
        return 1e8 * s ** 0.3 * b ** 0.6 * i ** 0.1 * h ** 0.8

    rates = tuple(law(s, b, i, h) for s in AXES[0] for b in AXES[1] for i in AXES[2] for h in AXES[3])
    dev = DeviceModel(device="cpu", name="t", threads=1, recurrent_grid=AXES, recurrent_flops_per_s={"RNN": (rates, rates)})
    assert dev.recurrent_rate("RNN", (8.0, 4.0, 5.0, 20.0), True) == pytest.approx(law(8.0, 4.0, 5.0, 20.0), rel=1e-5)
    assert dev.recurrent_rate("RNN", (60.0, 1000.0, 3.0, 512.0), False) == pytest.approx(law(16.0, 128.0, 3.0, 128.0), rel=1e-5)


def test_the_recurrent_grid_survives_the_cache_and_a_broken_one_is_measured_again() -> None:
    from hpbench.cost.calibrate import _well_formed

    dev = _device({"RNN": (1e9, 2e9), "LSTM": (3e9, 4e9)})
    assert DeviceModel.from_dict(dev.to_dict()) == dev and _well_formed(dev)
    d = dev.to_dict()
    assert not _well_formed(DeviceModel.from_dict({**d, "recurrent_flops_per_s": {"RNN": [[1e9] * 3, [1e9] * N_SHAPES]}}))
    assert not _well_formed(DeviceModel.from_dict({**d, "recurrent_flops_per_s": {"RNN": [[0.0] * N_SHAPES, [1e9] * N_SHAPES]}}))
    assert not _well_formed(DeviceModel.from_dict({**d, "recurrent_grid": [[4, 16], [1]]}))
    assert not _well_formed(DeviceModel.from_dict({**d, "recurrent_grid": []}))  # rates without their grid


def test_a_measured_grid_has_a_positive_rate_per_shape_and_cell() -> None:
    from hpbench.cost.recurrent import measure_recurrent_grid

    axes = ((2, 3), (1, 2), (1,), (4,))
    out = measure_recurrent_grid(device="cpu", axes=axes, min_s=1e-4)
    assert sorted(out) == ["GRU", "LSTM", "RNN"]
    for train, ev in out.values():
        assert len(train) == len(ev) == 4 and all(r > 0 and math.isfinite(r) for r in train + ev)


def test_beyond_the_grids_longest_sequence_and_largest_batch_a_call_grows_by_the_marginal_step_and_sample() -> None:
    """A call's seconds are a fixed part plus parts per step and per sample: past the grid's edge
    the prediction follows the edge's marginal costs, where holding the edge's rate charged the
    fixed part again for every 16 steps (LSTMs of 32-128 steps +48% to +143%, session 13)."""
    from hpbench.cost.recurrent import call_seconds

    def seconds(s: float, b: float) -> float:  # fixed 1 ms, 0.1 ms a step, 0.01 ms a sample, 0.002 ms a step and sample
        return 1e-3 + 1e-4 * s + 1e-5 * b + 2e-6 * s * b

    def rate(cell: str, shape: tuple[float, float, float, float], train: bool) -> float:
        s, b, i, h = shape
        return TRAIN_FLOPS_FACTOR * layer_flops(cell=cell, seq_len=int(s), batch=int(b), n_in=int(i), hidden=int(h)) / seconds(s, b)

    kw = dict(cell="LSTM", train=True, rate=rate)
    grid = dict(axes=((4, 16), (1, 16, 128)))
    assert call_seconds(shape=(10, 64, 3, 20), **kw, **grid) == pytest.approx(seconds(10, 64), rel=1e-5)  # inside: the rate there
    for s, b in ((46, 64), (10, 300), (128, 1000)):
        assert call_seconds(shape=(s, b, 3, 20), **kw, **grid) == pytest.approx(seconds(s, b), rel=1e-5)

    def edge_rate(cell: str, shape: tuple[float, float, float, float], train: bool) -> float:  # a grid's rate clamps at its edge
        s, b, i, h = shape
        return rate(cell, (min(s, 16.0), min(b, 128.0), i, h), train)

    f46 = TRAIN_FLOPS_FACTOR * layer_flops(cell="LSTM", seq_len=46, batch=64, n_in=3, hidden=20)
    # without the grid's axes, the edge's rate held
    assert call_seconds(shape=(46, 64, 3, 20), cell="LSTM", train=True, rate=edge_rate) == pytest.approx(f46 / edge_rate("LSTM", (46, 64, 3, 20), True), rel=1e-5)
    assert call_seconds(shape=(46, 64, 3, 20), cell="LSTM", train=True, rate=edge_rate, **grid) == pytest.approx(seconds(46, 64), rel=1e-5)
    assert f46 / edge_rate("LSTM", (46, 64, 3, 20), True) > 1.2 * seconds(46, 64)  # the held rate over-prices by the repeated fixed part

    def noisy(cell: str, shape: tuple[float, float, float, float], train: bool) -> float:  # 4 steps measured slower than 16: no slope
        return edge_rate(cell, shape, train) * (0.1 if shape[0] == 4 else 1.0)

    assert call_seconds(shape=(46, 64, 3, 20), cell="LSTM", train=True, rate=noisy, **grid) == pytest.approx(
        f46 / noisy("LSTM", (46, 64, 3, 20), True), rel=1e-5)


def test_past_the_grids_widest_layer_a_call_grows_by_its_further_flops_at_the_edges_marginal_rate() -> None:
    """A GRU of 310 units at batch 1 was priced at the 128-unit edge's rate (+160% to +195%): that
    rate holds the per-step overhead that the wider layer's work dwarfs."""
    from hpbench.cost.recurrent import call_seconds

    def flops(s: float, b: float, i: float, h: float) -> float:
        return TRAIN_FLOPS_FACTOR * layer_flops(cell="GRU", seq_len=int(s), batch=int(b), n_in=int(i), hidden=int(h))

    def seconds(s: float, b: float, i: float, h: float) -> float:  # 0.3 ms a step of overhead, 1 GFLOP/s of work
        return 3e-4 * s + flops(s, b, i, h) / 1e9

    def rate(cell: str, shape: tuple[float, float, float, float], train: bool) -> float:  # the grid's: clamped at its edges
        s, b, i, h = min(shape[0], 16.0), min(shape[1], 128.0), min(shape[2], 128.0), min(shape[3], 128.0)
        return flops(s, b, i, h) / seconds(s, b, i, h)

    axes = ((4, 16), (1, 16, 128), (1, 16, 128), (8, 32, 128))
    for shape in ((16, 1, 3, 310), (16, 4, 300, 64), (46, 1, 3, 310)):
        got = call_seconds(cell="GRU", shape=shape, train=True, rate=rate, axes=axes)
        assert got == pytest.approx(seconds(*shape), rel=1e-5)
    held = call_seconds(cell="GRU", shape=(16, 1, 3, 310), train=True, rate=rate)
    assert held > 1.3 * seconds(16, 1, 3, 310)


def test_an_lstm_workspace_cliff_is_found_where_the_per_sample_cost_steps_up() -> None:
    from hpbench.cost.recurrent import find_cliff, workspace_bytes

    batches = (128, 256, 512, 1024, 2048)
    per_sample = (3.0e-5, 2.9e-5, 3.0e-5, 6.5e-5, 6.6e-5)  # the step between 512 and 1024
    lo, hi, per_byte = find_cliff(batches, tuple(p * b for p, b in zip(per_sample, batches, strict=True)), seq_len=24, hidden=64)
    assert (lo, hi) == (workspace_bytes(cell="LSTM", seq_len=24, batch=512, hidden=64), workspace_bytes(cell="LSTM", seq_len=24, batch=1024, hidden=64))
    assert per_byte == pytest.approx(3.5e-5 / workspace_bytes(cell="LSTM", seq_len=24, batch=1, hidden=64), rel=1e-9)
    flat = tuple(3e-5 * b for b in batches)  # no step: no cliff
    assert find_cliff(batches, flat, seq_len=24, hidden=64) == ()


def test_a_call_past_the_cliff_pays_its_workspace_and_the_grid_is_taken_below_it() -> None:
    import itertools

    from hpbench.cost.device import interp_grid
    from hpbench.cost.recurrent import below_cliff, call_seconds, cliff_seconds, workspace_bytes

    cliff = (1e6, 4e6, 1e-9)
    ws = {b: workspace_bytes(cell="LSTM", seq_len=16, batch=b, hidden=32) for b in (64, 256)}  # 16 x b x 4 x 32 floats: 0.5 and 2.1 MB
    assert ws[64] == 524288 and ws[256] == 2097152
    assert cliff_seconds(cell="LSTM", shape=(16, 64, 8, 32), train=True, cliff=cliff) == 0.0  # below: none
    big = (64, 2048, 8, 32)  # 16.8 MB: past it, every byte
    assert cliff_seconds(cell="LSTM", shape=big, train=True, cliff=cliff) == pytest.approx(workspace_bytes(cell="LSTM", seq_len=64, batch=2048, hidden=32) * 1e-9)
    half = cliff_seconds(cell="LSTM", shape=(16, 256, 8, 32), train=True, cliff=cliff)  # 2.1 MB: about halfway in log
    assert half == pytest.approx(ws[256] * 1e-9 * math.log(ws[256] / 1e6) / math.log(4), rel=1e-9)
    assert cliff_seconds(cell="GRU", shape=big, train=True, cliff=cliff) == 0.0 and cliff_seconds(cell="LSTM", shape=big, train=False, cliff=cliff) == 0.0
    # a grid whose training shape past the cliff was measured slow: taken below the cliff, then priced back to what it measured
    axes = ((16,), (64, 2048), (8,), (32,))
    measured_s = {(16, 64, 8, 32): 1e-3, (16, 2048, 8, 32): 0.2}
    flops = {p: 3 * layer_flops(cell="LSTM", seq_len=p[0], batch=p[1], n_in=p[2], hidden=p[3]) for p in measured_s}
    rates = {"LSTM": (tuple(flops[p] / measured_s[p] for p in itertools.product(*axes)), (1e9, 1e9))}
    base = below_cliff(rates, axes=axes, cliff=cliff)

    def rate(cell: str, shape: tuple[float, float, float, float], train: bool) -> float:
        return interp_grid(axes, base[cell][0 if train else 1], shape)

    for p, s in measured_s.items():
        assert call_seconds(cell="LSTM", shape=p, train=True, rate=rate, axes=axes, cliff=cliff) == pytest.approx(s, rel=1e-9)
    assert base["LSTM"][0][0] == rates["LSTM"][0][0] and base["LSTM"][0][1] > rates["LSTM"][0][1]  # only the shape past it moves
