"""Searchers: what configuration runs next. All of them (their registry: :mod:`hpbench.strategies`)
are Optuna samplers driven through Ray Tune's ``OptunaSearch`` with the study's define-by-run
space (which is how conditional dimensions stay absent), recorded in an Optuna storage so that
the history survives the driver and ``optuna-dashboard`` can open it."""

from __future__ import annotations

from typing import Any

from hpbench.strategies import SEARCHERS
from hpbench.study.schema import Study

__all__ = ["OBJECTIVE", "SEARCHERS", "make_searcher", "n_trials", "sampler_seed"]  # SEARCHERS: its old home

OBJECTIVE = "objective"  # the running best of the study metric, reported every epoch


def sampler_seed(study_seed: int, n_done: int) -> int:
    """The sampler's seed for a search that starts with ``n_done`` trials already done: the study
    seed on a fresh start, else one derived from both. A resumed or extended search thus draws
    new configurations (a sampler seeded alike on every start replays the first ones: a random
    search of 6 trials extended to 12 ran the same 6 again), and one resumed from the same
    point draws the same ones (reproducible)."""
    if n_done == 0:
        return study_seed
    import numpy as np

    return int(np.random.SeedSequence([study_seed, n_done]).generate_state(1)[0])


def make_searcher(study: Study, *, storage: Any, done: list[dict[str, Any]] | None = None, n_drawn: int | None = None) -> Any:
    """Build the Ray Tune searcher. ``done``: the parameters of trials an earlier run finished
    (resume); the enqueued and grid points among them are not run again, and the sampler is
    seeded from the study seed and their number (:func:`sampler_seed`), or from ``n_drawn`` when
    given: how many of them a sampler drew (the early trials, :mod:`hpbench.dispatch.early`, that
    ran enqueued points drew nothing, so the search draws what it would have drawn without them)."""
    seed = sampler_seed(study.settings.seed, len(done or ()) if n_drawn is None else n_drawn)
    sampler, points = SEARCHERS.get(study.settings.searcher).build(seed=seed, space=study.space, max_concurrent=study.settings.max_concurrent,
                                                                   cost=predicted_seconds(study))
    points = [dict(p) for p in study.settings.enqueue] + points
    ran = [_canonical(study.space.resolve(p)) for p in done or ()]  # as read back from the tables
    remaining = []
    for p in points:
        key = _canonical(p)
        if key in ran:
            ran.remove(key)  # each finished trial accounts for one point (a point may be listed twice)
        else:
            remaining.append(p)
    points = [study.space.encode(p) for p in remaining]  # Optuna keeps a list-valued choice as its label
    return _optuna_search_class()(
        space=study.space.define_by_run,
        metric=OBJECTIVE,
        mode=study.settings.mode,
        sampler=sampler,
        study_name=study.name,
        storage=storage,
        points_to_evaluate=points or None,
    )


def predicted_seconds(study: Study) -> Any:
    """``params -> predicted seconds`` of a (partial) configuration by the cost model, for a
    cost-aware searcher; None where it cannot predict. The device model is read from the cache
    the prediction helper fills (calibrating it took 100 s here under load: the driver never
    does); until it is there, candidates are ranked as plain TPE ranks them."""
    return PredictedSeconds(study)


class PredictedSeconds:
    """The callable :func:`predicted_seconds` returns. Picklable (Tune saves the searcher, its
    sampler and this with it, at every experiment checkpoint: a closure here failed the search
    with "Can't pickle local object"): the predictor, built on first use, is not pickled."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self._predict: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"study": self.study, "_predict": None}

    def __call__(self, params: dict[str, Any]) -> float | None:
        try:
            if self._predict is None:
                from hpbench.cost.predictor import trial_predictor

                if not _device_model_cached(self.study):
                    return None  # never calibrate on the driver: the prediction helper does, and caches it
                self._predict = trial_predictor(self.study)
            s = self._predict(params).get("predicted_s")
        except Exception:  # no prediction: the candidate is ranked as plain TPE ranks it
            return None
        return float(s) if isinstance(s, (int, float)) else None


def _device_model_cached(study: Study) -> bool:
    from hpbench.cost.calibrate import cache_file, default_cache_dir, load_cached

    device = str(study.config["train"].get("device", "cpu"))
    if device == "auto":
        import torch

        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    threads = max(1, int(study.resources.cpus_per_trial))
    return load_cached(cache_file(default_cache_dir(), device, threads), device) is not None


def _canonical(params: dict[str, Any]) -> str:
    """A point's identity across a round trip through the tables (where a column mixing numbers
    and strings, such as batch sizes 16 and "full", is stored as strings)."""
    return repr(sorted((k, str(v)) for k, v in params.items() if v is not None and v == v))


def _optuna_search_class() -> Any:
    """Ray's ``OptunaSearch``, recording intermediate values by epoch (Ray's records them by
    report count, and hpbench reports short epochs together)."""
    from ray.tune.search.optuna import OptunaSearch

    class _ByEpoch(OptunaSearch):  # type: ignore[misc]
        _last_step: dict[str, int]

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._last_step = {}

        def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
            ot_trial = self._ot_trials.get(trial_id)
            if ot_trial is None or trial_id in self._completed_trials or OBJECTIVE not in result:
                return
            step = int(result.get("epoch", result.get("training_iteration", 0)))
            if step > self._last_step.get(trial_id, 0):  # a retried trial re-reports its epochs
                self._last_step[trial_id] = step
                ot_trial.report(result[OBJECTIVE], step)

    return _ByEpoch


def n_trials(study: Study) -> int:
    """How many trials the study runs: the grid's size for grid search, else ``trials``."""
    if study.settings.searcher == "grid":
        return len(study.settings.enqueue) + len(study.space.grid())
    return study.settings.trials
