"""The Python API without Ray: ``hpbench.Study`` (the CLI's validation and messages), overrides,
``hpbench.Results`` over hand-written tables (the best trial, the summary), the winner as a fixed
study, ``hpbench.train_study`` / ``hpbench train`` of one configuration (real training, no Ray),
``hpbench.estimate``, and the conventions: ``python -m hpbench``, ``--version``, completion,
``py.typed``, a light ``import hpbench``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tomllib
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.api.fixed import fixed_study, typed_params
from hpbench.cli import app
from tests.helpers.report_tables import write_full
from tests.helpers.report_tables import write_tiny as _searched_tiny
from tests.helpers.studies import ROOT, STUDIES, TINY_STUDY
from tests.test_bad_input import BAD_STUDIES, study_text

runner = CliRunner()
QUIET = Console(file=StringIO())

FIXED_STUDY = TINY_STUDY.split("[space]")[0].replace('name = "tiny"', 'name = "fixed"').replace(
    'preprocess = ["standardize"]', 'preprocess = ["standardize"]\ntest_fraction = 0.2') + '\n[optimizer]\nname = "adam"\nlr = 0.02\n'


# -- Study -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(BAD_STUDIES))
def test_from_dict_and_from_toml_raise_the_cli_s_message(case, tmp_path):
    """Every bad study of the CLI's battery: the same StudyError text from a file and from a dict."""
    sections, fragments = BAD_STUDIES[case]
    path = tmp_path / "bad.toml"
    text = study_text(**sections)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(hpbench.StudyError) as from_file:
        hpbench.Study.from_toml(path)
    with pytest.raises(hpbench.StudyError) as from_dict:
        hpbench.Study.from_dict(tomllib.loads(text), source=str(path), name="bad", base_dir=tmp_path)
    assert str(from_file.value) == str(from_dict.value)
    assert str(from_file.value).startswith(f"{path}: ")
    for frag in fragments:
        assert frag in str(from_file.value)


def test_from_dict_reports_every_problem():
    raw = tomllib.loads(TINY_STUDY)
    raw["study"]["trials"] = 0
    raw["train"]["max_epochs"] = -1
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.Study.from_dict(raw, source="nb")
    keys = [(p.source, p.key, p.value) for p in err.value.problems]
    assert ("nb", "study.trials", 0) in keys and ("nb", "train.max_epochs", -1) in keys
    assert str(err.value).count("\n") == len(keys) - 1  # one line per problem


def _build_here(*, input_shape, n_outputs, params, kind=None):  # a builder defined beside the call, as in a notebook
    raise AssertionError("never built: refused with the study")


@pytest.mark.parametrize(("model", "space", "key", "fragment"), [
    ({"family": "__main__:build"}, None, "model.family", "cannot name a function of __main__ (the script or notebook that calls hpbench)"),
    ({"family": "mlp"}, {"model.family": {"choice": ["mlp", "__main__:build"]}}, "space.model.family", "cannot name a function of __main__"),
    ({"family": _build_here}, None, "model.family", "not a Python object (the trial workers import it by name)"),
])
def test_a_builder_of_the_calling_script_is_refused_with_the_study(model, space, key, fragment):
    """``"__main__:build"`` was priced by estimate, then refused by search's pre-flight, whose helper
    listed its own __main__'s names as the did-you-mean; a function given itself was 'must be a non-empty string'."""
    raw = tomllib.loads(TINY_STUDY)
    raw["model"] = model
    raw.pop("space", None)
    if space:
        raw["space"] = space
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.Study.from_dict(raw, source="nb")
    p = next(p for p in err.value.problems if p.key == key)
    assert fragment in p.rule, p
    module = _build_here.__module__ if callable(model["family"]) else "mymodel"
    name = "_build_here" if callable(model["family"]) else "build"
    assert f"'{module}:{name}'" in p.hint and ("move it into a module" in p.hint) == (module == "mymodel"), p.hint


def test_overrides_as_a_mapping_match_set_strings(write_study):
    path = write_study(TINY_STUDY)
    mapping = hpbench.Study.from_toml(path, overrides={"study.trials": 8, "train.batch_size": "full", "train.max_epochs": 5,
                                                       "train.early_stopping": {"patience": 2, "monitor": "val_loss"},
                                                       "data.preprocess": ["minmax"]})
    strings = hpbench.Study.from_toml(path, overrides=["study.trials=8", 'train.batch_size="full"', "train.max_epochs=5",
                                                        'train.early_stopping={ patience = 2, monitor = "val_loss" }',
                                                        'data.preprocess=["minmax"]'])
    assert isinstance(mapping, hpbench.Study)
    assert mapping.settings.trials == 8 and mapping.config["train"]["batch_size"] == "full"
    assert mapping.config["train"]["early_stopping"]["patience"] == 2
    assert mapping.config == strings.config and mapping.settings == strings.settings


@pytest.mark.parametrize(("overrides", "fragments"), [
    ({"trials": 8}, ["overrides", "trials", "SECTION.KEY"]),
    ({"train.max_epochs": None}, ["train.max_epochs", "TOML value"]),
    ({"train.max_epochs": -3}, ["train.max_epochs", "-3"]),
])
def test_bad_overrides_name_the_key(write_study, overrides, fragments):
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.Study.from_toml(write_study(TINY_STUDY), overrides=overrides)
    for frag in fragments:
        assert frag in str(err.value)


# -- Results over hand-written tables ----------------------------------------------------------
def test_best_is_the_leaderboard_s_first_finished_search_trial(tmp_path):
    """A repeat (0.952) and a device run beat trial 1 (0.95) on the raw column; best ignores them, as
    it ignores a running trial."""
    res = hpbench.Results(write_full(tmp_path))
    df = hpbench.load(res.path)
    search = df[(df["repeat"].fillna(0) == 0) & df["device_of"].isna() & (df["status"] == "finished")]
    top = search.sort_values("best_val_accuracy", ascending=False, kind="stable").iloc[0]
    best = res.best
    assert best.trial == int(top["trial"]) == 1
    assert best.value == pytest.approx(float(top["best_val_accuracy"]), rel=1e-5)
    assert best.params == {"optimizer": "adam", "lr": pytest.approx(0.01, rel=1e-5), "distill.alpha": 0.5}  # momentum inactive
    epochs = hpbench.load(res.path, table="epochs")
    at = epochs[(epochs["trial"] == 1) & (epochs["epoch"] == best.best_epoch)].iloc[0]
    assert best.metrics == {k: pytest.approx(float(at[k]), rel=1e-5) for k in ("train_loss", "val_accuracy", "val_loss", "val_ece", "val_nll")}
    assert best.weights is None  # none saved in these tables
    assert [int(t) for t in res.ranking()["trial"]][:4] == [1, 6, 3, 0]


def test_summary_counts_search_trials_and_names_the_best(tmp_path):
    s = hpbench.Results(write_full(tmp_path)).summary()
    assert s["n_trials"] == 9 and s["n_other_runs"] == 6
    assert s["status"] == {"failed": 1, "finished": 7, "running": 1}
    assert s["stop_reason"] == {"completed": 4, "early_stopped": 1, "failed": 1, "pruned": 2}
    assert s["best"]["trial"] == 1 and s["best"]["params"]["optimizer"] == "adam"
    json.dumps(s)  # plain data


def test_results_refuse_a_directory_without_a_search(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a results directory"):
        hpbench.Results(tmp_path)


def test_load_model_without_weights_says_why(tmp_path):
    res = hpbench.Results(write_full(tmp_path))
    with pytest.raises(FileNotFoundError, match="trial 1 has no saved weights"):
        res.load_model()
    with pytest.raises(LookupError, match=r"no trial 99 \(trials 0\.\.14\)"):  # not "has no saved weights: a pruned trial ..."
        res.load_model(99)
    with pytest.raises(LookupError, match="no trial 99"):
        res.load_predictor(99)


# -- the winner as a fixed study ---------------------------------------------------------------
def _record(raw: dict, tmp_path: Path) -> dict:
    return {"name": "s", "source": str(tmp_path / "s.toml"), "raw": raw, "config": {"data": {"dataset": raw["data"]["dataset"]}}}


def test_fixed_study_sets_the_params_and_drops_what_the_winner_does_not_take(tmp_path):
    raw = tomllib.loads(TINY_STUDY)
    raw["study"]["enqueue"] = [{"optimizer": "adam"}]
    raw["study"]["repeats"] = 2
    raw["optimizer"] = {"momentum": 0.9}  # for the searched "momentum" optimizer, not for adam
    raw["model"] = {"family": "mlp", "depth": 1, "width": 32, "channels": [8]}  # "channels": the cnn's, searched too
    raw["space"] = {"optimizer": {"choice": ["adam", "momentum"]}, "lr": {"loguniform": [1e-3, 1e-1]},
                    "family": {"choice": ["mlp", "cnn"]}, "batch_size": {"choice": [16, "full"]}}
    params = typed_params({"optimizer": "adam", "lr": 0.02, "family": "mlp", "batch_size": "16"}, raw["space"],
                          ["optimizer", "lr", "family", "batch_size"])
    assert params["batch_size"] == 16  # the tables store a mixed choice as strings
    fixed = fixed_study(_record(raw, tmp_path), params)
    assert "space" not in fixed and "enqueue" not in fixed["study"] and "repeats" not in fixed["study"]
    assert fixed["study"]["name"] == "s-best" and fixed["study"]["trials"] == 1
    assert fixed["optimizer"] == {"name": "adam", "lr": 0.02}
    assert fixed["model"] == {"family": "mlp", "depth": 1, "width": 32}
    assert fixed["train"]["batch_size"] == 16
    study = hpbench.Study.from_dict(fixed, base_dir=tmp_path)
    assert len(study.space) == 0 and study.config["optimizer"]["lr"] == 0.02


def test_fixed_study_of_a_one_layer_recurrent_winner_drops_the_shared_dropout_it_never_used(tmp_path):
    """[model] dropout = 0.3 shared by a searched cnn / gru / mlp: the one-layer gru that won never
    used it (it acts between stacked layers), and its fixed study, refused with it, is written without."""
    raw = tomllib.loads(TINY_STUDY)
    raw["data"] = {"dataset": "signals"}
    raw["model"] = {"family": "gru", "dropout": 0.3}
    raw["space"] = {"family": {"choice": ["cnn", "gru", "mlp"]}, "lr": {"loguniform": [1e-3, 1e-1]}}
    hpbench.Study.from_dict(raw, base_dir=tmp_path)  # searchable as it is
    fixed = fixed_study(_record(raw, tmp_path), {"family": "gru", "lr": 0.01})
    assert "dropout" not in fixed["model"]
    hpbench.Study.from_dict(fixed, base_dir=tmp_path)
    two = fixed_study(_record({**raw, "model": {**raw["model"], "layers": 2}}, tmp_path), {"family": "gru", "lr": 0.01})
    assert two["model"]["dropout"] == 0.3  # between two layers it acts: kept
    cnn = fixed_study(_record(raw, tmp_path), {"family": "cnn", "lr": 0.01})
    assert cnn["model"]["dropout"] == 0.3
    hpbench.Study.from_dict(cnn, base_dir=tmp_path)


def test_fixed_schedules_study_keeps_the_chosen_schedule_s_keys_only(tmp_path):
    """studies/schedules.toml fixes step_size, milestones, warmup_epochs for whichever schedule is
    chosen, and momentum for the momentum optimizer: a cosine + adamw winner takes none of them."""
    raw = tomllib.loads((STUDIES / "schedules.toml").read_text())
    params = {"optimizer": "adamw", "lr": 0.01, "lr_schedule": "cosine", "lr_schedule.eta_min": 1e-5, "train.clip_norm": 1.0,
              "train.label_smoothing": 0.1, "optimizer.weight_decay": 1e-4}
    fixed = fixed_study(_record(raw, tmp_path), params)
    assert fixed["lr_schedule"] == {"name": "cosine", "eta_min": 1e-5}
    assert fixed["optimizer"] == {"name": "adamw", "lr": 0.01, "weight_decay": 1e-4}
    study = hpbench.Study.from_dict(fixed)
    assert study.config["lr_schedule"]["name"] == "cosine" and study.config["train"]["clip_norm"] == 1.0
    fixed = fixed_study(_record(raw, tmp_path), {**params, "optimizer": "momentum", "lr_schedule": "step", "lr_schedule.gamma": 0.5})
    assert fixed["lr_schedule"]["step_size"] == 5 and fixed["optimizer"]["momentum"] == 0.9
    hpbench.Study.from_dict(fixed)


def test_typed_params_leave_inactive_dimensions_out():
    assert typed_params({"a": None, "b": float("nan"), "c": "full"}, {"c": {"choice": [16, "full"]}}, ["a", "b", "c"]) == {"c": "full"}


# -- training one configuration (no Ray) -------------------------------------------------------
def test_train_cli_trains_saves_and_prints_test_metrics(write_study, tmp_path):
    path = write_study(FIXED_STUDY, "fixed.toml")
    out = tmp_path / "trained"
    r = runner.invoke(app, ["train", str(path), "--out", str(out), "--epochs", "2"])
    assert r.exit_code == 0, r.output
    flat = r.output.replace("\n", "")  # Rich folds a long tmp path at the terminal's width (under xdist: popen-gw0/...)
    for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "model.pt"):
        assert key in flat
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["epochs"] == 2 and len(saved["history"]) == 2
    assert 0.0 <= saved["metrics"]["test_accuracy"] <= 1.0
    expected = tomllib.loads(path.read_text())
    expected["train"]["max_epochs"] = 2  # the study trained, --epochs applied (s51/h5)
    assert tomllib.loads((out / "study.toml").read_text()) == expected
    import torch

    from hpbench.train.weights import build_saved_model, load_record

    model = build_saved_model(load_record(out / "model.pt"))
    assert sum(p.numel() for p in model.parameters()) > 0
    assert model(torch.zeros(3, 64)).shape == (3, 10)  # digits: 64 features, 10 classes


def test_train_study_repeats_its_own_numbers(write_study, tmp_path):
    """The same configuration trained twice from Python: the same epochs (seeded trainer)."""
    study = hpbench.Study.from_toml(write_study(FIXED_STUDY, "fixed.toml"))
    a = hpbench.train_study(study, out=tmp_path / "a", epochs=2, console=QUIET)
    b = hpbench.train_study(study, out=tmp_path / "b", epochs=2, console=QUIET)
    assert a.metrics.keys() == b.metrics.keys() and "test_accuracy" in a.metrics
    for k, v in a.metrics.items():
        assert b.metrics[k] == pytest.approx(v, rel=1e-5)
    assert not a.model.training
    # `hpbench train`'s output loads with the top-level names, from its folder or its model.pt
    x = np.random.default_rng(0).normal(size=(4, 1, 8, 8)).astype(np.float32)  # digits, as its x is given
    expected = a.load_predictor().predict_proba(x)
    for where in (a.out, a.out / "model.pt"):
        np.testing.assert_allclose(hpbench.load_predictor(where).predict_proba(x), expected, rtol=1e-5)
        assert not hpbench.load_model(where).training


@pytest.mark.parametrize(("args", "fragments"), [
    (["--epochs", "0"], ["--epochs", "0"]),
    (["--set", "train.max_epochs=0"], ["max_epochs", "0"]),
])
def test_train_cli_refuses_bad_options(write_study, tmp_path, args, fragments):
    out = tmp_path / "out"
    r = runner.invoke(app, ["train", str(write_study(FIXED_STUDY, "fixed.toml")), "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    for frag in fragments:
        assert frag in r.output
    assert not out.exists()


def test_train_runs_the_searchs_pre_flight_first(write_study, tmp_path):
    """`hpbench train` skipped the pre-flight: a broken network or bad data was a traceback (a
    CNN asking for 19 GB ended in the allocator's, exit 1) where a search said what to fix."""
    table = tmp_path / "rows.csv"
    table.write_text("a,b,label\n" + "".join(f"{'inf' if i == 7 else i},{i % 3},{i % 2}\n" for i in range(40)))
    text = FIXED_STUDY.replace('dataset = "digits"', f'dataset = "{table}"\ntarget = "label"').replace('preprocess = ["standardize"]\n', "")
    out = tmp_path / "out"
    r = runner.invoke(app, ["train", str(write_study(text, "nan_label.toml")), "--out", str(out)])
    assert r.exit_code == 2, r.output
    flat = " ".join(r.output.split())
    assert "'a'" in flat and "nothing was started or written" in flat
    assert not out.exists()


def test_train_refuses_a_study_with_a_space(write_study, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["train", str(write_study(TINY_STUDY)), "--out", str(out)])
    assert r.exit_code == 2
    flat = " ".join(r.output.split())
    assert "space" in flat and "optimizer, lr" in flat and "hpbench best" in flat
    assert not out.exists()


def test_train_refuses_to_write_into_a_search_s_results(write_study, tmp_path):
    results = write_full(tmp_path)
    before = sorted(p.name for p in results.iterdir())
    r = runner.invoke(app, ["train", str(write_study(FIXED_STUDY, "fixed.toml")), "--out", str(results)])
    assert r.exit_code == 2 and "search's results" in " ".join(r.output.split())
    assert sorted(p.name for p in results.iterdir()) == before


def test_best_cli_on_a_directory_without_a_finished_trial(tmp_path):
    from tests.helpers.report_tables import _write

    out = _write(tmp_path / "r", {"name": "r", "settings": {"metric": "val_loss", "mode": "min"}, "space": {}},
                 [{"trial": 0, "trial_id": "x", "status": "running", "stop_reason": None}], [])
    r = runner.invoke(app, ["best", str(out)])
    assert r.exit_code == 2 and "no finished trial" in r.output


@pytest.mark.parametrize("target", ["study.json", "study.toml", "trials.parquet", "trials.parquet.prev", "optuna.db", "weights/1.pt", "."])
def test_best_study_out_refuses_the_results_own_files_and_a_directory(tmp_path, target):
    """--study-out RESULTS/study.json replaced the search's record (the results became unreadable),
    a directory gave an IsADirectoryError traceback."""
    results = _searched_tiny(tmp_path)
    before = {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}
    path = results / target
    r = runner.invoke(app, ["best", str(results), "--study-out", str(path)])
    assert r.exit_code == 2, r.output
    assert "--study-out" in r.output and path.name in r.output
    assert {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()} == before
    with pytest.raises(hpbench.StudyError, match="path"):
        hpbench.Results(results).write_best_study(path, trial=1)
    assert {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()} == before


def test_best_study_out_where_it_cannot_write_is_refused_in_one_line(tmp_path):
    """--study-out /dev/null/b.toml (a folder that is a file) gave a FileExistsError traceback with
    exit 1, and Results.write_best_study the bare OSError; train --out says why in one line."""
    results = _searched_tiny(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for path in (blocker / "best.toml", blocker / "sub" / "best.toml"):
        r = runner.invoke(app, ["best", str(results), "--study-out", str(path)])
        assert r.exit_code == 2, r.output
        assert f"--study-out {path}: {blocker} is not a directory" in r.output and "Traceback" not in r.output
        from hpbench.results.files import OutputError  # the error the search's --out check raises

        with pytest.raises(OutputError, match=f"path {path}: .* is not a directory"):
            hpbench.Results(results).write_best_study(path, trial=1)
    assert blocker.read_text() == "x"


def test_best_study_out_of_a_repeat_carries_the_repeat_s_seed(tmp_path):
    """The written study had the search's seed (0), so hpbench train reproduced trial 1, not its repeat."""
    results = _searched_tiny(tmp_path)
    written = tmp_path / "new" / "best.toml"  # its folder is created, as by the other writes
    r = runner.invoke(app, ["best", str(results), "--trial", "2", "--study-out", str(written)])
    assert r.exit_code == 0, r.output
    text = written.read_text()
    assert tomllib.loads(text)["study"]["seed"] == 1
    assert "repeat 1 of trial 1" in text.splitlines()[0] and "seed = 1" in text.splitlines()[0]
    res = hpbench.Results(results)
    assert res.best_study(1)["study"]["seed"] == 0 and res.best_study(2)["study"]["seed"] == 1
    assert hpbench.Study.from_dict(res.best_study(2)).settings.seed == 1


def test_a_metric_of_exactly_zero_is_a_value_not_nan(tmp_path):
    """TrialResult.value was NaN for a best value of 0.0 (``row.get(...) or math.nan``)."""
    import pandas as pd

    results = _searched_tiny(tmp_path)
    t = pd.read_parquet(results / "trials.parquet")
    t.loc[t["trial"] == 0, "best_val_accuracy"] = 0.0
    t.to_parquet(results / "trials.parquet", index=False)
    res = hpbench.Results(results)
    assert res.trial(0).value == 0.0 and res.trial(1).value == pytest.approx(0.9)


@pytest.mark.parametrize(("kwargs", "fragments"), [
    ({"sections": ["bogus"]}, ["sections", "'bogus'", "leaderboard, cost"]),  # a bare KeyError('bogus')
    ({"sections": ["leaderbord"]}, ["did you mean 'leaderboard'"]),
    ({"top": -1}, ["top", "at least 1", "-1"]),  # silently 5 of 6 rows (the CLI refuses --top 0)
    ({"top": 0}, ["top"]),
])
def test_report_and_report_json_refuse_what_the_cli_refuses(tmp_path, kwargs, fragments):
    res = hpbench.Results(write_full(tmp_path))
    for call in (res.report_json, lambda **kw: res.report(QUIET, **kw)):
        with pytest.raises(hpbench.StudyError) as err:
            call(**kwargs)
        for frag in fragments:
            assert frag in str(err.value)


def test_trial_and_load_model_take_the_same_trial_numbers(tmp_path):
    """Results.trial("1") said "no trial 1 (trials 0..5)" while load_model("1") worked."""
    import numpy as np

    res = hpbench.Results(write_full(tmp_path))
    assert res.trial("1") == res.trial(1) == res.trial(np.int64(1))
    for bad in (1.5, True, "best"):
        with pytest.raises(TypeError, match="trial number"):
            res.trial(bad)
        with pytest.raises(TypeError, match="trial number"):
            res.load_model(bad)
    with pytest.raises(FileNotFoundError, match="trial 1 has no saved weights"):
        res.load_model("1")


def test_report_of_a_search_interrupted_before_any_value(tmp_path):
    """Every section renders (the cost ranking raised KeyError on the metric's column)."""
    from tests.helpers.report_tables import _write

    out = _write(tmp_path / "r", {"name": "r", "settings": {"metric": "val_accuracy", "mode": "max"}, "space": {}},
                 [{"trial": 0, "trial_id": "x", "status": "interrupted", "stop_reason": None, "predicted_flops": 1e6}], [])
    for args in (["report", str(out)], ["report", str(out), "--json"], ["report", str(out), "--section", "cost"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0, (args, r.output, r.exception)


def test_the_consoles_print_colons_as_text_not_emoji(capsys):
    """A loader named "mod:ok" printed as "mod🆗" (Rich's emoji codes in user names)."""
    from hpbench.cli.common import console

    console().print("data: huntload.loaders:ok: and :tada:")
    assert "huntload.loaders:ok: and :tada:" in capsys.readouterr().out


# -- search and estimate options ---------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "key"), [
    ({"budget_s": 0.0}, "budget_s"), ({"address": "somehost"}, "address"), ({"num_cpus": 0}, "num_cpus"),
    ({"address": "auto", "num_cpus": 2}, "num_cpus"), ({"repeats": -1}, "repeats"),
    # a TypeError before, not the StudyError the API promises
    ({"budget_flops": "x"}, "budget_flops"), ({"out": 5}, "out"),
    # the whole search ran, then a TypeError in dispatch/repeats.py; a raw TypeError inside hpbench
    ({"repeats": 1.5}, "repeats"), ({"repeats": "2"}, "repeats"), ({"num_cpus": "2"}, "num_cpus"), ({"repeats": True}, "repeats"),
])
def test_search_refuses_bad_options_before_anything(write_study, tmp_path, monkeypatch, kwargs, key):
    import hpbench.dispatch.search_phase as search_phase

    monkeypatch.setattr(search_phase, "init_ray", lambda *a, **k: pytest.fail("Ray was started"))
    out = tmp_path / "out"
    with pytest.raises(hpbench.StudyError) as err:
        hpbench.search(hpbench.Study.from_toml(write_study(TINY_STUDY)), **{"out": out, **kwargs})
    assert f"hpbench.search: {key}: " in str(err.value)
    assert not out.exists()


def test_search_refusing_its_output_is_one_of_the_documented_refusals(write_study, tmp_path, monkeypatch):
    """out="/proc/x" raised OutputError (a RuntimeError) where the README said a bad option raises
    StudyError, and named none of REFUSALS (bug hunt s47h1): the README now names them."""
    import re

    import hpbench.dispatch.search_phase as search_phase
    from hpbench.api.search import REFUSALS
    from hpbench.results.files import OutputError

    monkeypatch.setattr(search_phase, "init_ray", lambda *a, **k: pytest.fail("Ray was started"))
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    with pytest.raises(REFUSALS) as err:
        hpbench.search(hpbench.Study.from_toml(write_study(TINY_STUDY)), out=tmp_path / "a_file" / "out")
    assert isinstance(err.value, OutputError)
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8").split())
    api = readme[readme.index("- `hpbench.search(study"):][:1500]  # its bullet
    for cls in REFUSALS:
        assert re.search(rf"`{cls.__name__}`", api), cls.__name__
    assert "hpbench.api.search.REFUSALS" in api


@pytest.mark.parametrize(("call", "kwargs", "key"), [
    ("estimate", {"samples": "3"}, "samples"), ("estimate", {"device_flops": "1e12"}, "device_flops"),
    ("estimate", {"samples": 2.0}, "samples"), ("train_study", {"epochs": "2"}, "epochs"),
])
def test_estimate_and_train_study_refuse_arguments_of_the_wrong_type(write_study, tmp_path, call, kwargs, key):
    """A raw TypeError/AttributeError from inside hpbench before; now the call's StudyError naming the key."""
    study = hpbench.Study.from_toml(write_study(FIXED_STUDY, "fixed.toml"))
    extra = {"out": tmp_path / "out", "console": QUIET} if call == "train_study" else {}
    with pytest.raises(hpbench.StudyError, match=f": {key}: must be a"):
        getattr(hpbench, call)(study, **kwargs, **extra)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("call", ["search", "estimate", "train_study"])
def test_a_path_as_the_study_says_to_read_it_first(write_study, tmp_path, monkeypatch, call):
    """AttributeError: 'str' object has no attribute 'resources' before."""
    import hpbench.dispatch.search_phase as search_phase

    monkeypatch.setattr(search_phase, "init_ray", lambda *a, **k: pytest.fail("Ray was started"))
    path = str(write_study(TINY_STUDY))
    for study in (path, Path(path)):
        with pytest.raises(TypeError, match=r"hpbench\.Study\.from_toml"):
            getattr(hpbench, call)(study, out=tmp_path / "out") if call != "estimate" else hpbench.estimate(study)
    assert not (tmp_path / "out").exists()


def test_estimate_returns_the_cli_s_table(write_study):
    path = write_study(TINY_STUDY)
    df = hpbench.estimate(hpbench.Study.from_toml(path), samples=3, device_flops=1e12)
    cli = json.loads(runner.invoke(app, ["estimate", str(path), "--samples", "3", "--device-flops", "1e12", "--json"]).output)
    assert list(df["config"]) == [0, 1, 2]
    assert list(df["predicted_flops"]) == [c["predicted_flops"] for c in cli["configurations"]]
    assert df.attrs["summary"]["worst_case_s"] == pytest.approx(cli["summary"]["worst_case_s"], rel=1e-5)
    with pytest.raises(hpbench.StudyError, match="device_flops"):
        hpbench.estimate(hpbench.Study.from_toml(path), device_flops=0)


def test_a_first_estimate_from_python_says_it_calibrates_on_stderr(write_study, tmp_path, monkeypatch, capsys):
    from tests.helpers.devices import logged_calibration

    logged_calibration(monkeypatch)
    study = hpbench.Study.from_toml(write_study(TINY_STUDY))
    assert len(hpbench.estimate(study, samples=2, cache_dir=tmp_path)) == 2
    err = capsys.readouterr().err
    assert "calibrating cpu at 1 thread" in err and "cpu: a step of the calibration" in err
    hpbench.estimate(study, samples=2, cache_dir=tmp_path)
    assert "calibrating" not in capsys.readouterr().err  # cached


# -- conventions -------------------------------------------------------------------------------
def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_import_hpbench_and_reading_results_import_neither_ray_nor_torch(tmp_path):
    results = write_full(tmp_path)
    code = ("import sys, hpbench\n"
            f"s = hpbench.Study.from_toml({str(STUDIES / 'quickstart.toml')!r})\n"
            f"r = hpbench.Results({str(results)!r}); b = r.best; r.summary()\n"
            "print(sorted(m for m in ('ray', 'torch') if m in sys.modules))")
    assert _python(code) == "[]"


def test_public_names_resolve():
    for name in hpbench.__all__:
        assert getattr(hpbench, name) is not None
    assert callable(hpbench.search) and callable(hpbench.train_study) and callable(hpbench.estimate)
    with pytest.raises(AttributeError):
        hpbench.no_such_name  # noqa: B018


def test_version_from_the_command_and_python_m():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"hpbench {hpbench.__version__}"
    proc = subprocess.run([sys.executable, "-m", "hpbench", "--version"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"hpbench {hpbench.__version__}"


def test_python_m_hpbench_runs_the_commands():
    proc = subprocess.run([sys.executable, "-m", "hpbench", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for command in ("search", "report", "best", "train", "estimate", "--install-completion"):
        assert command in proc.stdout


def test_shell_completion_script_names_the_command(monkeypatch):
    # the shell named, not detected: Typer otherwise reads the parent process's shell (/bin/sh under
    # make: "Shell sh not supported") and takes --show-completion as a flag
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    r = runner.invoke(app, ["--show-completion", "bash"], prog_name="hpbench")
    assert r.exit_code == 0, r.output
    assert "_HPBENCH_COMPLETE" in r.output and "complete" in r.output


def test_package_is_typed():
    assert (ROOT / "hpbench" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["hpbench"]


def test_float_columns_of_best_are_finite(tmp_path):
    best = hpbench.Results(write_full(tmp_path)).best
    assert all(math.isfinite(v) for v in best.metrics.values())


def test_cli_option_errors_name_the_command_and_the_flag_once(write_study, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["search", str(write_study(TINY_STUDY)), "--budget-flops", "0", "--out", str(out)])
    assert r.exit_code == 2
    assert "hpbench search: --budget-flops: must be > 0, but got 0.0" in r.output
    assert r.output.count("--budget-flops") == 1
    assert not out.exists()


def test_a_finished_command_leaves_after_its_threads_and_exit_hooks_without_the_interpreters_finalization(tmp_path):
    """leave_done (the installed command's and ``python -m hpbench``'s end): a worker thread's
    work, the atexit hooks and unflushed output all happen before the process leaves with the
    command's code; module teardown, which runs ``__del__`` of objects still alive, does not."""
    code = f"""
import atexit, pathlib, sys, threading, time
from hpbench.cli import leave_done
root = pathlib.Path({str(tmp_path)!r})
def work():
    time.sleep(0.2)
    (root / "thread").write_text("done")
threading.Thread(target=work).start()
atexit.register(lambda: (root / "atexit").write_text("ran"))
class Finalized:
    def __del__(self):
        (root / "finalized").write_text("ran")
kept = Finalized()
sys.stdout.write("no newline yet")
leave_done(3)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3 and proc.stdout == "no newline yet"
    assert (tmp_path / "thread").read_text() == "done" and (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "finalized").exists()


def test_leave_done_returns_for_an_exit_code_python_prints():
    from hpbench.cli import leave_done

    assert leave_done("not a number") is None  # the caller re-raises its SystemExit: Python prints it, exit 1


def test_report_says_a_trial_was_left_running_by_a_search_that_stopped(tmp_path):
    """After a SIGKILL (or a second Ctrl-C) the tables keep a trial as running: the report said
    "still running" for ever; it is so only while a live search holds the folder's lock."""
    from hpbench.results.lock import ResultsLock
    from tests.helpers.report_tables import _write

    out = _write(tmp_path / "r", {"name": "r", "settings": {"metric": "val_loss", "mode": "min"}, "space": {}},
                 [{"trial": 0, "trial_id": "x", "status": "running", "stop_reason": None}], [])
    r = runner.invoke(app, ["report", str(out), "--section", "leaderboard"])
    assert r.exit_code == 0 and "1 left running by a search that stopped" in r.output, r.output
    lock = ResultsLock(out)
    lock.acquire()
    try:
        r = runner.invoke(app, ["report", str(out), "--section", "leaderboard"])
        assert r.exit_code == 0 and "1 still running" in r.output, r.output
    finally:
        lock.release()
