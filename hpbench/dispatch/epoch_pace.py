"""The epochs a live search's trials reported so far, as the pace observations of its ETA
(:mod:`hpbench.cost.pace`), read from the results store as they come.

Each trial gives one observation, its epochs' predicted seconds (``predicted_epoch_s`` each, its
first with ``predicted_warmup_s``) against their measured ``epoch_s``, once the helper has priced
it: the early trials' (trained in the helper while Ray starts) apart from Tune's. Of Tune's trials
only the epochs that began after the early trials stopped count
(:func:`~hpbench.dispatch.beside_early.early_busy_until`): three trainers on two cores is a pace
that does not last (:mod:`hpbench.dispatch.beside_early`), and none of them while an early trial
still trains. A running trial counts as far as it has reported.

Each read is O(the trials) plus the epochs reported since the last one (the sums are kept per
trial), not a pass over every epoch of the study. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from hpbench.cost.annotate import number
from hpbench.cost.pace import PaceObservation, Pair
from hpbench.dispatch.beside_early import early_busy_until
from hpbench.dispatch.early import EARLY_PREFIX
from hpbench.results.columns import REPORTED_AT
from hpbench.results.store import ResultsStore


@dataclass
class _Sums:
    priced: tuple[float, float]  # the (predicted_epoch_s, predicted_warmup_s) they were summed at
    read: int = 0  # the epochs read so far
    predicted_s: float = 0.0
    measured_s: float = 0.0


class EpochPace:
    """One search's pace observations, kept up to date by :meth:`read`."""

    def __init__(self) -> None:
        self._until: float | None = None  # the early trials' end the sums were taken at
        self._sums: dict[str, _Sums] = {}

    def read(self, store: ResultsStore, trial_ids: Iterable[str]) -> tuple[list[PaceObservation], list[Pair]]:
        """Tune's trials' ``(regime, predicted s, measured s)`` and the early trials' ``(predicted
        s, measured s)``, over the epochs that count so far, of the trials of ``trial_ids`` that
        have any."""
        until = early_busy_until(store)
        if until != self._until:  # the early trials' end moved (once: from "still training" to their last end)
            self._sums.clear()
            self._until = until
        tune: list[PaceObservation] = []
        helper: list[Pair] = []
        for t in trial_ids:
            if t not in store:
                continue
            row = store.row(t)
            p, warm = number(row.get("predicted_epoch_s")), number(row.get("predicted_warmup_s"))
            early = str(t).startswith(EARLY_PREFIX)
            if p <= 0 or (not early and until == math.inf):
                continue
            s = self._sums.get(t)
            if s is None or s.priced != (p, warm):  # first seen, or priced again: from its first epoch
                s = self._sums[t] = _Sums(priced=(p, warm))
            done = int(row.get("epochs") or 0)
            for k in range(s.read + 1, done + 1):
                if (t, k) not in store.epochs:
                    continue
                e = store.epoch_row(t, k)
                m, at = number(e.get("epoch_s")), number(e.get(REPORTED_AT))
                if m <= 0 or not (early or until is None or (at > 0 and at - m >= until)):
                    continue
                s.predicted_s += p + (warm if k == 1 else 0.0)
                s.measured_s += m
            s.read = max(s.read, done)
            if s.predicted_s > 0:
                if early:
                    helper.append((s.predicted_s, s.measured_s))
                else:
                    tune.append((str(row.get("regime")), s.predicted_s, s.measured_s))
        return tune, helper
