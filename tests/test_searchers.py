"""The searchers' draws do not depend on timing (hpbench.dispatch.searchers): the early trials'
sampler and Ray Tune's searcher, driven from one Optuna storage as a search drives them (no Ray
runtime: Tune's ``OptunaSearch`` is asked directly), give each trial number the same
configuration however many early trials were drawn before Tune's searcher was built (the bug
hunt s47/h3's finding 2: a warm Ray runtime and a fresh one shared 3 of 12 random configurations)."""

from __future__ import annotations

from typing import Any

import pytest

from hpbench.study.parse import parse_study


def _study(searcher: str, **settings: Any) -> Any:
    return parse_study({"study": {"name": "seeds", "searcher": searcher, "metric": "val_accuracy", "max_concurrent": 2, "seed": 7,
                                  "default_first": False, **settings},
                        "data": {"dataset": "iris"}, "model": {"family": "mlp"},
                        "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "batch_size": {"choice": [8, 16, 32]},
                                  "optimizer": {"choice": ["adam", "momentum"]},
                                  "optimizer.momentum": {"uniform": [0.5, 0.99], "when": {"optimizer": ["momentum"]}}}})


def draws(study: Any, *, n_early: int | None, n_trials: int = 10) -> dict[int, dict[str, Any]]:
    """Trial number -> parameters, as a search draws them: ``n_early`` early trials asked one after
    another (the study's points first, as :meth:`EarlyTrials.launch_next` asks them) before Tune's
    searcher is built as the runner builds it, then the early trials asking on beside Tune (where
    every point was theirs: else :meth:`EarlyTrials.share` stops them); ``None``: a search without
    early trials (``--no-early-trials``, or a search that does not qualify)."""
    import optuna

    from hpbench.dispatch.early_launch import early_sampler
    from hpbench.dispatch.searchers import make_searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    out: dict[int, dict[str, Any]] = {}
    if n_early is None:
        tune = make_searcher(study, storage=storage)
        beside = None
    else:
        sampler, grid = early_sampler(study)
        points = [*map(dict, study.settings.first_points), *grid]
        beside = optuna.create_study(storage=storage, sampler=sampler, study_name=study.name, load_if_exists=True, direction="maximize")
        n_points, early = 0, []
        for _ in range(n_early):
            if n_points < len(points):
                beside.enqueue_trial(study.space.encode(points[n_points]))
                n_points += 1
            t = beside.ask()
            early.append(study.space.define_by_run(t))
            out[t.number] = t.params
        draws_on = n_points == len(points)
        tune = make_searcher(study, storage=storage, early=early, n_drawn=len(early) - n_points, beside_early=draws_on)
        beside = beside if draws_on else None
    k = len(out)
    while k < n_trials:
        if beside is not None and k % 3 == 0:  # the helper's next early trial, beside Tune's
            t = beside.ask()
            study.space.define_by_run(t)
            out[t.number] = t.params
        else:
            tid = f"tune_{k}"
            tune.suggest(tid)
            out[tune._ot_trials[tid].number] = tune._ot_trials[tid].params
        k += 1
    assert sorted(out) == list(range(n_trials))
    return out


@pytest.mark.parametrize("searcher", ["random", "tpe", "tpe-group", "tpe-cost"])
def test_each_trial_number_draws_the_same_configuration_however_many_early_trials_drew_first(searcher):
    """Random search, and TPE's random start-up trials (none told here): the same configuration at
    each trial number with 0, 1 or 3 early trials drawn before Tune's searcher was built (how fast
    Ray started), and without early trials; and never one configuration twice (session 34)."""
    study = _study(searcher)
    runs = {n: draws(study, n_early=n) for n in (None, 0, 1, 3)}
    for n, run in runs.items():
        assert run == runs[None], f"{n} early trials drawn before Tune's searcher changed the draws"
    assert len({repr(sorted(p.items())) for p in runs[None].values()}) == len(runs[None])


def test_enqueued_points_take_the_same_trial_numbers_however_many_ran_early():
    """The enqueued points keep their trial numbers (0, 1) whether the early trials ran none, one
    (the other left to Tune's searcher) or both and drew after them; the draws after them too."""
    study = _study("random", enqueue=[{"optimizer": "adam", "lr": 0.01}, {"optimizer": "momentum", "lr": 0.05}])
    runs = {n: draws(study, n_early=n) for n in (None, 1, 2, 3)}
    assert runs[None][0] == {"optimizer": "adam", "lr": 0.01, "batch_size": runs[None][0]["batch_size"]}
    assert runs[None][1]["lr"] == 0.05
    for n, run in runs.items():
        assert run == runs[None], n


def test_every_built_in_searcher_draws_by_trial_and_pickles_with_its_draws():
    """Each built-in entry says ``by_trial`` and builds a :class:`TrialSeededSampler`; Tune pickles
    the searcher at its checkpoints, and the copy draws each trial number as the original."""
    import pickle

    import optuna

    from hpbench.space.by_trial import TrialSeededSampler
    from hpbench.strategies import SEARCHERS, seeded_by_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = parse_study({"study": {"name": "finite", "metric": "val_accuracy", "default_first": False}, "data": {"dataset": "iris"},
                         "model": {"family": "mlp"}, "space": {"lr": {"choice": [1e-3, 1e-2, 1e-1]}, "batch_size": {"choice": [8, 16, 32]}}})
    for name in SEARCHERS.names(plugins=False):
        sampler, _ = SEARCHERS.get(name).build(seed=7, space=study.space, max_concurrent=2, cost=None)
        assert seeded_by_trial(name) and isinstance(sampler, TrialSeededSampler), name
        copy = pickle.loads(pickle.dumps(sampler))
        drawn = []
        for s in (sampler, copy):
            ostudy = optuna.create_study(sampler=s, direction="maximize")
            drawn.append([study.space.define_by_run(ostudy.ask()) for _ in range(4)])
        assert drawn[0] == drawn[1], name
    assert not seeded_by_trial("no-such-searcher")


def test_a_plugins_sampler_is_seeded_as_before(monkeypatch):
    """A plugin's searcher that does not say ``by_trial``: its sampler draws one stream, so Tune's
    takes a seed apart from the early trials' (``sampler_seed(seed, n_drawn, beside_early=True)``), as before."""
    import optuna

    from hpbench.dispatch.searchers import make_searcher, sampler_seed
    from hpbench.registry import Entry
    from hpbench.strategies import SEARCHERS

    seeds: list[int] = []

    def build(*, seed: int, **_: Any) -> Any:
        seeds.append(seed)
        return optuna.samplers.RandomSampler(seed=seed), []

    monkeypatch.setitem(SEARCHERS._entries, "stream", Entry(name="stream", build=build))
    study = _study("stream")
    make_searcher(study, storage=optuna.storages.InMemoryStorage(), early=[{"lr": 0.01}] * 3, n_drawn=2, beside_early=True)
    make_searcher(study, storage=optuna.storages.InMemoryStorage(), done=[{"lr": 0.01}] * 4)
    make_searcher(study, storage=optuna.storages.InMemoryStorage())
    assert seeds == [sampler_seed(7, 2, beside_early=True), sampler_seed(7, 4), 7]


def test_a_resumed_search_draws_new_configurations_reproducibly():
    """A resumed or extended search (its trials in the storage, ``done`` from the tables) draws new
    configurations, the same ones from the same point; and so does one whose storage was set aside
    (damaged: the trial numbers start again, the seed does not)."""
    import optuna

    from hpbench.dispatch.searchers import OBJECTIVE, make_searcher

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _study("random")

    def search(storage: Any, done: list[dict[str, Any]], n: int = 6) -> list[dict[str, Any]]:
        tune = make_searcher(study, storage=storage, done=done)
        out = []
        for i in range(n):
            out.append(study.space.resolve(tune.suggest(f"t{i}")))
            tune.on_trial_complete(f"t{i}", {OBJECTIVE: 0.5, "epoch": 1, "stop_reason": "completed"})
        return out

    def resumed(*, keep_storage: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        storage = optuna.storages.InMemoryStorage()
        first = search(storage, [])
        return first, search(storage if keep_storage else optuna.storages.InMemoryStorage(), first)

    for keep in (True, False):
        first, again = resumed(keep_storage=keep)
        assert resumed(keep_storage=keep) == (first, again), keep
        assert not {repr(sorted(p.items())) for p in again} & {repr(sorted(p.items())) for p in first}, keep
