"""Which configurations a search runs long: good ones, and good ones tend to be the dear ones.

The wall-time replay (:mod:`hpbench.cost.walltime`) has to say which trials the scheduler prunes
and which configurations the searcher picks. Drawn independently of their cost, as the replay did
at first, a search whose best models are its slowest is priced far too low: in ``studies/signals.toml``
the GRUs (the dearest family, ~1.5-2.9 s an epoch against the MLPs' 0.03-0.07 s) were the best
trials, so ASHA kept them (15-25 epochs of 25) and pruned the MLPs at the first rung, and TPE,
after its random start, chose the GRU for 7 of its last 10 trials: the estimate read 60-86 s,
the search took 254-320 s (four quiet runs of ``benchmarks/eta.py``, sessions 11-12).

Two small models, both pure:

* **Quality follows cost** at rank correlation ``rho`` (a Gaussian copula): a configuration's
  latent score is ``rho * u + sqrt(1 - rho^2) * e``, ``u`` the normal score of its predicted
  seconds per epoch's rank among the search's configurations, ``e`` standard normal noise. ASHA
  compares these scores. ``rho`` is what earlier searches here measured (:func:`spearman` of
  their trials' predicted seconds per epoch and best metric, kept in the history), or the prior
  :data:`PRIOR_RHO`.
* **An adaptive searcher leans toward good configurations** after its random start: each later
  trial runs the best (by latent score) of ``k`` configurations drawn from the space
  (:class:`Focus`, a tournament; ``k = 1`` is random search). The estimate applies it; the live
  ETA does not (replayed on kept runs, it put the quickstart's trials left at +537%: its TPE chose
  cheaper configurations).
* **A live search's own line** (:class:`ScoreLine`): once 4 of its trials have scores, the live
  ETA scores the trials left on the metric's scale by least squares on log cost, so that ASHA's
  rungs compare them with the scores really recorded there.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hpbench.rank_stats import ranks as ranks  # re-exported: their home before hpbench.rank_stats
from hpbench.rank_stats import spearman as spearman

# The prior rank correlation between a configuration's predicted seconds per epoch and its best
# metric (oriented: higher is better), until this study has measured its own: 0. Measured over the
# trials of benchmarks/eta.py's studies whose configurations differ in cost (four quiet runs,
# sessions 11-12), it was positive in every one: batch_size 0.11, quickstart 0.12, optimizers 0.31,
# recurrent 0.28-0.34, schedules 0.25-0.44, digits_cnn 0.32-0.49, eta-repeats 0.59-0.66, signals
# 0.79-0.80 (median of the studies 0.37). But it is the study's, not the machine's: that median as
# the prior priced signals' search at -45% where it had read -66%, and the quickstart's at +51%
# where it had read +19% (the estimates with this machine's history, session 13): the quickstart's
# TPE chose cheaper configurations after its random start, not dearer ones. A study's earlier runs
# (hpbench.cost.history) and the live search's own trials (hpbench.dispatch.eta) set it.
PRIOR_RHO = 0.0
# The correlation the interval's upper bound is priced at while the study has measured none of its
# own (:func:`hpbench.cost.walltime.predict`): the prior's 0 is the middle of what a study may do,
# not its worst. On this project's machine the nine studies other than the held-out ones
# (benchmarks/eta.py's, search history of sessions 11-22) measured medians of 0.10-0.77, quartiles
# 0.25 / 0.46 / 0.57: the upper one. At 0 the held-out long study (its dearest configurations its
# best: TPE chose one in 18 of the space for 16 of its last 30 trials, ASHA kept them) was priced
# 72 s (37-146 s) as a first search and took 185-275 s; at 0.57 its upper bound reads 218 s.
RHO_HIGH = 0.57
# The live search's own correlation weighs as this many trials against the prior (or its earlier runs')
RHO_PRIOR_TRIALS = 4.0

# Optuna's TPESampler draws its first 10 trials at random (n_startup_trials' default).
TPE_STARTUP = 10
# After that start, the shift of the trials' cost toward the good configurations, in standard
# deviations of log seconds per epoch, per unit of rho (the same runs: the TPE studies' later trials'
# mean against their first 10): signals 1.37, digits_cnn 1.2 (three runs of four), eta-repeats
# 0.44, schedules ~3 (its costs hardly differ); median ~1.2. The best of k standard normals has an
# expected value of 0.85 / 1.03 / 1.16 / 1.27 at k = 3 / 4 / 5 / 6: k = 5.
TPE_FOCUS = 5


@dataclass(frozen=True, kw_only=True)
class Focus:
    """How a searcher picks: its first ``start`` trials at random, then each the best of ``k``
    draws (``k = 1``: at random throughout)."""

    start: int = 0
    k: int = 1


# what the built-in searchers do (hpbench.strategies): TPE (grouped or not) leans toward the good configurations; its
# cost-aware variant divides their expected improvement by their predicted seconds, which leans
# away from the dear ones as much (priced as random); random search and the grid do not lean
_TPE = Focus(start=TPE_STARTUP, k=TPE_FOCUS)
SEARCHER_FOCUS = {"tpe": _TPE, "tpe-group": _TPE}


def searcher_focus(name: str) -> Focus:
    """The focus of searcher ``name`` (a plugin's: none known, priced as random search)."""
    return SEARCHER_FOCUS.get(name, Focus())


def cost_scores(costs: Sequence[float]) -> list[float]:
    """Normal scores of the costs' ranks, ``Phi^-1((rank + 0.5) / n)``; 0 for all where they are
    all equal."""
    n = len(costs)
    if n < 2:
        return [0.0] * n
    nd = statistics.NormalDist()
    return [nd.inv_cdf((r + 0.5) / n) for r in ranks(costs)]


def normal_at(draw: float) -> float:
    """The standard normal quantile at ``draw`` (uniform in (0, 1), kept off its ends)."""
    return statistics.NormalDist().inv_cdf(min(1 - 1e-12, max(1e-12, draw)))


def latent_score(*, u: float, draw: float, rho: float) -> float:
    """A configuration's latent quality: ``rho * u + sqrt(1 - rho^2) * Phi^-1(draw)`` (``draw``
    uniform in (0, 1); at ``rho = 0`` its order is the draws')."""
    r = min(0.99, max(-0.99, rho))
    return r * u + math.sqrt(1 - r * r) * normal_at(draw)


def measured_rho(costs: Sequence[float | None], scores: Sequence[float | None], *, least: int = 5) -> float | None:
    """A search's own rank correlation between its trials' predicted seconds per epoch and their
    best metric (higher better), over the trials that have both; None below ``least`` of them or
    where the costs (or scores) do not differ."""
    pairs = [(float(c), float(s)) for c, s in zip(costs, scores, strict=True)
             if c is not None and s is not None and c == c and s == s and c > 0]
    if len(pairs) < least:
        return None
    return spearman([c for c, _ in pairs], [s for _, s in pairs])


@dataclass(frozen=True, kw_only=True)
class ScoreLine:
    """A live search's scores against its configurations' cost, on the metric's own scale (higher
    better): ``a + b * log(seconds per epoch)``, residuals of standard deviation ``sigma``."""

    a: float
    b: float
    sigma: float

    def at(self, epoch_s: float, *, draw: float = 0.5) -> float:
        """A configuration's score: the line at its cost plus a residual at quantile ``draw`` (0.5: none)."""
        return self.a + self.b * math.log(max(epoch_s, 1e-12)) + self.sigma * normal_at(draw)


def fit_score_line(costs: Sequence[float], scores: Sequence[float], *, least: int = 4) -> ScoreLine | None:
    """Least squares of the scores on log cost over the trials that have both (None below ``least``);
    where the costs do not differ, a flat line at their mean."""
    pairs = [(math.log(c), s) for c, s in zip(costs, scores, strict=True) if c > 0 and s == s]
    if len(pairs) < least:
        return None
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in pairs) / sxx if sxx > 0 else 0.0
    a = my - b * mx
    resid = [y - (a + b * x) for x, y in pairs]
    sigma = math.sqrt(sum(r * r for r in resid) / max(1, len(pairs) - 2))
    return ScoreLine(a=a, b=b, sigma=max(sigma, 1e-6 * max(1.0, abs(my))))


def on_best_scale(recorded: Mapping[int, Sequence[float]], gains: Mapping[int, Sequence[float]]) -> dict[int, list[float]]:
    """The scores recorded at each rung (epoch ``k``) moved to the scale of a trial's best score:
    each plus the median gain (best score - its score at ``k``, higher better) of the trials that
    went on past ``k``; as recorded at a rung no trial has gone past yet.

    A live search's line scores a trial by its best (:class:`ScoreLine`, fitted to the trials'
    best scores so far), and the replay compares that one score with what the rungs recorded, each
    trial's score at the rung's epoch: lower than its best for every trial still learning, so the
    trials left passed ASHA's rungs more often than they do, and the trials left were priced long.
    Replayed offline at 25 / 50 / 75% of the trials ended of 102 kept searches of 18 studies,
    sessions 26-29 (``benchmarks/eta_left_replay.py``, in predicted seconds of epochs;
    ``results/benchmarks/eta_left_replay-s29.json``): the trials left's signed median error
    +25 / +38 / +42% -> +7 / +23 / +17%, median |error| 57 / 46 / 63% -> 55 / 40 / 50%; per study
    better on 10 (unseen-long 58 -> 23%, unseen-signals-cnn 88 -> 48%, unseen-wide 44 -> 21%,
    digits_cnn 71 -> 58%), worse on 4 (fresh-recurrent 3 -> 10%, fresh-transformer 39 -> 46%,
    unseen-order 60 -> 69%, quickstart 21 -> 22%), level on 4."""
    out: dict[int, list[float]] = {}
    for k, values in recorded.items():
        g = [x for x in gains.get(k, ()) if x == x]
        lift = statistics.median(g) if g else 0.0
        out[k] = [v + lift for v in values]
    return out


def blended_rho(*, prior: float, measured: float | None, n: int, weight: float = RHO_PRIOR_TRIALS) -> float:
    """The live search's ``measured`` correlation over ``n`` trials, blended with ``prior`` as if
    the prior were ``weight`` more trials."""
    if measured is None or n <= 0:
        return prior
    k = n / (n + weight)
    return k * measured + (1 - k) * prior


def tpe_good(n: int) -> int:
    """How many of ``n`` scored trials TPE counts as good (Optuna's ``default_gamma``: the best
    ``ceil(0.1 n)``, at most 25, at least one)."""
    return max(1, min(25, math.ceil(0.1 * n)))


def searcher_costs(pool: Sequence[float], *, scored: Sequence[tuple[float, float]], started: int, n_pending: int,
                   focus: Focus) -> list[float]:
    """The seconds per epoch of the ``n_pending`` trials a live search has not started yet, the
    first of them its ``started + 1``-th: while the searcher's random start lasts (``focus.start``),
    the ``pool``'s in turn; after it, a leaning searcher's (``focus.k > 1``: TPE) next trial is drawn
    near its best trials so far (its ``l(x)`` is fitted to the :func:`tpe_good` best of the ``scored``
    trials, (cost, score) pairs, higher better), so it costs like them: each priced at one of those
    best trials' cost in turn. Replayed offline on the 7 kept quiet searches of five TPE studies
    (``benchmarks/eta_left_replay.py``: the trials left at 25 / 50 / 75%, in predicted seconds of
    epochs), median |error| with the pool alone / near the best: quickstart 158 / 18%, signals 40 /
    26%, eta-repeats 38 / 22%, schedules 12 / 0%, digits_cnn 41 / 109% (its first trial, a dear one,
    was its best; the trials after it were pruned at the first rung whatever they cost)."""
    if n_pending <= 0 or not pool:
        return []
    order = sorted(scored, key=lambda cs: -cs[1])
    good = [c for c, _ in order[: tpe_good(len(order))]] if focus.k > 1 else []
    out, j = [], 0
    for i in range(n_pending):
        if good and started + i >= focus.start:
            out.append(good[j % len(good)])
            j += 1
        else:
            out.append(pool[i % len(pool)])
    return out


def later(focus: Focus, *, started: int) -> Focus:
    """``focus`` for the trials left once ``started`` have started: its random start shortened by them."""
    return Focus(start=max(0, focus.start - started), k=focus.k)
