"""Cost predictions for the dispatcher, off the driver's critical path.

Predicting a configuration counts its FLOPs with torch and prices them with the device
model. The first one costs about 2 s of CPU (torch, then the optimizer machinery a count
imports), each new architecture about 0.06 s (measured here). Done in Tune's trial-start
callback that delayed every launch; on a thread of the driver it still competed with the
driver for the GIL while Ray and Tune started. So predictions run in a helper process
(:mod:`hpbench.dispatch.helper`), started before Ray: it loads torch while ``ray.init`` waits on Ray's own processes, and the
driver only sends configurations and receives columns. Identical architectures
(configurations that differ only in learning rate, initialization, optimizer
hyperparameters or seed) are predicted once. The dispatcher's callbacks harvest finished
predictions into the results store from the driver's own thread.

Each harvested prediction gets the in-run correction's columns and, where its trial has ended,
what it spent (:mod:`hpbench.dispatch.corrections`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures import wait as futures_wait
from typing import Any

from hpbench.cost import clock
from hpbench.cost.annotate import COST_NOTE, not_predicted
from hpbench.dispatch.corrections import Corrections, corrected_columns, record_spent
from hpbench.dispatch.cost_keys import cost_key, price_key
from hpbench.dispatch.repeats import searched_params
from hpbench.results.columns import PREDICTED_FLOPS
from hpbench.results.status import missing
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study

Predict = Callable[[Study, dict[str, Any], str | None], dict[str, Any]]


# -- the helper process ---------------------------------------------------------------------------
_predictors: dict[tuple[str, str, str | None], Callable[[dict[str, Any]], dict[str, Any]]] = {}  # by study and device


def predict_columns(study: Study, params: dict[str, Any], device: str | None) -> dict[str, Any]:
    """The predicted cost columns of one configuration on ``device`` (None: the study's), or
    only a ``cost_note`` saying why when it cannot be predicted."""
    from hpbench.cost.predictor import trial_predictor

    key = (study.name, repr(study.config), device)  # each call brings its own copy of the study
    if key not in _predictors:
        try:
            _predictors[key] = trial_predictor(study, device=device)
        except Exception as err:  # once: a calibration that failed (its model not written) ran again for each trial (s50/h8 #2)
            note = not_predicted(err)
            _predictors[key] = lambda _params: dict(note)
    try:
        # priced below the trials (nice 19, clock.below_trials): at nice 0 the helper's counting took a
        # core from two trials at max_concurrent = 2 on 2 cores (a median 1.83x one alone; issue 13)
        return clock.below_trials(_predictors[key], params)  # type: ignore[no-any-return]
    except Exception as err:
        return not_predicted(err)


QUIET_S = 1.0  # predictions still pending this long after a search's end are said to be awaited
SAMPLED = 16  # configurations the live ETA's prior is predicted from (0.04-0.4 CPU s each for MLPs, in the helper) ...
# ... while their pricing has cost at most this many CPU seconds of the helper (at least one is priced): a recurrent
# configuration of the race's signals space cost 1.4-7.9 CPU s to price (session 10, benchmarks/price_cpu.py), so 16 of
# them took ~50 s of a core at every search's start, beside the early and first trials on a 2-core machine
PRIOR_CPU_S = 3.0
CANDIDATES_IN_FLIGHT = 4  # candidate configurations priced at once: the helper also prices the trials and trains the early ones
GRID_MAX = 64  # ... a grid's points, in its order (the live ETA then knows the trials left), up to this many, priced whole


def sampled_epoch_seconds(study: Study, *, cpu_budget_s: float = PRIOR_CPU_S) -> list[float]:
    """Predicted seconds per epoch of the first configurations ``hpbench estimate`` samples
    from the study: the live ETA's prior for the trials not started yet. Sampling stops once
    their pricing has used ``cpu_budget_s`` of this process's CPU (:data:`PRIOR_CPU_S`; the
    first configuration is always priced), except on a grid, whose points the ETA reads in order."""
    import time

    out: list[float] = []
    by_key: dict[str, Any] = {}  # configurations that cost the same (a grid's learning rates) predicted once
    began = time.process_time()
    for params in sampled_configurations(study):
        if out and study.settings.searcher != "grid" and time.process_time() - began > cpu_budget_s:
            break
        try:
            key = cost_key(study, params)
        except Exception:  # predict_columns says why
            key = repr(params)
        if key not in by_key:
            by_key[key] = predict_columns(study, params, None).get("predicted_epoch_s")
        s = by_key[key]
        if isinstance(s, (int, float)):
            out.append(float(s))
    return out


def sampled_step_flops(study: Study) -> float | None:
    """FLOPs per step of the first configuration the estimate samples: how the repeats fuse
    (:func:`hpbench.cost.estimate.fuse_of`) until the search's trials have counts of their own."""
    f = predict_columns(study, sampled_configurations(study)[0], None).get("flops_per_step")
    return float(f) if isinstance(f, (int, float)) and f > 0 else None


def sampled_configurations(study: Study) -> list[dict[str, Any]]:
    """The configurations the live ETA's prior is priced from: the first the estimate samples (a grid's points, in order)."""
    from hpbench.cost.estimate import configurations

    return configurations(study, n=min(SAMPLED, max(1, study.settings.trials)))[:GRID_MAX]


def warm_up(study: Study) -> None:
    """Load what the first prediction needs (torch, the device model, the counting machinery)
    by predicting one configuration of the space."""
    predict_columns(study, study.space.sample(random.Random(study.settings.seed)), None)


def _helper_process(study: Study) -> Executor:
    from hpbench.dispatch.helper import HelperProcess

    pool = HelperProcess()
    pool.submit(warm_up, study)
    return pool


class AsyncPredictions:
    def __init__(self, *, study: Study, predict: Predict = predict_columns, executor: Executor | None = None,
                 known: dict[str, dict[str, Any]] | None = None) -> None:
        """Predictions of ``predict(study, params, device)`` on ``executor`` [default: a helper
        process, started at once and warmed up with one configuration of the study]; ``known``:
        the prices of configurations priced here before (:mod:`hpbench.cost.prices`), taken at once."""
        self.study = study
        self.predict = predict
        self.pool = executor if executor is not None else _helper_process(study)
        self.known = known or {}
        self.priced: dict[str, Future[dict[str, Any]]] = {}  # price key -> this search's own pricing of it
        self.by_key: dict[str, Future[dict[str, Any]]] = {}
        self.pending: dict[str, Future[dict[str, Any]]] = {}
        self._in_flight: list[Future[dict[str, Any]]] = []  # candidates' predictions asked for by trial_seconds
        self.corrections = Corrections()  # the in-run correction each harvested prediction gets

    def submit(self, trial_id: str, params: dict[str, Any], *, device: str | None = None) -> None:
        try:
            key = cost_key(self.study, params) + repr(device)
        except Exception:  # an unresolvable config fails in its trial, with its own message
            return
        fut = self.by_key.get(key)
        if fut is None:
            fut = self.by_key[key] = self._price(params, device)
        self.pending[trial_id] = fut

    def epoch_seconds(self, params: dict[str, Any]) -> float | None:
        """A configuration's predicted seconds per epoch on the study's device if its prediction
        is done (it is asked for if nobody has); None until then. Never waits."""
        key = self._device_free_key(params)
        if key is None:
            return None
        fut = self.by_key.get(key)
        if fut is None:
            fut = self.by_key[key] = self._price(params, None)
        return _figure(fut, "predicted_epoch_s")

    def trial_seconds(self, params: dict[str, Any]) -> float | None:
        """A (partial) configuration's predicted seconds on the study's device, for the cost-aware
        searcher's candidates (``tpe-cost``): the known prediction of its cost key, else None, and
        the helper is asked for it unless :data:`CANDIDATES_IN_FLIGHT` candidates are being priced
        already (a candidate not priced now is asked for again when TPE draws it again). Never
        waits: pricing TPE's 24 candidates per draw in the driver took 1.5 s a draw here."""
        key = self._device_free_key(params)
        if key is None:
            return None
        fut = self.by_key.get(key)
        if fut is None:
            self._in_flight = [f for f in self._in_flight if not f.done()]
            if len(self._in_flight) >= CANDIDATES_IN_FLIGHT:
                return None
            fut = self.by_key[key] = self._price(params, None)
            if not fut.done():
                self._in_flight.append(fut)
        return _figure(fut, "predicted_s")

    def _price(self, params: dict[str, Any], device: str | None) -> Future[dict[str, Any]]:
        """The configuration's predicted columns: its known price, done already, else asked of the helper."""
        try:
            pk = price_key(self.study, params, device)
        except Exception:  # predict_columns says why
            pk = None
        if pk is not None and pk in self.known:
            fut: Future[dict[str, Any]] = Future()
            fut.set_result(dict(self.known[pk]))
            return fut
        fut = self.pool.submit(self.predict, self.study, dict(params), device)
        if pk is not None:
            self.priced[pk] = fut
        return fut

    def new_prices(self) -> dict[str, dict[str, Any]]:
        """Price key -> predicted columns of what this search priced itself (done, without error)."""
        out = {}
        for pk, fut in self.priced.items():
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                out[pk] = fut.result()
        return out

    def _device_free_key(self, params: dict[str, Any]) -> str | None:
        """The cost key of a (partial) configuration priced for the study's own device (None when
        the configuration cannot be keyed yet)."""
        try:
            return cost_key(self.study, params) + repr(None)
        except Exception:
            return None

    def reference_epoch_seconds(self, sampled: Future[list[float]]) -> Any:
        """``() -> `` the median of ``sampled`` (:meth:`sampled_epoch_s`: the predicted epochs of
        the space's first sampled configurations) once it is known, else None: the reference
        epoch of ``asha-cost``'s rungs (:mod:`hpbench.cost_asha`). Never waits."""

        def reference() -> float | None:
            if not sampled.done() or sampled.exception() is not None:
                return None
            known = sorted(s for s in sampled.result() if s > 0)
            return known[len(known) // 2] if known else None

        return reference

    def sampled_epoch_s(self) -> Future[list[float]]:
        """:func:`sampled_epoch_seconds` of the study, computed in the helper after what was
        submitted before."""
        return self.pool.submit(sampled_epoch_seconds, self.study)

    def sampled_step_flops(self) -> Future[float | None]:
        """:func:`sampled_step_flops` of the study, in the helper after what was submitted before."""
        return self.pool.submit(sampled_step_flops, self.study)

    def is_pending(self, trial_id: str) -> bool:
        return trial_id in self.pending

    def harvest(self, store: ResultsStore, *, wait: bool = False, within_s: float | None = None) -> list[str]:
        """Move finished predictions into the store (all of them, waiting, with ``wait``: at most
        ``within_s`` seconds in all when given, then only those done); returns the trials
        annotated. A prediction may land after its trial finished (its spent-cost columns are
        then filled in too)."""
        done = []
        if wait and within_s is not None:
            futures_wait(list(self.pending.values()), timeout=within_s)
            wait = False
        for tid, fut in list(self.pending.items()):
            if wait or fut.done():
                if tid in store:
                    columns = _result(fut)
                    store.annotate(tid, {**columns, **corrected_columns(store, columns, corrections=self.corrections)})
                    if "flops_per_epoch" in columns:
                        record_spent(store, tid)
                    done.append(tid)
                del self.pending[tid]
        return done

    def close_said(self, store: ResultsStore, *, say: Callable[[str], None], calibrating: bool = False, quiet_s: float = QUIET_S) -> None:
        """:meth:`close` at a search's end, saying so when predictions are still being made after
        ``quiet_s`` seconds (a machine's first calibration runs in the helper, a minute or two, and
        the command waited without a word; ``calibrating``: the watch says that is why). A Ctrl-C
        while it waits stops the wait, not the command: the trials left have no cost columns (a
        resumed search that runs trials predicts them)."""
        try:
            left = [fut for fut in self.pending.values() if not fut.done()]
            if left:
                futures_wait(left, timeout=quiet_s)
                n = sum(1 for fut in self.pending.values() if not fut.done())
                if n:
                    why = " (this machine's cost model is being calibrated: once)" if calibrating else ""
                    say(f"waiting for the cost predictions of {n} trial{'s' if n > 1 else ''}{why}; Ctrl-C skips them")
            self.harvest(store, wait=True)
        except KeyboardInterrupt:
            n = sum(1 for fut in self.pending.values() if not fut.done())
            say(f"cost predictions skipped for {n} trial{'s' if n != 1 else ''}")
        self.close(store, wait=False)  # those done by now; the helper stopped

    def close(self, store: ResultsStore, *, wait: bool = True, within_s: float | None = None) -> None:
        """Harvest the predictions (all of them, waiting for them, with ``wait``; at most
        ``within_s`` seconds when given: an interrupted search waits briefly, and a resumed one
        predicts what is missing, :func:`unpriced`) and stop the helper."""
        self.harvest(store, wait=wait, within_s=within_s)
        self.pool.shutdown(wait=True, cancel_futures=True)


def unpriced(store: ResultsStore, study: Study) -> list[tuple[str, dict[str, Any]]]:
    """The trials of an earlier run with neither predicted cost columns nor a note saying why
    (their predictions were still in the helper when that run was interrupted): (trial id, the
    searched hyperparameters) of each, to predict again."""
    return [(str(row["trial_id"]), searched_params(row, study.space)) for row in store.rows()
            if missing(row.get(PREDICTED_FLOPS)) and missing(row.get(COST_NOTE))]


def _result(fut: Future[dict[str, Any]]) -> dict[str, Any]:
    try:
        return fut.result()
    except Exception as err:  # the helper process died (e.g. killed): the trial has no cost columns, and says why
        return not_predicted(err)


def _figure(fut: Future[dict[str, Any]], name: str) -> float | None:
    """A finished prediction's figure ``name`` (None while it runs, when it failed or lacks it)."""
    if not fut.done() or fut.exception() is not None:
        return None
    value = fut.result().get(name)
    return float(value) if isinstance(value, (int, float)) else None
