"""The loggers' interface and the fan-out that runs them on a thread of their own."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

# Trials-table columns that are bookkeeping, not results (hpbench.results.columns).
_NOT_SUMMARY = frozenset({"trial", "trial_id", "pid", "started_at", "ended_at", "node_ip", "hostname", "node_id", "status", "stop_reason",
                          "error", "repeat", "repeat_of", "seed", "device_of", "device", "reliability"})


class Tracker(Protocol):
    """A logger. ``trial`` is the trial's number (the trials table's ``trial`` column)."""

    def start(self, trial: int, params: Mapping[str, Any]) -> None: ...

    def epoch(self, trial: int, row: Mapping[str, Any]) -> None: ...

    def end(self, trial: int, summary: Mapping[str, Any], *, status: str, stop_reason: str) -> None: ...

    def close(self) -> None: ...


def metrics_of(row: Mapping[str, Any], *, skip: Iterable[str] = ()) -> dict[str, float]:
    """The finite numbers of a row (booleans and text left out), minus ``skip``."""
    skipped = set(skip)
    return {k: float(v) for k, v in row.items()
            if k not in skipped and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def summary_of(row: Mapping[str, Any], param_keys: Iterable[str]) -> dict[str, float]:
    """A finished trial's summary: its numeric result and cost columns (not its hyperparameters,
    nor the per-epoch metrics' values at the best epoch, which would add a point to their curves:
    ``best_<metric>`` carries the result)."""
    out = metrics_of(row, skip={*_NOT_SUMMARY, *param_keys})
    return {k: v for k, v in out.items() if not k.startswith("val_") and k != "train_loss"}


def trial_dir(root: Path, trial: int) -> Path:
    return root / f"trial_{trial:04d}"


class Trackers:
    """Builds the loggers and runs them on one background thread, in the order of the events
    (building one may take seconds: MLflow's import and its store's set-up; the events wait in
    the queue meanwhile). A logger that raises is dropped and its error kept for :meth:`close`;
    the search goes on."""

    def __init__(self, factories: Mapping[str, Callable[[], Tracker]], *, param_keys: Iterable[str]) -> None:
        self.param_keys = list(param_keys)
        self._factories = dict(factories)
        self._trackers: dict[str, Tracker] = {}
        self._sent: dict[int, tuple[dict[str, float], str, str]] = {}
        self.errors: dict[str, str] = {}
        self._queue: queue.Queue[tuple[str, tuple[Any, ...], dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hpbench-loggers", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for name, factory in self._factories.items():
            try:
                self._trackers[name] = factory()
            except Exception as err:  # e.g. the store cannot be opened: reported at the end
                self.errors[name] = f"{type(err).__name__}: {err}"
        while (item := self._queue.get()) is not None:
            method, args, kwargs = item
            for name, tracker in list(self._trackers.items()):
                try:
                    getattr(tracker, method)(*args, **kwargs)
                except Exception as err:  # a logger failing must not stop the search: reported at the end
                    self.errors[name] = f"{type(err).__name__}: {err}"
                    del self._trackers[name]

    def start(self, trial: int, params: Mapping[str, Any]) -> None:
        self._queue.put(("start", (trial, {k: v for k, v in params.items() if v is not None}), {}))

    def epoch(self, trial: int, row: Mapping[str, Any]) -> None:
        self._queue.put(("epoch", (trial, dict(row)), {}))

    def end(self, row: Mapping[str, Any]) -> None:
        """A trial's final row; sent again at :meth:`close` if it changed since (a cost
        prediction that arrived after the trial ended)."""
        trial = int(row["trial"])
        sent = (summary_of(row, self.param_keys), str(row.get("status") or ""), str(row.get("stop_reason") or ""))
        if self._sent.get(trial) != sent:
            self._sent[trial] = sent
            self._queue.put(("end", (trial, sent[0]), {"status": sent[1], "stop_reason": sent[2]}))

    def close(self, rows: Iterable[Mapping[str, Any]] = ()) -> dict[str, str]:
        """Send the final rows that changed, wait for every logger to finish; the errors by logger."""
        for row in rows:
            if int(row["trial"]) in self._sent:
                self.end(row)
        self._queue.put(("close", (), {}))
        self._queue.put(None)
        self._thread.join()
        return dict(self.errors)
