"""What a search measured of itself, for this machine's history (:mod:`hpbench.cost.history`):
its trials' times as the record reads them, and the contention its trials' workers met."""

from __future__ import annotations

import socket
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from hpbench.cost import clock
from hpbench.cost.annotate import COST_NOTE
from hpbench.cost.ends import rows_per_step, searched_lr
from hpbench.cost.estimate import fuse_of
from hpbench.cost.figures import Figures
from hpbench.cost.live import BEST_PRIOR_TRIALS, Finished, own_fractions
from hpbench.cost.record import ENDED_BY_THEMSELVES, OWN_ENDS, TrialTimes
from hpbench.cost.walltime import TrialPlan
from hpbench.dispatch.beside_early import early_busy_until
from hpbench.dispatch.early import EARLY_PREFIX
from hpbench.dispatch.live_scores import running_scores
from hpbench.results.columns import EPOCH_CPU_S, REPORTED_AT
from hpbench.results.status import DONE, StopReason, TrialStatus
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study


def tune_trials(trial_ids: list[str]) -> list[str]:
    """The trials Ray Tune ran (not the early ones, :mod:`hpbench.dispatch.early`)."""
    return [t for t in trial_ids if not t.startswith(EARLY_PREFIX)]


def finished_trials(store: ResultsStore, phases: Iterable[list[str]], *, concurrency: int) -> list[Finished]:
    """The finished trials of each phase (its trial ids in start order) as the live ETA's
    overheads read them, the first ``concurrency`` of a phase on fresh workers. Tune's trials
    only: the early ones trained in the helper, with no worker or Ray set-up to measure (counted
    as the search's fresh workers, they priced a fresh worker at ~0 s and the set-up of every
    later trial at a fresh worker's ~3.6 s: the quickstart's ETA at 25% read +137%)."""
    out = []
    for ids in phases:
        for i, t in enumerate(tune_trials(ids)):
            row = store.row(t) if t in store else {}
            if row.get("status") == TrialStatus.FINISHED:
                out.append(Finished(train_s=float(row.get("train_s") or 0.0), wall_s=float(row.get("wall_s") or 0.0), fresh=i < concurrency))
    return out


def free_s(row: Mapping[str, Any], *, threads: int) -> float:
    """An epoch's contention-free seconds: its wall seconds less the time its training thread
    waited for a CPU (its CPU seconds, at most its wall's) when the trial ran one thread, where
    ``epoch_cpu_s`` is the training thread's; its wall seconds otherwise (a process's CPU
    seconds over several threads do not tell waiting from threads left idle)."""
    wall, cpu = float(row.get("epoch_s") or 0.0), row.get(EPOCH_CPU_S)
    return min(wall, float(cpu)) if threads == 1 and isinstance(cpu, (int, float)) and cpu == cpu and cpu > 0 else wall


def measured_contention(store: ResultsStore, trial_ids: list[str], *, threads: int, n_trials: int, n_epochs: int = 3) -> float | None:
    """The contention the search's trials meet now: the median over the last ``n_epochs`` epochs
    of its latest ``n_trials`` Tune trials (the early ones trained in the helper while Ray
    started) of wall over contention-free seconds (:func:`free_s`; a median, as the speed figure's:
    the quickstart's epochs of 4-15 ms read 1.0-1.25 each, a few hiccups put single trials' sums at
    2.4); None before any such epoch or with several threads."""
    ratios = []
    until = early_busy_until(store) if threads == 1 else None  # epochs beside a long early trial: a contention that does not last
    for t in tune_trials(trial_ids)[-n_trials:] if threads == 1 else ():
        last = int(store.row(t).get("epochs") or 0) if t in store else 0
        for e in range(max(1, last - n_epochs + 1), last + 1):
            r = store.epochs.get((t, e))
            if r is not None and isinstance(r.get(EPOCH_CPU_S), (int, float)) and free_s(r, threads=threads) > 0 \
                    and not (until is not None and isinstance(r.get(REPORTED_AT), (int, float)) and r[REPORTED_AT] < until):
                ratios.append(float(r.get("epoch_s") or 0.0) / free_s(r, threads=threads))
    return max(1.0, statistics.median(ratios)) if ratios else None


def trial_times(store: ResultsStore, trial_ids: Iterable[str], *, max_epochs: Callable[[str], int], threads: int = 1) -> list[TrialTimes]:
    """The finished trials among ``trial_ids``: start, end, epochs (the first one apart, each at
    its contention-free seconds, :func:`free_s`), stop reason, predicted seconds per epoch, early
    stopping's best epoch (1-based), the contention its epochs met."""
    # the epochs' seconds by trial, in one pass (sorting every epoch row once per trial was
    # O(n^2 log n) at a search's end: ~2,000 sorts of ~2,000 rows at 2,000 trials, issue 20 §4)
    by_trial: dict[str, list[tuple[int, float, float]]] = {}
    for (tid, epoch), r in store.epochs.items():
        by_trial.setdefault(tid, []).append((epoch, free_s(r, threads=threads), float(r.get("epoch_s") or 0.0)))
    out = []
    for t in trial_ids:
        row = store.row(t) if t in store else {}
        if row.get("status") != TrialStatus.FINISHED or not row.get("ended_at"):
            continue
        es_best = row.get("es_best_epoch")
        epochs = sorted(by_trial.get(t, []))
        epoch_s = [s for _, s, _ in epochs]
        # its contention as its speed reads it: its later epochs' median wall over their median contention-free seconds
        later = slice(1 if len(epochs) > 1 else 0, None)
        late_free, late_wall = (statistics.median(epoch_s[later]), statistics.median([w for _, _, w in epochs][later])) if epochs else (0.0, 0.0)
        out.append(TrialTimes(
            started_at=float(row["started_at"]), ended_at=float(row["ended_at"]), train_s=float(row.get("train_s") or 0.0),
            epochs=int(row.get("epochs") or 0), max_epochs=max_epochs(t), stop_reason=str(row.get("stop_reason")),
            predicted_epoch_s=row.get("predicted_epoch_s"),
            best_epoch=int(es_best) + 1 if isinstance(es_best, (int, float)) and es_best == es_best else None,
            first_epoch_s=epoch_s[0] if epoch_s else None, later_epoch_s=statistics.median(epoch_s[1:]) if len(epoch_s) > 1 else None,
            params={k: _plain(row[k]) for k in store.param_keys if row.get(k) is not None}, batch_rows=rows_per_step(row.get("batch_rows")) or 0.0,
            contention=max(1.0, late_wall / late_free) if late_free > 0 and threads == 1 and all(
                isinstance(store.epochs[(t, e)].get(EPOCH_CPU_S), (int, float)) for e, _, _ in epochs) else None))
    return out


def _plain(v: Any) -> Any:  # a parameter as JSON keeps it (numpy scalars as Python's)
    return v.item() if hasattr(v, "item") else v


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


def quality_pairs(store: ResultsStore, trial_ids: Iterable[str], so_far: Sequence[float | None] | None = None, *,
                  stand_in: Mapping[str, float] | None = None) -> tuple[list[float], list[float]]:
    """The trials' predicted seconds per epoch and best score so far (higher better: a ``min``
    metric negated), for those that have both (:func:`hpbench.cost.quality.measured_rho`);
    ``so_far``: the trials' :func:`running_scores`, where the caller has them; ``stand_in``: the
    cost of trials not priced yet (:func:`stand_in_costs`)."""
    ids = list(trial_ids)
    costs, scores = [], []
    for t, v in zip(ids, running_scores(store, ids) if so_far is None else so_far, strict=True):
        c = store.row(t).get("predicted_epoch_s") if t in store else None
        c = c if isinstance(c, (int, float)) else (stand_in or {}).get(t)
        if isinstance(c, (int, float)) and c > 0 and v is not None:
            costs.append(float(c))
            scores.append(v)
    return costs, scores


def stand_in_costs(store: ResultsStore, trial_ids: Iterable[str], *, speed: float) -> dict[str, float]:
    """The ended trials the helper has not priced yet (no prediction, no note saying why there is
    none), each at its measured seconds per epoch over ``speed`` (the machine's measured / predicted
    seconds): the cost the live ETA reads them at until their prediction comes. On a machine's first
    search the helper has no kept prices and prices each trial behind the early trial it is training:
    on the held-out long study (20-epoch trials of up to 1.9 s an epoch) that trial ran until 46 s,
    and at 25% of the trials (10 ended, 57-70 s) the ETA, which read only the trials priced, took
    the trials left for the few cheap ones it had: 23-43 s shown for 125-136 s left (three runs;
    the same search with its prices kept read ~190 s there)."""
    out: dict[str, float] = {}
    for t in trial_ids:
        row = store.row(t) if t in store else {}
        if row.get("status") != TrialStatus.FINISHED or isinstance(row.get("predicted_epoch_s"), (int, float)) or row.get(COST_NOTE):
            continue
        epochs, train_s = int(row.get("epochs") or 0), row.get("train_s")
        if epochs > 0 and isinstance(train_s, (int, float)) and train_s > 0 and speed > 0:
            out[t] = float(train_s) / epochs / speed
    return out


def repeat_candidates(store: ResultsStore, trial_ids: Sequence[str], *, so_far: Mapping[str, float | None] | None, fallback: float,
                      plan_of: Callable[[str, float], TrialPlan], speed: Callable[[TrialPlan], float]) -> list[tuple[TrialPlan, float | None]]:
    """The trials as the repeats may re-run them, each with its best score yet (``so_far``, or its
    :func:`running_scores`): ``plan_of(trial, predicted s/epoch)``, ``fallback`` where the helper
    has not priced it yet (priced at a second an epoch, such a trial put transfer_scratch's ETA at 25%
    at +414%); an ended one at the seconds per epoch it measured over its ``speed`` (the replay
    multiplies by it again). A trial that failed is left out: the repeats never re-run one
    (:mod:`hpbench.results.ranking`)."""
    scores = [so_far.get(t) for t in trial_ids] if so_far is not None else running_scores(store, trial_ids)
    out = []
    for t, score in zip(trial_ids, scores, strict=True):
        row = store.row(t)
        if row.get("status") in (TrialStatus.FAILED, TrialStatus.INTERRUPTED):
            continue
        predicted = row.get("predicted_epoch_s")
        p = plan_of(t, float(predicted) if isinstance(predicted, (int, float)) and predicted > 0 else fallback)
        epochs, train_s = int(row.get("epochs") or 0), float(row.get("train_s") or 0.0)
        if row.get("status") != TrialStatus.RUNNING and epochs > 0 and train_s > 0:
            p = replace(p, epoch_s=train_s / epochs / speed(p))
        out.append((p, score))
    return out


class EndedTrials:
    """How many trials of each phase ended (each start counted), checking only those not seen
    ended yet (a trial never runs again once ended): a pass over every trial at each trial's
    end grew with the study (issue 20 §4)."""

    def __init__(self) -> None:
        self._open: dict[str, dict[str, int]] = {}  # per phase: trials not seen ended (id -> starts), the first _seen ones taken in
        self._seen: dict[str, int] = {}

    def count(self, store: ResultsStore, phase: str, ids: list[str]) -> int:
        open_ = self._open.setdefault(phase, {})
        for t in ids[self._seen.get(phase, 0):]:
            open_[t] = open_.get(t, 0) + 1
        self._seen[phase] = len(ids)
        for t in [t for t in open_ if t in store and store.row(t).get("status") in DONE]:
            del open_[t]
        return len(ids) - sum(open_.values())


def repeat_fuse(study: Study, store: ResultsStore, trial_id: str, *, n_repeats: int, flops_per_step: float | None = None) -> int:
    """How many of ``trial_id``'s repeats would train at once (:func:`hpbench.cost.estimate.fuse_of`:
    its own settings and FLOPs per step, or ``flops_per_step``), as the runner decides per
    configuration."""
    row = store.row(trial_id)
    params = {k: v for k in store.param_keys if (v := row.get(k)) is not None}
    flops = flops_per_step if flops_per_step is not None else row.get("flops_per_step")
    return fuse_of(study, params, n_repeats=n_repeats, flops_per_step=float(flops) if isinstance(flops, (int, float)) else None)


def with_own_ends(figs: Figures, store: ResultsStore, trial_ids: Sequence[str], *, max_epochs: Callable[[str], int]) -> Figures:
    """``figs`` with a live search's own ends blended in (:func:`~hpbench.cost.live.own_fractions`):
    where early stopping found its trials' best epochs (with the learning rate each ran at, where
    the study searches it: a trial at another rate draws them moved to its own), and where its
    trials without early stopping ended (a GAN's collapse: gan_stability's trials ran 11 of 16
    epochs, priced at 16 its live ETA at 25% read +39%), the latter with the study's earlier runs'
    ends, else with "every epoch"."""
    ends = own_fractions(figs.end_fractions or (1.0,), end_fractions(store, trial_ids, max_epochs=max_epochs))
    n = len(figs.best_fractions)
    lrs = figs.best_lrs if len(figs.best_lrs) == n else (0.0,) * n
    batches = figs.best_batches if len(figs.best_batches) == n else (0.0,) * n
    # the study's own earlier runs' trials weigh as the live search's, one for one; another study's or the prior's as BEST_PRIOR_TRIALS
    best = own_fractions(tuple(zip(figs.best_fractions, lrs, batches, strict=True)), best_fractions(store, trial_ids, max_epochs=max_epochs),
                         weight=max(BEST_PRIOR_TRIALS, n) if figs.best_own else BEST_PRIOR_TRIALS)
    return replace(figs, best_fractions=tuple(f for f, _, _ in best), best_lrs=tuple(a for _, a, _ in best) if any(a for _, a, _ in best) else (),
                   best_batches=tuple(b for _, _, b in best) if any(b for _, _, b in best) else (),
                   end_fractions=ends if any(f < 1.0 for f in ends) else ())


def end_fractions(store: ResultsStore, trial_ids: Iterable[str], *, max_epochs: Callable[[str], int]) -> list[float]:
    """Where the trials that ended by themselves (:data:`~hpbench.cost.record.OWN_ENDS`: their
    task's own stop, or all their epochs) ended, as a fraction of their ``max_epochs``."""
    out = []
    for t in trial_ids:
        row = store.row(t) if t in store else {}
        epochs, n = row.get("epochs"), max_epochs(t)
        if row.get("status") == TrialStatus.FINISHED and row.get("stop_reason") in OWN_ENDS and n > 0 and isinstance(epochs, (int, float)) and epochs > 0:
            out.append(min(1.0, int(epochs) / n))
    return out


def best_fractions(store: ResultsStore, trial_ids: Iterable[str], *, max_epochs: Callable[[str], int]) -> list[tuple[float, float, float]]:
    """Where early stopping found the best epoch of the trials that ended by themselves (early
    stopped or completed), as a fraction of their ``max_epochs``, each with the learning rate it
    ran at where the study searches it (0: not searched) and its rows per step (0: not priced): what a search's record keeps
    (:func:`hpbench.cost.record.search_record`), read from its trials so far."""
    out = []
    for t in trial_ids:
        row = store.row(t) if t in store else {}
        best, n = row.get("es_best_epoch"), max_epochs(t)
        if row.get("status") == TrialStatus.FINISHED and row.get("stop_reason") in ENDED_BY_THEMSELVES and n > 0 \
                and isinstance(best, (int, float)) and best == best:
            # early stopping never fired: its best is a lower bound (censored), kept at no rate or batch (hpbench.cost.ends)
            censored = row.get("stop_reason") == StopReason.COMPLETED
            out.append((min(1.0, (int(best) + 1) / n), 0.0 if censored else searched_lr(row) or 0.0,
                        0.0 if censored else rows_per_step(row.get("batch_rows")) or 0.0))
    return out
