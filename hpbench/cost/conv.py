"""2-D convolutions priced from micro-benchmarks of their own kernels.

A convolution's rate on a CPU depends on its shape, not its FLOPs: oneDNN's kernels block the
channels, so a first layer with one input channel and a few output channels runs far below a
wide layer of the same FLOPs, and its backward (the input and the weight gradients) further still
(session 8, the quiet run's digits CNN at batch 881, 1 -> 4 -> 8 -> 16 channels on 8x8 maps,
torch.profiler, one thread: convolution_backward 4.0 ms and the forward 0.9 ms a step, where the
FLOP curve of :func:`hpbench.cost.microbench.measure_conv` priced both at ~0.8 ms; the family
replayed -62% against the run's -26%). So ``nn.Conv2d``'s forward + backward (training) and its
forward under ``no_grad`` (evaluation) are timed on a small log grid of shapes (output positions
batch·H·W, input channels, output channels, kernel side; square 'same' kernels, stride 1), and a
layer of the user's model is priced at its own shape's rate by log-space interpolation
(:func:`hpbench.cost.device.interp_grid`, clamped at the grid's edges: beyond the grid the rate
stays at its edge, so time grows with the work). The grid's shapes are synthetic (random data,
8x8 maps, one layer): none is a configuration of ``benchmarks/cost_model.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

# (output positions batch·H·W, map side H = W, input channels, output channels, kernel side) of
# the measured convolutions. oneDNN's rate depends on the map's side as well as on the positions
# (one thread, loaded: 3524 positions 8 -> 16 channels on 2x2 maps trained at a third of the rate
# the same shape reached on 8x8 maps): sides 2 to 32 at a small and a large batch's positions
# (batch = positions / side²); channels from a first layer's one to a wide layer's 64 (beyond,
# the rate is held); one kernel side, 3 (the CNN family's default): another side is priced at
# the 3x3 rate of its shape (its FLOPs scale with k²; a 5x5 kernel measured 1.2-2.6x the 3x3
# rate at small shapes here, so a 5x5 layer is over-priced, not under-priced; a kernel axis
# (3, 5) doubled the grid's time). 54 shapes, each in the three MODES.
CONV_GRID_CPU = ((1024, 16384), (2, 8, 32), (1, 8, 64), (4, 16, 64), (3,))
CONV_GRID_GPU = ((16384, 262144), (4, 16, 64), (3, 64, 256), (16, 128, 512), (3,))  # not yet run on a GPU


def conv_flops(*, positions: int, c_in: int, c_out: int, kernel: int) -> float:
    """Forward FLOPs of a 2-D convolution: 2 · (batch·H_out·W_out) · C_in · C_out · k² (a
    multiply and an add per weight per output position; the FLOP counter's formula,
    torch.utils.flop_counter.conv_flop_count)."""
    return 2.0 * positions * c_in * c_out * kernel * kernel


# A training call (forward + backward) is charged 3x its forward FLOPs (the input gradient and
# the weight gradient each cost a forward's products), only to turn its measured seconds into a
# rate; the prediction divides the same FLOPs by that rate, so the factor cancels on the grid.
TRAIN_FLOPS_FACTOR = 3.0


def call_flops(shape: tuple[float, ...], mode: str) -> float:
    """FLOPs charged to one call of grid ``shape`` (batch·H_out·W_out, side, C_in, C_out, kernel)
    in ``mode`` (:data:`MODES`): its forward's, x3 for training."""
    positions, _, c_in, c_out, kernel = shape[:5]
    factor = 1.0 if mode == "eval" else TRAIN_FLOPS_FACTOR
    return factor * conv_flops(positions=int(positions), c_in=int(c_in), c_out=int(c_out), kernel=int(kernel))


def layer_seconds(*, shape: tuple[int, ...], train: bool, rate: Callable[[tuple[float, ...], str], float]) -> float:
    """Seconds of one call of a convolution of recorded ``shape`` (batch·H_out·W_out, map side
    sqrt(H_out·W_out), C_in, C_out, kernel side, whether its input needs a gradient): its FLOPs
    (:func:`call_flops`) / the rate at that shape in that mode (:data:`MODES`)."""
    positions, side, c_in, c_out, kernel, input_grad = shape
    mode = ("train" if input_grad else "train_first") if train else "eval"
    point = (float(positions), float(side), float(c_in), float(c_out), float(kernel))
    return call_flops(point, mode) / rate(point, mode)


# The measured modes: training a layer whose input needs its gradient (every layer after the
# first), training a first layer (its input is the data: only the weight gradient; one thread,
# 881 8x8 maps 1 -> 4 channels, the input gradient made the backward several times slower),
# and evaluation (forward under no_grad).
MODES = ("train", "eval", "train_first")


def first_calls_seconds(calls: Iterable[tuple[tuple[int, ...], str]], *, first_call_s: tuple[float, ...]) -> float:
    """Extra seconds of a trial's first epoch for its convolutions: each distinct (shape, phase)
    of its recorded ``nn.Conv2d`` calls (the full batch's, the last batch's, the evaluation's)
    pays oneDNN's primitive creation once (a new shape is a new primitive, compiled at its first
    call and cached for the process) — ``first_call_s`` = (training, evaluation) extra of one new
    shape's first call over its fastest (:func:`measure_conv_grid`, the median over the grid).
    The quiet run of session 7 (seed 806290811) measured its CNN trials' first epoch a median
    29 ms over their second in Ray, every other family 2 ms."""
    if len(first_call_s) != 2:
        return 0.0
    train_s, eval_s = first_call_s
    return sum(train_s if phase == "forward" else eval_s for _, phase in set(calls))


def measure_conv_grid(*, device: str, axes: tuple[tuple[int, ...], ...], min_s: float = 0.002,
                      ) -> tuple[tuple[tuple[float, ...], ...], tuple[float, float]]:
    """(FLOP/s of ``nn.Conv2d`` in each of :data:`MODES` at every shape of ``axes`` (row-major, the
    last axis fastest; batch = positions / side², at least one map), (training, evaluation) extra
    seconds of a new shape's first call: the median over the shapes of its first call's time less
    its fastest). Training: forward + backward of ``out.sum()``, with and without the input's
    gradient; evaluation: forward under ``no_grad``. Each rate the fastest of 3 samples of >=
    ``min_s`` (:func:`~hpbench.cost.microbench.fastest_call`). The first calls cost nothing more:
    they are the warm-up calls the rates are measured after (training first: its forward and
    backward primitives; then evaluation: oneDNN's inference forward is a primitive of its own)."""
    import statistics

    import torch
    from torch import nn

    from hpbench.cost.microbench import fastest_call, timer

    now = timer(device)
    gen = torch.Generator().manual_seed(0)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    first: dict[str, list[float]] = {"train": [], "eval": []}
    for positions, side, c_in, c_out, kernel in itertools.product(*axes):
        batch = max(1, positions // (side * side))
        data = torch.randn(batch, c_in, side, side, generator=gen).to(device)
        x = data.clone().requires_grad_(True)
        m = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False).to(device)

        def train_call(m: nn.Module = m, x: torch.Tensor = x) -> None:
            m(x).sum().backward()

        def first_call(m: nn.Module = m, x: torch.Tensor = data) -> None:
            m(x).sum().backward()

        def eval_call(m: nn.Module = m, x: torch.Tensor = data) -> None:
            with torch.no_grad():
                m(x)

        flops = conv_flops(positions=batch * side * side, c_in=c_in, c_out=c_out, kernel=kernel)
        for mode, call in (("train", train_call), ("eval", eval_call)):
            t0 = now()
            call()
            first[mode].append(now() - t0)
        fastest = {mode: fastest_call(call, now=now, min_s=min_s)
                   for mode, call in (("train", train_call), ("eval", eval_call), ("train_first", first_call))}
        rates["train"].append(TRAIN_FLOPS_FACTOR * flops / fastest["train"])
        rates["eval"].append(flops / fastest["eval"])
        rates["train_first"].append(TRAIN_FLOPS_FACTOR * flops / fastest["train_first"])
        for mode in first:
            first[mode][-1] = max(0.0, first[mode][-1] - fastest[mode])
    return tuple(tuple(rates[mode]) for mode in MODES), (statistics.median(first["train"]), statistics.median(first["eval"]))
