"""The device model: what one local device achieves, measured once and cached per machine.

Measured (``calibrate``) by micro-benchmarks: matmul FLOP/s over a range of sizes, convolution
FLOP/s (forward and backward) over a range of sizes, fused attention time over a range of
shapes, memory bandwidth (copies from in-cache sizes to beyond the last-level cache), per-op overhead (a tiny add); then the coefficients of
the epoch-time model in :mod:`hpbench.cost.predict`, fitted (non-negative least squares,
relative error) to timed training epochs of a suite of synthetic networks (:mod:`hpbench.cost.suite`). Cached as JSON with the hardware and
library versions it was measured with; a cache whose versions differ is measured again.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = 3  # 2: per-op roofline (conv and bandwidth curves, per-phase op overheads); 3: bandwidth by data volume (cache-aware)


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


@dataclass(frozen=True, kw_only=True)
class DeviceModel:
    device: str  # "cpu", "cuda:0", or "hypothetical"
    name: str  # CPU model / GPU name
    threads: int
    matmul_flops: tuple[float, ...] = ()  # FLOPs of the measured matmuls (ascending)
    matmul_flops_per_s: tuple[float, ...] = ()  # achieved FLOP/s at each
    peak_flops_per_s: float = 0.0
    bandwidth_bytes_per_s: float = math.inf  # a large copy, beyond the last-level cache (DRAM)
    bandwidth_bytes: tuple[float, ...] = ()  # bytes moved (read + write) by the measured copies (ascending)
    bandwidth_curve: tuple[float, ...] = ()  # achieved bytes/s at each: in-cache for small copies, DRAM for large
    op_overhead_s: float = 0.0
    conv_flops: tuple[float, ...] = ()  # FLOPs of the measured convolutions (ascending)
    conv_flops_per_s: tuple[float, ...] = ()  # achieved forward FLOP/s at each
    conv_backward_flops_per_s: tuple[float, ...] = ()  # achieved FLOP/s of convolution_backward (2x forward FLOPs)
    attention_coef: tuple[float, ...] = ()  # fused attention: (s per block, s per T_q·T_k·d) forward, then backward
    coef: dict[str, float] = field(default_factory=dict)  # step-time model coefficients (FEATURES)
    fit_error: float | None = None  # median relative error of the fit on its calibration suite
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

    def matmul_rate(self, flops: float) -> float:
        """Achieved FLOP/s for a matmul of ``flops`` FLOPs: log-log interpolation of the
        measurements, constant beyond their ends."""
        if not self.matmul_flops:
            return self.peak_flops_per_s
        return interp_loglog(self.matmul_flops, self.matmul_flops_per_s, max(flops, 1.0))

    def conv_rate(self, flops: float, *, backward: bool = False) -> float:
        """Achieved FLOP/s of a convolution (or its backward) of ``flops`` FLOPs; the matmul
        curve when convolutions were not measured."""
        ys = self.conv_backward_flops_per_s if backward else self.conv_flops_per_s
        if not self.conv_flops or not ys:
            return self.matmul_rate(flops)
        return interp_loglog(self.conv_flops, ys, max(flops, 1.0))

    def attention_seconds(self, *, bh: int, t_q: int, t_k: int, d: int, backward: bool = False) -> float:
        """Seconds of one fused attention kernel over ``bh`` (batch, head) blocks: per block a
        fixed cost plus one proportional to T_q·T_k·d (flash attention tiles each block); the
        matmul roofline of its FLOPs when attention was not measured."""
        if len(self.attention_coef) != 4:
            flops = 4.0 * bh * t_q * t_k * d * (2 if backward else 1)
            return flops / self.matmul_rate(flops)
        a, b = self.attention_coef[2:] if backward else self.attention_coef[:2]
        return attention_block_seconds(bh=bh, work=t_q * t_k * d, per_block_s=a, per_work_s=b)

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
        d = {k: v for k, v in d.items() if k != "schema"}
        for k in ("matmul_flops", "matmul_flops_per_s", "conv_flops", "conv_flops_per_s", "conv_backward_flops_per_s",
                  "attention_coef", "bandwidth_bytes", "bandwidth_curve"):
            d[k] = tuple(d.get(k, ()))
        return cls(**d)


def attention_block_seconds(*, bh: int, work: float, per_block_s: float, per_work_s: float) -> float:
    """bh · (per_block_s + per_work_s · T_q·T_k·d): flash attention loops over (batch, head) blocks."""
    return bh * (per_block_s + per_work_s * work)


# -- identity and cache ---------------------------------------------------------------------------

def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def identity(device: str) -> dict[str, str]:
    """Hardware and library versions a measurement holds for."""
    import torch

    from hpbench._version import __version__

    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else cpu_name()
    return {"host": platform.node(), "hardware": name, "cpus": str(os.cpu_count()), "torch": torch.__version__,
            "python": platform.python_version(), "hpbench": __version__, "schema": str(SCHEMA)}


def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~/.cache/hpbench/devices"))


def cache_file(cache_dir: Path, device: str, threads: int) -> Path:
    return cache_dir / f"{platform.node() or 'host'}-{device.replace(':', '')}-t{threads}.json"


def load_cached(path: Path, device: str) -> DeviceModel | None:
    try:
        model = DeviceModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return model if model.versions == identity(device) else None


def device_model(*, device: str = "cpu", threads: int = 1, cache_dir: Path | None = None, recalibrate: bool = False,
                 log: Callable[[str], None] | None = None) -> DeviceModel:
    """The cached model of ``device`` at ``threads``, measured (and cached) when absent or stale."""
    path = cache_file(cache_dir or default_cache_dir(), device, threads)
    if not recalibrate:
        cached = load_cached(path, device)
        if cached is not None:
            return cached
    model = calibrate(device=device, threads=threads, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(model.to_dict(), indent=2), encoding="utf-8")
    tmp.replace(path)
    return model


def local_devices() -> list[str]:
    import torch

    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


# -- measurement ----------------------------------------------------------------------------------

def _timer(device: str) -> Callable[[], float]:
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
    now = _timer(device)
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


def _kernel_s(total_s: float, overhead_s: float) -> float:
    """A kernel's own time: the timed call less the dispatch overhead the time model counts per op
    (at least a tenth of the call, so that noise cannot make a kernel free)."""
    return max(total_s - overhead_s, 0.1 * total_s)


def measure_matmul(*, device: str, sizes: tuple[int, ...], overhead_s: float = 0.0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Achieved FLOP/s of an n×n @ n×n matmul (2n³ FLOPs) for each n, its dispatch overhead excluded."""
    import torch

    flops, rates = [], []
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        s = time_call(lambda a=a, b=b: torch.mm(a, b), device=device)  # type: ignore[misc]
        flops.append(2.0 * n**3)
        rates.append(2.0 * n**3 / _kernel_s(s, overhead_s))
    # keep the curve monotone in FLOPs (noise on a shared machine can dip it)
    for i in range(1, len(rates)):
        rates[i] = max(rates[i], rates[i - 1] * 0.999)
    return tuple(flops), tuple(rates)


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


# (batch · heads, sequence length, head dim) of the measured attention kernels
ATTENTION_SHAPES = ((32, 8, 8), (64, 20, 4), (128, 16, 16), (256, 12, 24), (96, 32, 32), (64, 64, 16), (512, 24, 8))


def measure_attention(*, device: str, overhead_s: float = 0.0) -> tuple[float, float, float, float]:
    """(per block, per T²·d) seconds of fused attention forward and of its backward, by
    non-negative least squares over :data:`ATTENTION_SHAPES` (relative error)."""
    import numpy as np
    import torch
    from scipy.optimize import nnls

    fwd_rows, bwd_rows = [], []
    for bh, t, d in ATTENTION_SHAPES:
        q, k, v = (torch.randn(1, bh, t, d, device=device, requires_grad=True) for _ in range(3))
        f = time_call(lambda q=q, k=k, v=v: torch.nn.functional.scaled_dot_product_attention(q, k, v), device=device, repeats=3)  # type: ignore[misc]

        def fb(q: Any = q, k: Any = k, v: Any = v) -> None:
            torch.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()

        fbs = time_call(fb, device=device, repeats=3)
        fwd_rows.append((bh, bh * t * t * d, _kernel_s(f, overhead_s)))
        bwd_rows.append((bh, bh * t * t * d, max(fbs - f - 3 * overhead_s, 0.1 * fbs)))  # less the sum and its backward

    def solve(rows: list[tuple[int, int, float]]) -> tuple[float, float]:
        a = np.array([[r[0] / r[2], r[1] / r[2]] for r in rows])
        scale = a.max(axis=0)
        c, _ = nnls(a / scale, np.ones(len(rows)))
        c = c / scale
        return float(c[0]), float(c[1])

    return (*solve(fwd_rows), *solve(bwd_rows))


def measure_bandwidth(*, device: str, n_bytes: int = 64 << 20) -> float:
    """Bytes/s of a large copy (read + write = 2 · size)."""
    import torch

    a = torch.empty(n_bytes // 4, device=device)
    b = torch.empty_like(a)
    s = time_call(lambda: b.copy_(a), device=device)
    return 2.0 * n_bytes / s


# bytes moved (read + write) by the measured copies: within L1/L2, within the last-level cache, beyond it
BANDWIDTH_SIZES = (256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20)


def measure_bandwidth_curve(*, device: str, overhead_s: float = 0.0, sizes: tuple[int, ...] = BANDWIDTH_SIZES,
                            ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(bytes moved, bytes/s) of copies of each size, their dispatch overhead excluded (buffers hot:
    a small copy runs from cache, a large one from DRAM)."""
    import torch

    rates = []
    for n_bytes in sizes:
        a = torch.empty(n_bytes // 8, device=device)
        b = torch.empty_like(a)
        s = time_call(lambda a=a, b=b: b.copy_(a), device=device)  # type: ignore[misc]
        rates.append(n_bytes / _kernel_s(s, overhead_s))
    return tuple(float(n) for n in sizes), tuple(rates)


def measure_overhead(*, device: str) -> float:
    """Seconds of one tiny eager op (the dispatch floor)."""
    import torch

    a = torch.ones(1, device=device)
    return time_call(lambda: torch.add(a, a), device=device, min_s=0.01)


def calibrate(*, device: str = "cpu", threads: int = 1, log: Callable[[str], None] | None = None, quick: bool = False) -> DeviceModel:
    """Measure ``device`` at ``threads`` (CPU threads; ignored for CUDA)."""
    import torch

    from hpbench.cost import suite

    log = log or (lambda _m: None)
    t0 = time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        oh = measure_overhead(device=device)
        sizes = (8, 16, 32, 64, 128, 256, 512, 1024) if device == "cpu" else (16, 64, 256, 1024, 2048, 4096, 8192)
        log(f"{device}: matmul FLOP/s over sizes {sizes[0]}..{sizes[-1]}")
        mf, mr = measure_matmul(device=device, sizes=sizes, overhead_s=oh)
        log(f"{device}: convolution FLOP/s (forward, backward) over {len(CONV_SHAPES)} shapes")
        cf, cr, cbr = measure_conv(device=device, overhead_s=oh)
        log(f"{device}: memory bandwidth")
        bw = measure_bandwidth(device=device)
        bwx, bwy = measure_bandwidth_curve(device=device, overhead_s=oh)
        log(f"{device}: fused attention over {len(ATTENTION_SHAPES)} shapes")
        att = measure_attention(device=device, overhead_s=oh)
        base = DeviceModel(device=device, name=identity(device)["hardware"], threads=threads, matmul_flops=mf, matmul_flops_per_s=mr,
                           peak_flops_per_s=max(mr), bandwidth_bytes_per_s=bw, bandwidth_bytes=bwx,
                           bandwidth_curve=bwy, op_overhead_s=oh, conv_flops=cf, conv_flops_per_s=cr,
                           conv_backward_flops_per_s=cbr, attention_coef=att)
        log(f"{device}: timing the calibration suite of training epochs")
        coef, err = suite.fit(base, device=device, quick=quick)
    finally:
        torch.set_num_threads(before)
    return DeviceModel(**{**base.__dict__, "coef": coef, "fit_error": err, "versions": identity(device),
                          "measured_at": time.time(), "calibration_s": time.perf_counter() - t0})


