"""The cost-aware searcher (``searcher = "tpe-cost"``, hpbench.space.cost_sampler), driven in memory
through Optuna's ask/tell without training or Ray: it draws as TPE draws when the cost is unknown,
and prefers cheap configurations when their predicted seconds differ and the objective does not."""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

from hpbench.space.cost_sampler import CostAwareTPESampler  # noqa: E402
from hpbench.strategies import SEARCHERS  # noqa: E402

SIZES = [16, 64, 256, 1024]


def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_categorical("size", SIZES)  # no effect on the value: only on the cost
    return (x - 0.3) ** 2


def run(sampler, n=40):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    study.optimize(objective, n_trials=n)
    return [t.params for t in study.trials]


def test_unknown_cost_draws_exactly_as_tpe():
    plain = run(optuna.samplers.TPESampler(seed=3))
    blind = run(CostAwareTPESampler(cost=lambda params: None, seed=3))
    assert blind == plain


def test_prefers_cheap_configurations_when_the_objective_does_not_care():
    seconds = {16: 1.0, 64: 4.0, 256: 16.0, 1024: 64.0}
    calls = []

    def cost(params):
        calls.append(dict(params))
        return seconds[params["size"]] if "size" in params else None

    after_startup = slice(10, None)  # TPE's random start-up trials are not re-ranked
    plain = [p["size"] for p in run(optuna.samplers.TPESampler(seed=5))[after_startup]]
    aware = [p["size"] for p in run(CostAwareTPESampler(cost=cost, seed=5))[after_startup]]
    mean_s = lambda sizes: sum(seconds[s] for s in sizes) / len(sizes)  # noqa: E731
    assert mean_s(aware) < 0.5 * mean_s(plain)
    assert aware.count(1024) < plain.count(1024)
    assert calls and all("size" in c for c in calls)  # only the integer/categorical draw asks for a cost


def test_registered_and_validated_by_name(write_study):
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    entry = SEARCHERS.get("tpe-cost")
    sampler, points = entry.build(seed=0, max_concurrent=2, cost=lambda p: 1.0)
    assert isinstance(sampler.inner(0), CostAwareTPESampler) and points == []  # each trial's own (hpbench.space.by_trial)
    study = load_study(write_study(TINY_STUDY.replace('searcher = "random"', 'searcher = "tpe-cost"')))
    assert study.settings.searcher == "tpe-cost"


def _tiny(write_study):
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "tpe-cost"') + '"model.width" = { choice = [8, 16, 32, 64, 128] }\n'
    return load_study(write_study(text))


def test_the_searcher_with_the_cost_model_pickles(write_study):
    """Tune pickles the searcher, and the sampler with its cost function, at every experiment
    checkpoint: a closure there failed every tpe-cost search (found by benchmarks/race.py). The
    live predictions (a helper process) stay behind: the copy's cost is unknown."""
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import AsyncPredictions
    from hpbench.dispatch.searchers import CandidateCost

    study = _tiny(write_study)
    with ThreadPoolExecutor(1) as pool:
        live = AsyncPredictions(study=study, predict=lambda st, params, device: {"predicted_s": 2.0}, executor=pool)
        sampler, _ = SEARCHERS.get("tpe-cost").build(seed=0, max_concurrent=2, cost=CandidateCost(live.trial_seconds))
        run(sampler, n=3)
        again = pickle.loads(pickle.dumps(sampler))
    inner = again.inner(3)  # each trial's own sampler (hpbench.space.by_trial)
    assert isinstance(inner, CostAwareTPESampler) and inner._cost({"optimizer": "adam", "lr": 0.01, "model.width": 8}) is None


def test_candidates_are_priced_once_per_cost_key_in_the_helper_and_never_waited_for(write_study):
    """tpe-cost's candidates are priced off the driver: an unknown one answers None at once and is
    asked for (at most CANDIDATES_IN_FLIGHT at a time); configurations differing only in what does
    not change the cost (the learning rate) share one prediction."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from hpbench.dispatch.predictions import CANDIDATES_IN_FLIGHT, AsyncPredictions

    study = _tiny(write_study)
    release, asked = threading.Event(), []

    def predict(st, params, device):
        asked.append(dict(params))
        release.wait(timeout=60)
        return {"predicted_s": 3.0 if params.get("optimizer") == "adam" else 1.0}

    with ThreadPoolExecutor(1) as pool:
        live = AsyncPredictions(study=study, predict=predict, executor=pool)
        assert live.trial_seconds({"optimizer": "adam", "lr": 0.01}) is None  # asked for, not waited for
        assert live.trial_seconds({"optimizer": "adam", "lr": 0.05}) is None  # the same cost key: not asked again
        assert live.trial_seconds({"optimizer": "sgd", "lr": 0.01}) is None
        assert len(live.by_key) == 2 and len(live._in_flight) == 2
        for w in range(CANDIDATES_IN_FLIGHT):  # fill the helper's queue with other shapes
            live.trial_seconds({"optimizer": "adam", "lr": 0.01, "model.width": (16, 32, 64, 128)[w]})
        assert len(live._in_flight) == CANDIDATES_IN_FLIGHT  # the rest wait for a later draw
        release.set()
        pool.shutdown(wait=True)
        assert live.trial_seconds({"optimizer": "adam", "lr": 0.09}) == 3.0
        assert live.trial_seconds({"optimizer": "sgd", "lr": 0.001}) == 1.0
    assert sum(1 for a in asked if a.get("optimizer") == "adam" and "model.width" not in a) == 1
