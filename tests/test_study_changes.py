"""A results folder continues only the study that made it: a search whose metric, direction, data,
split, seed or fixed configuration changed is refused before anything is written (its trials
would join the earlier ones in one table, one leaderboard and one Optuna study, which keeps the
direction it was created with), while what only steers the search (trials, searcher, the default
of a searched key) may change. No Ray here."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpbench.dispatch.plan import ResumeRefused, SearchOptions, plan_search, write_study_record
from hpbench.results.study_changes import ranking_changed, study_changes
from hpbench.study.parse import load_study
from tests.test_bad_input import good_study, invoke, no_ray  # noqa: F401 (a fixture, used by name)


def _record(study) -> dict:
    import copy
    from dataclasses import asdict

    return {"name": study.name, "settings": asdict(study.settings), "config": copy.deepcopy(study.config)}


def test_the_changes_are_named_key_by_key_and_what_steers_the_search_is_not_one(tmp_path: Path):
    before = load_study(good_study(tmp_path))
    old = _record(before)
    after = load_study(good_study(tmp_path), overrides=["train.max_epochs=5", "data.val_fraction=0.5", "study.trials=9",
                                                        "study.searcher='tpe'", "optimizer.lr=0.05"])
    changes = study_changes(old, name=after.name, settings=_record(after)["settings"], config=after.config,
                            searched=frozenset(d.path for d in after.space))
    assert changes == ["data.val_fraction: 0.2 -> 0.5", "train.max_epochs: 3 -> 5"]  # not trials, searcher, nor the searched lr's default
    assert not ranking_changed(old, _record(after)["settings"])


def test_a_key_an_older_record_lacks_is_not_a_change_and_one_dropped_is(tmp_path: Path):
    study = load_study(good_study(tmp_path))
    old = _record(study)
    del old["config"]["train"]["max_epochs"]  # an older hpbench wrote no such key
    assert study_changes(old, name=study.name, settings=old["settings"], config=study.config) == []
    old["config"]["train"]["gone"] = 1
    assert study_changes(old, name=study.name, settings=old["settings"], config=study.config) == ["train.gone: 1 -> (not set)"]


def test_another_metric_or_name_is_a_change_of_ranking_or_study(tmp_path: Path):
    study = load_study(good_study(tmp_path))
    old = _record(study)
    loss = load_study(good_study(tmp_path), overrides=["study.metric='val_loss'", "study.mode='min'", "study.name='other'"])
    settings = _record(loss)["settings"]
    changes = study_changes(old, name=loss.name, settings=settings, config=loss.config)
    assert changes == ["study.name: 'bad' -> 'other'", "study.metric: 'val_accuracy' -> 'val_loss'", "study.mode: 'max' -> 'min'"]
    assert ranking_changed(old, settings)


def _written(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "out"
    write_study_record(load_study(good_study(tmp_path)), out)
    return out, {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.usefixtures("no_ray")
def test_a_changed_study_in_the_same_folder_is_refused_naming_each_change(tmp_path: Path):
    out, files = _written(tmp_path)
    result = invoke(["search", str(good_study(tmp_path)), "--out", str(out), "--set", "train.max_epochs=1", "--set", "data.val_fraction=0.5"])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, flat
    assert "train.max_epochs: 3 -> 1" in flat and "data.val_fraction: 0.2 -> 0.5" in flat and "--force" in flat and "--out DIR" in flat
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files  # nothing written, study.json kept


@pytest.mark.usefixtures("no_ray")
def test_another_metric_is_refused_even_with_force(tmp_path: Path):
    out, files = _written(tmp_path)
    result = invoke(["search", str(good_study(tmp_path)), "--out", str(out), "--force",
                     "--set", "study.metric=val_loss", "--set", "study.mode=min"])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, flat
    assert "study.metric: 'val_accuracy' -> 'val_loss'" in flat and "study.mode: 'max' -> 'min'" in flat and "--force" not in flat
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files


def test_force_continues_past_a_changed_configuration_and_more_trials_need_none(tmp_path: Path):
    out, _ = _written(tmp_path)
    longer = load_study(good_study(tmp_path), overrides=["train.max_epochs=4"])
    with pytest.raises(ResumeRefused, match=r"train\.max_epochs: 3 -> 4"):
        plan_search(longer, SearchOptions(out=out))
    assert plan_search(longer, SearchOptions(out=out, force=True)).n_new == 2
    more = load_study(good_study(tmp_path), overrides=["study.trials=5", "study.searcher='tpe'"])
    assert plan_search(more, SearchOptions(out=out)).n_new == 5


def test_a_shared_storage_whose_study_ranks_the_other_way_is_refused(tmp_path: Path):
    import optuna

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(storage=url, study_name="bad", direction="minimize")  # another search of this name ranked by a loss
    study = load_study(good_study(tmp_path))  # val_accuracy, max
    with pytest.raises(ResumeRefused, match="ranks its trials by mode 'min'"):
        plan_search(study, SearchOptions(out=tmp_path / "out", optuna_storage=url))
    assert not (tmp_path / "out").exists()
    optuna.create_study(storage=url, study_name="bad-max", direction="maximize")
    same = load_study(good_study(tmp_path), overrides=["study.name='bad-max'"])
    assert plan_search(same, SearchOptions(out=tmp_path / "out2", optuna_storage=url)).n_new == 2
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    assert plan_search(study, SearchOptions(out=tmp_path / "out3", optuna_storage=missing)).n_new == 2
    assert not (tmp_path / "none.db").exists()  # looked at, not created
