"""Recurrent layers priced from micro-benchmarks of their own kernels.

FLOPs say little about a recurrent layer on a CPU: nn.LSTM trains through oneDNN's fused RNN
kernel, nn.RNN and nn.GRU through a loop of per-timestep aten ops, and at small widths either
one is bound by its per-timestep overhead, not its arithmetic (the quiet run of session 6: LSTMs
-30%, small RNNs +84% under the op/module/step model). So each cell type's forward + backward
(training) and forward under ``no_grad`` (evaluation) is timed on a small log grid of one-layer
shapes (sequence length, batch, input features, hidden units), and a layer of the user's model
is priced at its own shape's rate by log-space interpolation (:func:`hpbench.cost.device.interp_grid`,
clamped at the grid's edges); past an edge of any axis a call costs the edge's seconds plus its
further FLOPs at the edge's marginal rate (:func:`call_seconds`). A stacked layer is priced layer
by layer (layer l > 0 reads ``hidden · directions`` features), a bidirectional one as two directions. The grid's shapes are synthetic (random data,
one layer, ``batch_first``): none is a configuration of ``benchmarks/cost_model.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from hpbench.cost.formulas import RECURRENT_GATES, recurrent_forward

CELLS = ("RNN", "GRU", "LSTM")
# (sequence lengths, batch sizes, input features, hidden units) of the measured one-layer shapes.
# Two lengths separate a call's fixed cost from its per-timestep cost (beyond 16 each further step
# costs the marginal step between 4 and 16); batches from one sample to a large batch,
# inputs from one feature (a signal's channel) to an embedding, hidden units from 8 to 128 (the
# per-step overhead dominates below ~32, the gate products above). 72 shapes per cell. Batches up
# to 512: past 128 a sample's gates no longer stay in the caches, and beyond the grid's edge a
# call's further samples were charged at the marginal rate from 16 to 128; one thread, session 31:
# an LSTM of 64 inputs and 64 units over 17 steps trained 2.5 ms at batch 128 (priced 2.7 ms) and
# 20.9 ms at 512, priced 10.2 ms (128 inputs and units: 51 ms, priced 32 ms).
RECURRENT_GRID_CPU = ((4, 16), (1, 16, 128, 512), (1, 16, 128), (8, 32, 128))
RECURRENT_GRID_GPU = ((4, 32), (16, 256, 2048), (16, 128), (32, 256, 1024))


def layer_flops(*, cell: str, seq_len: int, batch: int, n_in: int, hidden: int) -> float:
    """Forward FLOPs of one direction of one layer: the gate products (formulas.recurrent_forward)."""
    return float(recurrent_forward(gates=RECURRENT_GATES[cell], n_in=n_in, hidden=hidden, seq_len=seq_len, n_samples=batch))


# A training call (forward + backward) is charged 3x its forward FLOPs (backward ≈ 2x forward:
# the input and the weight gradients, Kaplan et al. 2020 §2.1), only to turn its measured seconds
# into a rate; the prediction divides the same FLOPs by that rate, so the factor cancels on the grid.
TRAIN_FLOPS_FACTOR = 3.0


def layer_shapes(*, n_in: int, hidden: int, layers: int, dirs: int) -> list[tuple[int, int]]:
    """(input features, hidden) of each direction of each layer of a stacked recurrent module."""
    return [(n_in if layer == 0 else hidden * dirs, hidden) for layer in range(layers) for _ in range(dirs)]


def call_seconds(*, cell: str, shape: tuple[int, int, int, int], train: bool,
                 rate: Callable[[str, tuple[float, float, float, float], bool], float],
                 axes: tuple[tuple[int, ...], ...] = ()) -> float:
    """Seconds of one direction of one layer of ``shape`` (seq, batch, input, hidden): its FLOPs
    over the grid's rate at that shape. A call's time is a fixed part plus a part that grows with
    its work, so past the grid's largest value of an axis (``axes``: the grid's lengths, batches,
    inputs, hiddens) it costs what that edge did plus its further FLOPs at the edge's marginal
    rate: the difference of the axis' two largest values' FLOPs over that of their seconds.
    Holding the edge's rate instead charged the fixed part again: per 16 steps (LSTMs of 32-128
    steps +48% to +143%, session 13), per 128 samples, and at a GRU of 310 units and batch 1 the
    per-step overhead of 128 units per 128 units' work (+160% to +195%). Without the axes (or a
    marginal rate that is not positive: noise), the rate is held."""
    factor = TRAIN_FLOPS_FACTOR if train else 1.0

    def flops(p: tuple[int, int, int, int]) -> float:
        return factor * layer_flops(cell=cell, seq_len=p[0], batch=p[1], n_in=p[2], hidden=p[3])

    def seconds(p: tuple[int, int, int, int], k: int) -> float:  # axes k, k+1, ... extrapolated past their edges
        if k == 4:
            return flops(p) / rate(cell, (float(p[0]), float(p[1]), float(p[2]), float(p[3])), train)
        axis = axes[k] if k < len(axes) else ()
        if len(axis) >= 2 and p[k] > axis[-1]:
            lo, hi = _with(p, k, axis[-2]), _with(p, k, axis[-1])
            t_lo, t_hi = seconds(lo, k + 1), seconds(hi, k + 1)
            if t_hi > t_lo and flops(hi) > flops(lo):
                return t_hi + (flops(p) - flops(hi)) * (t_hi - t_lo) / (flops(hi) - flops(lo))
        return seconds(p, k + 1)

    return seconds(shape, 0)


def _with(p: tuple[int, int, int, int], k: int, value: int) -> tuple[int, int, int, int]:
    q = list(p)
    q[k] = value
    return q[0], q[1], q[2], q[3]


def module_seconds(*, cell: str, shape: tuple[int, ...], train: bool,
                   rate: Callable[[str, tuple[float, float, float, float], bool], float], axes: tuple[tuple[int, ...], ...] = ()) -> float:
    """Seconds of one call of a recurrent module of recorded ``shape`` (seq, batch, input, hidden,
    layers, directions): Σ over its layers and directions of :func:`call_seconds` at that layer's shape."""
    seq, batch, n_in, hidden, layers, dirs = shape
    return sum(call_seconds(cell=cell, shape=(seq, batch, k, h), train=train, rate=rate, axes=axes)
               for k, h in layer_shapes(n_in=n_in, hidden=hidden, layers=layers, dirs=dirs))


def measure_recurrent_grid(*, device: str, axes: tuple[tuple[int, ...], ...], cells: tuple[str, ...] = CELLS, min_s: float = 0.002,
                           ) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """Per cell type: (training FLOP/s, evaluation FLOP/s) at every shape of ``axes`` (row-major,
    the last axis fastest). Training: forward + backward of ``out.sum()`` (gradients accumulate,
    as between the trainer's zero_grad calls); evaluation: forward under ``no_grad``. Each the
    fastest of 3 samples of >= ``min_s`` (:func:`~hpbench.cost.microbench.fastest_call`) (on a shared machine other work only adds time).
    ~1.7 s per cell on one core of this machine's CPU (session 31)."""
    import torch
    from torch import nn

    from hpbench.cost.microbench import fastest_call, timer

    now = timer(device)

    def fastest(fn: Callable[[], object]) -> float:  # the warm-up call also creates oneDNN's primitives
        return fastest_call(fn, now=now, min_s=min_s)

    out: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    gen = torch.Generator().manual_seed(0)
    for cell in cells:
        train_rates, eval_rates = [], []
        for seq in axes[0]:
            for batch in axes[1]:
                for n_in in axes[2]:
                    x = torch.randn(batch, seq, n_in, generator=gen).to(device)
                    for hidden in axes[3]:
                        m = getattr(nn, cell)(n_in, hidden, batch_first=True).to(device)

                        def train_call(m: nn.Module = m, x: torch.Tensor = x) -> None:
                            m(x)[0].sum().backward()

                        def eval_call(m: nn.Module = m, x: torch.Tensor = x) -> None:
                            with torch.no_grad():
                                m(x)

                        flops = layer_flops(cell=cell, seq_len=seq, batch=batch, n_in=n_in, hidden=hidden)
                        train_rates.append(TRAIN_FLOPS_FACTOR * flops / fastest(train_call))
                        eval_rates.append(flops / fastest(eval_call))
        out[cell] = (tuple(train_rates), tuple(eval_rates))
    return out
