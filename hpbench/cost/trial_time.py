"""A whole trial's seconds from its epoch prediction: what a user measures (``train_s``, the sum
of every epoch's ``epoch_s``, the first one and evaluation included), not a steady-state epoch.

Each term is a small function with its source; the device model holds the measured constants
(:mod:`hpbench.cost.calibrate`: micro-benchmarks and the calibration suite, never the
benchmark's draws):

* optimizer-state traffic: every step reads and writes each parameter, its gradient and the
  optimizer's state tensors; once that working set outgrows the caches, the optimizer's
  element-wise ops run at DRAM bandwidth, not at the in-cache rate of one tensor
  (:func:`state_working_set_bytes`, priced by :meth:`DeviceModel.bandwidth` at that size);
* first-epoch warm-up: allocator growth, lazily created optimizer state, cold caches and
  first-call dispatch (:func:`warmup_seconds`, the suite's first epoch over its fastest, plus a
  fresh trial process's fixed first-epoch cost; each held at a ceiling: :mod:`hpbench.cost.warmup`);
* the trainer's fixed seconds per epoch beyond the epoch loop (validation metrics, the best
  weights kept), measured on a trial too small to have work (:mod:`hpbench.cost.trainer_probe`);
* concurrent trials: two trials on one machine share its memory bandwidth and last-level cache
  (:func:`concurrency_slowdown`, measured: two identical workloads at once vs one, per regime);
* the prediction interval: P10 and P90 of measured / predicted over the calibration suite's
  probes of the same regime, each predicted by a fit that saw no probe of its kind of network
  (:func:`interval`, :func:`hpbench.cost.suite.fit_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hpbench.cost.regime import Regime

# State tensors per parameter besides the weight and its gradient (PyTorch's optimizers:
# torch/optim/*.py, the ``state`` each creates in its first step).
OPTIMIZER_STATE_TENSORS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2, "adamw": 2, "amsgrad": 3}
FLOAT_BYTES = 4  # fp32 parameters and state (mixed precision keeps fp32 master weights)


def state_working_set_bytes(*, n_params: int, optimizer: str) -> float:
    """Bytes the optimizer step touches: weight + gradient + state tensors, fp32:
    4 · n_params · (2 + n_state). Adam on a 3x1024 MLP (2.2 M parameters): 35 MB, beyond most L2/L3."""
    return float(FLOAT_BYTES * n_params * (2 + OPTIMIZER_STATE_TENSORS.get(optimizer, 2)))


def warmup_seconds(*, epoch_s: float, warmup_fraction: float, first_epoch_s: float = 0.0) -> float:
    """Extra seconds of the first epoch: first_epoch_s + warmup_fraction · epoch_s. The fraction is
    a low quantile of (first epoch - fastest) / fastest over the calibration suite's probes (state
    created, caches cold: grows with the work); ``first_epoch_s`` the fixed part a fresh trial
    process pays once (first kernels, autograd threads: :mod:`hpbench.cost.trainer_probe`); both
    held at their ceilings by the device model (:mod:`hpbench.cost.warmup`)."""
    return max(0.0, first_epoch_s) + max(0.0, warmup_fraction) * epoch_s


def concurrency_slowdown(*, regime: Regime | str, max_concurrent: int, slowdowns: dict[str, float]) -> float:
    """Factor on a trial's seconds when ``max_concurrent`` trials share the machine. ``slowdowns``
    holds, per regime, the measured ratio (two identical workloads at once) / (one alone); with k
    trials the excess grows linearly, 1 + (k - 1)·(s - 1) (bandwidth split k ways: s = 2 at saturation).
    1 for one trial or when nothing was measured."""
    if max_concurrent <= 1:
        return 1.0
    s = slowdowns.get(str(regime), 1.0)
    return 1.0 + (max_concurrent - 1) * max(0.0, s - 1.0)


def trial_seconds(*, epoch_s: float, n_epochs: int, warmup_fraction: float, slowdown: float = 1.0) -> float:
    """Seconds of ``n_epochs`` epochs of one trial: slowdown · (n_epochs · epoch_s + warm-up)."""
    if n_epochs <= 0:
        return 0.0
    return slowdown * (n_epochs * epoch_s + warmup_seconds(epoch_s=epoch_s, warmup_fraction=warmup_fraction))


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default) of a non-empty list."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


MIN_PER_REGIME = 3  # fewer calibration residuals than this in a regime: use those of every regime


def residual_intervals(residuals: Iterable[tuple[Regime | str, float]], *, low: float = 0.1, high: float = 0.9) -> dict[str, tuple[float, float]]:
    """Per regime, the (P10, P90) of measured / predicted over the calibration residuals
    ``(regime, ratio)``; a regime with fewer than MIN_PER_REGIME residuals gets the pooled
    quantiles (key "all", present whenever there is a residual)."""
    pairs = [(str(r), float(x)) for r, x in residuals if x > 0 and math.isfinite(x)]
    if not pairs:
        return {}
    pooled = [x for _, x in pairs]
    out = {"all": (quantile(pooled, low), quantile(pooled, high))}
    for regime in Regime:
        xs = [x for r, x in pairs if r == regime]
        out[str(regime)] = (quantile(xs, low), quantile(xs, high)) if len(xs) >= MIN_PER_REGIME else out["all"]
    return out


def interval(*, predicted_s: float, regime: Regime | str, intervals: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    """(P10, P90) seconds around ``predicted_s`` from its regime's residual ratios; None when the
    device model has no residuals (a hypothetical device, an older cache)."""
    ratios = intervals.get(str(regime)) or intervals.get("all")
    if not ratios:
        return None
    lo, hi = ratios
    return predicted_s * min(lo, 1.0), predicted_s * max(hi, 1.0)
