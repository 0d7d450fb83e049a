"""A live search's scores as the ETA's replay of its pruning reads them (:mod:`hpbench.dispatch.eta`):
each trial's best so far, and what the trials recorded at the points where the study's pruning
rule compares them (ASHA's rungs, the median rule's epochs). Higher is better throughout: a
``min`` metric is negated."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from hpbench.cost.quality import on_best_scale
from hpbench.cost.simulate import Pruning
from hpbench.results.status import StopReason
from hpbench.results.store import ResultsStore
from hpbench.rung_rank import RungEvidence

# how a trial the trainer ended says so (not a rung, the budget or a failure): asha-rank's evidence
TRAINER_ENDED = frozenset({StopReason.COMPLETED, StopReason.EARLY_STOPPED, StopReason.DIVERGED, StopReason.SOLVED, StopReason.COLLAPSED,
                           StopReason.TIME_LIMIT})


def rule_points(pruning: Pruning) -> Sequence[int]:
    """The epochs at which the pruning rule compares trials: ASHA's rungs, the median rule's every
    epoch from its grace period on, none without a rule."""
    if pruning.kind in ("asha", "hyperband"):
        return pruning.rungs()
    return range(pruning.grace_period, pruning.max_t + 1) if pruning.kind == "median" else ()


def reached(store: ResultsStore, trial_ids: Iterable[str], pruning: Pruning) -> Mapping[int, int]:
    """How many of the trials (ended or running) reached each rung (ASHA) or epoch (the median
    rule) whose scores the pruning rule compares later trials with."""
    epochs = [int(store.row(t).get("epochs") or 0) for t in trial_ids]
    return {k: sum(1 for e in epochs if e >= k) for k in rule_points(pruning)}


def running_scores(store: ResultsStore, trial_ids: Iterable[str]) -> list[float | None]:
    """Each trial's best score so far (higher better: a ``min`` metric negated): its row's once it
    ended, the best of its epochs' while it runs; None before its first epoch."""
    return [_best_so_far(store, t) for t in trial_ids]


def _best_so_far(store: ResultsStore, trial_id: str) -> float | None:
    key, sign = f"best_{store.metric}", (1.0 if store.mode == "max" else -1.0)
    row = store.row(trial_id) if trial_id in store else {}
    v = row.get(key)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return sign * float(v)
    seen = [store.epoch_row(trial_id, k).get(store.metric) for k in range(1, int(row.get("epochs") or 0) + 1) if (trial_id, k) in store.epochs]
    finite = [sign * float(x) for x in seen if isinstance(x, (int, float)) and math.isfinite(x)]
    return max(finite) if finite else None


def reached_scores(store: ResultsStore, trial_ids: Iterable[str], pruning: Pruning, *,
                   best: Mapping[str, float | None] | None = None) -> dict[int, list[float]]:
    """The scores the trials (ended or running) recorded at each rung (ASHA) or epoch (the median
    rule), higher better: what the pruning rule compares later trials with (:func:`reached`'s counts).
    ``best``: the trials' best scores so far (:func:`running_scores`, read by the caller); with them,
    each recorded score is moved to the scale of a trial's best by the gain of the trials that went
    on past that point (:func:`hpbench.cost.quality.on_best_scale`), to be compared with scores of
    trials' best (the live search's line)."""
    sign = 1.0 if store.mode == "max" else -1.0
    out: dict[int, list[float]] = {k: [] for k in rule_points(pruning)}
    gains: dict[int, list[float]] = {k: [] for k in out}
    for t in trial_ids:
        epochs = int(store.row(t).get("epochs") or 0) if t in store else 0
        b = best.get(t) if best is not None else None
        for k in out:
            if k <= epochs and (t, k) in store.epochs:
                v = store.epoch_row(t, k).get(store.metric)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    out[k].append(sign * float(v))
                    if k < epochs and b is not None:
                        gains[k].append(b - sign * float(v))
    return on_best_scale(out, gains) if best is not None else out


def passing_rungs(store: ResultsStore, trial_ids: Iterable[str], pruning: Pruning, *,
                  cache: dict[str, tuple[dict[int, float], float] | None] | None = None) -> frozenset[int]:
    """asha-rank's rungs that pass every trial now (:class:`hpbench.rung_rank.RungEvidence`), from
    the ended trials the trainer ended: each one's running best at the rungs it reached against its
    final best, higher better. ``cache``: each ended trial's pair, kept between calls (it does not change)."""
    rungs = frozenset(pruning.rungs())
    evidence = RungEvidence(rungs=rungs)
    sign = 1.0 if store.mode == "max" else -1.0
    for t in trial_ids:
        if cache is not None and t in cache:
            pair = cache[t]
        else:
            row = store.row(t) if t in store else {}
            if row.get("stop_reason") not in TRAINER_ENDED:
                continue  # running, pruned, out of budget or failed: not evidence (yet)
            pair = _rung_pair(store, t, int(row.get("epochs") or 0), rungs, sign)
            if cache is not None:
                cache[t] = pair
        if pair is not None:
            evidence = evidence.with_finished(*pair)
    return frozenset(r for r in rungs if not evidence.judges(r))


def _rung_pair(store: ResultsStore, trial_id: str, epochs: int, rungs: frozenset[int], sign: float) -> tuple[dict[int, float], float] | None:
    """An ended trial's running best at each rung it reached and its final best (None: no finite score)."""
    best, at_rungs = -math.inf, {}
    for k in range(1, epochs + 1):
        v = store.epoch_row(trial_id, k).get(store.metric) if (trial_id, k) in store.epochs else None
        if isinstance(v, (int, float)) and math.isfinite(v):
            best = max(best, sign * float(v))
        if k in rungs and math.isfinite(best):
            at_rungs[k] = best
    return (at_rungs, best) if math.isfinite(best) else None
