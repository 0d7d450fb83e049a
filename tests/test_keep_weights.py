"""``[study] keep_weights = N``: only the N best finished search trials (at least ``repeats_top``)
keep their weights file; the rule without Ray (:mod:`hpbench.results.keep`, the keeper of
:mod:`hpbench.dispatch.keep_weights`), the key's validation, what readers are told of a trial whose
file was not kept, and one tiny real search."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.results.files import STUDY_JSON
from hpbench.results.weights import ReferenceError_, resolve_reference, weights_path
from hpbench.study.parse import parse_study
from tests.conftest import TINY_STUDY
from tests.helpers.keep_folders import folder, searched_folder


def row(trial: int, value: float | None, *, status: str = "finished", stop_reason: str = "completed", **extra: Any) -> dict[str, Any]:
    return {"trial": trial, "status": status, "stop_reason": stop_reason, "best_val_accuracy": value, "best_val_loss": value, **extra}


def drop(rows: list[dict[str, Any]], *, n: int, mode: str = "max", metric: str = "val_accuracy", has=lambda t: True) -> list[int]:
    from hpbench.results.keep import to_drop

    return to_drop(rows, metric=metric, mode=mode, n_keep=n, has_weights=has)


# -- the rule ---------------------------------------------------------------------------------

def test_a_max_metric_keeps_the_highest():
    rows = [row(0, 0.5), row(1, 0.9), row(2, 0.7), row(3, 0.8)]
    assert drop(rows, n=2) == [0, 2]


def test_a_min_metric_keeps_the_lowest():
    rows = [row(0, 0.5), row(1, 0.9), row(2, 0.7), row(3, 0.3)]
    assert drop(rows, n=2, mode="min", metric="val_loss") == [1, 2]


def test_ties_keep_the_earlier_trial():
    rows = [row(3, 0.8), row(1, 0.8), row(2, 0.8), row(0, 0.1)]
    assert drop(rows, n=2) == [0, 3]
    assert drop(rows, n=2, mode="min", metric="val_loss") == [2, 3]


def test_rows_not_ended_are_left_alone_and_failed_or_valueless_rank_last():
    rows = [row(0, 0.1), row(1, None, status="running"), row(2, 0.99, status="interrupted"),
            row(3, 0.95, status="failed", stop_reason="failed"), row(4, float("nan")), row(5, 0.2)]
    assert drop(rows, n=2) == [3, 4]  # the finished ones with a value first: 5 and 0 kept
    assert drop(rows, n=1) == [0, 3, 4]


def test_repeats_and_device_runs_always_keep_their_weights():
    rows = [row(0, 0.9), row(1, 0.5), row(2, 0.1, repeat=1, repeat_of=0, seed=7), row(3, 0.2, device_of=1)]
    assert drop(rows, n=1) == [1]


def test_trials_without_a_file_do_not_take_a_place():
    rows = [row(0, 0.9, stop_reason="pruned"), row(1, 0.5), row(2, 0.4)]
    assert drop(rows, n=2, has=lambda t: t != 0) == []  # the pruned trial saved none: the next two keep theirs


def test_at_least_repeats_top_are_kept_and_all_is_the_default():
    from hpbench.results.keep import n_kept

    assert n_kept(1, repeats_top=3) == 3
    assert n_kept(5, repeats_top=3) == 5
    assert n_kept("all", repeats_top=3) is None
    assert n_kept(None, repeats_top=3) is None  # a record written before the key
    assert n_kept(True, repeats_top=1) is None


def test_the_keeper_deletes_as_trials_end_and_leaves_running_ones_alone(tmp_path):
    from hpbench.dispatch.keep_weights import WeightsKeeper

    keeper = WeightsKeeper(out=tmp_path, metric="val_accuracy", mode="max", keep_weights=2, repeats_top=1)
    rows: list[dict[str, Any]] = []
    for trial, value in enumerate([0.5, 0.9, 0.4, 0.95, 0.6]):
        weights_path(tmp_path, trial).parent.mkdir(exist_ok=True)
        weights_path(tmp_path, trial).write_bytes(b"w")
        rows.append(row(trial, value))
        running = row(99, None, status="running")  # saved its file, its row not ended yet
        weights_path(tmp_path, 99).write_bytes(b"w")
        keeper.prune([*rows, running])
        left = sorted(int(p.stem) for p in (tmp_path / "weights").glob("*.pt"))
        best = sorted(r["trial"] for r in sorted(rows, key=lambda r: -r["best_val_accuracy"])[:2])
        assert left == sorted([*best, 99])
    assert [p.stem for p in keeper.prune(rows)] == []  # nothing left to delete


# -- the key ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, -2, 1.5, True, "some", [2]])
def test_a_bad_keep_weights_is_refused_naming_file_key_rule_and_value(value):
    raw = tomllib.loads(TINY_STUDY)
    raw["study"]["keep_weights"] = value
    with pytest.raises(StudyError) as err:
        parse_study(raw, source="tiny.toml")
    p = err.value.problems[0]
    assert (p.source, p.key, p.rule, p.value) == ("tiny.toml", "study.keep_weights", 'must be an integer from 1 to 1,000,000,000 or "all"', value)


def test_keep_weights_above_its_bound_is_refused_naming_the_bound():
    """Bug hunt s51/v1, finding 5: 10000000000 was refused as "must be an integer >= 1 or "all"",
    which it is; the rule leaves out the bound."""
    raw = tomllib.loads(TINY_STUDY)
    raw["study"]["keep_weights"] = 10_000_000_000
    with pytest.raises(StudyError) as err:
        parse_study(raw, source="tiny.toml")
    assert str(err.value.problems[0]) == 'tiny.toml: study.keep_weights: must be an integer from 1 to 1,000,000,000 or "all", but got 10000000000'
    raw["study"]["keep_weights"] = 1_000_000_000
    assert parse_study(raw, source="tiny.toml").settings.keep_weights == 1_000_000_000


def test_keep_weights_defaults_to_all_and_changes_no_fingerprint():
    raw = tomllib.loads(TINY_STUDY)
    default = parse_study(raw, source="tiny.toml")
    assert default.settings.keep_weights == "all"
    raw["study"]["keep_weights"] = 2
    two = parse_study(raw, source="tiny.toml")
    assert two.settings.keep_weights == 2 and two.fingerprint() == default.fingerprint()  # the same search


def test_a_bad_keep_weights_exits_2_and_writes_nothing(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_STUDY.replace("trials = 4", "trials = 4\nkeep_weights = 0"), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())  # Typer's boxes wrap lines
    assert 'tiny.toml: study.keep_weights: must be an integer from 1 to 1,000,000,000 or "all", but got 0' in flat, flat
    assert not out.exists()


# -- what readers are told --------------------------------------------------------------------

def results_folder(out: Path, *, keep: object, values: list[tuple[float, str]], kept: set[int], gan: bool = False) -> Path:
    """A search's results folder: trial i ended with ``values[i]`` (its value, its stop reason);
    the trials in ``kept`` have a weights file (a gan study's holds its samples)."""
    epochs = [{"val_accuracy": value} | ({"stop_reason": reason} if reason != "pruned" else {}) for value, reason in values]
    return folder(out, keep=keep, epochs=epochs, kept=kept, gan=gan)


VALUES = [(0.9, "completed"), (0.5, "early_stopped"), (0.95, "pruned")]


def test_a_trial_not_kept_is_named_with_the_key_by_every_reader(tmp_path):
    out = results_folder(tmp_path / "r", keep=1, values=VALUES, kept={0})
    res = hpbench.Results(out)
    with pytest.raises(FileNotFoundError, match=r"trial 1's weights were not kept: \[study\] keep_weights = 1") as err:
        res.load_model(1)
    assert "hpbench best --trial 1" in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"keep_weights = 1"):
        res.load_predictor(1)
    with pytest.raises(FileNotFoundError, match=r"keep_weights = 1"):
        hpbench.load_model(weights_path(out, 1))
    with pytest.raises(ReferenceError_, match=r"trial 1's weights were not kept: \[study\] keep_weights = 1"):
        resolve_reference(f"{out}:1")
    shown = CliRunner().invoke(app, ["best", str(out), "--trial", "1"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0 and "keep_weights = 1" in " ".join(shown.output.split())
    shown = CliRunner().invoke(app, ["best", str(out), "--trial", "1", "--json"])
    assert "keep_weights = 1" in json.loads(shown.output)["weights_not_kept"]
    assert res.not_kept(0) is None  # the kept one has its file


def test_a_trial_that_never_saved_weights_keeps_the_plain_message(tmp_path):
    from hpbench.results.keep import not_kept

    out = results_folder(tmp_path / "r", keep=1, values=VALUES, kept={0})
    with pytest.raises(FileNotFoundError) as err:  # pruned: it saved none, whatever keep_weights says
        hpbench.Results(out).load_model(2)
    assert "keep_weights" not in str(err.value) and "has no saved weights" in str(err.value)
    everything = results_folder(tmp_path / "all", keep="all", values=VALUES, kept={0})
    assert not_kept(json.loads((everything / STUDY_JSON).read_text()), row(1, 0.5)) is None
    with pytest.raises(FileNotFoundError, match="has no saved weights"):
        hpbench.Results(everything).load_model(1)


def test_the_gan_samples_figure_names_the_trials_not_kept(tmp_path, monkeypatch):
    from hpbench.report import gan_plots
    from hpbench.report.data import load_report

    out = results_folder(tmp_path / "r", keep=1, values=VALUES, kept={0}, gan=True)
    titles = []
    monkeypatch.setattr(gan_plots, "save_figure", lambda fig, path: titles.append(fig._suptitle.get_text()) or path)
    gan_plots.samples_grid(load_report(out), tmp_path / "plots")
    assert titles == ["k: generated samples of the top 1 (#1: weights not kept, [study] keep_weights = 1)"]


# -- a real search ----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_search_keeps_only_the_best_weights(ray_local, tmp_path):
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    path = tmp_path / "k.toml"
    path.write_text(TINY_STUDY.replace("trials = 4", "trials = 4\nkeep_weights = 1\nrepeats_top = 1"), encoding="utf-8")
    out = tmp_path / "out"
    run_search(load_study(path), SearchOptions(out=out))
    res = hpbench.Results(out)
    assert sorted(p.name for p in (out / "weights").glob("*.pt")) == [f"{res.best.trial}.pt"]
    assert json.loads((out / STUDY_JSON).read_text())["settings"]["keep_weights"] == 1
    dropped = next(int(t) for t in res.trials["trial"] if int(t) != res.best.trial)
    with pytest.raises(FileNotFoundError, match=rf"trial {dropped}'s weights were not kept: \[study\] keep_weights = 1"):
        res.load_model(dropped)
    assert res.load_model() is not None


def test_a_resume_with_nothing_to_run_trims_the_earlier_runs_files_to_keep_weights(tmp_path):
    """The end's pass: a search continued with a smaller ``keep_weights`` (here with no trial left
    to run, so no Ray) deletes the earlier run's files beyond it, and the resume's own cleaning
    (a file of a trial whose row was never written) still happens."""
    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search

    out = tmp_path / "out"
    raw = searched_folder(out, values=[0.7, 0.9, 0.8], files=4)  # 3: a trial killed as it ended (its row never written)
    raw["study"]["keep_weights"] = 2
    run_search(parse_study(raw, source="tiny.toml"), SearchOptions(out=out), console=Console(file=None, quiet=True))
    assert sorted(p.name for p in (out / "weights").glob("*.pt")) == ["1.pt", "2.pt"]
    assert hpbench.Results(out).not_kept(0) is not None and "keep_weights = 2" in hpbench.Results(out).not_kept(0)
