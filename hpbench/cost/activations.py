"""Activation functions: what a nonlinearity other than ReLU costs beyond it, per element.

The time model prices an element-wise op by the bytes it moves (:mod:`hpbench.cost.predict`),
with a memory coefficient fitted on the calibration suite's networks, which all use ReLU. Most
activations cost what ReLU does, but not those that evaluate a transcendental function: one
thread of session 25's machine ran ``tanh`` at 2.0 ns an element where ``relu`` took 0.09 (32 K
elements, a width-256 layer's batch of 128), GELU 0.37 and its backward 0.76 (ReLU's 0.11), and a
width-256 MLP at batch 128 on a 48,000-row table was priced -19% with tanh and -18% with GELU where
it was priced -5% with ReLU.

So each activation's forward and backward op is priced, on top of its bytes, at the excess of
its measured seconds per element over ReLU's matching op (:data:`BASELINE`; never below 0) at the
op's size (per element, a call of a few thousand elements costs more than a large one: GELU read
1.73 ns at 4 K elements, 0.20 at 256 K): the suite's fit keeps pricing ReLU as it did, and a network
with another activation pays what that function costs more on this device (:func:`measure`, kept in
:class:`hpbench.cost.device.DeviceModel`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# aten op -> the ReLU op it is measured against (forward against relu, backward against threshold_backward)
BASELINE = {
    "tanh": "relu", "sigmoid": "relu", "gelu": "relu", "elu": "relu", "silu": "relu", "leaky_relu": "relu",
    "tanh_backward": "threshold_backward", "sigmoid_backward": "threshold_backward", "gelu_backward": "threshold_backward",
    "elu_backward": "threshold_backward", "silu_backward": "threshold_backward", "leaky_relu_backward": "threshold_backward",
}
OPS = (*BASELINE, "relu", "threshold_backward")
SIZES = (4096, 32768, 262144)  # elements per measured call: a small layer's batch to a large one's (in cache on a CPU)


def excess_seconds(*, op: str, elements: float, per_element_s: dict[str, tuple[float, ...]]) -> float:
    """Seconds op ``op`` takes on ``elements`` beyond ReLU's matching op at the measured
    ``per_element_s`` (op -> seconds per element at each of :data:`SIZES`, interpolated in
    log-log, held beyond the ends); 0 for any other op, or where either was not measured."""
    from hpbench.cost.device import interp_clamped

    base = BASELINE.get(op)
    if base is None or op not in per_element_s or base not in per_element_s or elements <= 0:
        return 0.0
    xs = tuple(float(n) for n in SIZES)
    return elements * max(0.0, interp_clamped(xs, per_element_s[op], elements) - interp_clamped(xs, per_element_s[base], elements))


def _calls(device: str, n: int) -> dict[str, Callable[[], Any]]:
    import torch

    aten = torch.ops.aten
    x = torch.randn(n, device=device)
    g = torch.randn(n, device=device)
    y = torch.tanh(x)
    s = torch.sigmoid(x)
    return {
        "relu": lambda: aten.relu(x), "tanh": lambda: aten.tanh(x), "sigmoid": lambda: aten.sigmoid(x), "gelu": lambda: aten.gelu(x),
        "elu": lambda: aten.elu(x), "silu": lambda: aten.silu(x), "leaky_relu": lambda: aten.leaky_relu(x, 0.01),
        "threshold_backward": lambda: aten.threshold_backward(g, x, 0.0), "tanh_backward": lambda: aten.tanh_backward(g, y),
        "sigmoid_backward": lambda: aten.sigmoid_backward(g, s), "gelu_backward": lambda: aten.gelu_backward(g, x),
        "elu_backward": lambda: aten.elu_backward(g, 1.0, 1, 1.0, False, x), "silu_backward": lambda: aten.silu_backward(g, x),
        "leaky_relu_backward": lambda: aten.leaky_relu_backward(g, x, 0.01, False),
    }


def measure(*, device: str, rounds: int = 3) -> dict[str, tuple[float, ...]]:
    """Seconds per element of each op of :data:`OPS` at each of :data:`SIZES` on ``device`` at the
    calling thread count: the fastest of ``rounds`` interleaved rounds (a kernel: other work only slows it)."""
    from hpbench.cost.microbench import fastest_call, interleaved, timer

    now = timer(device)
    measures: dict[str, Callable[[], float]] = {}
    for n in SIZES:
        calls = _calls(device, n)
        measures.update({f"{op}@{n}": functools.partial(fastest_call, calls[op], now=now, min_s=0.002) for op in OPS})
    runs = interleaved(measures, rounds=rounds)
    return {op: tuple(min(runs[f"{op}@{n}"]) / n for n in SIZES) for op in OPS}
