"""The device model: what one local device achieves, measured once and cached per machine.

Measured (``calibrate``): matmul FLOP/s over a range of sizes, memory bandwidth (a large copy),
per-op overhead (a tiny add), and the coefficients of the step-time model in
:mod:`hpbench.cost.predict`, fitted (non-negative least squares, relative error) to timed
training steps of a small suite of synthetic networks. Cached as JSON with the hardware and
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

from hpbench.cost.predict import FEATURES

SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class DeviceModel:
    device: str  # "cpu", "cuda:0", or "hypothetical"
    name: str  # CPU model / GPU name
    threads: int
    matmul_flops: tuple[float, ...] = ()  # FLOPs of the measured matmuls (ascending)
    matmul_flops_per_s: tuple[float, ...] = ()  # achieved FLOP/s at each
    peak_flops_per_s: float = 0.0
    bandwidth_bytes_per_s: float = math.inf
    op_overhead_s: float = 0.0
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
        xs, ys = self.matmul_flops, self.matmul_flops_per_s
        if not xs:
            return self.peak_flops_per_s
        if flops <= xs[0]:
            return ys[0] * max(flops, 1.0) / xs[0]  # below the smallest: time is flat (overhead bound)
        if flops >= xs[-1]:
            return ys[-1]
        for i in range(1, len(xs)):
            if flops <= xs[i]:
                t = (math.log(flops) - math.log(xs[i - 1])) / (math.log(xs[i]) - math.log(xs[i - 1]))
                return math.exp(math.log(ys[i - 1]) + t * (math.log(ys[i]) - math.log(ys[i - 1])))
        return ys[-1]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = SCHEMA
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeviceModel:
        d = {k: v for k, v in d.items() if k != "schema"}
        d["matmul_flops"] = tuple(d.get("matmul_flops", ()))
        d["matmul_flops_per_s"] = tuple(d.get("matmul_flops_per_s", ()))
        return cls(**d)


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

    import hpbench

    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else cpu_name()
    return {"host": platform.node(), "hardware": name, "cpus": str(os.cpu_count()), "torch": torch.__version__,
            "python": platform.python_version(), "hpbench": hpbench.__version__, "schema": str(SCHEMA)}


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


def measure_matmul(*, device: str, sizes: tuple[int, ...]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Achieved FLOP/s of an n×n @ n×n matmul (2n³ FLOPs) for each n."""
    import torch

    flops, rates = [], []
    for n in sizes:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        s = time_call(lambda a=a, b=b: torch.mm(a, b), device=device)
        flops.append(2.0 * n**3)
        rates.append(2.0 * n**3 / s)
    # keep the curve monotone in FLOPs (noise on a shared machine can dip it)
    for i in range(1, len(rates)):
        rates[i] = max(rates[i], rates[i - 1] * 0.999)
    return tuple(flops), tuple(rates)


def measure_bandwidth(*, device: str, n_bytes: int = 64 << 20) -> float:
    """Bytes/s of a large copy (read + write = 2 · size)."""
    import torch

    a = torch.empty(n_bytes // 4, device=device)
    b = torch.empty_like(a)
    s = time_call(lambda: b.copy_(a), device=device)
    return 2.0 * n_bytes / s


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
        sizes = (8, 16, 32, 64, 128, 256, 512, 1024) if device == "cpu" else (16, 64, 256, 1024, 2048, 4096, 8192)
        log(f"{device}: matmul FLOP/s over sizes {sizes[0]}..{sizes[-1]}")
        mf, mr = measure_matmul(device=device, sizes=sizes)
        log(f"{device}: memory bandwidth")
        bw = measure_bandwidth(device=device)
        oh = measure_overhead(device=device)
        base = DeviceModel(device=device, name=identity(device)["hardware"], threads=threads, matmul_flops=mf, matmul_flops_per_s=mr,
                           peak_flops_per_s=max(mr), bandwidth_bytes_per_s=bw, op_overhead_s=oh)
        log(f"{device}: timing the calibration suite of training steps")
        coef, err = suite.fit(base, device=device, quick=quick)
    finally:
        torch.set_num_threads(before)
    return DeviceModel(**{**base.__dict__, "coef": coef, "fit_error": err, "versions": identity(device),
                          "measured_at": time.time(), "calibration_s": time.perf_counter() - t0})


def coef_names() -> tuple[str, ...]:
    return FEATURES
