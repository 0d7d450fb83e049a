"""The slowdown of concurrent trials, measured as the issue asks: two identical trials at once
against one alone, each in its own process (as Ray runs trials), each training the calibration
suite's epoch loop (:mod:`hpbench.cost.suite`) on the probe that is most bound by each regime.

Two worker processes are started and load torch; then worker A times its probes alone (B waits),
then both time the same probes at once. Per regime::

    slowdown = median epoch (A and B, together) / median epoch (A alone)

The median, not the fastest epoch: sharing is what is measured, and it is intermittent (the
fastest epoch of two processes on two cores can be one that ran alone). Two processes share the
last-level cache, the memory bandwidth and, when the machine has fewer free cores than trials,
the cores. It replaces a measurement with two threads of one process (a matmul and a copy), which
read 1.0 or 2.0 for the same machine from one calibration to the next and could not see the
trainer's Python work (the GIL serialised it).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from typing import Any

MIN_S = 0.3  # seconds of timed epochs per probe and run (long enough for the two workers to overlap)


def _epochs(probe: dict[str, Any], *, threads: int, device: str) -> list[float]:
    """Seconds of each timed epoch of one probe (after one untimed epoch)."""
    import torch

    from hpbench.cost.suite import Probe, build_probe
    from hpbench.train.epoch import train_epoch
    from hpbench.train.evaluate import evaluate
    from hpbench.train.optimizers import build_optimizer
    from hpbench.train.precision import MixedPrecision

    torch.set_num_threads(threads)
    p = Probe(**probe)
    torch.manual_seed(0)
    model, shape = build_probe(p)
    model = model.to(device)
    x, y = torch.randn((p.n_train, *shape), device=device), torch.randint(0, 10, (p.n_train,), device=device)
    xv, yv = torch.randn((p.n_val, *shape), device=device), torch.randint(0, 10, (p.n_val,), device=device)
    opt = build_optimizer(p.optimizer, model.parameters(), lr=1e-3, params={})
    loss_fn, gen, mixed = torch.nn.CrossEntropyLoss(), torch.Generator().manual_seed(0), MixedPrecision.of("fp32", torch.device(device))

    def epoch() -> float:
        t0 = time.perf_counter()
        train_epoch(model, opt, x=x, y=y, batch_size=p.batch_size, loss_fn=loss_fn, generator=gen, precision=mixed)
        evaluate(model, xv, yv, "multiclass", loss_fn)
        return time.perf_counter() - t0

    first = epoch()
    n = max(3, math.ceil(MIN_S / max(first, 1e-4)))
    return [epoch() for _ in range(n)]


def _child() -> None:
    """A worker: reads its probes (JSON) from stdin, says "ready", then for each "go" line times
    every probe and prints their epochs (JSON); ends at end of input."""
    spec = json.loads(sys.stdin.readline())
    import torch  # noqa: F401  (loaded before "ready": the timed runs start together)

    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "go":
            print(json.dumps({r: _epochs(p, threads=spec["threads"], device=spec["device"]) for r, p in spec["probes"].items()}), flush=True)


def slowdowns(alone: dict[str, list[float]], together: list[dict[str, list[float]]]) -> dict[str, float]:
    """Per regime: median epoch together (every worker's epochs) / median epoch alone, at least
    1.0 and at most 2.0 (two trials: at most twice as long; more is other load)."""
    out = {}
    for regime, solo in alone.items():
        both = [s for run in together for s in run.get(regime, [])]
        if solo and both:
            out[regime] = min(2.0, max(1.0, statistics.median(both) / statistics.median(solo)))
    return out


def measure(probes: dict[str, Any], *, threads: int = 1, device: str = "cpu") -> dict[str, float]:
    """Slowdown per regime of two identical trials at once vs one (``probes``: regime -> a
    :class:`hpbench.cost.suite.Probe`), in two fresh worker processes."""
    import dataclasses

    spec = json.dumps({"threads": threads, "device": device, "probes": {str(r): dataclasses.asdict(p) for r, p in probes.items()}})
    code = "from hpbench.cost.concurrency import _child; _child()"
    workers = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for w in workers:
            assert w.stdin is not None  # created with PIPE
            w.stdin.write(spec + "\n")
            w.stdin.flush()
        for w in workers:
            _expect(w, "ready")
        alone = _run(workers[:1])[0]
        together = _run(workers)
    finally:
        for w in workers:
            if w.stdin is not None:
                w.stdin.close()
            w.wait(timeout=60)
    return slowdowns(alone, together)


def _run(workers: list[subprocess.Popen[str]]) -> list[dict[str, list[float]]]:
    for w in workers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    return [json.loads(_expect(w, None)) for w in workers]


def _expect(w: subprocess.Popen[str], want: str | None) -> str:
    assert w.stdout is not None
    line = w.stdout.readline()
    if not line or (want is not None and line.strip() != want):
        raise RuntimeError(f"concurrency worker answered {line.strip()!r} (exit {w.poll()}), expected {want or 'epoch times'}")
    return line
