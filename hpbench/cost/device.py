"""The device model: what one local device achieves, as rates over sizes and the coefficients of
the epoch-time model in :mod:`hpbench.cost.predict`; pure data and its interpolation.

Measured by :mod:`hpbench.cost.calibrate` (micro-benchmarks of :mod:`hpbench.cost.microbench`,
then the fitted coefficients of :mod:`hpbench.cost.suite`), cached as JSON per machine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = 6  # 2: per-op roofline (conv and bandwidth curves, per-phase op overheads); 3: bandwidth by data volume (cache-aware);
# 4: whole trials (optimizer state priced at its working set, first-epoch warm-up, concurrency slowdown, intervals per regime);
# 5: the concurrency slowdown of two trial processes at once (hpbench.cost.concurrency), not two threads;
# 6: measured in a trial worker's thread environment (OMP_NUM_THREADS), intervals from leave-one-kind-out residuals


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
    warmup_fraction: float = 0.0  # median (first epoch - fastest) / fastest over the suite (hpbench.cost.trial_time)
    first_epoch_s: float = 0.0  # the first epoch's fixed extra in a fresh trial process (hpbench.cost.trainer_probe)
    trainer_epoch_s: float = 0.0  # the trainer's fixed seconds per epoch beyond the epoch loop (hpbench.cost.trainer_probe)
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
        d["intervals"] = {str(k): (float(v[0]), float(v[1])) for k, v in dict(d.get("intervals") or {}).items()}
        return cls(**d)


def attention_block_seconds(*, bh: int, work: float, per_block_s: float, per_work_s: float) -> float:
    """bh · (per_block_s + per_work_s · T_q·T_k·d): flash attention loops over (batch, head) blocks."""
    return bh * (per_block_s + per_work_s * work)
