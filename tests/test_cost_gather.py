"""A gather (the trainer's batch taken from the whole training set, an embedding's looked-up rows)
is counted by the rows it moves, not by its source table: a step's FLOPs, bytes and price do not
grow with the data set (hpbench.cost.ops.op_bytes). No Ray."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hpbench.cost.count import count_module_step
from hpbench.cost.device import DeviceModel
from hpbench.cost.ops import op_bytes
from hpbench.cost.predict import features, seconds

REL = 1e-5


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 5))


def _step(n_source: int, batch: int = 64):
    return count_module_step(_mlp(), x=torch.zeros(batch, 32), y=torch.zeros(batch, dtype=torch.int64), loss_fn=nn.CrossEntropyLoss(),
                             n_source=n_source)


def _device() -> DeviceModel:
    return DeviceModel(device="cpu", name="test", threads=1, matmul_flops=(1e3, 1e9), matmul_flops_per_s=(1e8, 1e11), peak_flops_per_s=1e11,
                       bandwidth_bytes_per_s=1e10, op_overhead_s=1e-6,
                       coef={"step": 1e-4, "op": 5e-6, "view": 1e-6, "matmul": 1.0, "memory": 6.0, "memory_optimizer": 3.0})


def test_a_batch_gather_counts_the_rows_it_moves_not_the_table():
    small, large = _step(1_000), _step(1_000_000)
    gathers = [[op for op in c.ops if op.name == "index"] for c in (small, large)]
    assert len(gathers[0]) == len(gathers[1]) == 2  # the batch's features and its labels
    for a, b in zip(*gathers, strict=True):
        assert a.bytes == b.bytes and a.flops == b.flops
    x_gather = gathers[1][0]
    # 64 rows of 32 float32 read and written, and the 64 int64 row indices: not the 128 MB table
    assert x_gather.bytes == 2 * 64 * 32 * 4 + 64 * 8
    assert x_gather.flops == 64 * 32
    assert small.total_flops == pytest.approx(large.total_flops, rel=REL)


def test_a_steps_price_does_not_grow_with_the_training_set():
    dev = _device()
    small, large = (seconds(features(_step(n).ops, device=dev), dev.coef) for n in (1_000, 1_000_000))
    assert large == pytest.approx(small, rel=REL)
    # and a larger batch moves more rows: a gather still costs what it moves
    assert seconds(features(_step(1_000_000, batch=1024).ops, device=dev), dev.coef) > large


def test_an_embedding_counts_the_rows_it_looks_up():
    table = nn.Embedding(100_000, 16)
    idx = torch.zeros(8, 10, dtype=torch.int64)
    c = count_module_step(nn.Sequential(table, nn.Flatten(), nn.Linear(160, 2)), x=idx)
    (lookup,) = [op for op in c.ops if op.name == "embedding" and op.phase == "forward"]
    assert lookup.bytes == 2 * 8 * 10 * 16 * 4 + 8 * 10 * 8  # 80 rows of 16 floats, read and written, and their indices


def test_other_ops_count_every_tensor_they_touch():
    a, b = torch.zeros(100, 10), torch.zeros(100, 10)
    out = a + b
    assert op_bytes("add", (a, b), {}, out) == 3 * 100 * 10 * 4
    src, rows = torch.zeros(1000, 10), torch.arange(5)
    assert op_bytes("index_select", (src, 0, rows), {}, src[rows]) == 2 * 5 * 10 * 4 + 5 * 8
