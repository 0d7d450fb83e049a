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

import itertools
import math
from collections.abc import Callable

from hpbench.cost.formulas import recurrent_forward
from hpbench.models.shapes import RECURRENT_GATES, workspace_bytes

CELLS = ("RNN", "GRU", "LSTM")
# (sequence lengths, batch sizes, input features, hidden units) of the measured one-layer shapes.
# Two lengths separate a call's fixed cost from its per-timestep cost (beyond 16 each further step
# costs the marginal step between 4 and 16); batches from one sample to a large batch,
# inputs from one feature (a signal's channel) to an embedding, hidden units from 8 to 128 (the
# per-step overhead dominates below ~32, the gate products above). 72 shapes per cell. Batches up
# to 512 since session 31: beyond the grid's edge a call's further samples were charged at the
# marginal rate from 16 to 128, and an LSTM of 64 inputs and 64 units over 17 steps (one thread)
# trained 2.5 ms at batch 128 (priced 2.7 ms) but 20.9 ms at 512, priced 10.2 ms: its workspace
# had passed the cliff below (:data:`CLIFF_CELLS`), which the grid's rates are now taken below.
RECURRENT_GRID_CPU = ((4, 16), (1, 16, 128, 512), (1, 16, 128), (8, 32, 128))
RECURRENT_GRID_GPU = ((4, 32), (16, 256, 2048), (16, 128), (32, 256, 1024))


# An LSTM trains through oneDNN's fused kernel, which keeps its gates for the backward pass: a
# workspace of steps x batch x 4 gates x units floats. Once that outgrows the caches, every byte of
# it costs about the same extra (one thread, session 31, per sample and step: 16 to 128 units, 12 to
# 48 steps, batches 128 to 2,048: +1.0 ns per workspace byte past ~9 MB, whatever the units; at 6.3 MB
# none, at 12.6 MB all of it: an LSTM of 32 units at batch 1,024 trained 2.2x its per-sample cost at
# 512). The calibration measures where and how much (:func:`measure_workspace_cliff`); a GRU, which
# runs op by op on a CPU, showed no such step.
CLIFF_CELLS = ("LSTM",)
# (steps, inputs, units) of the probe, and its batches: workspaces of 1.6 to 50 MB
CLIFF_PROBE = (24, 8, 64)
CLIFF_BATCHES = (64, 128, 256, 512, 1024, 2048)
CLIFF_MIN_STEP = 1.3  # a jump of the per-sample cost between two batches smaller than this is no cliff


def cliff_seconds(*, cell: str, shape: tuple[int, int, int, int], train: bool, cliff: tuple[float, ...]) -> float:
    """The extra seconds of a training call whose workspace is past the device's cliff (``cliff``:
    the workspaces measured on either side of it, then the seconds per byte past it): none below the
    first, all past the second, in between the share of the way in log; 0 for evaluation, other
    cells, or no cliff."""
    if not (train and cell in CLIFF_CELLS and len(cliff) == 3):
        return 0.0
    lo, hi, per_byte = cliff
    ws = workspace_bytes(cell=cell, seq_len=shape[0], batch=shape[1], hidden=shape[3])
    share = min(1.0, max(0.0, math.log(ws / lo) / math.log(hi / lo))) if ws > 0 and hi > lo else float(ws >= hi)
    return ws * per_byte * share


def find_cliff(batches: tuple[int, ...], seconds: tuple[float, ...], *, seq_len: int, hidden: int) -> tuple[float, ...]:
    """(workspace bytes below, workspace bytes past, seconds per byte) of the largest step of an
    LSTM's training seconds per sample over ascending ``batches`` (at ``seq_len`` steps and
    ``hidden`` units): the two workspaces around the step, and the step's per-sample difference over
    a sample's workspace; () when no step reaches :data:`CLIFF_MIN_STEP`."""
    per = [s / b for s, b in zip(seconds, batches, strict=True)]
    steps = [(per[i + 1] / per[i], i) for i in range(len(per) - 1) if per[i] > 0]
    if not steps:
        return ()
    ratio, i = max(steps)
    if ratio < CLIFF_MIN_STEP:
        return ()
    ws = [workspace_bytes(cell="LSTM", seq_len=seq_len, batch=b, hidden=hidden) for b in (batches[i], batches[i + 1])]
    per_sample_ws = workspace_bytes(cell="LSTM", seq_len=seq_len, batch=1, hidden=hidden)
    return (ws[0], ws[1], (per[i + 1] - per[i]) / per_sample_ws)


def measure_workspace_cliff(*, device: str, min_s: float = 0.002) -> tuple[float, ...]:
    """:func:`find_cliff` of an LSTM of :data:`CLIFF_PROBE` trained at each of :data:`CLIFF_BATCHES`
    (the fastest of 3 samples each; ~1 s on one core of this machine's CPU)."""
    import torch
    from torch import nn

    from hpbench.cost.microbench import fastest_call, timer

    now = timer(device)
    seq, n_in, hidden = CLIFF_PROBE
    gen = torch.Generator().manual_seed(0)
    m = nn.LSTM(n_in, hidden, batch_first=True).to(device)
    times = []
    for batch in CLIFF_BATCHES:
        x = torch.randn(batch, seq, n_in, generator=gen).to(device)

        def train_call(x: torch.Tensor = x) -> None:
            m(x)[0].sum().backward()

        times.append(fastest_call(train_call, now=now, min_s=min_s))
    return find_cliff(CLIFF_BATCHES, tuple(times), seq_len=seq, hidden=hidden)


def below_cliff(rates: dict[str, tuple[tuple[float, ...], tuple[float, ...]]], *, axes: tuple[tuple[int, ...], ...],
                cliff: tuple[float, ...]) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """The grid's training rates as if no call were past the cliff: a shape whose workspace is
    past it has its extra seconds (:func:`cliff_seconds`) taken out (at most 70% of its time), so
    that interpolating between shapes on both sides of the cliff does not smear it, and the
    prediction adds it back where the priced call's own workspace is past it."""
    if len(cliff) != 3:
        return rates
    out = dict(rates)
    for cell in CLIFF_CELLS:
        if cell not in rates:
            continue
        train, evaluate = rates[cell]
        fixed = []
        for shape, rate in zip(itertools.product(*axes), train, strict=True):
            seq, batch, n_in, hidden = shape
            flops = TRAIN_FLOPS_FACTOR * layer_flops(cell=cell, seq_len=seq, batch=batch, n_in=n_in, hidden=hidden)
            s = flops / rate
            extra = min(cliff_seconds(cell=cell, shape=(seq, batch, n_in, hidden), train=True, cliff=cliff), 0.7 * s)
            fixed.append(flops / (s - extra))
        out[cell] = (tuple(fixed), evaluate)
    return out


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
                 axes: tuple[tuple[int, ...], ...] = (), cliff: tuple[float, ...] = ()) -> float:
    """Seconds of one direction of one layer of ``shape`` (seq, batch, input, hidden): its FLOPs
    over the grid's rate at that shape. A call's time is a fixed part plus a part that grows with
    its work, so past the grid's largest value of an axis (``axes``: the grid's lengths, batches,
    inputs, hiddens) it costs what that edge did plus its further FLOPs at the edge's marginal
    rate: the difference of the axis' two largest values' FLOPs over that of their seconds.
    Holding the edge's rate instead charged the fixed part again: per 16 steps (LSTMs of 32-128
    steps +48% to +143%, session 13), per 128 samples, and at a GRU of 310 units and batch 1 the
    per-step overhead of 128 units per 128 units' work (+160% to +195%). Without the axes (or a
    marginal rate that is not positive: noise), the rate is held. A training call whose workspace
    is past the device's ``cliff`` pays its extra seconds (:func:`cliff_seconds`) on top."""
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

    return seconds(shape, 0) + cliff_seconds(cell=cell, shape=shape, train=train, cliff=cliff)


def _with(p: tuple[int, int, int, int], k: int, value: int) -> tuple[int, int, int, int]:
    q = list(p)
    q[k] = value
    return q[0], q[1], q[2], q[3]


def module_seconds(*, cell: str, shape: tuple[int, ...], train: bool,
                   rate: Callable[[str, tuple[float, float, float, float], bool], float], axes: tuple[tuple[int, ...], ...] = (),
                   cliff: tuple[float, ...] = ()) -> float:
    """Seconds of one call of a recurrent module of recorded ``shape`` (seq, batch, input, hidden,
    layers, directions): Σ over its layers and directions of :func:`call_seconds` at that layer's shape."""
    seq, batch, n_in, hidden, layers, dirs = shape
    return sum(call_seconds(cell=cell, shape=(seq, batch, k, h), train=train, rate=rate, axes=axes, cliff=cliff)
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
