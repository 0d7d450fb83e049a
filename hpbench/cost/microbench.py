"""Micro-benchmarks of one device: matmul FLOP/s over a range of sizes, convolution FLOP/s
(forward and backward) over a range of sizes, fused attention time over a range of shapes,
memory bandwidth (copies from in-cache sizes to beyond the last-level cache) and the per-op
overhead (a tiny add). Each returns what :class:`hpbench.cost.device.DeviceModel` records.

:func:`timer` and :func:`time_call` are the clock every timing in the cost model uses
(synchronizing the GPU before each reading). :func:`interleaved` repeats a set of measurements in
rounds; :func:`fastest_rates` and :func:`median_rates` combine the rounds (which, and why, in
:mod:`hpbench.cost.calibrate`).
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


def timer(device: str) -> Callable[[], float]:
    """A clock for timing work on ``device``: seconds, after the device has finished its queued work."""
    import torch

    if device.startswith("cuda"):
        dev = torch.device(device)

        def now() -> float:
            torch.cuda.synchronize(dev)
            return time.perf_counter()

        return now
    return time.perf_counter


def time_call(fn: Callable[[], Any], *, device: str, min_s: float = 0.02, repeats: int = 5) -> float:
    """Median seconds of one call of ``fn`` (batched so each sample lasts >= ``min_s``)."""
    now = timer(device)
    fn()
    t0 = now()
    fn()
    one = max(now() - t0, 1e-7)
    n = max(1, int(min_s / one))
    samples = []
    for _ in range(repeats):
        t0 = now()
        for _ in range(n):
            fn()
        samples.append((now() - t0) / n)
    samples.sort()
    return samples[len(samples) // 2]


def fastest_call(fn: Callable[[], Any], *, now: Callable[[], float], min_s: float, samples: int = 3) -> float:
    """Seconds of one call of ``fn``: the fastest of ``samples`` batches of >= ``min_s`` each,
    after one warm-up call (on a shared machine other work only adds time)."""
    fn()
    t0 = now()
    fn()
    calls = max(1, int(min_s / max(now() - t0, 1e-7)))
    best = math.inf
    for _ in range(samples):
        t0 = now()
        for _ in range(calls):
            fn()
        best = min(best, (now() - t0) / calls)
    return best


def interleaved(measures: dict[str, Callable[[], T]], *, rounds: int) -> dict[str, list[T]]:
    """Every measurement of ``measures`` ``rounds`` times, in rounds that each take every
    measurement once (the order rotated by one per round), so that a burst of other work on a
    shared machine lands on one sample of several figures, not on every sample of one (back-to-back
    copies of one measurement all met the same burst: three calibrations on the idle machine read
    copy bandwidth 56.7 / 49.1 / 29.8 GB/s, results/benchmarks/calibration_repeat-s7.md)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, but got {rounds}")
    names = list(measures)
    out: dict[str, list[T]] = {k: [] for k in names}
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for k in names[shift:] + names[:shift]:
            out[k].append(measures[k]())
    return out


def fastest_rates(samples: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Element-wise the highest rate of each point over the rounds (a compute kernel: other work
    on the machine only slows it, so its fastest round is the kernel's own speed)."""
    if not samples or len({len(s) for s in samples}) != 1:
        raise ValueError(f"fastest_rates needs rounds of equal length, but got lengths {[len(s) for s in samples]}")
    return tuple(max(col) for col in zip(*samples, strict=True))


def median_rates(samples: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Element-wise median over the rounds (a figure that the trials meet at its typical value)."""
    if not samples or len({len(s) for s in samples}) != 1:
        raise ValueError(f"median_rates needs rounds of equal length, but got lengths {[len(s) for s in samples]}")
    return tuple(statistics.median(col) for col in zip(*samples, strict=True))


def _kernel_s(total_s: float, overhead_s: float) -> float:
    """A kernel's own time: the timed call less the dispatch overhead the time model counts per op
    (at least a tenth of the call, so that noise cannot make a kernel free)."""
    return max(total_s - overhead_s, 0.1 * total_s)


def measure_matmul(*, device: str, sizes: tuple[int, ...], overhead_s: float = 0.0, repeats: int = 5,
                   ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Achieved FLOP/s of an n×n @ n×n matmul (2n³ FLOPs) for each n, its dispatch overhead excluded."""
    import torch

    flops, rates = [], []
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        s = time_call(lambda a=a, b=b: torch.mm(a, b), device=device, repeats=repeats)  # type: ignore[misc]
        flops.append(2.0 * n**3)
        rates.append(2.0 * n**3 / _kernel_s(s, overhead_s))
    return tuple(flops), monotone_from_above(rates)


def monotone_from_above(rates: list[float] | tuple[float, ...]) -> tuple[float, ...]:
    """A rate curve over ascending sizes made non-decreasing from its largest size down: no size
    runs faster than the next larger one. The large sizes are the reliable ones (their kernels
    dwarf the dispatch overhead subtracted from every call); a small size's rate is its call less
    an overhead measured apart, and when the two samples met different moments of a shared machine
    the difference can be near nothing (held at a tenth of the call by _kernel_s: up to 10x too
    fast). Made monotone from below instead, as before, that one small size's spike was carried to
    every larger size: a calibration read peak matmul 321 GFLOP/s (n = 32 onward; ~105 at n = 1024
    in the others), one of session 8's 'before' set 155."""
    out = list(rates)
    for i in range(len(out) - 2, -1, -1):
        out[i] = min(out[i], out[i + 1])
    return tuple(out)


def capped(rates: tuple[float, ...], *, ceiling: float) -> tuple[float, ...]:
    """Each rate at most ``ceiling`` (see :func:`monotone_from_above`: the matmul grid's small
    shapes are timed less the same overhead; no product is held to run faster than GRID_CEILING
    times the largest square product, whose rate the overhead does not touch)."""
    return tuple(min(r, ceiling) for r in rates)


GRID_CEILING = 1.1  # the grid's largest rates read 0.98-1.02x the 1024-square product's in session 8's calibrations


# (M sizes, K sizes, N sizes) of the measured (M x K) @ (K x N) products. M: a batch's rows (1 to
# full batches); K and N: layer widths, class counts (N = 2..10 for a head) and, in the backward,
# the batch itself (the weight gradient's K). N on powers of 2 up to 64: a CPU's kernels change
# below a vector's width (one thread here: (1024 x 256) @ (256 x N) ran 18 GFLOP/s at N = 10,
# 25 at 12, 69 at 16). Beyond the grid the rate is held at its edge (saturated).
MATMUL_GRID_CPU = ((1, 4, 16, 64, 256, 1024), (1, 4, 16, 64, 256, 1024), (1, 2, 4, 8, 16, 32, 64, 256, 1024))
MATMUL_GRID_GPU = ((16, 64, 256, 1024, 4096), (16, 64, 256, 1024, 4096), (2, 8, 32, 128, 512, 2048, 8192))


def measure_matmul_grid(*, device: str, axes: tuple[tuple[int, ...], ...], overhead_s: float = 0.0, min_s: float = 0.002,
                        rounds: int = 3) -> tuple[float, ...]:
    """Achieved FLOP/s of (M x K) @ (K x N) for every (M, K, N) of the grid ``axes`` (row-major,
    N fastest), its dispatch overhead excluded: the fastest of ``rounds`` passes over the whole
    grid, one sample of >= ``min_s`` per shape and pass (a compute kernel: other work only adds
    time; passes, not back-to-back samples, so that one burst of other work cannot take every
    sample of a shape). 324 shapes on the CPU grid, ~4 s on one core."""
    import torch

    now = timer(device)
    lhs = {(m, k): torch.randn(m, k, device=device) for m in axes[0] for k in axes[1]}
    rhs = {(k, n): torch.randn(k, n, device=device) for k in axes[1] for n in axes[2]}
    shapes = [(m, k, n) for m in axes[0] for k in axes[1] for n in axes[2]]
    best = [0.0] * len(shapes)
    for _ in range(rounds):
        for i, (m, k, n) in enumerate(shapes):
            s = fastest_call(partial(torch.mm, lhs[m, k], rhs[k, n]), now=now, min_s=min_s, samples=1)
            best[i] = max(best[i], 2.0 * m * k * n / _kernel_s(s, overhead_s))
    return tuple(best)


# (batch, side, c_in, c_out) of the measured 3x3 convolutions: first layers (1 channel in) to wide ones
CONV_SHAPES = ((16, 8, 1, 4), (32, 12, 1, 16), (32, 8, 8, 8), (32, 16, 4, 12), (64, 8, 16, 32), (32, 16, 24, 24),
               (64, 16, 16, 48), (64, 16, 48, 48), (128, 16, 64, 64))


def measure_conv(*, device: str, overhead_s: float = 0.0, shapes: tuple[tuple[int, int, int, int], ...] = CONV_SHAPES,
                 ) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """(forward FLOPs, forward FLOP/s, backward FLOP/s) of 3x3 'same' convolutions, sorted by FLOPs.
    The backward is ``aten.convolution_backward`` for the input and weight gradients (2x the forward FLOPs)."""
    import torch

    rows = []
    for n, side, ci, co in shapes:
        x = torch.randn(n, ci, side, side, device=device)
        w = torch.randn(co, ci, 3, 3, device=device)
        y = torch.nn.functional.conv2d(x, w, padding=1)
        g = torch.randn_like(y)
        f = 2.0 * ci * 9 * co * side * side * n
        fwd = time_call(lambda x=x, w=w: torch.nn.functional.conv2d(x, w, padding=1), device=device, repeats=3)  # type: ignore[misc]
        bwd = time_call(lambda x=x, w=w, g=g: torch.ops.aten.convolution_backward(g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                                                                  [True, True, False]), device=device, repeats=3)  # type: ignore[misc]
        rows.append((f, f / _kernel_s(fwd, overhead_s), 2 * f / _kernel_s(bwd, overhead_s)))
    rows.sort()
    return tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows)


# The grid of fused attention's measured shapes: (batch · heads, sequence length, head dim), row-major.
# A score's seconds are not a sum of a few terms (one thread of this machine's CPU, session 31, 96
# shapes in nn.MultiheadAttention's layout, 16-1,024 blocks, T 16-128, head dim 2-64, measured apart
# from any calibration): schema 12's fit of per block, per T²·d and per T² seconds over eleven
# contiguous shapes read them a median 24% / 29% off (forward / backward; P90 48% / 59%), a row
# short of a cache line over blocks beyond the caches costing twice as much per score; this grid's
# 36 shapes, interpolated, a median 6% / 8% (P90 18% / 25%, the largest at head dim 2, below the
# grid). Beyond 512 blocks a score costs what it does at 512 (256 and 1,024 within 10%).
ATTENTION_GRID_CPU = ((16, 128, 512), (16, 64, 128), (4, 8, 16, 64))
# A GPU's kernel is bound by its launch at the CPU's small shapes: its grid reaches longer sequences
# and larger heads (not measured in session 31: no GPU was lent), and past an edge a call's further
# work costs the marginal seconds between the edge and the value before it (DeviceModel.attention_seconds).
ATTENTION_GRID_GPU = ((16, 128, 512), (64, 256, 1024), (16, 64, 128))


def attention_grid_seconds(*, device: str, axes: tuple[tuple[int, ...], ...], overhead_s: float = 0.0,
                           ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(forward, backward) seconds per score (one query-key pair of one block) of fused attention
    at each shape of ``axes`` (:data:`ATTENTION_GRID_CPU`, :data:`ATTENTION_GRID_GPU`; row-major, head dim fastest), the dispatch overhead
    excluded (the backward: forward + backward of ``sum()`` less the forward and the 3 ops of the
    sum and its backward). Each of q, k and v is laid out as ``nn.MultiheadAttention`` hands them
    to the kernel: one (T, batch · heads, head dim) tensor seen as (batch · heads, T, head dim),
    consecutive positions of one head batch · heads · head dim floats apart. Measured contiguous
    instead, a small head dim's kernel ran about twice as fast as the model's (one thread, 256
    blocks, T 64, head dim 8: 1.7 ms forward against 3.2 ms; head dim 16: 1.6 against 1.7 ms)."""
    import torch

    def mha_layout(bh: int, t: int, d: int) -> Any:
        return torch.randn(t, bh, d, device=device).transpose(0, 1).unsqueeze(0).requires_grad_()

    fwd, bwd = [], []
    for bh, t, d in itertools.product(*axes):
        q, k, v = (mha_layout(bh, t, d) for _ in range(3))
        def fwd_only(q: Any = q, k: Any = k, v: Any = v) -> None:
            torch.nn.functional.scaled_dot_product_attention(q, k, v)

        f = time_call(fwd_only, device=device, repeats=3, min_s=0.01)

        def fb(q: Any = q, k: Any = k, v: Any = v) -> None:
            torch.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()

        fbs = time_call(fb, device=device, repeats=3, min_s=0.01)
        scores = bh * t * t
        fwd.append(_kernel_s(f, overhead_s) / scores)
        bwd.append(max(fbs - f - 3 * overhead_s, 0.1 * fbs) / scores)
    return tuple(fwd), tuple(bwd)


def measure_bandwidth(*, device: str, n_bytes: int = 64 << 20, repeats: int = 5) -> float:
    """Bytes/s of a large copy (read + write = 2 · size)."""
    import torch

    a = torch.empty(n_bytes // 4, device=device)
    b = torch.empty_like(a)
    s = time_call(lambda: b.copy_(a), device=device, repeats=repeats)
    return 2.0 * n_bytes / s


# bytes moved (read + write) by the measured copies: within L1/L2, within the last-level cache, beyond it
BANDWIDTH_SIZES = (256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20)


def measure_bandwidth_curve(*, device: str, overhead_s: float = 0.0, sizes: tuple[int, ...] = BANDWIDTH_SIZES, repeats: int = 5,
                            ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(bytes moved, bytes/s) of copies of each size, their dispatch overhead excluded (buffers hot:
    a small copy runs from cache, a large one from DRAM)."""
    import torch

    rates = []
    for n_bytes in sizes:
        a = torch.empty(n_bytes // 8, device=device)
        b = torch.empty_like(a)
        s = time_call(lambda a=a, b=b: b.copy_(a), device=device, repeats=repeats)  # type: ignore[misc]
        rates.append(n_bytes / _kernel_s(s, overhead_s))
    return tuple(float(n) for n in sizes), tuple(rates)


def measure_overhead(*, device: str, repeats: int = 5) -> float:
    """Seconds of one tiny eager op (the dispatch floor)."""
    import torch

    a = torch.ones(1, device=device)
    return time_call(lambda: torch.add(a, a), device=device, min_s=0.01, repeats=repeats)
