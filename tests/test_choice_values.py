"""Choices whose values are lists (Adam's betas) or mix numbers and strings (batch sizes 16 and
"full"): each searcher suggests them, Optuna's storage keeps them, the tables store them and every
reader (resume, repeats, a trial's configuration, ``hpbench best``) gets the study's own value
back, with its type (hpbench.space.values)."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from hpbench.api.fixed import typed_params
from hpbench.dispatch.repeats import searched_params
from hpbench.results.tables import trials_frame
from hpbench.space import values as V
from hpbench.strategies import SEARCHERS
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config
from tests.conftest import TINY_STUDY

BETAS = ((0.5, 0.999), (0.9, 0.999))
SPACE = """[space]
"optimizer.betas" = { grid = [[0.5, 0.999], [0.9, 0.999]] }
batch_size = { choice = [16, "full"] }
"""


def _study(write_study, *, searcher: str = "grid", extra: str = ""):
    text = TINY_STUDY.replace('searcher = "random"', f'searcher = "{searcher}"').replace("max_epochs = 3", "max_epochs = 1")
    text = text.split("[space]")[0] + '[optimizer]\nname = "adam"\n\n' + SPACE + extra
    return load_study(write_study(text))


def test_labels_and_resolve_by_hand():
    assert V.label((0.5, 0.999)) == "[0.5, 0.999]" and V.label(16) == 16 and V.label("full") == "full"
    choices = (*BETAS, 16, "full", True)
    for raw, want in ((0.9, 0.999), (0.9, 0.999)), ([0.9, 0.999], (0.9, 0.999)), (np.array([0.5, 0.999]), (0.5, 0.999)), \
            ("[0.5, 0.999]", (0.5, 0.999)), ("16", 16), (np.int64(16), 16), (16.0, 16), ("full", "full"), (True, True):
        got = V.resolve(choices, raw)
        assert got == want and type(got) is type(want), (raw, got)
    assert V.resolve(choices, "[0.1, 0.2]") == "[0.1, 0.2]"  # not a choice (a changed space): left as it is
    assert V.resolve((1, True), True) is True and V.resolve((1, True), 1) == 1 and type(V.resolve((1, True), 1)) is int


def test_the_study_accepts_lists_for_tuple_choices_in_enqueue_and_when(write_study):
    study = _study(write_study, searcher="tpe", extra='"optimizer.eps" = { choice = [1e-8, 1e-6], when = { "optimizer.betas" = [[0.9, 0.999]] } }\n')
    assert study.space.dim("optimizer.betas").dist.values == BETAS
    assert dict(study.space.dim("optimizer.eps").when) == {"optimizer.betas": ((0.9, 0.999),)}
    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "tpe"\nenqueue = [{ "optimizer.betas" = [0.9, 0.999], batch_size = "full" }]')
    text = text.split("[space]")[0] + '[optimizer]\nname = "adam"\n\n' + SPACE
    point = load_study(write_study(text)).settings.enqueue[0]
    assert point == {"optimizer.betas": (0.9, 0.999), "batch_size": "full"} and isinstance(point["optimizer.betas"], tuple)


@pytest.mark.parametrize("name", sorted(SEARCHERS.names(plugins=False)))
def test_every_searcher_suggests_the_values_through_a_persistent_storage(write_study, tmp_path, name):
    """Each searcher's sampler on an sqlite storage, with the enqueued and grid points as the
    dispatcher hands them over: the first ask (an enqueued list point) and later ones (the
    sampler reading the storage's history back) all give the study's own values."""
    study = _study(write_study, searcher=name)
    sampler, points = SEARCHERS.get(name).build(seed=0, space=study.space, max_concurrent=1, cost=None)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    ostudy = optuna.create_study(storage=storage, sampler=sampler, study_name="s", direction="maximize")
    for p in [{"optimizer.betas": [0.9, 0.999], "batch_size": 16}, *points]:
        ostudy.enqueue_trial(study.space.encode(study.space.resolve(p)))
    seen = []
    for i in range(8):
        trial = optuna.load_study(storage=storage, sampler=sampler, study_name="s").ask()  # a resumed driver
        params = study.space.define_by_run(trial)
        assert params["optimizer.betas"] in BETAS and type(params["optimizer.betas"]) is tuple
        assert params["batch_size"] in (16, "full") and type(params["batch_size"]) in (int, str)
        ostudy.tell(trial.number, float(i))
        seen.append(params)
    assert seen[0] == {"optimizer.betas": (0.9, 0.999), "batch_size": 16}
    if name == "grid":
        assert {repr(sorted(p.items())) for p in seen[1:5]} == {repr(sorted(p.items())) for p in study.space.grid()}


def test_tables_round_trip_to_the_study_values(write_study, tmp_path):
    study = _study(write_study)
    rows = [{"trial": i, "trial_id": str(i), **p} for i, p in enumerate(study.space.grid())]
    trials_frame(rows, study.space.keys()).to_parquet(tmp_path / "t.parquet")
    back = pd.read_parquet(tmp_path / "t.parquet").to_dict("records")
    assert back[0]["optimizer.betas"] == "[0.5, 0.999]" and back[0]["batch_size"] == "16"  # labels; strings beside "full"
    for row, want in zip(back, study.space.grid(), strict=True):
        got = searched_params(row, study.space)  # repeats, replays and the test split read trials this way
        assert got == want and [type(v) for v in got.values()] == [type(v) for v in want.values()]
        cfg = trial_config(study, row)  # and a configuration built from the raw row is right too
        assert cfg.optimizer.params["betas"] == want["optimizer.betas"] and cfg.train.batch_size == want["batch_size"]
        raw = typed_params(row, {"optimizer.betas": {"grid": [[0.5, 0.999], [0.9, 0.999]]}, "batch_size": {"choice": [16, "full"]}},
                           study.space.keys())  # hpbench best --study-out writes the study file's own forms
        assert raw == {"optimizer.betas": list(want["optimizer.betas"]), "batch_size": want["batch_size"]}


def test_resumed_grid_skips_points_read_back_from_the_tables(write_study):
    from hpbench.dispatch.searchers import make_searcher

    study = _study(write_study)
    done = [{"optimizer.betas": np.array([0.5, 0.999]), "batch_size": "16"}, {"optimizer.betas": "[0.9, 0.999]", "batch_size": "full"}]
    left = make_searcher(study, storage=optuna.storages.InMemoryStorage(), done=done)._points_to_evaluate
    assert sorted(map(repr, left)) == sorted(map(repr, [{"optimizer.betas": "[0.5, 0.999]", "batch_size": "full"},
                                                        {"optimizer.betas": "[0.9, 0.999]", "batch_size": 16}]))


@pytest.mark.slow
def test_real_grid_search_over_a_list_valued_choice(ray_local, write_study, tmp_path):
    """A real Ray grid search over Adam's betas x batch sizes (16 or "full"; the searcher used to
    stop at its first trial: Optuna refused the enqueued list), then one repeat of the best: every
    grid point runs once, the repeat trains the best's own values, and a resume finds nothing left."""
    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.dispatch.searchers import make_searcher

    path = write_study(TINY_STUDY.replace('searcher = "random"', 'searcher = "grid"\nrepeats_top = 1').replace("max_epochs = 3", "max_epochs = 1")
                       .split("[space]")[0] + '[optimizer]\nname = "adam"\n\n' + SPACE)
    study = load_study(path)
    out = tmp_path / "out"
    run_search(study, SearchOptions(out=out, repeats=1))
    trials = hpbench.load(out)
    search = trials[trials["repeat"].isna()] if "repeat" in trials.columns else trials
    assert len(search) == 4 and set(search["status"]) == {"finished"}
    ran = sorted(repr(sorted(searched_params(r, study.space).items())) for r in search.to_dict("records"))
    assert ran == sorted(repr(sorted(p.items())) for p in study.space.grid())
    repeat = trials[trials["repeat"].notna()].to_dict("records")
    assert len(repeat) == 1 and repeat[0]["status"] == "finished"
    best = search[search["trial"] == int(repeat[0]["repeat_of"])].to_dict("records")[0]
    assert searched_params(repeat[0], study.space) == searched_params(best, study.space)
    keys = study.space.keys()
    done = [{k: r.get(k) for k in keys} for r in search.to_dict("records")]
    assert make_searcher(study, storage=optuna.storages.InMemoryStorage(), done=done)._points_to_evaluate == []


def test_an_enqueued_point_that_leaves_keys_to_the_searcher_is_not_run_again(write_study):
    """``enqueue = [{ lr = 0.05 }]`` ran twice: once (as an early trial, or before a resume) with
    the searcher's other values, then again, as the point never equalled a finished trial's full
    configuration. A finished trial holding the point's values accounts for it."""
    from hpbench.dispatch.searchers import make_searcher
    from hpbench.study.parse import load_study

    text = TINY_STUDY.replace('searcher = "random"', 'searcher = "tpe"\nenqueue = [{ lr = 0.05 }, { lr = 0.05 }, { lr = 0.01 }]')
    study = load_study(write_study(text))
    storage = optuna.storages.InMemoryStorage()
    assert [p["lr"] for p in make_searcher(study, storage=storage)._points_to_evaluate] == [0.05, 0.05, 0.01]
    done = [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 0.0123}]  # the first point ran; the other trial is the searcher's
    left = make_searcher(study, storage=optuna.storages.InMemoryStorage(), done=done)._points_to_evaluate
    assert [p["lr"] for p in left] == [0.05, 0.01]  # a point listed twice runs twice
