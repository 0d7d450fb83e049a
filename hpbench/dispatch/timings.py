"""What a search measured of itself, for this machine's history (:mod:`hpbench.cost.history`):
its trials' times as the record reads them, and the contention its trials' workers met."""

from __future__ import annotations

import socket
import statistics
from collections.abc import Callable, Iterable

from hpbench.cost import clock
from hpbench.cost.history import TrialTimes
from hpbench.results.status import TrialStatus
from hpbench.results.store import ResultsStore


def trial_times(store: ResultsStore, trial_ids: Iterable[str], *, max_epochs: Callable[[str], int]) -> list[TrialTimes]:
    """The finished trials among ``trial_ids``: start, end, epochs (the first one apart), stop
    reason, predicted seconds per epoch, early stopping's best epoch (1-based)."""
    out = []
    for t in trial_ids:
        row = store.row(t) if t in store else {}
        if row.get("status") != TrialStatus.FINISHED or not row.get("ended_at"):
            continue
        es_best = row.get("es_best_epoch")
        epoch_s = [float(r.get("epoch_s") or 0.0) for (tid, _), r in sorted(store.epochs.items()) if tid == t]
        out.append(TrialTimes(
            started_at=float(row["started_at"]), ended_at=float(row["ended_at"]), train_s=float(row.get("train_s") or 0.0),
            epochs=int(row.get("epochs") or 0), max_epochs=max_epochs(t), stop_reason=str(row.get("stop_reason")),
            predicted_epoch_s=row.get("predicted_epoch_s"),
            best_epoch=int(es_best) + 1 if isinstance(es_best, (int, float)) and es_best == es_best else None,
            first_epoch_s=epoch_s[0] if epoch_s else None, later_epoch_s=statistics.median(epoch_s[1:]) if len(epoch_s) > 1 else None))
    return out


class WorkerContention:
    """The contention the running trials meet, from the kernel: how long the busiest thread of
    each running trial's worker (the one training) ran and waited for a CPU between samples
    (workers on this host). The worker's other threads wake briefly and wait long: their ratio
    says little about a busy thread's."""

    def __init__(self) -> None:
        self.host = socket.gethostname()
        self._last: dict[int, dict[int, tuple[int, int]]] = {}  # worker pid -> thread -> (ns run, ns waited)
        self._run = self._wait = 0

    def sample(self, store: ResultsStore) -> None:
        for row in store.rows():
            pid = row.get("pid")
            if row.get("status") != TrialStatus.RUNNING or not isinstance(pid, int) or row.get("hostname") not in (None, self.host):
                continue
            now = clock.schedstat(pid)
            if now is None:
                continue
            prev = self._last.get(pid, {})
            self._last[pid] = now
            deltas = [(r - prev[tid][0], w - prev[tid][1]) for tid, (r, w) in now.items() if tid in prev and r >= prev[tid][0]]
            if deltas:
                run, wait = max(deltas)
                self._run, self._wait = self._run + run, self._wait + wait

    def contention(self) -> float | None:
        """(run + wait) / run over every sample so far; None before any."""
        return max(1.0, (self._run + self._wait) / self._run) if self._run > 0 else None
