"""How sure a corrected prediction is: one trial's P10 and P90 of measured / predicted from the
log ratios of the trials a study has ended (:mod:`hpbench.cost.correct` keeps their sums).

Not the calibration's residuals: after the in-run correction what is left is the scatter of
configurations around the study's bias (two identical trials side by side differed by a median
20.5%; even the best single factor per study, chosen with every trial known, left a median 23% at
max_concurrent 1 and 28% at 2: 63 studies recorded by benchmarks/cost_model.py,
results/benchmarks/correct_replay.md), and the interval is where the next trial's ratio falls.
"""

from __future__ import annotations

import math

Z90 = 1.2815515655446004  # the standard normal's 0.9 quantile
T90_SMALL = {1: 3.077684, 2: 1.885618}  # t_{0.9, nu} where the expansion is off by 0.3-3.9% (Abramowitz & Stegun table 26.10)
MIN_INTERVAL_TRIALS = 2  # a sample spread needs two


def t_quantile(nu: int, *, z: float = Z90) -> float:
    """Student's t quantile with ``nu`` degrees of freedom at the normal quantile ``z``: the
    Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5, four terms); at 0.9 within 0.1% of the
    exact quantile for nu >= 3 (nu = 3: 1.6368 vs 1.6377); nu = 1 and 2 at 0.9 from the table."""
    if nu < 1:
        raise ValueError(f"nu must be >= 1, but got {nu}")
    if z == Z90 and nu in T90_SMALL:
        return T90_SMALL[nu]
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / nu + g2 / nu**2 + g3 / nu**3


def prediction_bounds(*, mean: float, sd: float, n: int) -> tuple[float, float]:
    """P10 and P90 of the next trial's measured / predicted, from ``n`` trials' log ratios (their
    ``mean`` and sample ``sd``): exp(mean -+ t_{0.9, n-1} · sd · sqrt(1 + 1/n)), the normal
    prediction interval for one new draw when mean and spread are both estimated (Geisser,
    "Predictive Inference", 1993, 2.1). Centred on the unshrunk mean: the shrunk factor is a point
    for the median error, the interval where the next ratio falls. Replayed on 63 recorded studies
    (each trial from the trials ended before it started, once 4 had): 81.1% of 270 trials inside at
    max_concurrent 1, 78.7% of 310 at 2, where the calibration's intervals held 55% and 43%."""
    if n < MIN_INTERVAL_TRIALS:
        raise ValueError(f"a prediction interval needs n >= 2 trials, but got {n}")
    half = t_quantile(n - 1) * max(0.0, sd) * math.sqrt(1.0 + 1.0 / n)
    return math.exp(mean - half), math.exp(mean + half)


def bounds_of_logs(n: float, total: float, squares: float) -> tuple[float, float] | None:
    """:func:`prediction_bounds` from the sums of ``n`` log ratios and of their squares (running
    sums: the sample variance as (Σx² - n·mean²) / (n - 1), at least 0); None under 2 trials."""
    n_i = round(n)
    if n_i < MIN_INTERVAL_TRIALS:
        return None
    mean = total / n_i
    return prediction_bounds(mean=mean, sd=math.sqrt(max(0.0, (squares - n_i * mean * mean) / (n_i - 1))), n=n_i)
