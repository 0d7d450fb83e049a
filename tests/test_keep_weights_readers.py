"""What readers say of a trial without a weights file under ``[study] keep_weights`` (bug hunt
s51/v1): a trial that diverged in its first epoch never saved one, so no reader blames
``keep_weights`` for it (finding 2: ``best --json`` and ``Results.not_kept`` did); and a file an
earlier run deleted is named with the value that deleted it, recorded in ``weights/deleted.json``,
not with the value a resume wrote into ``study.json`` since (finding 3). No Ray."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.results.files import STUDY_JSON
from hpbench.results.weights import ReferenceError_, resolve_reference, weights_path
from hpbench.study.parse import parse_study
from tests.helpers.keep_folders import folder, searched_folder

DIVERGED = "trial 1 diverged in its first epoch: its loss was not finite, so it has no weights (best_epoch NA)"


def set_keep(out: Path, keep: object) -> None:
    """What a resume with another ``keep_weights`` does to ``study.json`` (it is not in the fingerprint)."""
    record = json.loads((out / STUDY_JSON).read_text(encoding="utf-8"))
    record["settings"]["keep_weights"] = record["raw"]["study"]["keep_weights"] = keep
    (out / STUDY_JSON).write_text(json.dumps(record), encoding="utf-8")


def flat(text: str) -> str:
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


# -- finding 2: a trial that never saved weights is not said to be not kept ---------------------

def test_a_trial_that_diverged_in_its_first_epoch_is_not_blamed_on_keep_weights(tmp_path):
    from hpbench.results.keep import no_weights_in, not_kept

    epochs = [{"val_accuracy": 0.9, "stop_reason": "completed", "best_epoch": 1},
              {"val_accuracy": math.nan, "stop_reason": "diverged", "best_epoch": None}]
    out = folder(tmp_path / "r", keep=1, epochs=epochs, kept={0})
    res = hpbench.Results(out)
    assert res.not_kept(1) is None
    assert res.no_weights(1) == DIVERGED
    assert no_weights_in(out, 1) == DIVERGED
    row = res.trials[res.trials["trial"] == 1].to_dict("records")[0]
    assert not_kept(res.record, row) is None and not_kept(res.record, row, deleted={}) is None
    shown = CliRunner().invoke(app, ["best", str(out), "--trial", "1", "--json"])
    assert shown.exit_code == 0, shown.output
    said = json.loads(shown.output)
    assert said["weights"] is None and said["weights_not_kept"] is None and said["weights_missing"] == DIVERGED
    table = CliRunner().invoke(app, ["best", str(out), "--trial", "1"], env={"COLUMNS": "300"})
    assert DIVERGED in flat(table.output)  # the table and the JSON give the same reason
    with pytest.raises(ReferenceError_, match="diverged in its first epoch"):
        resolve_reference(f"{out}:1")


def test_best_json_gives_the_reason_of_every_missing_file(tmp_path):
    epochs = [{"val_accuracy": 0.9, "stop_reason": "completed"}, {"val_accuracy": 0.5, "stop_reason": "completed"},
              {"val_accuracy": 0.95}]  # trial 2: pruned (no stop reason of its own), it saved none
    out = folder(tmp_path / "r", keep=1, epochs=epochs, kept={0})
    said = [json.loads(CliRunner().invoke(app, ["best", str(out), "--trial", str(t), "--json"]).output) for t in range(3)]
    assert said[0]["weights_missing"] is None and said[0]["weights_not_kept"] is None
    assert said[1]["weights_missing"] == said[1]["weights_not_kept"]
    assert "trial 1's weights were not kept: [study] keep_weights = 1" in said[1]["weights_missing"]
    assert said[2]["weights_missing"] == "none saved" and said[2]["weights_not_kept"] is None


# -- finding 3: the value that deleted a file, recorded -----------------------------------------

def keep_run(out: Path, *, keep: int, top: int = 1) -> list[int]:
    """A search run's keeper with ``keep_weights = keep`` over ``out``'s ended trials: the trials it deleted."""
    from hpbench.dispatch.keep_weights import WeightsKeeper

    keeper = WeightsKeeper(out=out, metric="val_accuracy", mode="max", keep_weights=keep, repeats_top=top)
    return sorted(int(p.stem) for p in keeper.prune(hpbench.Results(out).trials.to_dict("records")))


THREE = [{"val_accuracy": v, "stop_reason": "completed"} for v in (0.7, 0.9, 0.8)]


def test_the_keeper_records_what_it_deletes_with_its_values(tmp_path):
    from hpbench.results.deleted_weights import Deletion, deleted_path, read_deleted

    out = folder(tmp_path / "r", keep=2, epochs=THREE, kept={0, 1, 2})
    assert read_deleted(out) is None  # nothing deleted yet: no record
    assert keep_run(out, keep=2) == [0]
    assert read_deleted(out) == {0: Deletion(keep_weights=2, repeats_top=1)}
    assert keep_run(out, keep=1, top=1) == [2]
    assert read_deleted(out) == {0: Deletion(keep_weights=2, repeats_top=1), 2: Deletion(keep_weights=1, repeats_top=1)}
    assert json.loads(deleted_path(out).read_text()) == {"0": {"keep_weights": 2, "repeats_top": 1}, "2": {"keep_weights": 1, "repeats_top": 1}}


@pytest.mark.parametrize("now", [3, "all"])
def test_a_file_an_earlier_run_deleted_is_named_with_the_value_that_deleted_it(tmp_path, now):
    out = folder(tmp_path / "r", keep=1, epochs=THREE, kept={0, 1, 2})
    assert keep_run(out, keep=1) == [0, 2]
    set_keep(out, now)  # the resume: study.json now says 3 (all three are among the 3 best) or "all"
    said = f"trial 0's weights were not kept: [study] keep_weights = 1 (an earlier run's; now {now}) keeps the weights of the 1 best search trials only"
    res = hpbench.Results(out)
    assert res.not_kept(0) == said and res.no_weights(0) == said
    with pytest.raises(FileNotFoundError, match=r"keep_weights = 1 \(an earlier run's"):
        res.load_model(0)
    with pytest.raises(FileNotFoundError, match=r"keep_weights = 1 \(an earlier run's"):
        hpbench.load_model(weights_path(out, 0))
    with pytest.raises(ReferenceError_, match=r"keep_weights = 1 \(an earlier run's"):
        resolve_reference(f"{out}:2")
    shown = CliRunner().invoke(app, ["best", str(out), "--trial", "0"], env={"COLUMNS": "300"})
    assert said in flat(shown.output), shown.output
    assert json.loads(CliRunner().invoke(app, ["best", str(out), "--trial", "0", "--json"]).output)["weights_missing"] == said


def test_the_gan_figure_names_the_value_that_deleted_the_files(tmp_path, monkeypatch):
    from hpbench.report import gan_plots
    from hpbench.report.data import load_report

    out = folder(tmp_path / "r", keep=1, epochs=THREE, kept={0, 1, 2}, gan=True)
    keep_run(out, keep=1)
    set_keep(out, 3)
    titles = []
    monkeypatch.setattr(gan_plots, "save_figure", lambda fig, path: titles.append(fig._suptitle.get_text()) or path)
    gan_plots.samples_grid(load_report(out), tmp_path / "plots")
    assert titles == ["k: generated samples of the top 1 (#2, #0: weights not kept, [study] keep_weights = 1)"]


def test_a_folder_without_the_record_is_explained_from_study_json(tmp_path):
    out = folder(tmp_path / "r", keep=2, epochs=THREE, kept={1, 2})  # deleted before the record was kept
    assert "keep_weights = 2 keeps the weights of the 2 best" in hpbench.Results(out).not_kept(0)


def test_resumes_with_other_values_keep_the_record(tmp_path):
    """Real resumes (nothing left to run: no Ray): keep_weights 1, then 3, then "all"; the record
    survives them, and the files the first deleted are still said to be its doing."""
    from hpbench.dispatch.runner import SearchOptions, run_search

    out = tmp_path / "out"
    raw = searched_folder(out, values=[0.7, 0.9, 0.8], files=3)
    for keep in (1, 3, "all"):
        raw["study"]["keep_weights"] = keep
        run_search(parse_study(raw, source="tiny.toml"), SearchOptions(out=out), console=Console(file=None, quiet=True))
        assert sorted(p.name for p in (out / "weights").glob("*.pt")) == ["1.pt"]
        said = hpbench.Results(out).not_kept(0)
        assert said is not None and said.startswith("trial 0's weights were not kept: [study] keep_weights = 1"), said
        assert ("an earlier run's" in said) == (keep != 1)
    from hpbench.results.deleted_weights import Deletion, read_deleted

    assert read_deleted(out) == {0: Deletion(keep_weights=1, repeats_top=1), 2: Deletion(keep_weights=1, repeats_top=1)}
