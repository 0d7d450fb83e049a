"""The calibration suite's fit: the epoch-time model's coefficients from timed probe epochs
(:mod:`hpbench.cost.suite`), least squares on relative error within each term's bounds, and the
held-out residuals that give each regime's interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpbench.cost import warmup
from hpbench.cost.device import DeviceModel
from hpbench.cost.predict import FEATURES
from hpbench.cost.regime import regime_of
from hpbench.cost.trial_time import residual_intervals

# Kernel terms whose rates the device's micro-benchmarks measure directly (matmul and fused
# attention in "matmul", convolution in "conv"): pure roofline, coefficient 1, not fitted.
FIXED = {"matmul": 1.0, "conv": 1.0, "random": 1.0, "activation": 1.0}
# The fit's anchors. Op counts, module counts and step counts rise together across the probes, as
# do the memory terms, so a free least-squares fit is degenerate: it set op_backward, step and
# module to 0 and memory to 4-7x (session 5/6 calibrations) and let the other terms absorb what
# one term got wrong. Every term a micro-benchmark measures is anchored to that measurement by a
# ridge toward its prior, in relative units: the fit minimises
#     Σ_probes (f·c / t - 1)²  +  ANCHOR · Σ_anchored ((c_k - prior_k) / prior_k)²,   c >= 0,
# still one non-negative least squares (the anchors are extra rows). The memory terms' prior is 1
# (bandwidth measured at each op's data volume); the per-op terms' prior is the measured dispatch
# floor of one eager op (microbench.measure_overhead). The terms no micro-benchmark measures
# (epoch, step, module, view) stay free. ANCHOR = 0.003: a term at 2x its prior costs as much as
# 5.5% error on one probe (chosen on the replay of two recorded runs; 0.01 and 0.05 raised their
# median error from 22 to 30 and 34%).
# NOT the calibration's fit yet (ANCHORED_FIT): on three held-out recorded runs the anchored fit
# replayed no better than the free one (c=1 median 49.4 vs 48.9%, P90 100.9 vs 96.6%:
# results/benchmarks/calib_rows.md). The free fit on the suite's rows puts memory at 10x,
# strided memory at 30x and forward ops at 4x their micro-benchmarks: those micro-benchmarks (a
# contiguous copy's bandwidth, a no-grad 1-element add) do not measure what the epochs pay per
# element-wise byte and per recorded op, so anchoring to them trades the suite's fit for
# plausibility. Switch it on once the anchors are micro-benchmarks of the same work.
ANCHOR = 0.003
ANCHORED_FIT = False
ANCHORED_MEMORY = ("memory", "memory_strided", "memory_optimizer")
ANCHORED_OPS = ("op", "op_backward", "op_nograd")


def priors(base: DeviceModel) -> dict[str, float]:
    """Each anchored term's micro-benchmark value on ``base`` (see ANCHOR)."""
    return {**dict.fromkeys(ANCHORED_MEMORY, 1.0), **dict.fromkeys(ANCHORED_OPS, base.op_overhead_s)}


# Bounds of the fit, from what each term's micro-benchmark says it cannot be below (or above).
# The free fit is degenerate (op, module and step counts rise together over the probes, as do the
# memory terms): three calibrations on one idle machine put op at 0 / 9.0e-6 / 1.1e-5 s, module at
# 1.8e-5 / 6.1e-6 / 0, step and op_backward at 0 in all three (results/benchmarks/calibration_repeat.md,
# "before"), trading one collinear term for another, so the same trial's prediction moved with the
# calibration. Held within physical bounds the direction the probes cannot tell apart stays put:
#   per-op terms (seconds per recorded op): between half the measured dispatch floor of one eager
#     op (backward ops run in the autograd engine without Python's argument parsing) and
#     OP_CEILING times it (a forward op also records its autograd node; the free fits read up to
#     6.5x the floor);
#   memory terms: at least 1 (roofline: no op moves its bytes faster than a copy of the same volume
#     at the measured bandwidth), no ceiling (strided ops ran 20-26x);
#   recurrent: the grid measures the layer itself, a multiplicative correction within RECURRENT_SPAN
#     (the free fits read 0.86-1.31).
OP_CEILING = 10.0
RECURRENT_SPAN = 2.0
BOUNDED_FIT = True


def bounds(base: DeviceModel) -> dict[str, tuple[float, float]]:
    """Each bounded term's (low, high) on the device ``base`` (see OP_CEILING)."""
    oh = base.op_overhead_s
    out = {k: (0.5 * oh, OP_CEILING * oh) for k in ANCHORED_OPS if oh > 0}
    return out | dict.fromkeys(ANCHORED_MEMORY, (1.0, math.inf)) | {"recurrent": (1.0 / RECURRENT_SPAN, RECURRENT_SPAN)}


def fit_coef(rows: list[tuple[dict[str, float], float]], *, fixed: dict[str, float] | None = None,
             prior: dict[str, float] | None = None, anchor: float = ANCHOR,
             limits: dict[str, tuple[float, float]] | None = None) -> tuple[dict[str, float], float]:
    """Least squares on relative error: min Σ (f·c / t - 1)², with the ``fixed`` coefficients
    held (their terms taken off t first), each ``prior`` term pulled toward its value by
    ``anchor`` (see ANCHOR; no prior: no pull) and each coefficient within its ``limits``
    (default [0, inf): non-negative least squares). Returns the coefficients and the median
    relative error of the fit."""
    import numpy as np
    from scipy.optimize import lsq_linear, nnls

    fixed = FIXED if fixed is None else fixed
    prior = {k: v for k, v in (prior or {}).items() if k not in fixed and v > 0}
    free = [k for k in FEATURES if k not in fixed]
    a = np.array([[f.get(k, 0.0) / t for k in free] for f, t in rows])
    rhs = np.array([1.0 - sum(v * f.get(k, 0.0) for k, v in fixed.items()) / t for f, t in rows])
    # anchor rows: sqrt(anchor) · c_k / prior_k = sqrt(anchor)
    w = np.sqrt(anchor)
    extra = [[w / prior[k] if j == k else 0.0 for j in free] for k in free if k in prior]
    if extra:
        a = np.vstack([a, np.array(extra)])
        rhs = np.concatenate([rhs, np.full(len(extra), w)])
    scale = a.max(axis=0)
    scale[scale <= 0] = 1.0
    lim = limits or {}
    lo = np.array([max(0.0, lim.get(k, (0.0, math.inf))[0]) for k in free]) * scale
    hi = np.array([lim.get(k, (0.0, math.inf))[1] for k in free]) * scale
    if np.any(lo > hi):
        raise ValueError(f"fit limits must have low <= high, but got {lim}")
    # no limits: non-negative least squares (Lawson-Hanson, as before the bounds); else bounded-variable least squares
    # (clipped: the solver may return -1e-22 for a term at its bound of 0, and a cached model with a negative coefficient is not well formed)
    c = np.clip((nnls(a / scale, rhs)[0] if not lim else lsq_linear(a / scale, rhs, bounds=(lo, hi), method="bvls").x), lo, hi) / scale
    coef = {**{k: float(v) for k, v in zip(free, c, strict=True)}, **fixed}
    coef = {k: coef[k] for k in FEATURES}
    errs = sorted(abs(sum(coef[k] * f.get(k, 0.0) for k in FEATURES) / t - 1.0) for f, t in rows)
    return coef, errs[len(errs) // 2]


@dataclass(frozen=True, kw_only=True)
class SuiteFit:
    coef: dict[str, float]
    fit_error: float  # median relative error over the probes
    warmup_fraction: float  # P25 of (first - fastest) / fastest over the probes (hpbench.cost.warmup; its ceiling is applied by the calibration)
    intervals: dict[str, tuple[float, float]]  # per regime: P10, P90 of measured / predicted (hpbench.cost.trial_time)


def fit_rows(rows: list[tuple[dict[str, float], float, float]], *, kinds: list[str] | None = None,
             prior: dict[str, float] | None = None, limits: dict[str, tuple[float, float]] | None = None) -> SuiteFit:
    """The fit of (features, fastest s, first s) rows: coefficients, then the residual ratios
    (measured / predicted) by regime and the first epoch's warm-up (a low quantile of the probes'
    first epoch over their fastest: :func:`hpbench.cost.warmup.warmup_fraction`). Residuals are held out: each
    probe is predicted by a fit without it, or, with ``kinds`` (each row's kind of network), by a
    fit without every probe of its kind (leave one kind out), so the intervals speak of networks
    whose kind the fit has not seen, as a user's model is (a fit that saw a probe's near twins
    read P10-P90 0.72-1.40 on the overhead-bound probes, while the trials of hpbench's families
    in benchmarks/cost_model.py fell inside only 54-71% of the time)."""
    coef, err = fit_coef([(f, t) for f, t, _ in rows], prior=prior, limits=limits)
    groups = kinds if kinds is not None and len(set(kinds)) > 1 else [str(i) for i in range(len(rows))]
    if len(groups) != len(rows):
        raise ValueError(f"kinds must name every row's kind ({len(rows)}), but got {len(groups)}")
    held: dict[str, dict[str, float]] = {}
    for g in dict.fromkeys(groups):
        rest = [(f, t) for (f, t, _), h in zip(rows, groups, strict=True) if h != g]
        held[g] = fit_coef(rest, prior=prior, limits=limits)[0] if len(rest) >= 2 else coef
    residuals = []
    for (f, t, _), g in zip(rows, groups, strict=True):
        pred = sum(held[g][k] * f.get(k, 0.0) for k in FEATURES)
        if pred > 0:
            residuals.append((regime_of(f, coef), t / pred))
    return SuiteFit(coef=coef, fit_error=err, warmup_fraction=warmup.warmup_fraction(first / t - 1.0 for _, t, first in rows if t > 0),
                    intervals=residual_intervals(residuals))
