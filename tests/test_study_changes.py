"""A results folder continues only the study that made it: a search whose metric, direction, data,
split, seed or fixed configuration changed is refused before anything is written (its trials
would join the earlier ones in one table, one leaderboard and one Optuna study, which keeps the
direction it was created with), while what only steers the search (trials, searcher, the default
of a searched key) may change. No Ray here."""

from __future__ import annotations

import json
import re
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


def _trained(out: Path, n: int = 1) -> None:
    """``n`` finished search trials in ``out``'s tables (no Ray): what an earlier run leaves."""
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=["lr"])
    for k in range(n):
        store.start(f"t{k}", {"lr": 0.01})
        store.epoch(f"t{k}", {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        store.finish(f"t{k}")
    store.flush(force=True)


def _written(tmp_path: Path, *, trials: int = 1) -> tuple[Path, dict[str, bytes]]:
    out = tmp_path / "out"
    write_study_record(load_study(good_study(tmp_path)), out)
    _trained(out, trials)
    return out, {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


@pytest.mark.usefixtures("no_ray")
def test_a_changed_study_in_the_same_folder_is_refused_naming_each_change(tmp_path: Path):
    out, files = _written(tmp_path)
    result = invoke(["search", str(good_study(tmp_path)), "--out", str(out), "--set", "train.max_epochs=1", "--set", "data.val_fraction=0.5"])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, flat
    assert "train.max_epochs: 3 -> 1" in flat and "data.val_fraction: 0.2 -> 0.5" in flat and "--force" in flat and "--out DIR" in flat
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files  # nothing written, study.json kept


@pytest.mark.usefixtures("no_ray")
def test_another_metric_is_refused_even_with_force(tmp_path: Path):
    out, files = _written(tmp_path)
    result = invoke(["search", str(good_study(tmp_path)), "--out", str(out), "--force",
                     "--set", "study.metric=val_loss", "--set", "study.mode=min"])
    flat = " ".join(result.output.split())
    assert result.exit_code == 2, flat
    assert "study.metric: 'val_accuracy' -> 'val_loss'" in flat and "study.mode: 'max' -> 'min'" in flat and "--force" not in flat
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files


def test_another_study_with_another_space_is_named_first_and_force_is_not_offered(tmp_path: Path):
    """The space was compared first: "the search space changed ... (use --force ...)", and --force
    was then refused, the folder holding another metric's trials."""
    out, _ = _written(tmp_path)
    other = load_study(good_study(tmp_path), overrides=["study.metric='val_loss'", "study.mode='min'", "space.lr={loguniform=[1e-4, 1e-2]}"])
    with pytest.raises(ResumeRefused) as err:
        plan_search(other, SearchOptions(out=out))
    text = str(err.value)
    assert "holds the trials of another study" in text and "study.metric: 'val_accuracy' -> 'val_loss'" in text and "--force" not in text, text
    assert "the search space:\n    - lr: loguniform [0.001, 0.1]\n    + lr: loguniform [0.0001, 0.01]" in text, text
    with pytest.raises(ResumeRefused, match="holds the trials of another study"):
        plan_search(other, SearchOptions(out=out, force=True))
    wider = load_study(good_study(tmp_path), overrides=["space.lr={loguniform=[1e-4, 1e-2]}"])  # the same study, another space: --force continues
    with pytest.raises(ResumeRefused, match="the search space changed since the earlier run"):
        plan_search(wider, SearchOptions(out=out))
    assert plan_search(wider, SearchOptions(out=out, force=True)).n_new == 1


def test_force_continues_past_a_changed_configuration_and_more_trials_need_none(tmp_path: Path):
    out, _ = _written(tmp_path)
    longer = load_study(good_study(tmp_path), overrides=["train.max_epochs=4"])
    with pytest.raises(ResumeRefused, match=r"train\.max_epochs: 3 -> 4"):
        plan_search(longer, SearchOptions(out=out))
    assert plan_search(longer, SearchOptions(out=out, force=True)).n_new == 1
    more = load_study(good_study(tmp_path), overrides=["study.trials=5", "study.searcher='tpe'"])
    assert plan_search(more, SearchOptions(out=out)).n_new == 4


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


def test_a_key_the_earlier_study_left_unset_is_a_change_once_records_hold_every_key(tmp_path: Path):
    """model.dropout, train.clip_norm, optimizer.weight_decay: optional keys an earlier study did not
    set were not in its record, and adding one resumed without a word (then the original study was
    the one refused: 'model.dropout: 0.5 -> (not set)')."""
    out, _ = _written(tmp_path)
    for override, line in (("train.clip_norm=1.0", "train.clip_norm: (not set) -> 1.0"), ("model.dropout=0.5", "model.dropout: (not set) -> 0.5")):
        with pytest.raises(ResumeRefused, match=re.escape(line)):
            plan_search(load_study(good_study(tmp_path), overrides=[override]), SearchOptions(out=out))
    old = json.loads((out / "study.json").read_text())
    del old["format"]  # a record of an hpbench before the format: a key it lacks may be one it did not know
    study = load_study(good_study(tmp_path), overrides=["model.dropout=0.5"])
    assert study_changes(old, name=study.name, settings=_record(study)["settings"], config=study.config) == []


def test_the_same_data_file_named_from_another_folder_is_the_same_study_and_another_file_is_not(tmp_path: Path, monkeypatch):
    import numpy as np

    (tmp_path / "d").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d" / "a.npz", x=rng.normal(size=(40, 4)).astype("float32"), y=np.arange(40) % 2)
    np.savez(tmp_path / "d" / "b.npz", x=rng.normal(size=(40, 4)).astype("float32"), y=np.arange(40) % 2)
    study_file = tmp_path / "d" / "s.toml"
    study_file.write_text(good_study(tmp_path).read_text().replace('dataset = "digits"', 'dataset = "a.npz"'))
    monkeypatch.chdir(tmp_path / "d")
    out = tmp_path / "out"
    write_study_record(load_study(study_file), out)
    _trained(out)
    assert json.loads((out / "study.json").read_text())["data_files"] == {"data.dataset": str((tmp_path / "d" / "a.npz").resolve())}
    monkeypatch.chdir(tmp_path)  # 'a.npz' now resolves from the study's folder: the same file
    assert plan_search(load_study(study_file), SearchOptions(out=out)).n_new == 1
    with pytest.raises(ResumeRefused, match=r"data\.dataset: .*a\.npz -> .*b\.npz"):
        plan_search(load_study(study_file, overrides=["data.dataset='d/b.npz'"]), SearchOptions(out=out))


def test_other_data_under_the_same_name_is_refused_once_it_is_read(tmp_path: Path):
    from hpbench.dispatch.plan import check_same_data, write_data_record

    out, _ = _written(tmp_path)
    write_data_record(out, {"dataset": "data.csv", "kind": "tabular", "input_shape": [64], "task": "multiclass", "n_train": 1437, "n_val": 360})
    study = load_study(good_study(tmp_path))
    plan = plan_search(study, SearchOptions(out=out))
    check_same_data(plan, SearchOptions(out=out), {"kind": "tabular", "input_shape": [64], "task": "multiclass", "n_train": 1437, "n_val": 360})
    other = {"kind": "tabular", "input_shape": [32], "task": "binary", "n_train": 320, "n_val": 80}
    with pytest.raises(ResumeRefused, match=r"data \(input_shape\): \[64\] -> \[32\]") as err:
        check_same_data(plan, SearchOptions(out=out), other)
    assert "data (task): 'multiclass' -> 'binary'" in str(err.value) and "data (n_train): 1437 -> 320" in str(err.value)
    check_same_data(plan, SearchOptions(out=out, force=True), other)  # --force continues


def test_a_folder_whose_run_trained_nothing_holds_no_study_to_keep(tmp_path: Path):
    """A search refused while joining a cluster left study.json (no trials): the corrected study was
    refused as 'another study' (train.max_epochs: 3 -> 4) with nothing to mix with."""
    out, _ = _written(tmp_path, trials=0)
    assert plan_search(load_study(good_study(tmp_path), overrides=["train.max_epochs=4"]), SearchOptions(out=out)).n_new == 2


def test_a_resume_after_a_stop_before_the_test_split_knows_it_is_untested(tmp_path: Path):
    from hpbench.dispatch.test_split import untested
    from hpbench.results.store import ResultsStore

    study = load_study(good_study(tmp_path), overrides=["data.test_fraction=0.2"])
    store = ResultsStore(out=tmp_path / "o", metric="val_accuracy", mode="max", param_keys=["lr"])
    for tid, acc in (("a", 0.5), ("b", 0.9)):
        store.start(tid, {"lr": 0.01})
        store.epoch(tid, {"epoch": 1, "val_accuracy": acc, "epoch_s": 0.1})
        store.finish(tid)
    assert untested(study, store)
    assert not untested(load_study(good_study(tmp_path)), store)  # no test split: nothing to evaluate
    store.annotate("a", {"test_accuracy": 0.48})  # not the best trial
    assert untested(study, store)
    store.annotate("b", {"test_accuracy": 0.88})  # the best trial evaluated
    assert not untested(study, store)


def test_a_searched_data_file_that_resolves_to_another_file_on_resume_is_a_change(tmp_path: Path, monkeypatch):
    """A relative choice of a searched data key is looked up in the working directory (the study's
    folder holding none): a resume from another directory found another file under the same text
    and continued without a word (left alone in s51; the fixed key's file was compared)."""
    import numpy as np

    rng = np.random.default_rng(0)
    for folder in ("w1", "w2"):
        (tmp_path / folder).mkdir()
        for name in ("a.npz", "b.npz"):
            np.savez(tmp_path / folder / name, x=rng.normal(size=(40, 4)).astype("float32"), y=np.arange(40) % 2)
    (tmp_path / "s").mkdir()
    study_file = tmp_path / "s" / "s.toml"
    study_file.write_text(good_study(tmp_path).read_text() + '"data.dataset" = { choice = ["a.npz", "b.npz"] }\n')
    monkeypatch.chdir(tmp_path / "w1")
    out = tmp_path / "out"
    write_study_record(load_study(study_file), out)
    _trained(out)
    assert plan_search(load_study(study_file), SearchOptions(out=out)).n_new == 1  # the same files: continued
    monkeypatch.chdir(tmp_path / "w2")
    with pytest.raises(ResumeRefused) as err:
        plan_search(load_study(study_file), SearchOptions(out=out))
    text = str(err.value)
    assert f"space.data.dataset choice 'a.npz': {tmp_path / 'w1' / 'a.npz'} -> {tmp_path / 'w2' / 'a.npz'}" in text, text
    assert "choice 'b.npz'" in text and "--force" in text, text
    assert plan_search(load_study(study_file), SearchOptions(out=out, force=True)).n_new == 1
