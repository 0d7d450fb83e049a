"""The device model: what one local device achieves, as rates over sizes and the coefficients of
the epoch-time model in :mod:`hpbench.cost.predict`; pure data and its interpolation.

Measured by :mod:`hpbench.cost.calibrate` (micro-benchmarks of :mod:`hpbench.cost.microbench`,
then the fitted coefficients of :mod:`hpbench.cost.suite`), cached as JSON per machine.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hpbench.cost.conv import MODES as CONV_MODES
from hpbench.cost.conv import call_flops as conv_call_flops

SCHEMA = 13  # 2: per-op roofline (conv and bandwidth curves, per-phase op overheads); 3: bandwidth by data volume (cache-aware);
# 4: whole trials (optimizer state priced at its working set, first-epoch warm-up, concurrency slowdown, intervals per regime);
# 5: the concurrency slowdown of two trial processes at once (hpbench.cost.concurrency), not two threads;
# 6: measured in a trial worker's thread environment (OMP_NUM_THREADS), intervals from leave-one-kind-out residuals;
# 7: matmul rates by shape (M, K, N) on a log grid (hpbench.cost.microbench.measure_matmul_grid);
# 8: recurrent layers' training and evaluation rates per cell type on a grid of shapes (hpbench.cost.recurrent);
# 9: every micro-benchmark and probe epoch in interleaved rounds (fastest or median per figure), the fit within bounds (hpbench.cost.fit);
# 10: 2-D convolutions' training and evaluation rates on a grid of shapes and a new shape's first call (hpbench.cost.conv);
# 11: fused attention priced per block, per T_q·T_k·d and per T_q·T_k score (6 coefficients; small head dims measured);
# 12: seconds per random number drawn, per generator family (dropout's masks were priced as fills: hpbench.cost.rng),
#     and per element of each activation's ops by size (what tanh, GELU, ... cost beyond ReLU: hpbench.cost.activations);
# 13: fused attention's seconds per score on a grid of (batch · heads, sequence length, head dim), measured in the layout
#     nn.MultiheadAttention hands the kernel (hpbench.cost.microbench.ATTENTION_GRID_CPU), not a fit of three terms;
#     recurrent layers' grid measured to batch 512 (hpbench.cost.recurrent.RECURRENT_GRID_CPU), an LSTM's workspace
#     cliff measured on a CPU (hpbench.cost.recurrent.measure_workspace_cliff) and the grid's rates taken below it


def interp_loglog(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    """y at ``x`` by piecewise-linear interpolation in log-log space over ascending ``xs``;
    constant beyond the last point, ``y0 · x / x0`` below the first (time flat: overhead bound)."""
    if not xs:
        raise ValueError("interp_loglog needs at least one point, but got none")
    if x <= xs[0]:
        return ys[0] * max(x, 1e-30) / xs[0]
    if x >= xs[-1]:
        return ys[-1]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            t = (math.log(x) - math.log(xs[i - 1])) / (math.log(xs[i]) - math.log(xs[i - 1]))
            return math.exp(math.log(ys[i - 1]) + t * (math.log(ys[i]) - math.log(ys[i - 1])))
    return ys[-1]


def interp_clamped(xs: tuple[float, ...], ys: tuple[float, ...], x: float) -> float:
    """y at ``x`` by log-log interpolation over ascending ``xs``, held constant beyond both ends."""
    if not xs:
        raise ValueError("interp_clamped needs at least one point, but got none")
    return interp_loglog(xs, ys, min(max(x, xs[0]), xs[-1]))


def interp_grid(axes: tuple[tuple[float, ...], ...], values: tuple[float, ...], point: tuple[float, ...]) -> float:
    """Value at ``point`` by multilinear interpolation of log(value) in log(coordinates) over a
    grid (``axes``: ascending coordinates per dimension; ``values``: row-major, the last axis
    fastest), each coordinate clamped to its axis: between two measured shapes the rate moves by
    the same factor per doubling of a dimension (what a power-law curve would do), and beyond the
    grid it stays at its edge (a matmul rate saturates with size)."""
    if not axes or len(point) != len(axes) or len(values) != math.prod(len(a) for a in axes) or any(not a for a in axes):
        raise ValueError(f"interp_grid needs one coordinate per axis and a value per grid point, but got {len(point)} coordinates, "
                         f"axes of {[len(a) for a in axes]} points and {len(values)} values")
    corners: list[tuple[int, float]] = [(0, 1.0)]  # (flat index over the axes so far, weight)
    for ax, x in zip(axes, point, strict=True):
        n = len(ax)
        if n == 1:
            continue
        x = min(max(x, ax[0]), ax[-1])
        i = next(j for j in range(1, n) if x <= ax[j])
        t = (math.log(x) - math.log(ax[i - 1])) / (math.log(ax[i]) - math.log(ax[i - 1]))
        corners = [(c * n + i - 1, w * (1.0 - t)) for c, w in corners] + [(c * n + i, w * t) for c, w in corners]
    return math.exp(sum(w * math.log(values[c]) for c, w in corners if w > 0))


@functools.lru_cache(maxsize=16)
def _quickest_conv_s(axes: tuple[tuple[int, ...], ...], rates: tuple[float, ...], mode: str) -> float:
    """The measured grid's quickest call in ``mode``: seconds of its cheapest shape (a kernel call's floor)."""
    return min(conv_call_flops(tuple(float(x) for x in point), mode) / r for point, r in zip(itertools.product(*axes), rates, strict=True))


@dataclass(frozen=True, kw_only=True)
class DeviceModel:
    device: str  # "cpu", "cuda:0", or "hypothetical"
    name: str  # CPU model / GPU name
    threads: int
    matmul_flops: tuple[float, ...] = ()  # FLOPs of the measured matmuls (ascending)
    matmul_flops_per_s: tuple[float, ...] = ()  # achieved FLOP/s at each
    peak_flops_per_s: float = 0.0
    matmul_grid: tuple[tuple[int, ...], ...] = ()  # (M sizes, K sizes, N sizes) of the measured (M x K) @ (K x N) products
    matmul_grid_flops_per_s: tuple[float, ...] = ()  # achieved FLOP/s at each grid point (row-major, N fastest)
    recurrent_grid: tuple[tuple[int, ...], ...] = ()  # (seq lengths, batches, inputs, hiddens) of the measured one-layer shapes
    recurrent_flops_per_s: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)  # per cell type
    # ("RNN", "GRU", "LSTM"): (training, evaluation) FLOP/s at each grid shape (row-major, hidden fastest), hpbench.cost.recurrent
    recurrent_cliff: tuple[float, ...] = ()  # an LSTM's training past its workspace cliff: (workspace bytes below it, past
    # it, seconds per byte) (hpbench.cost.recurrent.cliff_seconds; the grid's training rates are those below it); () for none
    conv_grid: tuple[tuple[int, ...], ...] = ()  # (batch·H·W, side, C_in, C_out, kernel) of the measured nn.Conv2d shapes
    conv_grid_flops_per_s: tuple[tuple[float, ...], ...] = ()  # FLOP/s in each of hpbench.cost.conv.MODES (training,
    # evaluation, training a first layer) at each grid shape (row-major, kernel fastest)
    conv_first_call_s: tuple[float, ...] = ()  # (training, evaluation) extra seconds of a new conv shape's first call
    bandwidth_bytes_per_s: float = math.inf  # a large copy, beyond the last-level cache (DRAM)
    bandwidth_bytes: tuple[float, ...] = ()  # bytes moved (read + write) by the measured copies (ascending)
    bandwidth_curve: tuple[float, ...] = ()  # achieved bytes/s at each: in-cache for small copies, DRAM for large
    op_overhead_s: float = 0.0
    conv_flops: tuple[float, ...] = ()  # FLOPs of the measured convolutions (ascending)
    conv_flops_per_s: tuple[float, ...] = ()  # achieved forward FLOP/s at each
    conv_backward_flops_per_s: tuple[float, ...] = ()  # achieved FLOP/s of convolution_backward (2x forward FLOPs)
    random_s_per_element: dict[str, float] = field(default_factory=dict)  # per generator family (hpbench.cost.rng.FAMILIES)
    activation_s_per_element: dict[str, tuple[float, ...]] = field(default_factory=dict)  # per activation op, at each of
    # hpbench.cost.activations.SIZES
    attention_grid: tuple[tuple[int, ...], ...] = ()  # (batch · heads, sequence lengths, head dims) of the measured fused attentions
    attention_grid_s: tuple[tuple[float, ...], ...] = ()  # (forward, backward): seconds per score (one query-key pair of one
    # block) at each grid shape (row-major, head dim fastest)
    coef: dict[str, float] = field(default_factory=dict)  # step-time model coefficients (FEATURES)
    fit_error: float | None = None  # median relative error of the fit on its calibration suite
    warmup_fraction: float = 0.0  # P25 of (first epoch - fastest) / fastest over the suite (hpbench.cost.warmup)
    first_epoch_s: float = 0.0  # the first epoch's fixed extra in a fresh trial process (hpbench.cost.trainer_probe)
    trainer_epoch_s: float = 0.0  # the trainer's fixed seconds per epoch beyond the epoch loop (hpbench.cost.trainer_probe)
    bounded: dict[str, float] = field(default_factory=dict)  # the warm-up constants measured beyond their ceiling (name ->
    # the value measured; the model holds the ceiling: hpbench.cost.warmup.bounded)
    concurrency_slowdown: dict[str, float] = field(default_factory=dict)  # per regime: two workloads at once / one alone
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)  # per regime: P10, P90 of measured / predicted
    versions: dict[str, str] = field(default_factory=dict)
    measured_at: float = 0.0
    calibration_s: float = 0.0
    hypothetical: bool = False

    @classmethod
    def hypothetical_device(cls, *, flops_per_s: float) -> DeviceModel:
        """A device doing ``flops_per_s`` at every size with no overhead (the textbook model)."""
        if not flops_per_s > 0:
            raise ValueError(f"--device-flops must be > 0, but got {flops_per_s}")
        return cls(device="hypothetical", name=f"{flops_per_s:.3g} FLOP/s", threads=1, matmul_flops=(1.0,),
                   matmul_flops_per_s=(flops_per_s,), peak_flops_per_s=flops_per_s, coef={"compute": 1.0, "conv": 1.0}, hypothetical=True)

    @property
    def fuses_attention_dropout(self) -> bool:
        """Whether attention trained with dropout runs as one fused kernel here: a GPU's flash and
        memory-efficient kernels draw the dropout inside; PyTorch's fused attention for CPU takes
        none, so a CPU runs the math path (:data:`hpbench.cost.ops.ATTENTION_PATHS`)."""
        return not self.device.startswith("cpu")

    def matmul_rate(self, flops: float) -> float:
        """Achieved FLOP/s for a matmul of ``flops`` FLOPs: log-log interpolation of the
        measurements, constant beyond their ends."""
        if not self.matmul_flops:
            return self.peak_flops_per_s
        return interp_loglog(self.matmul_flops, self.matmul_flops_per_s, max(flops, 1.0))

    def matmul_shape_rate(self, *, m: int, k: int, n: int) -> float:
        """Achieved FLOP/s of an (m x k) @ (k x n) product: the grid of measured shapes,
        interpolated (:func:`interp_grid`); the square-matmul curve at its FLOPs when the grid was
        not measured. A shape, not a FLOP count: on this machine's CPU (one thread) a (1024 x 64)
        @ (64 x 10) classifier head ran 15 GFLOP/s and a square product of the same FLOPs ~80."""
        if not self.matmul_grid:
            return self.matmul_rate(2.0 * m * k * n)
        return interp_grid(self.matmul_grid, self.matmul_grid_flops_per_s, (float(m), float(k), float(n)))

    def recurrent_rate(self, cell: str, shape: tuple[float, float, float, float], train: bool) -> float:
        """FLOP/s of one layer of a ``cell`` ("RNN", "GRU", "LSTM") at (seq, batch, input, hidden),
        training (forward + backward) or evaluating: the grid of measured shapes, interpolated
        (:func:`interp_grid`, clamped at its edges)."""
        rates = self.recurrent_flops_per_s[cell][0 if train else 1]
        return interp_grid(self.recurrent_grid, rates, shape)

    def prices_recurrent(self, cell: str) -> bool:
        """Whether a ``cell`` layer is priced from its measured grid (else from its ops, as before schema 8)."""
        return bool(self.recurrent_grid) and cell in self.recurrent_flops_per_s

    def conv_shape_rate(self, shape: tuple[float, ...], mode: str) -> float:
        """FLOP/s of an ``nn.Conv2d`` at (batch·H·W, side, C_in, C_out, kernel) in ``mode`` ("train",
        "eval" or "train_first": :data:`hpbench.cost.conv.MODES`): the grid of measured shapes,
        interpolated (:func:`interp_grid`, clamped at its edges). Below the grid's fewest output
        positions (a small batch's) the rate held at the edge prices a layer at positions / 1024 of
        the edge's time, but a convolution that small costs a kernel call's fixed time (session 12,
        one thread, 3x3 on 8x8 maps, forward + backward: batch 2 took 0.76-0.98 of batch 16's time
        at 1 -> 8, 4 -> 10, 8 -> 16 and 16 -> 16 channels; the quiet run's CNNs at batch 2-3 read -25
        to -55%): there the layer takes at least the quickest measured shape's time in that mode."""
        rates = self.conv_grid_flops_per_s[CONV_MODES.index(mode)]
        rate = interp_grid(self.conv_grid, rates, shape)
        if shape[0] >= self.conv_grid[0][0]:
            return rate
        return min(rate, conv_call_flops(shape, mode) / _quickest_conv_s(self.conv_grid, rates, mode))

    def prices_conv(self) -> bool:
        """Whether 2-D convolutions are priced from their measured grid (else from their ops, as before schema 9)."""
        return bool(self.conv_grid) and len(self.conv_grid_flops_per_s) == len(CONV_MODES)

    def conv_rate(self, flops: float, *, backward: bool = False) -> float:
        """Achieved FLOP/s of a convolution (or its backward) of ``flops`` FLOPs; the matmul
        curve when convolutions were not measured."""
        ys = self.conv_backward_flops_per_s if backward else self.conv_flops_per_s
        if not self.conv_flops or not ys:
            return self.matmul_rate(flops)
        return interp_loglog(self.conv_flops, ys, max(flops, 1.0))

    def attention_seconds(self, *, bh: int, t_q: int, t_k: int, d: int, backward: bool = False) -> float:
        """Seconds of one fused attention kernel over ``bh`` (batch, head) blocks of T_q x T_k
        scores, T the geometric mean of T_q and T_k: bh · T² · the seconds per score measured at
        that shape (:func:`interp_grid` over the grid); the matmul roofline of its FLOPs when
        attention was not measured. A score's cost is not a constant: flash attention's online
        softmax (max, exp, sum, rescale per score) dominates at small head dims, and a head dim
        under a cache line's 16 floats reads a whole line per row in ``nn.MultiheadAttention``'s
        layout, which costs most where the blocks outgrow the caches (one thread, T 64, head dim
        8: 1.5 ns per forward score at 16 blocks, 3.1 at 256). Past the grid's largest block count
        or length a call costs the edge's seconds plus its further blocks (scores) at the
        marginal seconds between the edge and the value before it (a kernel bound by its launch
        at the edge, as a GPU's is at short lengths, is not charged its fixed cost again per
        score); past the largest head dim, in proportion to the head dim (the two products' share)."""
        if not self.attention_grid:
            flops = 4.0 * bh * t_q * t_k * d * (2 if backward else 1)
            return flops / self.matmul_rate(flops)
        per_score = self.attention_grid_s[1 if backward else 0]
        (*_, b0, b1), (*_, t0, t1) = (ax if len(ax) > 1 else (ax[0], ax[0]) for ax in self.attention_grid[:2])

        def call(blocks: float, length: float) -> float:  # seconds at a point inside the grid
            return blocks * length * length * interp_grid(self.attention_grid, per_score, (blocks, length, float(d)))

        t = math.sqrt(t_q * t_k)

        def at_length(blocks: float) -> float:  # seconds of ``blocks`` (inside the grid) at length t, past the edge too
            s = call(blocks, min(t, t1))
            if t > t1:
                extra = (call(blocks, t1) - call(blocks, t0)) / (t1 * t1 - t0 * t0) if t1 > t0 else 0.0
                s += (t * t - t1 * t1) * (extra if extra > 0 else call(blocks, t1) / (t1 * t1))
            return s

        s = at_length(min(float(bh), b1))
        if bh > b1:
            extra = (s - at_length(b0)) / (b1 - b0) if b1 > b0 else 0.0
            s += (bh - b1) * (extra if extra > 0 else s / b1)
        return s * max(1.0, d / self.attention_grid[2][-1])

    def bandwidth(self, nbytes: float) -> float:
        """Bytes/s of a memory-bound op moving ``nbytes``: the copy bandwidth measured at the same
        data volume (log-log interpolation, constant beyond the measured sizes), so an op whose
        operands fit in cache runs at the in-cache rate and one that does not at DRAM's; the
        large-copy bandwidth when the curve was not measured."""
        if not self.bandwidth_bytes:
            return self.bandwidth_bytes_per_s
        return interp_clamped(self.bandwidth_bytes, self.bandwidth_curve, nbytes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = SCHEMA
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceModel:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}  # an older schema's figures (its "schema" too) are dropped
        for k in ("matmul_flops", "matmul_flops_per_s", "conv_first_call_s", "conv_flops", "conv_flops_per_s", "conv_backward_flops_per_s",
                  "bandwidth_bytes", "bandwidth_curve", "recurrent_cliff"):
            d[k] = tuple(d.get(k, ()))
        d["matmul_grid"] = tuple(tuple(int(x) for x in ax) for ax in d.get("matmul_grid", ()))
        d["matmul_grid_flops_per_s"] = tuple(d.get("matmul_grid_flops_per_s", ()))
        d["recurrent_grid"] = tuple(tuple(int(x) for x in ax) for ax in d.get("recurrent_grid", ()))
        d["conv_grid"] = tuple(tuple(int(x) for x in ax) for ax in d.get("conv_grid", ()))
        d["attention_grid"] = tuple(tuple(int(x) for x in ax) for ax in d.get("attention_grid", ()))
        d["attention_grid_s"] = tuple(tuple(float(x) for x in v) for v in d.get("attention_grid_s") or ())
        d["conv_grid_flops_per_s"] = tuple(tuple(float(x) for x in v) for v in d.get("conv_grid_flops_per_s") or ())
        d["recurrent_flops_per_s"] = {str(k): (tuple(v[0]), tuple(v[1])) for k, v in dict(d.get("recurrent_flops_per_s") or {}).items()}
        d["intervals"] = {str(k): (float(v[0]), float(v[1])) for k, v in dict(d.get("intervals") or {}).items()}
        d["bounded"] = {str(k): float(v) for k, v in dict(d.get("bounded") or {}).items()}
        d["random_s_per_element"] = {str(k): v for k, v in dict(d.get("random_s_per_element") or {}).items()}
        d["activation_s_per_element"] = {str(k): tuple(v) for k, v in dict(d.get("activation_s_per_element") or {}).items()}
        return cls(**d)

