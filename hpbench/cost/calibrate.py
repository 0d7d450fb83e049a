"""Calibrating a local device, once per machine: the micro-benchmarks
(:mod:`hpbench.cost.microbench`), then the epoch-time model's coefficients fitted
(non-negative least squares, relative error) to timed training epochs of a suite of synthetic
networks (:mod:`hpbench.cost.suite`). Cached as JSON with the hardware and library versions it
was measured with (the host identity); a cache whose versions differ is measured again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hpbench.cost import activations, concurrency, conv, model_check, rng, suite, trainer_probe, warmup
from hpbench.cost import microbench as mb
from hpbench.cost import recurrent as rnn
from hpbench.cost.device import DeviceModel
from hpbench.cost.history import default_cache_dir, device_cache_file
from hpbench.cost.model_check import cpu_name
from hpbench.cost.model_check import well_formed as _well_formed  # noqa: F401  (read here by the tests, as before)
from hpbench.results.files import atomic_write_json
from hpbench.train import allocator


def identity(device: str) -> dict[str, str]:
    """Hardware and library versions a measurement holds for (:func:`hpbench.cost.model_check.identity`, every key)."""
    import torch

    name = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else cpu_name()
    return model_check.identity(torch_version=torch.__version__, hardware=name)


def cache_file(cache_dir: Path, device: str, threads: int) -> Path:
    return device_cache_file(cache_dir, device, threads)  # named in history: the driver reads a model's tag without torch


def load_cached(path: Path, device: str) -> DeviceModel | None:
    """The cached model, its warm-up constants held at their ceilings (:func:`hpbench.cost.warmup.bounded`),
    or None when it is missing, unreadable, malformed (any content that is not a device model of
    numbers: the cache is measured again, never trusted), of another hpbench's model schema or
    measured with other hardware or versions: :func:`refused`'s rule, which the driver reads too."""
    model = refused(path, device).model
    # held at the warm-up ceilings here too: a cache measured before them (or under other ones) is priced as a new calibration is
    return warmup.bounded(model) if model is not None else None


def refused(path: Path, device: str) -> model_check.Verdict:
    """The model cached in ``path`` for ``device``, or why it is refused (:func:`hpbench.cost.model_check.read`)."""
    return model_check.read(path, identity(device))


def device_model(*, device: str = "cpu", threads: int = 1, cache_dir: Path | None = None, recalibrate: bool = False,
                 log: Callable[[str], None] | None = None) -> DeviceModel:
    """The cached model of ``device`` at ``threads``, measured (and cached) when absent or stale."""
    path = cache_file(cache_dir or default_cache_dir(), device, threads)
    if not recalibrate:
        cached = load_cached(path, device)
        if cached is not None:
            return cached
    model = calibrate(device=device, threads=threads, log=log) if worker_env(threads) is None else calibrate_as_worker(
        device=device, threads=threads, log=log)
    # `estimate` and the dispatcher's prediction helper may calibrate at once: each writes its own
    # temporary file, fsyncs it and renames it over (a reader sees one whole model or the other)
    atomic_write_json(path, model.to_dict())
    return model


# Ray starts each trial's worker with OMP_NUM_THREADS = the trial's CPUs, before torch is loaded;
# a calibration that only calls torch.set_num_threads runs in another thread environment than the
# trials it prices. So it runs where that variable is what a trial's worker gets (a child process
# when this one differs; the trainer probe and the concurrency workers inherit it). Principle, not
# a measured gain: benchmarks/ray_worker_pace.py timed 9 suite probes in a plain process with and
# without it, in a Ray task and in a Tune trial, four times; the runs disagreed at the load of the
# time (plain / with it 1.16 and 1.00, 1.13, 0.87, 0.93: results/benchmarks/ray_worker_pace.md).
WORKER_THREAD_ENV = "OMP_NUM_THREADS"


def worker_env(threads: int) -> dict[str, str] | None:
    """The environment a trial's worker at ``threads`` CPUs runs with, when this process's differs
    (None: this process already runs as a worker would)."""
    if os.environ.get(WORKER_THREAD_ENV) == str(threads):
        return None
    return {**os.environ, WORKER_THREAD_ENV: str(threads)}


def calibrate_as_worker(*, device: str, threads: int, log: Callable[[str], None] | None = None) -> DeviceModel:
    """:func:`calibrate` in a child interpreter with a trial worker's thread environment
    (:func:`worker_env`); its log lines are passed on to ``log``."""
    code = f"from hpbench.cost.calibrate import _child; _child({device!r}, {threads})"
    proc = subprocess.Popen([sys.executable, "-c", code], env=worker_env(threads), stdout=subprocess.PIPE, text=True)
    result = None
    if proc.stdout is None:  # created with PIPE: never
        raise RuntimeError("calibration child without a stdout pipe")
    for line in proc.stdout:
        if line.startswith(_MODEL):
            result = json.loads(line[len(_MODEL):])
        elif log is not None:
            log(line.rstrip("\n"))
    if proc.wait() != 0 or result is None:
        raise RuntimeError(f"calibrating {device} in a child process failed (exit {proc.returncode})")
    return DeviceModel.from_dict(result)


_MODEL = "hpbench-device-model: "


def _child(device: str, threads: int) -> None:
    """In the child: calibrate and print the model as one JSON line after the log lines."""
    model = calibrate(device=device, threads=threads, log=lambda m: print(m, flush=True))
    print(_MODEL + json.dumps(model.to_dict()), flush=True)


# Every micro-benchmark is taken in ROUNDS rounds (microbench.interleaved: each round takes every
# measurement once), and the rounds combined per figure: a compute kernel (matmul, convolution,
# attention, the dispatch floor of a tiny op) at its fastest round, since other work on the machine
# only ever slows it and its fastest is the kernel's own speed; the copy bandwidth (and its curve)
# at its median, since DRAM and the last-level cache are shared with whatever else runs, steadily
# rather than in bursts, and the trials meet it at its typical value. Session 7's three
# calibrations on the idle machine, each micro-benchmark taken once: copy bandwidth 1.90x apart,
# the dispatch floor 1.76x, the largest convolution 2.27x (results/benchmarks/calibration_repeat-s7.md).
ROUNDS = 3
_CPU_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
_GPU_SIZES = (16, 64, 256, 1024, 2048, 4096, 8192)


def micro_benchmarks(*, device: str, rounds: int = ROUNDS) -> dict[str, Any]:
    """The device model's micro-benchmark fields, each combined over ``rounds`` interleaved rounds
    (see ROUNDS): first the dispatch floor and the large copy (neither needs the floor), then the
    kernels whose rates exclude it."""
    first = mb.interleaved({"overhead": partial(mb.measure_overhead, device=device, repeats=3),
                            "bandwidth": partial(mb.measure_bandwidth, device=device, repeats=3)}, rounds=rounds)
    oh = min(first["overhead"])
    sizes = _CPU_SIZES if device == "cpu" else _GPU_SIZES
    att_axes = mb.ATTENTION_GRID_CPU if device == "cpu" else mb.ATTENTION_GRID_GPU
    measures: dict[str, Callable[[], Any]] = {
        "matmul": partial(mb.measure_matmul, device=device, sizes=sizes, overhead_s=oh, repeats=3),
        "conv": partial(mb.measure_conv, device=device, overhead_s=oh),
        "curve": partial(mb.measure_bandwidth_curve, device=device, overhead_s=oh, repeats=3),
        "attention": partial(mb.attention_grid_seconds, device=device, axes=att_axes, overhead_s=oh)}
    kernels = mb.interleaved(measures, rounds=rounds)
    matmul: list[Any] = kernels["matmul"]
    conv: list[Any] = kernels["conv"]
    curve: list[Any] = kernels["curve"]
    att: list[Any] = kernels["attention"]
    mr = mb.fastest_rates([r for _, r in matmul])
    # attention's seconds per score: the fastest round is the smallest (1 / the highest rate)
    att_f = tuple(1.0 / r for r in mb.fastest_rates([tuple(1.0 / s for s in f) for f, _ in att]))
    att_b = tuple(1.0 / r for r in mb.fastest_rates([tuple(1.0 / s for s in b) for _, b in att]))
    return {"op_overhead_s": oh, "bandwidth_bytes_per_s": statistics.median(first["bandwidth"]),
            "matmul_flops": matmul[0][0], "matmul_flops_per_s": mr, "peak_flops_per_s": max(mr),
            "conv_flops": conv[0][0], "conv_flops_per_s": mb.fastest_rates([c[1] for c in conv]),
            "conv_backward_flops_per_s": mb.fastest_rates([c[2] for c in conv]),
            "bandwidth_bytes": curve[0][0], "bandwidth_curve": mb.median_rates([c[1] for c in curve]),
            "attention_grid": att_axes, "attention_grid_s": (att_f, att_b)}


def local_devices() -> list[str]:
    import torch

    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]


def calibrate(*, device: str = "cpu", threads: int = 1, log: Callable[[str], None] | None = None, quick: bool = False) -> DeviceModel:
    """Measure ``device`` at ``threads`` (CPU threads; ignored for CUDA)."""
    import torch

    log = log or (lambda _m: None)
    t0 = time.perf_counter()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    allocator.tune()  # as the trials train (hpbench.train.allocator)
    try:
        log(f"{device}: dispatch overhead, copy bandwidth, matmul, convolution and attention, {ROUNDS} interleaved rounds")
        micro = micro_benchmarks(device=device, rounds=ROUNDS)
        oh = micro["op_overhead_s"]
        grid = mb.MATMUL_GRID_CPU if device == "cpu" else mb.MATMUL_GRID_GPU
        log(f"{device}: matmul FLOP/s over {math.prod(len(ax) for ax in grid)} shapes (M, K, N), {ROUNDS} passes")
        mgrid = mb.capped(mb.measure_matmul_grid(device=device, axes=grid, overhead_s=oh, rounds=ROUNDS),
                          ceiling=mb.GRID_CEILING * micro["matmul_flops_per_s"][-1])
        rgrid = rnn.RECURRENT_GRID_CPU if device == "cpu" else rnn.RECURRENT_GRID_GPU
        log(f"{device}: recurrent layers (RNN, GRU, LSTM; training and evaluation) over {math.prod(len(ax) for ax in rgrid)} shapes each,"
            " and an LSTM's workspace past the caches")
        rrates = rnn.measure_recurrent_grid(device=device, axes=rgrid)
        cliff = rnn.measure_workspace_cliff(device=device) if device == "cpu" else ()
        rrates = rnn.below_cliff(rrates, axes=rgrid, cliff=cliff)
        cgrid = conv.CONV_GRID_CPU if device == "cpu" else conv.CONV_GRID_GPU
        log(f"{device}: 2-D convolutions (training and evaluation) over {math.prod(len(ax) for ax in cgrid)} shapes")
        crates, cfirst = conv.measure_conv_grid(device=device, axes=cgrid)
        log(f"{device}: random numbers drawn (bernoulli, uniform, normal) and activations (forward, backward), {ROUNDS} interleaved rounds")
        drawn = rng.measure(device=device, rounds=ROUNDS)
        nonlinear = activations.measure(device=device, rounds=ROUNDS)
        base = DeviceModel(device=device, name=identity(device)["hardware"], threads=threads, matmul_grid=grid, matmul_grid_flops_per_s=mgrid,
                           recurrent_grid=rgrid, recurrent_flops_per_s=rrates, recurrent_cliff=cliff, conv_grid=cgrid, conv_grid_flops_per_s=crates,
                           conv_first_call_s=cfirst, random_s_per_element=drawn, activation_s_per_element=nonlinear, **micro)
        log(f"{device}: timing the calibration suite of training epochs")
        fitted = suite.fit(base, device=device, quick=quick)
        log(f"{device}: two identical trials at once vs one, per regime (concurrent trials)")
        slowdown = concurrency.measure(suite.most_bound(base, fitted.coef, probes=suite.QUICK if quick else suite.PROBES),
                                       threads=threads, device=device)
    finally:
        torch.set_num_threads(before)
    model = dataclasses.replace(base, coef=fitted.coef, fit_error=fitted.fit_error, warmup_fraction=fitted.warmup_fraction,
                                intervals=fitted.intervals, concurrency_slowdown=slowdown)
    log(f"{device}: the trainer's fixed costs (a tiny trial in a fresh process)")
    per_epoch, first = trainer_probe.measure(model, threads=threads, device=device)
    model = warmup.bounded(dataclasses.replace(model, trainer_epoch_s=per_epoch, first_epoch_s=first))
    if (held := warmup.describe(model)) is not None:
        log(held)
    return dataclasses.replace(model, versions=identity(device), measured_at=time.time(), calibration_s=time.perf_counter() - t0)
