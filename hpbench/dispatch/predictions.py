"""Cost predictions for the dispatcher, off the driver's critical path.

Counting a configuration's FLOPs and predicting its time takes the driver about 0.1-0.4 s
(measured here, more on first use while torch loads). Done inside Tune's trial-start
callback, that delayed every trial's launch; here it runs on one background thread, and
identical architectures (configurations that differ only in learning rate, initialization,
optimizer hyperparameters or seed) are counted once. The callback harvests finished
predictions into the results store from the driver's own thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from hpbench.results.store import ResultsStore
from hpbench.study.resolve import trial_config
from hpbench.study.schema import Study


def cost_key(study: Study, params: dict[str, Any]) -> str:
    """What a trial's cost depends on: architecture, data, optimizer kind, batch size, epochs."""
    cfg = trial_config(study, params)
    return repr((cfg.model, cfg.data, cfg.optimizer.name, cfg.train.batch_size, cfg.train.max_epochs, cfg.train.device))


class AsyncPredictions:
    def __init__(self, *, study: Study, make_predict: Callable[[str | None], Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
        """``make_predict(device)`` builds the predictor for a device (None: the study's; loading
        torch and the device model takes a second or more): the study's is built at once, on
        the background thread."""
        self.study = study
        self.make_predict = make_predict
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpbench-cost")
        self._predictors: dict[str | None, Future[Callable[[dict[str, Any]], dict[str, Any]]]] = {None: self.pool.submit(make_predict, None)}
        self.by_key: dict[str, Future[dict[str, Any]]] = {}
        self.pending: dict[str, Future[dict[str, Any]]] = {}

    def submit(self, trial_id: str, params: dict[str, Any], *, device: str | None = None) -> None:
        try:
            key = cost_key(self.study, params) + repr(device)
        except Exception:  # an unresolvable config fails in its trial, with its own message
            return
        if device not in self._predictors:
            self._predictors[device] = self.pool.submit(self.make_predict, device)
        fut = self.by_key.get(key)
        if fut is None:
            fut = self.by_key[key] = self.pool.submit(self._safe, dict(params), device)
        self.pending[trial_id] = fut

    def _safe(self, params: dict[str, Any], device: str | None) -> dict[str, Any]:
        try:
            return self._predictors[device].result()(params)
        except Exception:  # a trial whose cost cannot be predicted gets no cost columns
            return {}

    def harvest(self, store: ResultsStore, *, wait_for: str | None = None) -> None:
        """Move finished predictions into the store; ``wait_for`` blocks for that trial's."""
        for tid, fut in list(self.pending.items()):
            if tid == wait_for or fut.done():
                if tid in store.trials:
                    store.annotate(tid, fut.result())
                del self.pending[tid]

    def close(self, store: ResultsStore) -> None:
        for tid in list(self.pending):
            self.harvest(store, wait_for=tid)
        self.pool.shutdown(wait=True)
