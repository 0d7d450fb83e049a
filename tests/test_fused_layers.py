"""The stacked layers of hpbench.train.fused_layers compute what each member's own module computes:
outputs, parameter gradients and BatchNorm's running statistics, member by member, rel 1e-5
(float32). No Ray, no training loop."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hpbench.models import build_model  # noqa: E402
from hpbench.train.fused_layers import forward, member_tensor, native, stack, transposed_names  # noqa: E402

REL = 1e-5
M, B = 3, 5

# name: (family, input shape, params, data kind or None for the default); every native structure the families build
MODELS = {
    "mlp": ("mlp", (10,), {"depth": 2, "width": 16}, None),
    "cnn image, batch norm, max pool": ("cnn", (1, 8, 8), {"conv_depth": 2, "channels": 4, "width": 8, "batch_norm": True}, None),
    "cnn image, avg pool, global pool, even kernel": ("cnn", (2, 6, 6), {"conv_depth": 1, "channels": 3, "width": 8, "batch_norm": True,
                                                                          "pool": "avg", "global_pool": True, "kernel": 2}, None),
    "cnn 1-d on a sequence (transposed)": ("cnn", (7, 2), {"conv_depth": 2, "channels": 4, "width": 8, "batch_norm": False}, "sequence"),
    "gru": ("gru", (6, 3), {"hidden_size": 5}, None),
    "gru 2 layers, bidirectional": ("gru", (6, 3), {"hidden_size": 5, "layers": 2, "bidirectional": True}, None),
    "lstm 2 layers": ("lstm", (6, 3), {"hidden_size": 4, "layers": 2}, None),
    "lstm bidirectional": ("lstm", (5, 2), {"hidden_size": 4, "bidirectional": True}, None),
    "rnn tanh": ("rnn", (6, 3), {"hidden_size": 5}, None),
    "rnn relu, bidirectional": ("rnn", (6, 3), {"hidden_size": 5, "bidirectional": True, "nonlinearity": "relu"}, None),
    "rnn on a signal (transposed)": ("rnn", (2, 6), {"hidden_size": 4}, "signal"),
    "transformer, sinusoidal": ("transformer", (5, 3), {"d_model": 8, "heads": 2, "ff_width": 6, "dropout": 0.0}, None),
    "transformer, learned positions, gelu, 1 layer": ("transformer", (4, 3), {"d_model": 6, "heads": 3, "ff_width": 5, "layers": 1,
                                                                            "dropout": 0.0, "activation": "gelu", "positional": "learned"}, None),
    "transformer on a signal, no positions, tanh": ("transformer", (2, 5), {"d_model": 4, "heads": 1, "ff_width": 4, "dropout": 0.0,
                                                                          "activation": "tanh", "positional": "none"}, "signal"),
}


def members(case):
    family, shape, params, kind = MODELS[case]
    out = []
    for seed in range(M):
        torch.manual_seed(seed)
        out.append(build_model(family, input_shape=shape, n_outputs=3, params=params, kind=kind))
    return out, shape


@pytest.mark.parametrize("case", list(MODELS))
def test_stacked_forward_and_gradients_match_each_member(case):
    models, shape = members(case)
    assert native(models[0])
    names = transposed_names(models[0])
    stacked, buffers = stack(models, names)
    x = torch.randn(M, B, *shape)
    out = forward(models[0], stacked, buffers, x)
    w = torch.randn(out.shape)  # a loss that weighs every output differently
    (out * w).sum().backward(inputs=list(stacked.values()))
    for k, model in enumerate(models):
        own = model(x[k])
        torch.testing.assert_close(out[k], own, rtol=REL, atol=1e-6)
        grads = torch.autograd.grad((own * w[k]).sum(), list(model.parameters()))
        for (name, _), g in zip(model.named_parameters(), grads, strict=True):
            torch.testing.assert_close(member_tensor(stacked[name].grad, k, transposed=name in names), g, rtol=REL, atol=1e-6)
        for name, b in model.named_buffers():  # BatchNorm: the members' running statistics, as each module updated its own
            torch.testing.assert_close(buffers[name][k], b, rtol=REL, atol=1e-6)


def test_eval_mode_uses_the_running_statistics():
    models, shape = members("cnn image, batch norm, max pool")
    stacked, buffers = stack(models, transposed_names(models[0]))
    x = torch.randn(M, B, *shape)
    forward(models[0], stacked, buffers, x)  # a training step moves the stacked statistics
    for k, m in enumerate(models):
        m(x[k])
        m.eval()
    out = forward(models[0], stacked, buffers, torch.ones(M, 2, *shape))
    for k, m in enumerate(models):
        torch.testing.assert_close(out[k], m(torch.ones(2, *shape)), rtol=REL, atol=1e-6)


def test_the_transformer_runs_stacked_unless_its_layers_differ():
    model = build_model("transformer", input_shape=(6, 4), n_outputs=2, params={})
    assert native(model)
    model.encoder.norm = torch.nn.LayerNorm(64)  # a final norm hpbench does not build: left to vmap
    assert not native(model)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize(("reverse", "keep"), [(False, True), (True, True), (False, False), (True, False)])
def test_the_hand_written_recurrence_backward_matches_finite_differences(mode, reverse, keep):
    from hpbench.train.fused_recurrence import Recurrence

    gates, hidden = {"LSTM": 4, "GRU": 3}.get(mode, 1), 3
    gen = torch.Generator().manual_seed(0)
    gi = torch.randn(2, 4, 3, gates * hidden, dtype=torch.float64, generator=gen, requires_grad=True)
    w = (0.5 * torch.randn(2, hidden, gates * hidden, dtype=torch.float64, generator=gen)).requires_grad_()
    b_hn = torch.randn(2, hidden, dtype=torch.float64, generator=gen, requires_grad=True) if mode == "GRU" else None
    inputs = (gi, w) if b_hn is None else (gi, w, b_hn)
    assert torch.autograd.gradcheck(lambda *a: Recurrence.apply(mode, a[0], a[1], a[2] if len(a) > 2 else None, reverse, keep), inputs)


def _lstm_ops_per_step(backward: bool) -> dict[str, float]:
    """The non-view aten ops one LSTM time step runs in the fused recurrence (forward, or forward and
    backward): the calls at T = 8 minus those at T = 4, over 4."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    from hpbench.train.fused_recurrence import Recurrence

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: Counter[str] = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if not func.is_view:
                self.ops[func.overloadpacket.__name__] += 1
            return func(*args, **(kwargs or {}))

    counts = []
    for t_len in (4, 8):
        gi = torch.randn(3, t_len, 5, 4 * 2, requires_grad=True)
        w = torch.randn(3, 2, 4 * 2, requires_grad=True)
        with Count() as c:
            out = Recurrence.apply("LSTM", gi, w, None, False, False)
            if backward:
                out.backward(torch.ones_like(out))
        counts.append(c.ops)
    return {op: (counts[1][op] - counts[0][op]) / 4 for op in counts[1] | counts[0] if counts[1][op] != counts[0][op]}


def test_a_fused_lstm_step_runs_nine_ops_forward_and_allocates_nothing():
    forward = _lstm_ops_per_step(backward=False)
    # baddbmm_, sigmoid_, add (g), mul, addcmul_, mul, sigmoid_, add, mul (before: 12, each step's gates a new tensor)
    assert sum(forward.values()) == 9, forward
    assert not {"empty", "zeros", "zeros_like", "empty_like", "cat", "stack", "clone"} & set(forward), forward
    both = _lstm_ops_per_step(backward=True)
    backward = {op: both[op] - forward.get(op, 0) for op in both}
    assert sum(backward.values()) <= 12, backward  # before: 11, one a stack copying three slices into a new tensor
    assert not {"cat", "stack"} & set(backward), backward


def test_a_max_pool_runs_before_the_relu_it_follows_and_nothing_else_moves():
    from torch import nn

    from hpbench.train.fused_layers import pool_before_relu

    layers = [nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.GELU(), nn.MaxPool2d(2), nn.ReLU(), nn.AvgPool2d(2), nn.ReLU(),
              nn.MaxPool1d(2)]
    named = [(str(i), m) for i, m in enumerate(layers)]
    # a ReLU commutes with a max pool (monotone: the same values, the same maxima); not GELU, not an average pool
    assert [n for n, _ in pool_before_relu(named)] == ["0", "2", "1", "3", "4", "5", "6", "8", "7"]
    x = torch.randn(4, 2, 8, 8, requires_grad=True)
    a = nn.functional.max_pool2d(torch.relu(x), 2)
    (ga,) = torch.autograd.grad(a.sum(), x)
    b = torch.relu(nn.functional.max_pool2d(x, 2))
    (gb,) = torch.autograd.grad(b.sum(), x)
    assert torch.equal(a, b) and torch.equal(ga, gb)  # bit for bit, gradients to the same inputs
