"""The cheaper count (hpbench.cost.count): the optimizer's steady-state update recorded once per
(optimizer, settings, parameter shapes) and reused, the state-creating first update unrecorded,
a model built for the count not copied, and torch's FLOP formulas summed by the recorder instead
of a second dispatch mode. It must give the same step, op for op, as the direct count: the step
run whole under ``FlopCounterMode`` and the recorder, both updates recorded (the first one's ops,
phase "optimizer_init", left out). Meta counting only: no training, no Ray."""

from __future__ import annotations

import copy

import pytest
import torch

from hpbench.cost import count
from hpbench.cost.coverage import find_uncounted
from hpbench.cost.module_hooks import install_hooks
from hpbench.cost.ops import StepCost
from hpbench.cost.recorder import make_recorder
from hpbench.models import build_model
from hpbench.train import tasks
from hpbench.train.optimizers import build_optimizer, has_fused_kernel

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw")
SETTINGS = {"sgd": {"weight_decay": 1e-4}, "rmsprop": {"momentum": 0.9}, "adamw": {"weight_decay": 0.05}}
FAMILIES = {  # family: (input shape, kind, model parameters), small
    "mlp": ((10,), None, {"width": 16, "depth": 2}),
    "cnn": ((1, 8, 8), None, {}),
    "gru": ((12, 3), None, {"hidden_size": 8, "layers": 2}),
    "transformer": ((12, 3), None, {"d_model": 16, "heads": 2, "layers": 1}),
}


def direct(family: str, *, batch: int, optimizer: str, eval_size: int | None, n_source: int) -> StepCost:
    """The count as it was before (hpbench 2dc95f4): a copy of the model, the whole step under
    FlopCounterMode and the recorder, the first update recorded as "optimizer_init"."""
    from torch.utils.flop_counter import FlopCounterMode

    shape, kind, params = FAMILIES[family]
    with torch.device("meta"):
        built = build_model(family, input_shape=shape, n_outputs=3, params=dict(params), kind=kind)
    model = copy.deepcopy(built).to("meta")
    loss_fn = tasks.loss_fn("multiclass")
    n_params = sum(p.numel() for p in model.parameters())
    opt = build_optimizer(optimizer, model.parameters(), lr=1e-3, params=dict(SETTINGS.get(optimizer, {})), fused=False)
    rec = make_recorder()
    install_hooks(model, rec)
    model.train()
    source = (torch.zeros((n_source, *shape), device="meta"), torch.zeros((n_source,), dtype=torch.int64, device="meta"))
    eval_x = torch.zeros((eval_size, *shape), device="meta") if eval_size else None
    with FlopCounterMode(display=False) as fc, rec:
        idx = torch.zeros(batch, dtype=torch.int64, device="meta")
        x, y = source[0][idx], source[1][idx]
        out = model(x)
        loss = loss_fn(out, y)
        torch.zeros((), device="meta").add_(loss.detach() * x.shape[0])
        rec.phase = "backward"
        loss.backward()
        rec.fused_depth = 0
        rec.phase = "optimizer_init"
        opt.step()
        rec.phase = "optimizer"
        opt.step()
        if eval_x is not None:
            rec.phase = "eval"
            model.eval()
            with torch.no_grad():
                out = model(eval_x)
                loss_fn(out, torch.zeros((out.shape[0],), dtype=torch.int64, device="meta"))
    ops = tuple(op for op in rec.ops if op.phase != "optimizer_init")
    if has_fused_kernel(opt):  # the trainer's one kernel: the update's ops folded into one record, after torch's profiler markers
        update = [op for op in ops if op.phase == "optimizer"]
        at = ops.index(update[0])
        ops = (*ops[:at], *count.fold_fused(opt, update), *ops[at + len(update):])
    return StepCost(batch_size=batch, n_params=n_params, ops=ops, flop_counter_flops=int(fc.get_total_flops()),
                    uncounted=find_uncounted(model, ops, batch_size=batch, called=rec.called), counted_on="meta")


def cheap(family: str, *, batch: int, optimizer: str, eval_size: int | None, n_source: int) -> StepCost:
    shape, kind, params = FAMILIES[family]
    return count._count_step(family=family, model_params=dict(params), input_shape=shape, n_outputs=3, task="multiclass", batch_size=batch,
                             optimizer=optimizer, optimizer_params=dict(SETTINGS.get(optimizer, {})), eval_size=eval_size, n_source=n_source,
                             kind=kind)


@pytest.fixture(autouse=True)
def empty_caches():
    count._STEP_CACHE.clear()
    count._OPTIMIZER_CACHE.clear()
    yield
    count._STEP_CACHE.clear()
    count._OPTIMIZER_CACHE.clear()


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_cheaper_count_is_the_direct_count_op_for_op(family: str, optimizer: str) -> None:
    # the full batch with evaluation (the update recorded), then the last batch (the update reused)
    for batch, eval_size in ((8, 6), (5, None)):
        want = direct(family, batch=batch, optimizer=optimizer, eval_size=eval_size, n_source=21)
        got = cheap(family, batch=batch, optimizer=optimizer, eval_size=eval_size, n_source=21)
        assert len(got.ops) == len(want.ops), (family, optimizer, batch)
        for a, b in zip(got.ops, want.ops, strict=True):
            assert a == b, (family, optimizer, batch)  # every field: name, kind, phase, FLOPs, bytes, fused, shape, module
        assert got.flop_counter_flops == want.flop_counter_flops and got.n_params == want.n_params
        assert got.uncounted == want.uncounted and got.batch_size == want.batch_size
        assert any(op.phase == "optimizer" for op in got.ops) and not any(op.phase == "optimizer_init" for op in got.ops)
    assert len(count._OPTIMIZER_CACHE) == 1  # one model, one optimizer: its update recorded once


def test_the_update_is_recorded_anew_when_its_key_changes() -> None:
    def mlp(width: int, batch: int, **opt: float) -> None:
        count._count_step(family="mlp", model_params={"width": width, "depth": 2}, input_shape=(10,), n_outputs=3, task="multiclass",
                          batch_size=batch, optimizer="momentum", optimizer_params=opt, eval_size=None, n_source=16, kind=None)

    mlp(16, 8, momentum=0.9)
    mlp(16, 4, momentum=0.9)  # another batch size: the same update
    mlp(16, 8, momentum=0.5)  # a nonzero setting of a built-in: the same ops
    assert len(count._OPTIMIZER_CACHE) == 1
    mlp(17, 8, momentum=0.9)  # other parameter shapes
    mlp(16, 8, momentum=0.0)  # no momentum buffer: other ops
    assert len(count._OPTIMIZER_CACHE) == 3


def test_a_caller_model_is_left_as_it_was() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    before = [p.clone() for p in model.parameters()]
    count.count_module_step(model, x=torch.zeros(2, 4), optimizer="adam")
    assert all(p.device.type == "cpu" and torch.equal(p, b) and p.grad is None for p, b in zip(model.parameters(), before, strict=True))
    assert not model._forward_hooks and not model._forward_pre_hooks and not model[0]._forward_pre_hooks
