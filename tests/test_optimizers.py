"""The optimizers a trial builds: torch's fused kernel where torch has one, the same training as
the op-by-op update to float tolerance. No Ray."""

from __future__ import annotations

import pytest
from test_models import cfg

torch = pytest.importorskip("torch")

from hpbench.train import optimizers, supervised  # noqa: E402
from hpbench.train.optimizers import OPTIMIZERS, build_optimizer  # noqa: E402
from hpbench.train.trainer import train  # noqa: E402

FUSED = {"sgd", "momentum", "nesterov", "adagrad", "adam", "amsgrad", "adamw"}  # rmsprop: torch has no fused kernel


@pytest.mark.parametrize("name", sorted(OPTIMIZERS.names()))
def test_a_cpu_model_gets_the_fused_kernel_where_torch_has_one(name):
    net = torch.nn.Linear(3, 2)
    groups = build_optimizer(name, net.parameters(), lr=0.1, params={}).param_groups
    assert all(bool(g.get("fused")) == (name in FUSED) for g in groups), name
    assert not any(g.get("fused") for g in build_optimizer(name, net.parameters(), lr=0.1, params={}, fused=False).param_groups)
    with torch.device("meta"):  # the cost model's counts: torch fuses no meta tensors
        meta = torch.nn.Linear(3, 2)
    assert not any(g.get("fused") for g in build_optimizer(name, meta.parameters(), lr=0.1, params={}).param_groups)


def test_meta_parameters_and_rmsprop_keep_the_op_by_op_update():
    p = torch.zeros(3, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.1)
    assert optimizers.use_fused_kernel(opt) and opt.param_groups[0]["fused"] is True
    plain = torch.optim.Adam([torch.zeros(3, device="meta", requires_grad=True)], lr=0.1)
    assert not optimizers.use_fused_kernel(plain) and not plain.param_groups[0]["fused"]
    assert not optimizers.use_fused_kernel(torch.optim.RMSprop([torch.zeros(3, requires_grad=True)], lr=0.1))


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "momentum", "adagrad"])
def test_a_trial_trains_the_same_on_the_fused_kernel(optimizer, monkeypatch):
    """Epoch by epoch, the same losses as the op-by-op update (float32 rounding apart)."""
    c = cfg(family="mlp", dataset="wine", model={"depth": 2, "width": 32}, optimizer=optimizer, lr=1e-2, epochs=4)
    fused = train(c).history
    real = supervised.build_optimizer
    monkeypatch.setattr(supervised, "build_optimizer", lambda *a, **kw: real(*a, **kw, fused=False))
    plain = train(c).history
    for key in ("train_loss", "val_loss"):
        assert [r[key] for r in fused] == pytest.approx([r[key] for r in plain], rel=1e-4), key
