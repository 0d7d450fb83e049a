"""The results tables of one study, kept by the driver and written atomically.

``trials.parquet``: one row per trial (status, every sampled hyperparameter as its own
column, final and best metric, best epoch, epochs run, stop reason, error, seconds,
parameter count, node). ``epochs.parquet``: one row per trial and epoch. While a search runs,
each table is its last compaction plus parts holding the rows changed since
(:mod:`hpbench.results.parts`; written by :mod:`hpbench.results.writer`).

The dispatcher changes rows only through the event methods (``start``, ``epoch``, ``finish``)
and ``annotate`` (columns computed elsewhere: predicted and spent cost, labels, test metrics),
and reads them through ``row`` / ``rows`` (read-only views). The store computes nothing but its
own summaries: it imports nothing from the cost model, the study or the trainer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hpbench.results.columns import EPOCH_CPU_S, FLOPS_SPENT, PREDICTED_FLOPS, REPORTED_AT
from hpbench.results.ranking import best_row, trial_value
from hpbench.results.rows import Columns, EpochIndex, Row
from hpbench.results.status import DONE, StopReason, TrialStatus, is_search_trial, missing
from hpbench.results.writer import TablesNotWritten, TableWriter, Write

# Ray's own bookkeeping keys we keep (renamed) or drop from epoch rows.
_KEEP_RAY = {"node_ip": "node_ip", "hostname": "hostname", "pid": "pid", "node_id": "node_id", "device": "device"}
_EPOCH_FIELDS = ("epoch", "train_loss", "epoch_s", EPOCH_CPU_S, REPORTED_AT, "learning_rate",
                 # reinforcement learning (hpbench.train.rl.task): environment steps so far and the epoch's time split
                 "env_steps", "eval_env_steps", "rollout_s", "update_s", "eval_s")
_FINAL_FIELDS = ("stop_reason", "best_epoch", "es_best", "es_best_epoch", "es_wait", "es_stopped_epoch",
                 # calibration (hpbench.train.calibration) and transfer (hpbench.train.transfer)
                 "temperature", "ece_before", "ece_after", "nll_before", "nll_after", "reliability", "n_trainable", "new_head",
                 # reinforcement learning: env steps at the first solved epoch (None: never solved) and in all
                 "steps_to_solve", "env_steps")
# What ``counts`` tallies, in this order: running trials, then ended ones by stop reason.
_COUNTED = (TrialStatus.RUNNING, StopReason.COMPLETED, StopReason.SOLVED, StopReason.EARLY_STOPPED, StopReason.TIME_LIMIT, StopReason.PRUNED,
            StopReason.BUDGET, StopReason.DIVERGED, StopReason.FAILED)
_COUNTED_KEYS = frozenset(str(k) for k in _COUNTED)


# A write costs what the rows changed since the previous one cost (hpbench.results.writer: parts,
# merged by level, compacted at the end); measured in benchmarks/store_writes.py. A background write
# still waits until the writer has been idle for (1/WRITER_DUTY - 1) times its last write, so it
# uses at most this share of the time whatever a write costs (a forced flush writes at once).
WRITER_DUTY = 0.1
# Columns whose totals the live progress shows at every trial's end: kept as running sums (a
# pass over every row cost ~5 ms per trial end at 2,000 trials, the per-trial overhead growing
# with the study; benchmarks/dispatch.py).
TOTALLED = (FLOPS_SPENT, PREDICTED_FLOPS)

__all__ = ["WRITER_DUTY", "ResultsStore", "TablesNotWritten"]


def _tally_key(t: Mapping[str, Any]) -> str:
    """The key of :meth:`ResultsStore.counts` a row counts under: running (or interrupted), else its stop reason."""
    status = t.get("status")
    return str(status) if status in (TrialStatus.RUNNING, TrialStatus.INTERRUPTED) else str(t.get("stop_reason"))


class ResultsStore:
    def __init__(self, *, out: Path, metric: str, mode: str, param_keys: list[str], mixed_keys: Sequence[str] = (),
                 param_dtypes: Mapping[str, str] | None = None, min_flush_s: float = 1.0) -> None:
        self.out = out
        self.metric = metric
        self.mode = mode
        self.param_keys = param_keys
        # the rows share one column index per table (hpbench.results.rows): a row keeps its values only
        self._trial_columns, self._epoch_columns = Columns(), Columns()
        self.trials: dict[str, Row] = {}
        self._history: dict[str, dict[int, Row]] = {}  # trial_id -> epoch -> row
        self.epochs = EpochIndex(self._history)  # the same rows by (trial_id, epoch): a view, not a second index
        self.min_flush_s = min_flush_s
        self._last_flush = 0.0
        self._write_s = 0.0  # how long the last write took (background writes wait WRITER_DUTY-bounded gaps)
        self._writer: ThreadPoolExecutor | None = None  # a one-thread executor, created on the first background write
        self._writing: Future[None] | None = None  # the write in flight
        self._tables = TableWriter(out=out, param_keys=param_keys, mixed_keys=mixed_keys, param_dtypes=param_dtypes)
        self._changed: set[str] = set()  # trials changed since the last write
        self._changed_epochs: set[tuple[str, int]] = set()
        self._loaded = False
        self._next = 0
        self._reserved: dict[str, int] = {}  # trial_id -> the number kept for it (reserve)
        # counts() and total(), kept as the rows change: each trial's share, and their sums
        self._tally: dict[str, int] = {str(k): 0 for k in _COUNTED}
        self._sums: dict[str, float] = dict.fromkeys(TOTALLED, 0.0)
        self._n_summed: dict[str, int] = dict.fromkeys(TOTALLED, 0)
        self._share: dict[str, tuple[str, tuple[float | None, ...]]] = {}
        self._ended_costs: dict[str, tuple[str, float, float]] = {}  # ended_costs(), likewise
        self._ended_log: list[str] = []  # the trials whose entry in _ended_costs changed, in order (ended_costs_since)
        # told, once a write is on disk, the trials whose end (status finished or failed) it holds: the
        # search's Optuna copy waits for that before it copies their end (hpbench.dispatch.write_behind)
        self.on_written: Callable[[list[str]], None] | None = None

    def load(self, trials: list[dict[str, Any]], epochs: list[dict[str, Any]]) -> None:
        """Continue from an earlier run's finished trials (``hpbench search --resume``)."""
        for t in trials:
            self.trials[t["trial_id"]] = Row(self._trial_columns, t)
            self._next = max(self._next, int(t["trial"]) + 1)
            self._retally(t["trial_id"])
        for r in epochs:
            if r["trial_id"] in self.trials:
                self._history.setdefault(r["trial_id"], {})[int(r["epoch"])] = Row(self._epoch_columns, r)
        for tid, row in self.trials.items():  # a trial whose end was written but not its summary (hpbench.results.resume)
            if row.get("status") == TrialStatus.FINISHED and missing(row.get("train_s")) and tid in self._history:
                self._summarise(tid)
                self._retally(tid)
        self._changed.update(self.trials)
        self._changed_epochs.update(self.epochs)
        self._loaded = True  # the next forced flush compacts, even with nothing loaded (the rows of interrupted trials go)

    # -- events from the dispatcher ----------------------------------------------------------
    # Statuses and stop reasons are stored as their plain string values (the tables' column
    # types depend on the values' exact types).
    def reserve(self, trial_id: str) -> None:
        """Keep the next trial number for ``trial_id``, which :meth:`start` gives it once it starts
        (a trial asked before one that started first: :mod:`hpbench.dispatch.ask_order`)."""
        if trial_id not in self.trials and trial_id not in self._reserved:
            self._reserved[trial_id] = self._next
            self._next += 1

    def start(self, trial_id: str, params: Mapping[str, Any], *, cost: Mapping[str, Any] | None = None) -> None:
        if trial_id not in self.trials:
            number = self._reserved.pop(trial_id, None)
            if number is None:
                number, self._next = self._next, self._next + 1
            self.trials[trial_id] = Row(self._trial_columns, {"trial": number, "trial_id": trial_id})
        row = self.trials[trial_id]
        row.update({"status": TrialStatus.RUNNING.value, "stop_reason": None, "error": None, "started_at": time.time()})
        for k in self.param_keys:
            row[k] = params.get(k)
        row.update(cost or {})  # predicted cost columns, when the caller has them already
        self._changed.add(trial_id)
        self._retally(trial_id)

    def annotate(self, trial_id: str, columns: Mapping[str, Any]) -> None:
        """Columns that arrive apart from the trial's reports, computed by the dispatcher:
        predicted and spent cost, replay labels, test metrics, a note in ``error``."""
        self.trials[trial_id].update(columns)
        self._changed.add(trial_id)
        self._retally(trial_id)

    def epoch(self, trial_id: str, result: Mapping[str, Any]) -> None:
        epoch = int(result["epoch"])
        row = Row(self._epoch_columns, {"trial": self.trials[trial_id]["trial"], "trial_id": trial_id})
        for k, v in result.items():
            if k == "epoch" or k in _EPOCH_FIELDS or k.startswith(("val_", "train_")):
                row[k] = v
        self._history.setdefault(trial_id, {})[epoch] = row  # a retried epoch replaces its earlier row
        t = self.trials[trial_id]
        t["epochs"] = epoch
        if "n_params" in result:
            t["n_params"] = int(result["n_params"])
        for k, name in _KEEP_RAY.items():
            if k in result:
                t[name] = result[k]
        for k in _FINAL_FIELDS:
            if k in result:
                t[k] = result[k]
        self._changed.add(trial_id)
        self._changed_epochs.add((trial_id, epoch))
        self._retally(trial_id)

    def finish(self, trial_id: str, *, error: str | None = None) -> None:
        t = self.trials[trial_id]
        if error is not None:
            t["status"], t["stop_reason"], t["error"] = TrialStatus.FAILED.value, StopReason.FAILED.value, error
        else:
            t["status"] = TrialStatus.FINISHED.value
            if t.get("stop_reason") is None:
                t["stop_reason"] = StopReason.PRUNED.value  # the scheduler stopped it before the trainer ended it
        t["ended_at"] = time.time()
        t["wall_s"] = t["ended_at"] - t.get("started_at", t["ended_at"])
        self._summarise(trial_id)
        self._changed.add(trial_id)
        self._retally(trial_id)

    def _retally(self, trial_id: str) -> None:
        """Move a changed row's share of :meth:`counts` and :meth:`total` (O(1) per change)."""
        t = self.trials[trial_id]
        key = _tally_key(t)
        # a number counts as present (NaN too, adding nothing), anything else as absent
        values = tuple((float(v) if v == v else 0.0) if isinstance(v, (int, float)) else None for v in (t.get(c) for c in TOTALLED))
        p, m = t.get("predicted_spent_s"), t.get("train_s")
        cost = None
        if t.get("status") in DONE and isinstance(p, (int, float)) and isinstance(m, (int, float)):
            cost = (str(t.get("regime")), float(p), float(m))
        if cost != self._ended_costs.get(trial_id):
            self._ended_log.append(trial_id)
            if cost is None:
                del self._ended_costs[trial_id]
            else:
                self._ended_costs[trial_id] = cost
        old = self._share.get(trial_id)
        if old == (key, values):
            return
        if old is not None:
            self._tally[old[0]] -= 1
            for c, v in zip(TOTALLED, old[1], strict=True):
                if v is not None:
                    self._sums[c] -= v
                    self._n_summed[c] -= 1
        self._tally[key] = self._tally.get(key, 0) + 1
        for c, v in zip(TOTALLED, values, strict=True):
            if v is not None:
                self._sums[c] += v
                self._n_summed[c] += 1
        self._share[trial_id] = (key, values)

    def _summarise(self, trial_id: str) -> None:
        t = self.trials[trial_id]
        own = self._history.get(trial_id, {})  # this trial's rows only: O(its epochs), not O(the study's)
        hist = [own[e] for e in sorted(own)]
        values = [r.get(self.metric) for r in hist]
        # best_epoch: the trainer's, the epoch whose weights the trial ended with (saved, evaluated
        # on the test split: hpbench.train.best); a trial stopped before its last epoch (pruned,
        # failed) has none, and its best epoch is the one with the best value of the metric
        best_epoch, value = trial_value(values, best_epoch=t.get("best_epoch"), mode=self.mode)
        t["best_epoch"] = best_epoch
        t[self.metric] = values[best_epoch - 1] if best_epoch and best_epoch <= len(values) else None
        # what ranks the trial: the metric of those weights (the best over the epochs, unless
        # restore_best_weights kept another monitor's best epoch)
        t[f"best_{self.metric}"] = value
        t["train_s"] = sum(float(r.get("epoch_s", 0.0)) for r in hist) if hist else None  # none measured: it never trained

    # -- reading ---------------------------------------------------------------------------------
    def __contains__(self, trial_id: object) -> bool:
        return trial_id in self.trials

    def __len__(self) -> int:
        return len(self.trials)

    def row(self, trial_id: str) -> Mapping[str, Any]:
        """One trial's row, read-only."""
        return MappingProxyType(self.trials[trial_id])

    def epoch_row(self, trial_id: str, epoch: int) -> Mapping[str, Any]:
        """One epoch's row as recorded, read-only."""
        return MappingProxyType(self.epochs[(trial_id, epoch)])

    def rows(self) -> Iterator[Mapping[str, Any]]:
        """Every trial's row, read-only, in start order."""
        return (MappingProxyType(t) for t in list(self.trials.values()))

    # -- writing ---------------------------------------------------------------------------------
    def flush(self, *, force: bool = False, soon: bool = False) -> None:
        """Write what changed: at most every ``min_flush_s`` seconds, at once with ``soon`` (a
        trial ended), both on a background thread so that the dispatcher's loop never waits for
        pandas and parquet; each such write is a part of the tables holding the rows changed
        since the previous write (:mod:`hpbench.results.writer`). ``force`` writes the whole
        tables now (a compaction: the parts folded into one file per table) and waits (a
        resume's start, the end of a search). Every file is replaced atomically."""
        now = time.monotonic()
        if force and self._writing is not None:
            self._writing.result()  # a forced flush returns with everything on disk
        dirty = bool(self._changed or self._changed_epochs)
        if force:
            if not dirty and not self._loaded and not self._tables.has_parts:
                return
        elif not dirty or (not soon and now - self._last_flush < self.min_flush_s):
            return
        elif now - self._last_flush < self._write_s * (1 / WRITER_DUTY - 1):
            return  # the writer's share of the time stays under WRITER_DUTY whatever a write costs
        if self._writing is not None and self._writing.done():
            failed = self._writing.exception()
            if failed is not None:
                raise failed  # e.g. the disk filled up: stop, loudly
        if not force and self._writing is not None and not self._writing.done():
            return  # one write at a time; the next flush picks these changes up
        if force:
            w = self._tables.plan_compaction(self.trials, self.epochs)
        else:
            w = self._tables.plan_part(self.trials, self.epochs, changed_trials=self._changed, changed_epochs=self._changed_epochs)
        # the ends this write holds: the changed rows', every row's in a compaction (one a failed write lost)
        ended = [t for t in (self.trials if force else self._changed) if self.trials[t].get("status") in DONE] if self.on_written else []
        self._changed, self._changed_epochs, self._loaded = set(), set(), False
        self._last_flush = now
        if force:
            self._write(w, ended)
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpbench-tables")
        self._writing = self._writer.submit(self._write, w, ended)

    def _write(self, w: Write, ended: list[str]) -> None:
        t0 = time.perf_counter()
        try:
            self._tables.write(w)
        finally:
            self._write_s = time.perf_counter() - t0
        if self.on_written is not None and ended:
            self.on_written(ended)

    # -- queries for progress -------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Trials running, and ended ones by stop reason (kept as rows change: O(1))."""
        return {k: v for k, v in self._tally.items() if v or k in _COUNTED_KEYS}

    def counts_apart(self) -> dict[str, int]:
        """:meth:`counts` of the rows that are no search trials (repeats, device comparisons): what a
        resumed search's progress leaves out of its trials (an earlier run's; a pass over the rows)."""
        out: dict[str, int] = {}
        for t in self.trials.values():
            if not is_search_trial(t):
                out[_tally_key(t)] = out.get(_tally_key(t), 0) + 1
        return out

    def ended_costs(self) -> list[tuple[str, tuple[str, float, float]]]:
        """(trial_id, (regime, predicted_spent_s, train_s)) of the ended trials that have both, in
        the order they got both (kept as rows change: no pass over the rows; the cost model's
        in-run correction reads them at every prediction)."""
        return list(self._ended_costs.items())

    def ended_costs_since(self, cursor: int) -> tuple[int, list[tuple[str, tuple[str, float, float] | None]]]:
        """The entries of :meth:`ended_costs` changed since ``cursor`` (0: since the start; else
        the first value a previous call returned): the new cursor, and each changed trial's entry
        now (None: it has none any more). O(the changes), for a reader that keeps its own running
        figures from them (the in-run correction: :class:`hpbench.cost.correct.RunningFactors`)."""
        changed = dict.fromkeys(self._ended_log[cursor:])
        return len(self._ended_log), [(t, self._ended_costs.get(t)) for t in changed]

    def total(self, column: str) -> float | None:
        """The sum of a :data:`TOTALLED` column over the trials that have a number there; None
        when none has (kept as rows change: O(1))."""
        return self._sums[column] if self._n_summed[column] else None

    def best(self) -> dict[str, Any] | None:
        """The best ranked trial so far (finished search trials only: :mod:`hpbench.results.ranking`), None before one."""
        best = best_row(self.trials.values(), metric=self.metric, mode=self.mode)
        return None if best is None else dict(best)
