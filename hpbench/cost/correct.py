"""Learning from the run: after the first trials of a study, a scale factor per regime, the
measured seconds of the trials that ended over their predicted seconds, corrects the remaining
predictions and the ETA ("corrected from N trials").

Two factors from the same trials: for a sum of seconds (the ETA) the ratio of sums; for one
trial's seconds (``corrected_s``) the geometric mean of the ratios shrunk towards 1
(:func:`shrunk_log_mean`, ``Correction.per_trial``).

For the ETA, a ratio of sums, not the median of per-trial ratios: a trial of a few milliseconds is mostly
fixed costs and scheduling noise (its first epoch read 2-15x its prediction on a quiet machine
when its steady epochs were within 20%: benchmarks/cost_model.py, seed 216413716), so its ratio
says little about the machine, while the trials that hold the study's seconds say most; and the
ETA is a sum of seconds, which this factor makes right over the trials seen. On that run's
trials (24 at max_concurrent 1, 24 at 2), replayed, the median |error| after correction was
25.9% / 20.8% with the ratio of sums against 30.6% / 25.8% with the median ratio. Replayed since on
25 recorded runs for the seconds left (at each trial's start, the trials not started yet;
benchmarks/correct_strategies.py, results/benchmarks/correct_replay-s11.md), the per-trial factor
read a median 19.4% against this one's 23.8% (the factor alone: the live ETA blends it with the
machine's speed figure, cost/walltime.slowness, not replayed there).
Per regime because a machine's error differs by what bounds the step (a slow DRAM misprices
memory-bound trials only). A regime with fewer than ``min_trials`` ended trials borrows the
pooled factor of all regimes, once ``min_trials`` trials have ended at all; before that there is
no correction.

Where a trial ran matters: the early trials (:mod:`hpbench.dispatch.early`) train in the helper
process while Ray starts, not in a Ray worker, whose thread environment and neighbours (the
driver, Ray's daemons) may set another pace (the earlier session measured Tune's steady epochs at 1.17x
a plain process's; results/benchmarks/ray_worker_pace.md did not resolve it at this machine's load). An observation
may say so: ``(regime, predicted_s, measured_s, in_ray)``, a 3-tuple counting as in Ray. The
trials outside Ray never count (:func:`observations_used`), as the dispatcher passes none of them
(:func:`hpbench.dispatch.corrections.ended_pairs`): a replay that counted them until 4 had ended in
Ray (this rule until session 11) showed corrections a search never made, 199 trials of 25 recorded
runs (benchmarks/correct_strategies.py), 30.4% corrected against 24.4% uncorrected at
max_concurrent 1, 29.9% against 33.7% at 2. This interface is stable: the dispatcher (issue 18) decides which
trials are passed and flags them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hpbench.cost.spread import bounds_of_logs

MIN_TRIALS = 4  # the target: corrected from 4 trials
POOLED = "all"


# the shrunk geometric mean's prior (no correction) weighs as much as this many trials; replayed on 25
# recorded runs (benchmarks/correct_strategies.py, results/benchmarks/correct_replay-s11.md: the 689
# trials the dispatcher corrects) 4 read a median 27.9%, 2 27.8%, 0 28.8%, and keying by family or
# pooling instead of by regime moved it by under a point either way (90% intervals over runs holding 0)
PRIOR_TRIALS = 4.0


@dataclass(frozen=True, kw_only=True)
class Correction:
    factor: float  # Σ measured / Σ predicted: for a sum of seconds (the ETA)
    n_trials: int  # the ended trials it is taken from
    regime: str  # the regime it was measured on, or "all" (pooled)
    trial_factor: float = 0.0  # for one trial's seconds (shrunk_log_mean); 0: as ``factor``
    low: float = 0.0  # one trial's P10 of measured / predicted (spread.prediction_bounds); 0: no interval (fewer than 2 trials)
    high: float = 0.0  # its P90

    @property
    def per_trial(self) -> float:
        return self.trial_factor if self.trial_factor > 0 else self.factor

    def interval(self, predicted_s: float) -> tuple[float, float] | None:
        """(P10, P90) seconds of one trial predicted ``predicted_s`` (None without bounds)."""
        return (predicted_s * self.low, predicted_s * self.high) if 0 < self.low <= self.high else None

    def label(self) -> str:
        return f"corrected from {self.n_trials} trials" + ("" if self.regime == POOLED else f" ({self.regime})")


def _ok(p: float, m: float) -> bool:
    return p > 0 and m > 0 and math.isfinite(p) and math.isfinite(m)


Observation = tuple[str, float, float] | tuple[str, float, float, bool]  # (regime, predicted_s, measured_s[, in_ray])


def observations_used(ended: Iterable[Observation]) -> list[tuple[str, float, float]]:
    """The ``(regime, predicted_s, measured_s)`` a correction is taken from: the valid observations
    of trials that ran in Ray."""
    return [(str(o[0]), float(o[1]), float(o[2])) for o in ended if _ok(o[1], o[2]) and (len(o) < 4 or bool(o[3]))]


def scale_factors(ended: Iterable[Observation], *, min_trials: int = MIN_TRIALS, min_regime: int | None = None) -> dict[str, Correction]:
    """Corrections from ended trials ``(regime, predicted_s, measured_s[, in_ray])`` (each for
    the epochs it ran; :func:`observations_used` says which count): per regime with >=
    ``min_regime`` trials (default ``min_trials``), and the pooled one under ``"all"``; empty while
    fewer than ``min_trials`` trials have ended."""
    if min_trials < 1:
        raise ValueError(f"min_trials must be >= 1, but got {min_trials}")
    rows = observations_used(ended)
    if len(rows) < min_trials:
        return {}
    pooled = [(p, m) for _, p, m in rows]
    out = {POOLED: _correction(pooled, POOLED)}
    for regime in sorted({r for r, _, _ in rows}):
        pm = [(p, m) for r, p, m in rows if r == regime]
        if len(pm) >= (min_trials if min_regime is None else min_regime):
            out[regime] = _correction(pm, regime)
    return out


def _correction(pairs: list[tuple[float, float]], regime: str) -> Correction:
    logs = [math.log(m / p) for p, m in pairs]
    return from_sums(n=len(pairs), sum_predicted=math.fsum(p for p, _ in pairs), sum_measured=math.fsum(m for _, m in pairs),
                     sum_log_ratio=math.fsum(logs), sum_sq_log_ratio=math.fsum(x * x for x in logs), regime=regime)


def from_sums(*, n: int, sum_predicted: float, sum_measured: float, sum_log_ratio: float, regime: str,
              sum_sq_log_ratio: float | None = None) -> Correction:
    """The correction of ``n`` ended trials from their sums: the ratio of sums
    (:func:`ratio_of_sums`), the shrunk geometric mean (:func:`shrunk_log_mean`) and, given the
    sum of squared log ratios, one trial's P10-P90 (:func:`hpbench.cost.spread.prediction_bounds`): the one formula
    behind :func:`scale_factors` and :class:`RunningFactors`."""
    band = bounds_of_logs(n, sum_log_ratio, sum_sq_log_ratio) if sum_sq_log_ratio is not None else None
    low, high = band or (0.0, 0.0)
    return Correction(factor=sum_measured / sum_predicted, trial_factor=math.exp(sum_log_ratio / (n + max(0.0, PRIOR_TRIALS))),
                      n_trials=n, regime=regime, low=low, high=high)


def ratio_of_sums(pairs: list[tuple[float, float]]) -> float:
    """Σ measured / Σ predicted over ``(predicted_s, measured_s)`` pairs (non-empty, positive)."""
    return math.fsum(m for _, m in pairs) / math.fsum(p for p, _ in pairs)


def shrunk_log_mean(pairs: list[tuple[float, float]], *, prior_trials: float = PRIOR_TRIALS) -> float:
    """exp(Σ log(measured / predicted) / (n + prior_trials)): the geometric mean of the trials'
    ratios, shrunk towards 1 (no correction) as if ``prior_trials`` trials had read 1.0 (a normal
    prior on the log bias, the trials' own scatter as the noise: Gelman et al., "Bayesian Data
    Analysis", 2.5). A trial's seconds are what it corrects: its ratio to the prediction scatters
    +-40% by configuration around the study's bias (benchmarks/cost_model.py), so a factor taken
    from four of them can move one trial further off. Replayed on the three runs recorded before
    this change (seeds 1485796295, 1875554318, 181561456; 2 studies per concurrency level, pooled, each trial
    corrected from those before it in trial order), the median |error| of the corrected trials
    averaged 25.9% with this estimate against 31.0% with the ratio of sums (and 31.1% uncorrected);
    per run and level 12.4-38.7% against 12.2-51.8%."""
    logs = [math.log(m / p) for p, m in pairs]
    return math.exp(math.fsum(logs) / (len(logs) + max(0.0, prior_trials)))


def correction_for(regime: str | None, factors: Mapping[str, Correction]) -> Correction | None:
    """The regime's own correction, else the pooled one, else None."""
    return factors.get(str(regime)) if regime is not None and str(regime) in factors else factors.get(POOLED)


def interval_bounds(ended: Iterable[Observation]) -> tuple[float, float] | None:
    """One trial's P10 and P90 of measured / predicted from every observation :func:`observations_used`
    keeps, pooled over regimes, once 2 have ended: the run's interval before the correction's
    :data:`MIN_TRIALS` (wide: t with 1-2 degrees of freedom). Replayed on the 63 recorded studies, the
    trials inside the interval they were shown (the model's, then this one, then the correction's)
    rose from 71.2% to 76.8% at max_concurrent 1 and 68.0% to 72.6% at 2."""
    logs = [math.log(m / p) for _, p, m in observations_used(ended)]
    return bounds_of_logs(len(logs), math.fsum(logs), math.fsum(x * x for x in logs))


def corrected_interval(predicted_s: float, regime: str | None, factors: dict[str, Correction]) -> tuple[float, float] | None:
    """(P10, P90) seconds of a trial predicted ``predicted_s``, from its regime's correction (else
    the pooled one); None before there is one."""
    c = correction_for(regime, factors)
    return c.interval(predicted_s) if c is not None else None


def corrected_seconds(predicted_s: float, regime: str | None, factors: dict[str, Correction]) -> tuple[float, Correction | None]:
    """``predicted_s`` times its regime's per-trial factor, and the correction used (None: not corrected)."""
    c = correction_for(regime, factors)
    return (predicted_s * c.per_trial, c) if c is not None else (predicted_s, None)


@dataclass(frozen=True, kw_only=True)
class EndedTrial:
    regime: str | None
    predicted_s: float  # for the epochs it ran (predicted_spent_s)
    measured_s: float  # train_s
    started_at: float
    ended_at: float
    in_ray: bool = True  # False: trained outside a Ray worker (an early trial in the helper process)


def replay_intervals(trials: list[EndedTrial], *, min_trials: int = MIN_TRIALS) -> list[tuple[float, float] | None]:
    """The run's interval each trial would have been shown, from the trials ended before it started:
    its correction's (:meth:`Correction.interval`) once there is one, else :func:`interval_bounds`
    around its prediction; None before 2 had ended (the model's then)."""
    out: list[tuple[float, float] | None] = []
    for t in trials:
        before: list[Observation] = [(str(u.regime), u.predicted_s, u.measured_s, u.in_ray) for u in trials if u.ended_at <= t.started_at]
        c = correction_for(t.regime, scale_factors(before, min_trials=min_trials))
        b = None if c is not None else interval_bounds(before)
        out.append(c.interval(t.predicted_s) if c is not None else (t.predicted_s * b[0], t.predicted_s * b[1]) if b else None)
    return out


def replay(trials: list[EndedTrial], *, min_trials: int = MIN_TRIALS) -> list[tuple[float, Correction] | None]:
    """What the in-run correction would have predicted for each trial: its prediction scaled by the
    factors of the trials that had ended before it started (None: fewer than ``min_trials`` in Ray had).
    Honest by construction: a trial's own time never corrects its own prediction."""
    out: list[tuple[float, Correction] | None] = []
    for t in trials:
        before: list[Observation] = [(str(u.regime), u.predicted_s, u.measured_s, u.in_ray) for u in trials if u.ended_at <= t.started_at]
        s, c = corrected_seconds(t.predicted_s, t.regime, scale_factors(before, min_trials=min_trials))
        out.append((s, c) if c is not None else None)
    return out


class RunningFactors:
    """:func:`scale_factors` over observations that change one at a time (a trial ends, its
    predicted seconds arrive later), kept as running sums per (regime, in Ray): O(1) per change
    and O(regimes) per read, where :func:`scale_factors` passes over every ended trial. The
    dispatcher corrects each new prediction with the factors of every trial ended so far: that
    pass, at each trial's start, grew from 1.6% to 9.6% of the driver's main thread between the
    first and the last fifth of a 2,000-trial search (py-spy; issue 20 §4). Same factors as
    :func:`scale_factors` over the current observations, up to float rounding."""

    def __init__(self, *, min_trials: int = MIN_TRIALS) -> None:
        if min_trials < 1:
            raise ValueError(f"min_trials must be >= 1, but got {min_trials}")
        self.min_trials = min_trials
        self._held: dict[str, tuple[str, float, float, bool]] = {}  # key -> its valid observation
        self._sums: dict[tuple[str, bool], list[float]] = {}  # (regime, in Ray) -> [n, Σ predicted, Σ measured, Σ log(m/p), Σ log²]

    def set(self, key: str, observation: Observation | None) -> None:
        """``key``'s observation is now ``observation`` (None, or an invalid pair: it has none)."""
        old = self._held.pop(key, None)
        if old is not None:
            self._add(old, -1.0)
        if observation is not None and _ok(observation[1], observation[2]):
            o = observation
            new = (str(o[0]), float(o[1]), float(o[2]), bool(o[3]) if len(o) > 3 else True)
            self._held[key] = new
            self._add(new, 1.0)

    def _add(self, o: tuple[str, float, float, bool], sign: float) -> None:
        s = self._sums.setdefault((o[0], o[3]), [0.0] * 5)
        x = math.log(o[2] / o[1])
        s[0] += sign
        s[1] += sign * o[1]
        s[2] += sign * o[2]
        s[3] += sign * x
        s[4] += sign * x * x

    def _used(self) -> dict[str, list[float]]:
        """The sums per regime of the observations :func:`observations_used` keeps."""
        by_regime: dict[str, list[float]] = {}
        for (regime, ray), s in self._sums.items():
            if s[0] > 0.5 and ray:  # observations_used: those in Ray alone
                acc = by_regime.setdefault(regime, [0.0] * 5)
                for i in range(5):
                    acc[i] += s[i]
        return by_regime

    def bounds(self) -> tuple[float, float] | None:
        """What :func:`interval_bounds` returns for the observations held now."""
        by_regime = self._used()
        return bounds_of_logs(*(sum(s[i] for s in by_regime.values()) for i in (0, 3, 4)))

    def factors(self) -> dict[str, Correction]:
        """What :func:`scale_factors` returns for the observations held now."""
        by_regime = self._used()
        n = round(sum(s[0] for s in by_regime.values()))
        if n < self.min_trials:
            return {}

        def correction(s: list[float], regime: str) -> Correction:
            return from_sums(n=round(s[0]), sum_predicted=s[1], sum_measured=s[2], sum_log_ratio=s[3], sum_sq_log_ratio=s[4], regime=regime)

        total = [sum(s[i] for s in by_regime.values()) for i in range(5)]
        out = {POOLED: correction(total, POOLED)}
        for regime in sorted(by_regime):
            if round(by_regime[regime][0]) >= self.min_trials:
                out[regime] = correction(by_regime[regime], regime)
        return out
