"""Statistics for repeated runs: mean with a t-distribution confidence interval, and Welch's
t-test for "is this configuration statistically tied with the best?". Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

TIE_ALPHA = 0.05  # tied with the best when Welch's two-sided p-value >= this


@dataclass(frozen=True)
class MeanCI:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof=1); nan for n < 2
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def _finite(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def mean_ci(values: Sequence[float], *, confidence: float = 0.95) -> MeanCI:
    """Mean ± t_{1-α/2, n-1} · s/√n (Student's t interval). With one value the interval is
    unknown (nan bounds); with none everything is nan."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), but got {confidence=}")
    xs = _finite(values)
    n = len(xs)
    if n == 0:
        return MeanCI(0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(xs) / n
    if n == 1:
        return MeanCI(1, mean, math.nan, math.nan, math.nan)
    from scipy.stats import t

    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return MeanCI(n, mean, std, mean - half, mean + half)


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test (Welch 1947; Welch–Satterthwaite
    degrees of freedom). nan when either sample has fewer than two values; 1.0 when both
    samples are constant and equal, 0.0 when constant and different."""
    xa, xb = _finite(a), _finite(b)
    na, nb = len(xa), len(xb)
    if na < 2 or nb < 2:
        return math.nan
    ma, mb = sum(xa) / na, sum(xb) / nb
    va = sum((x - ma) ** 2 for x in xa) / (na - 1)
    vb = sum((x - mb) ** 2 for x in xb) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        return 1.0 if ma == mb else 0.0
    from scipy.stats import t

    stat = (ma - mb) / math.sqrt(se2)
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return float(2 * t.sf(abs(stat), df))


def tied_with_best(samples: dict[str, Sequence[float]], *, mode: str, alpha: float = TIE_ALPHA) -> dict[str, tuple[bool, float]]:
    """For each configuration: (tied with the best?, Welch p-value against the best). The
    best is the one with the best mean; it is tied with itself (p = 1)."""
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', but got {mode=}")
    means = {k: mean_ci(v).mean for k, v in samples.items()}
    valid = {k: m for k, m in means.items() if not math.isnan(m)}
    if not valid:
        return {k: (False, math.nan) for k in samples}
    best = (max if mode == "max" else min)(valid, key=lambda k: valid[k])
    out: dict[str, tuple[bool, float]] = {}
    for k, v in samples.items():
        if k == best:
            out[k] = (True, 1.0)
            continue
        p = welch_t_test(v, samples[best])
        out[k] = (not math.isnan(p) and p >= alpha, p)
    return out


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with its Welch confidence interval and two-sided p-value."""

    diff: float
    low: float
    high: float
    p: float


def mean_difference(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95) -> Difference:
    """mean(a) - mean(b) ± t_{1-α/2, ν} · √(s_a²/n_a + s_b²/n_b), ν by Welch–Satterthwaite (the
    interval that goes with :func:`welch_t_test`). nan bounds when either sample has fewer than
    two values; a zero-width interval when both are constant."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), but got {confidence=}")
    xa, xb = _finite(a), _finite(b)
    na, nb = len(xa), len(xb)
    if na == 0 or nb == 0:
        return Difference(math.nan, math.nan, math.nan, math.nan)
    diff = sum(xa) / na - sum(xb) / nb
    if na < 2 or nb < 2:
        return Difference(diff, math.nan, math.nan, math.nan)
    va = sum((x - sum(xa) / na) ** 2 for x in xa) / (na - 1)
    vb = sum((x - sum(xb) / nb) ** 2 for x in xb) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        return Difference(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    from scipy.stats import t

    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = float(t.ppf(0.5 + confidence / 2, df)) * math.sqrt(se2)
    return Difference(diff, diff - half, diff + half, welch_t_test(xa, xb))
