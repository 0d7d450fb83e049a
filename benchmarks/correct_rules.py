"""Candidate in-run correction rules (issue 13) replayed causally on recorded trials: the rows of
``benchmarks/cost_model.py``'s JSON files, their studies' schedules (recorded, else simulated),
each rule's corrected seconds and P10-P90 for one trial from the trials ended before it started,
and hpbench's own rule (:mod:`hpbench.cost.correct`) on the same rows.
:mod:`correct_strategies` compares them; trains nothing, times nothing.

Causal: each trial is corrected only from the trials of its study (one search: a run's digits or
seq study at one concurrency level) that ended before it started, as ``cost_model.py`` does
(``ended_at <= started_at``). The recorded rows carry no times; the studies whose trials
``correct_replay.json`` holds (matched by predicted and measured seconds) get theirs, the others a
simulated schedule: ``concurrent`` slots, trials started in trial order as a slot frees, each
lasting its measured seconds (:func:`simulated`).

A file whose measured seconds another file holds too (cost_model.json is the session-9 quiet run's
copy) counts once (:func:`distinct`); the "before" / "after" files of a seed are separate timings of
the same draws and count each.
A candidate (:class:`Rule`): the grouping key (a trial's regime, its family, pooled, the family
falling back to the regime, or the family shrunk towards the pooled factor), the estimator (mean of
log ratios shrunk towards 1 as if ``w`` trials had read 1.0, ratio of sums, median log ratio), which
early trials count, and the interval. hpbench's own rule is run through :func:`current`
(``correct.replay`` and ``replay_intervals``); ``regime / mean / w=4 / early trials: none`` here
reproduces it exactly.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hpbench.cost.correct import EndedTrial, replay, replay_intervals
from hpbench.cost.spread import Z90, t_quantile

MIN = 4  # hpbench.cost.correct.MIN_TRIALS: the "from 4 trials"
Row = dict[str, Any]


def _key(r: Row) -> tuple[int, int]:
    return round(r["predicted_s"] * 1e9), round(r["measured_s"] * 1e9)


def attach_times(rows: list[Row], times: dict[str, list[Row]]) -> None:
    """Give each study's rows the recorded start and end where every row of the study has them, else a simulated schedule."""
    known = {_key(t): t for v in times.values() for t in v}
    for (_, _), group in itertools.groupby(sorted(rows, key=lambda r: (r["concurrent"], r["study"], r["trial"])),
                                           key=lambda r: (r["concurrent"], r["study"])):
        g = list(group)
        if all(_key(r) in known for r in g):
            for r in g:
                r["started_at"], r["ended_at"], r["timed"] = known[_key(r)]["started_at"], known[_key(r)]["ended_at"], True
        else:
            for r, (s, e) in zip(g, simulated([r["measured_s"] for r in g], g[0]["concurrent"]), strict=True):
                r["started_at"], r["ended_at"], r["timed"] = s, e, False


def simulated(seconds: list[float], slots: int) -> list[tuple[float, float]]:
    """(start, end) of trials run in order on ``slots`` slots, each started when the earliest slot frees."""
    free = [0.0] * max(1, slots)
    out = []
    for s in seconds:
        i = min(range(len(free)), key=free.__getitem__)
        out.append((free[i], free[i] + s))
        free[i] += s
    return out


def distinct(files: dict[str, list[Row]]) -> list[str]:
    """One file per physical run (the same measured seconds): the last by name among 'after' replays, else the plain one."""
    def rank(name: str) -> tuple[int, str]:
        return (2 if "after" in name else 0 if "before" in name else 1, name)

    chosen: dict[frozenset[int], str] = {}
    for name in sorted(files, key=rank):
        measured = frozenset(_key(r)[1] for r in files[name])
        for other in list(chosen):
            if measured <= other or other <= measured:  # a subset: the same run's trials (one level of it)
                measured = measured | other
                del chosen[other]
        chosen[measured] = name
    return sorted(chosen.values())


@dataclass(frozen=True, kw_only=True)
class Rule:
    key: str  # "regime", "family", "pooled"; "family>regime": the family's trials once 4, else the regime's, else all;
    #           "family>pooled": the family's mean shrunk towards the pooled one (``shrink`` trials' weight)
    estimator: str  # "mean" (of log ratios, shrunk towards 1), "sums" (ratio of sums), "median" (median log ratio, shrunk)
    shrink: float  # the prior's weight in trials
    early: str = "until 4"  # the early trials (trained outside Ray) count "until 4" ran in Ray (observations_used before
    #                         session 11), "all", "none" (observations_used now, and the dispatcher)
    interval: str = "t"  # "t": exp(mean -+ t_{0.9,n-1} s sqrt(1 + 1/n)) (spread.prediction_bounds); "quantiles": the P10-P90
    #                      of the log ratios seen; "quantiles+": their distances from the point times t_{0.9,n-1} / z_{0.9}

    def name(self) -> str:
        return (f"{self.key} / {self.estimator} / w={self.shrink:g}" + ("" if self.early == "until 4" else f" / early trials: {self.early}")
                + ("" if self.interval == "t" else f" / interval {self.interval}"))


def _used(before: list[Row], early: str) -> list[Row]:
    ray = [b for b in before if b["in_ray"]]
    return ray if early == "none" or (early == "until 4" and len(ray) >= MIN) else before


def logs(rows: list[Row]) -> list[float]:
    return [math.log(r["measured_s"] / r["predicted_s"]) for r in rows]


def _centre(rows: list[Row], estimator: str, shrink: float, towards: float = 0.0) -> float:
    x = logs(rows)
    if estimator == "sums":
        return math.log(math.fsum(r["measured_s"] for r in rows) / math.fsum(r["predicted_s"] for r in rows))
    if estimator == "median":
        return statistics.median(x) * len(x) / (len(x) + shrink) + towards * shrink / (len(x) + shrink)
    return (math.fsum(x) + shrink * towards) / (len(x) + shrink)


def corrected(rule: Rule, before: list[Row], t: Row) -> tuple[float, tuple[float, float] | None] | None:
    """The rule's corrected seconds for ``t`` and its P10-P90, from ``before`` (None: fewer than MIN used)."""
    used = _used(before, rule.early)
    if len(used) < MIN:
        return None
    mine = [u for u in used if rule.key in ("regime", "family") and u[rule.key] == t[rule.key]]
    if rule.key == "family>pooled":
        mine = [u for u in used if u["family"] == t["family"]]
        centre = _centre(mine, rule.estimator, rule.shrink, _centre(used, rule.estimator, rule.shrink)) if mine else \
            _centre(used, rule.estimator, rule.shrink)
        spread_of = mine if len(mine) >= 2 else used
    elif rule.key == "family>regime":
        fam, reg = ([u for u in used if u[k] == t[k]] for k in ("family", "regime"))
        spread_of = fam if len(fam) >= MIN else reg if len(reg) >= MIN else used
        centre = _centre(spread_of, rule.estimator, rule.shrink)
    elif rule.key in ("regime", "family") and len(mine) >= MIN:
        centre, spread_of = _centre(mine, rule.estimator, rule.shrink), mine
    else:
        centre, spread_of = _centre(used, rule.estimator, rule.shrink), used
    return t["predicted_s"] * math.exp(centre), _band(rule, logs(spread_of), centre, t["predicted_s"])


def _band(rule: Rule, x: list[float], centre: float, predicted_s: float) -> tuple[float, float] | None:
    if len(x) < 2:
        return None
    if rule.interval == "t":  # around the group's unshrunk mean, as hpbench.cost.spread.prediction_bounds
        mean, half = statistics.fmean(x), t_quantile(len(x) - 1) * statistics.stdev(x) * math.sqrt(1 + 1 / len(x))
        return predicted_s * math.exp(mean - half), predicted_s * math.exp(mean + half)
    lo, hi = statistics.quantiles(x, n=10, method="inclusive")[0] - centre, statistics.quantiles(x, n=10, method="inclusive")[-1] - centre
    k = t_quantile(len(x) - 1) / Z90 if rule.interval == "quantiles+" else 1.0
    return predicted_s * math.exp(centre + k * lo), predicted_s * math.exp(centre + k * hi)


def studies(rows: list[Row]) -> list[list[Row]]:
    out: dict[tuple[str, int, str], list[Row]] = {}
    for r in rows:
        out.setdefault((r["run"], r["concurrent"], r["study"]), []).append(r)
    return list(out.values())


def evaluate(rows: list[Row], predict: Callable[[list[Row], Row], tuple[float, tuple[float, float] | None] | None]) -> list[Row]:
    """Per corrected trial: concurrency, |raw error|, |corrected error|, inside its interval (None: none)."""
    out = []
    for study in studies(rows):
        for t in study:
            got = predict([b for b in study if b["ended_at"] <= t["started_at"] and b is not t], t)
            if got is None:
                continue
            m = t["measured_s"]
            out.append({"id": id(t), "run": t["run"], "c": t["concurrent"], "raw": abs(t["predicted_s"] - m) / m, "err": abs(got[0] - m) / m,
                        "inside": None if got[1] is None else got[1][0] <= m <= got[1][1]})
    return out


def current(rows: list[Row]) -> list[Row]:
    """hpbench.cost.correct itself (replay, replay_intervals) on each study."""
    out = []
    for study in studies(rows):
        ended = [EndedTrial(regime=t["regime"], predicted_s=t["predicted_s"], measured_s=t["measured_s"], started_at=t["started_at"],
                            ended_at=t["ended_at"], in_ray=t["in_ray"]) for t in study]
        for t, c, band in zip(study, replay(ended), replay_intervals(ended), strict=True):
            if c is None:
                continue
            m = t["measured_s"]
            out.append({"run": t["run"], "c": t["concurrent"], "raw": abs(t["predicted_s"] - m) / m, "err": abs(c[0] - m) / m,
                        "inside": None if band is None else band[0] <= m <= band[1]})
    return out


def summary(ev: list[Row]) -> dict[str, Any]:
    inside = [e["inside"] for e in ev if e["inside"] is not None]
    return {"n": len(ev), "raw": statistics.median(e["raw"] for e in ev) if ev else None,
            "median": statistics.median(e["err"] for e in ev) if ev else None,
            "coverage": statistics.fmean(inside) if inside else None}
