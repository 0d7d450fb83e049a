"""How steady this machine's pace is (issue 13's noise floor, seen from a plain process): two fixed
one-thread workloads timed over and over for a while, nothing else changing, and how far their
times move from sample to sample and from minute to minute.

* ``steps``: 100 training steps of a small MLP (64-256-256-10, Adam, batch 32): overhead-bound,
  as the small trials of the studies here are;
* ``matmul``: 20 products of two 256 x 256 float32 matrices: compute-bound.

Each sample is timed by the thread's CPU clock (``time.thread_time``: a wait for a core does not
count) and by the wall clock. Reports per workload the median, P10, P90, min and max of the CPU
times, max / min, the median of each minute (the slow drift), and the lag-1 correlation of the
samples (near 0: fast noise; near 1: slow drift). Run it under ``benchmarks/exclusive.sh`` with
nothing else running:

    .venv/bin/python benchmarks/pace_drift.py [--seconds 150] [--out results/benchmarks/pace_drift.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def workloads() -> dict[str, Callable[[], None]]:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(mlp.parameters())
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    a = torch.randn(256, 256)

    def steps() -> None:
        for _ in range(100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(mlp(x), y).backward()
            opt.step()

    def matmul() -> None:
        for _ in range(20):
            a @ a

    return {"steps": steps, "matmul": matmul}


def lag1(xs: list[float]) -> float | None:
    """The lag-1 autocorrelation of ``xs`` (None for fewer than 3 samples or no spread)."""
    if len(xs) < 3:
        return None
    m = statistics.fmean(xs)
    den = sum((x - m) ** 2 for x in xs)
    return None if den == 0 else sum((a - m) * (b - m) for a, b in itertools.pairwise(xs)) / den


def summary(samples: list[tuple[float, float, float]]) -> dict[str, Any]:
    """``samples``: (seconds since the start, CPU s, wall s) of one workload."""
    cpu = [c for _, c, _ in samples]
    q = statistics.quantiles(cpu, n=10, method="inclusive")
    minutes: dict[int, list[float]] = {}
    for t, c, _ in samples:
        minutes.setdefault(int(t // 60), []).append(c)
    return {"n": len(cpu), "median_s": statistics.median(cpu), "p10_s": q[0], "p90_s": q[-1], "min_s": min(cpu), "max_s": max(cpu),
            "max_over_min": max(cpu) / min(cpu), "median_over_min": statistics.median(cpu) / min(cpu),
            "minute_medians_s": [statistics.median(v) for _, v in sorted(minutes.items())], "lag1": lag1(cpu),
            "wall_over_cpu": statistics.median(w / c for _, c, w in samples if c > 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=150.0)
    ap.add_argument("--every", type=float, default=0.5, help="pause between samples (s)")
    ap.add_argument("--out", type=Path, default=Path("results/benchmarks/pace_drift.json"))
    args = ap.parse_args()
    work = workloads()
    for f in work.values():  # warm
        f()
    out: dict[str, list[tuple[float, float, float]]] = {k: [] for k in work}
    t0 = time.time()
    loads = [os.getloadavg()[0]]
    while time.time() - t0 < args.seconds:
        for name, f in work.items():
            c0, w0 = time.thread_time(), time.perf_counter()
            f()
            out[name].append((time.time() - t0, time.thread_time() - c0, time.perf_counter() - w0))
        time.sleep(args.every)
    loads.append(os.getloadavg()[0])
    res = {"seconds": args.seconds, "load_average": loads, "cpus": os.cpu_count(), "at": t0,
           "workloads": {k: summary(v) for k, v in out.items()}, "samples": {k: [list(s) for s in v] for k, v in out.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1), encoding="utf-8")
    md = [f"# Pace drift: two fixed one-thread workloads for {args.seconds:.0f} s (load {loads[0]:.1f} -> {loads[-1]:.1f})", "",
          "| workload | n | median ms | P10-P90 ms | min-max ms | max / min | median / min | each minute's median ms | lag-1 correlation | wall / CPU |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for k, s in res["workloads"].items():
        lag = "-" if s["lag1"] is None or math.isnan(s["lag1"]) else f"{s['lag1']:.2f}"
        md.append(f"| {k} | {s['n']} | {1e3 * s['median_s']:.1f} | {1e3 * s['p10_s']:.1f}-{1e3 * s['p90_s']:.1f} | "
                  f"{1e3 * s['min_s']:.1f}-{1e3 * s['max_s']:.1f} | {s['max_over_min']:.2f} | {s['median_over_min']:.2f} | "
                  + " ".join(f"{1e3 * m:.1f}" for m in s["minute_medians_s"]) + f" | {lag} | {s['wall_over_cpu']:.2f} |")
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
