"""Replaying a search's schedule with predicted trial times: a small discrete-event simulation.

Trials run in order on ``concurrency`` slots, epoch by epoch. A trial ends by itself after its
``epochs`` (where early stopping, or its ``max_epochs``, would end it), or earlier when the
pruning rule stops it at an epoch boundary. The rules are Ray Tune's, as hpbench builds them
(:mod:`hpbench.strategies`), applied to each trial's ``score`` (higher is better):

* ASHA (``AsyncHyperBandScheduler``, one bracket): rungs at ``grace · η^k`` for
  ``k < int(log(max_t / grace) / log η + 1)``; a trial reaching a rung is stopped when its score is
  below the ``(1 - 1/η)`` percentile of the scores recorded at that rung so far (the first one to
  arrive always continues), then recorded; every trial stops at ``max_t``.
* asynchronous Hyperband (``hyperband``: ASHA with Hyperband's brackets, :mod:`hpbench.hyperband`):
  trial ``i`` in bracket :func:`hyperband_bracket` (the brackets' shares, :func:`hyperband_shares`,
  spread over the trials in order); bracket ``b`` judges at the rungs from ``grace · η^b`` on, against
  the scores its own trials recorded there.
* ``asha-rank`` (:mod:`hpbench.rung_rank`) as ASHA, but for the rungs its evidence says pass every
  trial (``passing``: the live search's, :func:`hpbench.dispatch.live_scores.passing_rungs`), where
  the scores are recorded and no trial stops.
* median stopping (``MedianStoppingRule``, ``min_samples_required = 3``): from ``grace`` on, a
  trial is stopped when its score is below the median of the other trials that reached the same
  epoch, once there are at least three of them.

Which trial reaches a rung first depends on the timing, so the replay runs events in time
order. A slot's first trial pays ``fresh_s`` (a fresh worker process and its imports), every
trial ``setup_s`` (data, model build, reports), and a slot waits ``turnover_s`` between one
trial's end and the next one's start (the searcher's ask/tell, the result round trips).

A trial's epochs between two decisions (a rung, a judged epoch, its end) are one event, not one
each: ``max_epochs = 100000`` took 32 s to estimate, and 10**30 never ended (bug hunt s49/h2).
The median rule judges every epoch from ``grace`` on, thinned to at most :data:`MAX_JUDGED` evenly
spaced ones over a long run (a trial stops at most ``max_t / MAX_JUDGED`` epochs later than Ray would
stop it). A search of more trials than a replay runs is priced by :func:`extended_span`.

Pure: no clock, no randomness (the caller draws the scores and lengths), no I/O.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hpbench.hyperband import hyperband_bracket, hyperband_shares

MAX_JUDGED = 200  # epochs at which the replay's median rule judges a trial, at most
# The most trials a replay runs; a search of more (``--trials 1000000000 --budget-s 600``) is replayed
# by its first ones, the rest at their pace (extended_span): 100,000 trials did not estimate in minutes,
# and the live ETA listing 10**9 trials left at each trial's end stalled the search (bug hunt s49/h2).
MAX_REPLAYED = 1_000


@dataclass(frozen=True, kw_only=True)
class Pruning:
    """The study's scheduler as the replay applies it (any other name: none)."""

    kind: str = "none"  # none | asha | hyperband | median
    max_t: int = 1
    grace_period: int = 1
    reduction_factor: int = 3
    min_samples: int = 3
    passing: frozenset[int] = frozenset()  # rungs that record scores but stop no trial (asha-rank's, live)

    def rungs(self) -> tuple[int, ...]:
        """ASHA's rungs, ascending, laid out as Ray lays them out (also ``decision_epochs``)."""
        if self.kind not in ("asha", "hyperband"):
            return ()
        grace, rf = min(self.grace_period, self.max_t), self.reduction_factor
        n = int(math.log(self.max_t / grace) / math.log(rf) + 1) if self.max_t > grace else 1
        return tuple(grace * rf**k for k in range(n))


    def judged(self) -> tuple[int, int]:
        """The median rule's judged epochs, as (first, step): every epoch from ``grace_period`` on,
        or every ``step``-th where that would be more than :data:`MAX_JUDGED`."""
        span = max(0, self.max_t - self.grace_period + 1)
        return self.grace_period, max(1, math.ceil(span / MAX_JUDGED))

    def n_brackets(self) -> int:
        """Hyperband's brackets (``s_max + 1``: as many as ASHA's rungs); 1 for any other rule."""
        return len(self.rungs()) if self.kind == "hyperband" else 1


@dataclass(frozen=True, kw_only=True)
class SimTrial:
    epoch_s: float  # wall seconds per epoch
    epochs: int  # where it ends by itself (early stopping or its max_epochs)
    score: float = 0.0  # what the pruning rule compares (higher is better)
    done: int = 0  # a trial already running (the live view): epochs it has run ...
    running_for_s: float = 0.0  # ... and for how long (set-up included)
    fresh: bool = False  # ... on a fresh worker (its start is in running_for_s, and still ahead of its first epoch)


@dataclass(frozen=True, kw_only=True)
class Slots:
    concurrency: int
    fresh_s: float = 0.0
    setup_s: float = 0.0
    turnover_s: float = 0.0
    n_fresh: int | None = None  # slots whose next trial still needs a fresh worker [default: all]


@dataclass(frozen=True, kw_only=True)
class Replay:
    makespan_s: float  # from the first start to the last trial's end
    epochs: tuple[int, ...]  # epochs each trial ran
    pruned: tuple[bool, ...]
    ended_s: tuple[float, ...] = field(default=())  # when each trial ended


def _percentile(xs: Sequence[float], q: float) -> float:
    """numpy's default (linear) percentile, as Ray's cutoff uses it, of the sorted ``xs``."""
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def extended_span(r: Replay, n_trials: int) -> float:
    """The makespan of a search of ``n_trials`` trials of which ``r`` replayed the first ones: the
    trials past them end at the pace of the replay's second half (the trials that ended after its
    middle one, over the seconds they took: the start-up and the slots' ramp left out), after its last one."""
    ends = sorted(r.ended_s)
    n = len(ends)
    if n_trials <= n or n < 2:
        return r.makespan_s
    middle = ends[n // 2 - 1]
    after = n - bisect.bisect_right(ends, middle)  # the trials that ended after it (those ending with it in one wave are before)
    pace_s = (ends[-1] - middle) / after if after else ends[-1] / n
    return r.makespan_s + (n_trials - n) * pace_s


def replay(trials: Sequence[SimTrial], *, slots: Slots, pruning: Pruning = Pruning(),
           recorded: Mapping[int, Sequence[float]] | None = None) -> Replay:
    """Replay ``trials`` (running ones first: those with ``done`` or ``running_for_s``).
    ``recorded``: scores already recorded at ASHA's rungs, or at epochs for the median rule
    (trials that ended before this replay)."""
    n_slots = max(1, slots.concurrency)
    rung_list = pruning.rungs()
    rf = pruning.reduction_factor
    asha = pruning.kind in ("asha", "hyperband")
    first_judged, step = pruning.judged()
    shares = hyperband_shares(pruning.n_brackets(), rf)
    bracket = [hyperband_bracket(i, shares) if len(shares) > 1 else 0 for i in range(len(trials))]
    # (bracket, rung or epoch) -> the scores recorded there, kept sorted: a rung's cutoff is read at
    # each arrival (sorting them each time made a 1,000-trial replay quadratic: 56 ms, issue 20 §4)
    seen: dict[tuple[int, int], list[float]] = {(0, k): sorted(v) for k, v in (recorded or {}).items()}
    epochs = [0] * len(trials)
    pruned = [False] * len(trials)
    ended = [0.0] * len(trials)
    events: list[tuple[float, int, int]] = []  # (time, trial, epoch just finished)
    free: list[tuple[float, bool]] = []  # (time the slot is free, its next trial needs a fresh worker)
    running = [i for i, t in enumerate(trials) if t.done or t.running_for_s]
    fresh_left = n_slots - len(running) if slots.n_fresh is None else slots.n_fresh
    for i in running:
        t = trials[i]
        epochs[i] = t.done
        # the next epoch ends where the prediction puts it, or half an epoch from now if it is late
        due = slots.setup_s + (slots.fresh_s if t.fresh else 0.0) + (t.done + 1) * t.epoch_s - t.running_for_s
        heapq.heappush(events, (max(due, t.epoch_s / 2), i, t.done + 1))
    for k in range(n_slots - len(running)):
        free.append((0.0, k < fresh_left))
    queue = [i for i in range(len(trials)) if i not in set(running)]
    queue.reverse()

    def start(at: float, fresh: bool) -> None:
        i = queue.pop()
        t = trials[i]
        first = at + slots.setup_s + (slots.fresh_s if fresh else 0.0) + t.epoch_s
        heapq.heappush(events, (first, i, 1))

    free.sort()
    while queue and free:
        at, fresh = free.pop(0)
        start(at, fresh)
    def next_epoch(i: int, k: int) -> int:
        """The first epoch after ``k`` at which anything happens to trial ``i``: a rung or a judged epoch, or its end."""
        end = min(trials[i].epochs, pruning.max_t) if asha else trials[i].epochs
        if asha:
            own = rung_list[bracket[i]:]
            j = bisect.bisect_right(own, k)
            if j < len(own):
                end = min(end, own[j])
        elif pruning.kind == "median":
            end = min(end, first_judged if k < first_judged else k + step - (k - first_judged) % step)
        return max(k + 1, end)

    last = 0.0
    while events:
        now, i, k = heapq.heappop(events)
        t = trials[i]
        epochs[i] = k
        stop = False
        if k in rung_list[bracket[i]:]:  # its bracket's rungs
            scores = seen.setdefault((bracket[i], k), [])
            if scores and k not in pruning.passing and t.score < _percentile(scores, (1 - 1 / rf) * 100):
                stop = True
            bisect.insort(scores, t.score)
        elif pruning.kind == "median" and k >= first_judged and (k - first_judged) % step == 0:
            scores = seen.setdefault((0, k), [])
            if len(scores) >= pruning.min_samples and t.score < _percentile(scores, 50.0):
                stop = True
            bisect.insort(scores, t.score)
        if stop or k >= t.epochs or (asha and k >= pruning.max_t):
            pruned[i] = stop and k < t.epochs
            ended[i] = now
            last = max(last, now)
            if queue:
                start(now + slots.turnover_s, False)
            continue
        nxt = next_epoch(i, k)
        heapq.heappush(events, (now + (nxt - k) * t.epoch_s, i, nxt))
    return Replay(makespan_s=last, epochs=tuple(epochs), pruned=tuple(pruned), ended_s=tuple(ended))
