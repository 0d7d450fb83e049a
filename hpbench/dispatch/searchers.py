"""Searchers: what configuration runs next. All of them (their registry: :mod:`hpbench.strategies`)
are Optuna samplers driven through Ray Tune's ``OptunaSearch`` with the study's define-by-run
space (which is how conditional dimensions stay absent), recorded in an Optuna storage so that
the history survives the driver and ``optuna-dashboard`` can open it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from hpbench.dispatch.optuna_numbers import AskedTrials
from hpbench.strategies import FINAL_VALUE, OBJECTIVE, SEARCHERS, seeded_by_trial
from hpbench.study.resolve import effective_value
from hpbench.study.schema import Study

__all__ = ["FINAL_VALUE", "OBJECTIVE", "SEARCHERS", "CandidateCost", "Quota", "make_searcher", "n_trials", "sampler_seed"]  # SEARCHERS: its old home



def sampler_seed(study_seed: int, n_done: int, *, beside_early: bool = False) -> int:
    """The sampler's seed for a search that starts with ``n_done`` trials already done: the study
    seed on a fresh start, else one derived from both. A resumed or extended search thus draws
    new configurations (a sampler seeded alike on every start replays the first ones: a random
    search of 6 trials extended to 12 ran the same 6 again), and one resumed from the same
    point draws the same ones (reproducible). (A built-in searcher draws each trial from this
    seed and the trial's number, :mod:`hpbench.space.by_trial`: a resumed search's new trials take
    numbers past the stored ones, and this seed keeps their draws new where the stored trials were
    set aside, a damaged ``optuna.db``.)

    ``beside_early``: for a plugin's sampler (one that draws a single stream from its seed: not
    :func:`~hpbench.strategies.seeded_by_trial`), Ray Tune's in a search whose early trials
    (:mod:`hpbench.dispatch.early`) drew ``n_done`` configurations from the study seed's own sampler
    and go on drawing from it while Tune's first trials start; it never takes the study seed then,
    even with none drawn yet (the study's default configuration, enqueued, still training when Ray
    was up): two samplers seeded alike draw the same random start-up configurations, and a race
    search of signals trained 4 of its first 10 trials twice (session 34). Such a search's draws
    then depend on how many early trials had drawn when Ray was up (bug hunt s47/h3, finding 2):
    the built-in searchers take the study seed on both sides instead."""
    if n_done == 0 and not beside_early:
        return study_seed
    import numpy as np

    return int(np.random.SeedSequence([study_seed, n_done]).generate_state(1)[0])


def make_searcher(study: Study, *, storage: Any, done: list[dict[str, Any]] | None = None, early: list[dict[str, Any]] | None = None,
                  n_drawn: int | None = None, beside_early: bool = False, cost: Callable[[dict[str, Any]], float | None] | None = None,
                  quota: Quota | None = None, asked: AskedTrials | None = None) -> Any:
    """Build the Ray Tune searcher. ``done``: the parameters of trials an earlier run finished
    (resume); ``early``: those of the early trials launched in this run before this build
    (:mod:`hpbench.dispatch.early`, a fresh search's); the enqueued and grid points among either
    are not run again. The sampler is seeded from the study seed and the number of ``done``
    (:func:`sampler_seed`); a built-in searcher's draws each trial from that seed and the trial's
    number (:func:`~hpbench.strategies.seeded_by_trial`), as the early trials' sampler does, so what
    a trial draws does not depend on how many early trials came before this build. A plugin's
    sampler draws one stream: seeded from ``n_drawn`` when given (how many of the early trials its
    sampler drew; those that ran enqueued points drew nothing, so the search draws what it would
    have drawn without them), and ``beside_early``: that sampler goes on drawing for early trials
    launched after this build, so this one draws on a stream apart from it (:func:`sampler_seed`).
    ``cost``: a configuration's predicted seconds or None, for a cost-aware searcher (the search's
    :meth:`~hpbench.dispatch.predictions.AsyncPredictions.trial_seconds`); None: nothing is priced.
    ``quota``: the trials it may still propose, shared with the early trials that go on in the
    helper after it was built (:class:`Quota`); once spent, it tells Tune the search is finished.
    ``asked``: where it notes the Optuna trial each of its trials was asked as (the trials table's ``optuna_trial``)."""
    name, seed, n_done = study.settings.searcher, study.settings.seed, len(done or ())
    if seeded_by_trial(name):
        seed = sampler_seed(seed, n_done)
    else:
        seed = sampler_seed(seed, n_done + len(early or ()) if n_drawn is None else n_drawn, beside_early=beside_early)
    sampler, points = SEARCHERS.get(name).build(seed=seed, space=study.space, max_concurrent=study.settings.max_concurrent,
                                                cost=CandidateCost(cost))
    remaining = points_left(study, [dict(p) for p in study.settings.first_points] + points, [*(done or ()), *(early or ())])
    points = [study.space.encode(p) for p in remaining]  # Optuna keeps a list-valued choice as its label
    searcher = _optuna_search_class()(
        space=study.space.define_by_run,
        metric=OBJECTIVE,
        mode=study.settings.mode,
        sampler=sampler,
        study_name=study.name,
        storage=storage,
        points_to_evaluate=points or None,
    )
    searcher.quota, searcher.asked = quota, asked
    return searcher


class Quota:
    """How many more trials a search may start, shared by Ray Tune's searcher and the early trials
    that go on in the helper while Tune's first trials start (:mod:`hpbench.dispatch.early`):
    whichever starts one takes it, so the search runs its ``trials`` whatever the split. Picklable
    (Tune saves the searcher with it): a copy keeps the count."""

    def __init__(self, n: int) -> None:
        self.left = n
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One trial more, if any is left."""
        with self._lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.left += 1

    def __getstate__(self) -> dict[str, Any]:
        return {"left": self.left}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.left = state["left"]
        self._lock = threading.Lock()


class CandidateCost:
    """``params -> predicted seconds or None`` for a cost-aware searcher: ``source`` is the search's
    :meth:`hpbench.dispatch.predictions.AsyncPredictions.trial_seconds` (predictions cached by
    cost key, priced in the helper process, never waited for). Picklable: Tune saves the searcher,
    its sampler and this with it at every experiment checkpoint (a closure there failed the search
    with "Can't pickle local object"); the live source is not pickled (a copy answers None, and
    its candidates are ranked as plain TPE ranks them)."""

    def __init__(self, source: Callable[[dict[str, Any]], float | None] | None) -> None:
        self._source = source

    def __getstate__(self) -> dict[str, Any]:
        return {"_source": None}

    def __call__(self, params: dict[str, Any]) -> float | None:
        return None if self._source is None else self._source(params)


def points_left(study: Study, points: list[dict[str, Any]], done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``points`` (the first points, a grid's) that none of the ``done`` trials (their
    parameters, as read back from the tables) ran: each trial accounts for one point.

    A trial that has no value for a dimension active in it (added to the space since, under
    ``--force``) ran with the value the study fixes or its family / optimizer defaults to
    (:func:`~hpbench.study.resolve.effective_value`), and matches a point of that value: the
    default configuration, trained by the first run as Adam at 1e-3, ran again once
    ``model.depth`` was searched, its depth the MLP's own 2. Where that value is unknown (a user
    family's own default), the trial matches no point that sets the key: the point runs."""
    ran = [_canonical(_as_run(study, study.space.resolve(p))) for p in done]  # as read back from the tables
    remaining = []
    for p in points:
        # a point that leaves keys to the searcher ran as any trial with its values
        match = next((i for i, r in enumerate(ran) if _canonical(p) <= r), None)
        if match is not None:
            del ran[match]  # each finished trial accounts for one point (a point may be listed twice)
        else:
            remaining.append(p)
    return remaining


def _as_run(study: Study, params: dict[str, Any]) -> dict[str, Any]:
    """A done trial's ``params`` with each dimension active in it but not recorded (one added to
    the space since it ran) set to the value the trial ran with, where known."""
    out = {k: v for k, v in params.items() if v is not None and v == v}
    for d in study.space:
        if d.key not in out and d.active(out):
            value = effective_value(study, out, d.path)
            if value is not None:
                out[d.key] = d.dist.resolve(value)
    return out


def _canonical(params: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """A point's values, comparable across a round trip through the tables (where a column mixing
    numbers and strings, such as batch sizes 16 and "full", is stored as strings)."""
    return frozenset((k, str(v)) for k, v in params.items() if v is not None and v == v)


def _optuna_search_class() -> Any:
    """Ray's ``OptunaSearch``, recording intermediate values by epoch (Ray's records them by
    report count, and hpbench reports short epochs together)."""
    from optuna.trial import TrialState as OptunaTrialState
    from ray.tune.search.optuna import OptunaSearch

    class _ByEpoch(OptunaSearch):  # type: ignore[misc]
        _last_step: dict[str, int]
        quota: Quota | None = None  # make_searcher's
        asked: AskedTrials | None = None  # make_searcher's

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._last_step = {}

        def suggest(self, trial_id: str) -> Any:
            if self.quota is not None and not self.quota.take():
                return OptunaSearch.FINISHED
            out = super().suggest(trial_id)
            if out is None and self.quota is not None:  # not now: asked again later
                self.quota.give_back()
            if self.asked is not None and trial_id in self._ot_trials:
                self.asked.note(trial_id, self._ot_trials[trial_id])
            owned_by = getattr(self._storage, "owned_by", None)  # its end is copied once its row's is on disk (hpbench.dispatch.write_behind)
            if owned_by is not None and trial_id in self._ot_trials:
                owned_by(self._ot_trials[trial_id]._trial_id, trial_id)
            return out

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is None or trial_id in self._completed_trials or OBJECTIVE not in result:
                return
            step = int(result.get("epoch", result.get("training_iteration", 0)))
            if step > self._last_step.get(trial_id, 0):  # a retried trial re-reports its epochs
                self._last_step[trial_id] = step
                ot_trial.report(result[OBJECTIVE], step)

        def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
            if result and not error and "stop_reason" not in result and trial_id in self._ot_trials and trial_id not in self._completed_trials:
                self._prune(trial_id, result)
            elif result and not error and FINAL_VALUE in result:
                # a trial its trainer ended: told its best_<metric> (the table's value, which ranks it);
                # its intermediate values stay the running best of the metric, which the schedulers judge
                super().on_trial_complete(trial_id, result={**result, OBJECTIVE: result[FINAL_VALUE]}, error=error)
            else:
                super().on_trial_complete(trial_id, result=result, error=error)
            # Ray keeps every trial's optuna Trial (with a FrozenTrial copy of its own) for the whole
            # run, though a told trial is never read again: the study's storage keeps the told trial
            # (issue 20 §4, the driver's memory)
            if trial_id in self._completed_trials:
                self._ot_trials.pop(trial_id, None)
                self._last_step.pop(trial_id, None)

        def _prune(self, trial_id: str, result: dict[str, Any]) -> None:
            """A trial Tune stopped before its trainer ended it (its last result carries no
            ``stop_reason``: the scheduler's rung), told as Optuna's own pruning
            tells one: its value at the epoch it was stopped reported (Tune passes that result to
            ``on_trial_complete`` only), then state PRUNED. Ray's ``OptunaSearch`` tells it COMPLETE with
            that value, so the study's storage (``optuna.load_study`` on ``optuna.db``, a dashboard,
            ``study.best_trial``) showed a trial stopped after one epoch as finished, and TPE ranked it
            among the finished ones where Optuna ranks every pruned trial below them. (The race, 5 seeds
            on tabular and signals, session 32: no change in the search's best beyond the seeds' spread.)
            A spent budget or a Ctrl-C stops Tune's experiment without this call: the driver tells the
            trials the budget stopped (:func:`hpbench.dispatch.budget.tell_stopped`)."""
            self.on_trial_result(trial_id, result)
            ostudy = self._ot_study
            with contextlib.suppress(Exception):  # the searcher's history only, as Ray's own tell (the tables have the trial)
                if ostudy is not None:
                    ostudy.tell(self._ot_trials[trial_id], state=OptunaTrialState.PRUNED)
            self._completed_trials.add(trial_id)

    return _ByEpoch


def n_trials(study: Study) -> int:
    """How many trials the study runs: the grid's size for grid search, else ``trials``."""
    if study.settings.searcher == "grid":
        return len(study.settings.enqueue) + len(study.space.grid())
    return study.settings.trials
