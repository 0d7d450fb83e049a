"""Random numbers in a training step: which aten ops draw them, and what a drawn number costs.

Dropout draws a mask every step (``empty_like`` then ``bernoulli_``), noise layers and a GAN's
latent draw ``normal_``. On a CPU the generator's arithmetic, not the memory it writes, sets the
time: one thread of this session's machine (AMD EPYC) drew ``bernoulli_(0.8)`` at 5.5 ns an
element, ``uniform_`` at 1.9 and ``normal_`` at 2.3, against 0.04 ns for a ``fill_`` of the same
tensor from 32 K to 4 M elements. Until schema 12 the time model priced ``bernoulli_`` as a fill,
and a 3-layer width-256 MLP at batch 128 with dropout ran 0.84 s an epoch where it was priced
0.60 (0.60 measured without dropout): issue 18's held-out "long" study, whose trials ran 1.3-2.4x
their prices at any dropout and 1.05x at none.

So each drawing op is priced as its elements times the device's measured seconds per element of
its generator family (:func:`measure`, kept in :class:`hpbench.cost.device.DeviceModel`); its
dispatch overhead is counted with the other ops'.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

FAMILIES = ("bernoulli", "uniform", "normal")
# aten op -> the generator family whose measured rate prices it (in place or out of place, a
# like-shaped or a sized tensor; integer and permutation draws cost about what uniform ones do)
OPS = {
    "bernoulli_": "bernoulli", "bernoulli": "bernoulli", "native_dropout": "bernoulli",
    "uniform_": "uniform", "rand": "uniform", "rand_like": "uniform", "random_": "uniform", "randint": "uniform",
    "randint_like": "uniform", "randperm": "uniform", "exponential_": "uniform", "geometric_": "uniform", "multinomial": "uniform",
    "normal_": "normal", "normal": "normal", "randn": "normal", "randn_like": "normal", "log_normal_": "normal",
}
# elements drawn per timed call: a CPU's rate is flat from 32 K elements up (measured above); a
# GPU's call needs millions before its launch stops mattering
CPU_ELEMENTS = 1 << 18
GPU_ELEMENTS = 1 << 24


def family(op: str) -> str | None:
    """The generator family of aten op ``op`` (``None``: the op draws no random numbers)."""
    return OPS.get(op)


def seconds(*, op: str, elements: float, per_element_s: dict[str, float]) -> float:
    """Seconds to draw ``elements`` random numbers with ``op`` at the measured ``per_element_s``
    (family -> s); 0 when the op draws none or its family was not measured (a model measured
    before schema 12, or a hypothetical device)."""
    fam = family(op)
    return elements * per_element_s.get(fam, 0.0) if fam is not None else 0.0


def measure(*, device: str, rounds: int = 3) -> dict[str, float]:
    """Seconds per element drawn, per family, on ``device`` at the calling thread count: the
    fastest of ``rounds`` interleaved rounds (a compute kernel: other work only slows it)."""
    import torch

    from hpbench.cost.microbench import fastest_call, interleaved, timer

    n = CPU_ELEMENTS if device == "cpu" else GPU_ELEMENTS
    x = torch.empty(n, device=device)
    draws: dict[str, Callable[[], Any]] = {"bernoulli": lambda: x.bernoulli_(0.8), "uniform": lambda: x.uniform_(), "normal": lambda: x.normal_()}
    now = timer(device)
    runs = interleaved({f: functools.partial(fastest_call, draws[f], now=now, min_s=0.01) for f in FAMILIES}, rounds=rounds)
    return {f: min(runs[f]) / n for f in FAMILIES}
