"""The per-process cache of step counts (hpbench.cost.count.count_step): configurations that
differ only in a built-in optimizer's nonzero float settings share one count; anything else that
changes the step's ops is counted anew. Meta counting only: no training, no Ray."""

from __future__ import annotations

import pytest

from hpbench.cost import count

MLP = {"width": 16, "depth": 2, "activation": "relu", "dropout": 0.0}


def step(optimizer: str = "momentum", **opt):
    return count.count_step(family="mlp", model_params=dict(MLP), input_shape=(12,), n_outputs=3, task="multiclass",
                            batch_size=8, optimizer=optimizer, optimizer_params=opt, eval_size=8)


@pytest.fixture(autouse=True)
def empty_cache():
    count._STEP_CACHE.clear()
    yield
    count._STEP_CACHE.clear()


def test_nonzero_settings_of_a_builtin_optimizer_share_one_count(monkeypatch):
    calls = []
    real = count._count_step
    monkeypatch.setattr(count, "_count_step", lambda **kw: calls.append(kw) or real(**kw))
    a = step(momentum=0.9, weight_decay=1e-4)
    b = step(momentum=0.95, weight_decay=3e-3)
    assert b is a and len(calls) == 1
    no_momentum = step(momentum=0.0, weight_decay=1e-4)  # torch's SGD skips its momentum buffer: other ops
    assert len(calls) == 2 and no_momentum is not a
    update = lambda c: [op for op in c.ops if op.phase == "optimizer"]  # noqa: E731
    assert sum(op.bytes for op in update(no_momentum)) < sum(op.bytes for op in update(a))  # no buffer to read and write


def test_a_cached_count_is_the_count_itself():
    cached = step(momentum=0.9)
    fresh = count._count_step(family="mlp", model_params=dict(MLP), input_shape=(12,), n_outputs=3, task="multiclass", batch_size=8,
                              optimizer="momentum", optimizer_params={"momentum": 0.5}, eval_size=8, n_source=None, kind=None)
    assert [(o.name, o.flops, o.bytes) for o in cached.ops] == [(o.name, o.flops, o.bytes) for o in fresh.ops]
    assert cached.flop_counter_flops == fresh.flop_counter_flops and cached.n_params == fresh.n_params


def test_shape_batch_and_user_optimizer_settings_are_keyed_exactly():
    base = dict(family="mlp", model_params=MLP, input_shape=(12,), n_outputs=3, task="multiclass", batch_size=8,
                optimizer="adam", optimizer_params={"eps": 1e-8}, eval_size=8, n_source=None, kind=None)
    key = count.step_key(**base)
    assert count.step_key(**{**base, "optimizer_params": {"eps": 1e-6}}) == key  # built-in: zero or not
    assert count.step_key(**{**base, "batch_size": 9}) != key
    assert count.step_key(**{**base, "model_params": {**MLP, "width": 17}}) != key
    assert count.step_key(**{**base, "model_params": {**MLP, "dropout": 0.1}}) != key  # model settings exactly
    mine = {**base, "optimizer": "my_plugin:Opt"}
    assert count.step_key(**{**mine, "optimizer_params": {"eps": 1e-6}}) != count.step_key(**mine)  # a plugin: exactly
    assert count.step_key(**{**base, "model_params": {**MLP, "extra": {1, 2}}}) is None  # unhashable: never cached


def test_the_cache_keeps_the_latest_counts_only(monkeypatch):
    monkeypatch.setattr(count, "STEP_CACHE_SIZE", 2)
    for width in (4, 5, 6):
        count.count_step(family="mlp", model_params={**MLP, "width": width}, input_shape=(12,), n_outputs=3, task="multiclass", batch_size=8)
    assert len(count._STEP_CACHE) == 2
    assert [dict(k[1])["width"] for k in count._STEP_CACHE] == [5, 6]


def test_a_flop_formula_registered_since_is_counted_anew():
    import torch
    from torch.utils.flop_counter import flop_registry, register_flop_formula

    before = step(momentum=0.9)
    register_flop_formula(torch.ops.aten.logaddexp)(lambda *a, **k: 1)  # an op this MLP never calls: same ops, new key
    try:
        assert step(momentum=0.9) is not before and len(count._STEP_CACHE) == 2
    finally:
        flop_registry.pop(torch.ops.aten.logaddexp, None)
    assert step(momentum=0.9) is before
