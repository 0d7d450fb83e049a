"""Rank statistics, pure and dependency-free: average ranks and Spearman's rank correlation
(the cost model's quality line, :mod:`hpbench.cost.quality`; asha-rank's rungs, :mod:`hpbench.rung_rank`)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def ranks(xs: Sequence[float]) -> list[float]:
    """Average ranks, 0-based (ties share their mean rank)."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's over average ranks); None where either side is
    constant or there are fewer than 3 pairs."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)
