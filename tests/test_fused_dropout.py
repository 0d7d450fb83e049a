"""Fused members with dropout (hpbench.train.fused_dropout) give, epoch by epoch, the metrics of
the same seed trained alone: each member's masks are drawn from its own run's random stream, on
the shape and layout its own module draws on. Where they cannot be (the vmap path), the
configuration is not fused. No Ray (bug hunt s50/h5, finding 1)."""

from __future__ import annotations

import dataclasses

import pytest
from test_models import cfg

from hpbench.config import NATIVE_FAMILIES, EarlyStoppingConfig, unfusable

torch = pytest.importorskip("torch")

from hpbench.models import FAMILIES, build_model  # noqa: E402
from hpbench.train.fused import FusedSupervised, train_fused  # noqa: E402
from hpbench.train.fused_dropout import MemberStreams  # noqa: E402
from hpbench.train.fused_layers import forward, native, stack, transposed_names  # noqa: E402
from hpbench.train.trainer import train  # noqa: E402

REL = 1e-5
ES = EarlyStoppingConfig(monitor="val_loss", patience=1, restore_best_weights=True)
ADDING = {"dataset": "adding", "epochs": 3}


def members(*, seeds=(1, 2, 3), lrs=None, **kw):
    return [cfg(seed=0, lr=lr, **kw) for lr in lrs] if lrs else [cfg(seed=s, **kw) for s in seeds]


CASES = {
    # patience 1 on digits: the members stop at different epochs (the stack, and its streams, shrink)
    "mlp, early stopping": members(dataset="digits", model={"depth": 2, "width": 32, "dropout": 0.3}, lr=0.03, epochs=8, batch_size=64, es=ES),
    "mlp siblings (own lr)": members(lrs=(0.01, 0.003, 0.03), dataset="wine", model={"depth": 2, "width": 16, "dropout": 0.2}, epochs=3,
                                     batch_size=16),
    "cnn": members(family="cnn", dataset="digits", model={"conv_depth": 1, "channels": 4, "width": 8, "dropout": 0.3}, epochs=2, batch_size=64),
    "gru 2 layers": members(family="gru", options={"seq_len": 6, "n_samples": 200}, model={"hidden_size": 8, "layers": 2, "dropout": 0.3},
                            **ADDING),
    "lstm 2 layers, bidirectional": members(family="lstm", options={"seq_len": 5, "n_samples": 200}, **ADDING,
                                            model={"hidden_size": 6, "layers": 2, "dropout": 0.3, "bidirectional": True}),
    "rnn 3 layers": members(family="rnn", options={"seq_len": 5, "n_samples": 200}, model={"hidden_size": 6, "layers": 3, "dropout": 0.2},
                            **ADDING),
    "transformer": members(family="transformer", options={"seq_len": 5, "n_samples": 120}, batch_size=32, **ADDING,
                           model={"d_model": 8, "heads": 2, "ff_width": 8, "layers": 2, "dropout": 0.2}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_fused_members_with_dropout_match_their_runs_alone(case):
    cfgs = CASES[case]
    assert all(c.model.params["dropout"] > 0 for c in cfgs) and unfusable(cfgs[0]) is None
    fused = train_fused(cfgs)
    alone = [train(c) for c in cfgs]
    for c, f, a in zip(cfgs, fused, alone, strict=True):
        assert (len(f.history), f.stop_reason, f.best_epoch) == (len(a.history), a.stop_reason, a.best_epoch), (case, c.seed, c.optimizer.lr)
        for rf, ra in zip(f.history, a.history, strict=True):
            for k in [k for k in ra if k.startswith(("train_", "val_"))]:  # r2 near 0 magnifies mse's rounding: compared as mse / var
                got, want = (1 - rf[k], 1 - ra[k]) if k.endswith("_r2") else (rf[k], ra[k])
                assert got == pytest.approx(want, rel=REL, abs=1e-7), (case, c.seed, c.optimizer.lr, rf["epoch"], k)
    if case == "mlp, early stopping":
        assert len({len(f.history) for f in fused}) > 1


@pytest.mark.parametrize(("family", "norm_first"), [*((f, False) for f in NATIVE_FAMILIES), ("transformer", True)])
def test_one_stacked_training_forward_draws_each_members_masks(family, norm_first):
    """One training-mode forward of the stack with each member's stream (the state its module's
    forward starts from) gives what each member's module gives, outputs and gradients."""
    torch.manual_seed(0)
    shape, params = ((1, 6, 6), {"conv_depth": 1, "channels": 3, "width": 8}) if family == "cnn" else ((5, 3), {"layers": 2})
    if family == "transformer":
        params = {**params, "d_model": 8, "heads": 2, "ff_width": 8}
    models = [build_model(family, input_shape=shape, n_outputs=2, params={**params, "dropout": 0.4}) for _ in range(3)]
    for m in models:
        for layer in getattr(getattr(m, "encoder", None), "layers", []):
            layer.norm_first = norm_first
        m.train()
    x = torch.randn(3, 4, *shape)
    streams = MemberStreams(torch.device("cpu"))
    want = []
    for k, m in enumerate(models):
        torch.manual_seed(10 + k)
        streams.capture()
        want.append(m(x[k]))
        want[-1].square().sum().backward()
    params_, buffers = stack(models, transposed_names(models[0]))
    got = forward(models[0], params_, buffers, x, dropout=streams.dropout, attention=streams.attention)
    got.square().sum().backward()
    assert native(models[0])
    torch.testing.assert_close(got, torch.stack(want), rtol=REL, atol=1e-6)
    for name, p in params_.items():
        grads = torch.stack([dict(m.named_parameters())[name].grad for m in models])
        torch.testing.assert_close(p.grad.transpose(-1, -2) if name in transposed_names(models[0]) else p.grad, grads, rtol=1e-4, atol=1e-6)


def test_every_builtin_family_is_native():
    """The families unfusable() lets fuse with dropout are those the stacked kernels write out."""
    assert set(NATIVE_FAMILIES) == set(FAMILIES)


def test_dropout_through_vmap_is_not_fused(monkeypatch):
    """A user family (vmap) with dropout runs unfused: named by unfusable() where it has a dropout
    key (so that the cost model groups it alone too), refused when the group is built where it draws anyway."""
    c = cfg(family="tests.helpers.flaky:build", model={"dropout": 0.2})
    assert "dropout" in (unfusable(c) or "")
    assert unfusable(cfg(family="tests.helpers.flaky:build", model={"dropout": 0.0})) is None
    assert unfusable(cfg(model={"dropout": 0.2})) is None  # the families' own kernels draw each member's masks
    from hpbench import train as train_pkg

    monkeypatch.setattr(train_pkg.fused, "native", lambda model: False)
    monkeypatch.setattr(train_pkg.fused_checks, "native", lambda model: False)
    drop = members(dataset="iris", model={"depth": 1, "width": 8, "dropout": 0.2}, seeds=(1, 2))
    with pytest.raises(ValueError, match="draws random numbers"):
        FusedSupervised(drop)
    plain = [dataclasses.replace(c, model=dataclasses.replace(c.model, params={"depth": 1, "width": 8})) for c in drop]
    assert not FusedSupervised(plain).native  # without dropout the vmap path fuses
