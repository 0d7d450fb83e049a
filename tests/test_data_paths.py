"""Where a study's relative data paths are looked up (bug hunt s51/h3 #4): beside the study file or in
the working directory; a study whose path names a different file in each is refused, not run on the
working directory's file. ``~`` in a data path and in the commands' path arguments is the home folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.study.parse import load_study

HEAD = '[study]\nname = "p"\nmetric = "val_accuracy"\n'
STUDY = HEAD + '[data]\ndataset = "data/flowers.csv"\ntarget = "target"\n[model]\nfamily = "mlp"\n'


def _csv(path: Path, n_classes: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": np.arange(12.0), "b": np.arange(12.0) % 5, "target": np.arange(12) % n_classes}).to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """proj/study.toml with its own data/flowers.csv, and the command run from another folder, other/."""
    proj, other = tmp_path / "proj", tmp_path / "other"
    own = _csv(proj / "data" / "flowers.csv", 3)
    (proj / "study.toml").write_text(STUDY)
    other.mkdir()
    monkeypatch.chdir(other)
    return proj, other, own


def test_a_same_named_file_in_the_working_directory_is_refused_naming_both(project):
    proj, other, own = project
    theirs = _csv(other / "data" / "flowers.csv", 2)
    with pytest.raises(StudyError) as err:
        load_study(proj / "study.toml")
    text = str(err.value)
    assert "data.dataset: is ambiguous" in text and str(own) in text and str(theirs) in text
    assert "give an absolute path, or run hpbench from the study's folder" in text and "but got 'data/flowers.csv'" in text


def test_the_ambiguity_ends_the_command_with_exit_2_and_nothing_written(project):
    proj, other, _ = project
    _csv(other / "data" / "flowers.csv", 2)
    out = other / "r"
    res = CliRunner().invoke(app, ["search", str(proj / "study.toml"), "--out", str(out), "--set", "study.trials=1", "--set", "train.max_epochs=1"])
    assert res.exit_code == 2, res.output
    assert "is ambiguous" in res.output and not out.exists()


def test_the_study_file_folder_alone_holds_it(project):
    proj, _, own = project
    assert load_study(proj / "study.toml").config["data"]["dataset"] == str(own)


def test_the_working_directory_alone_holds_it(tmp_path, monkeypatch):
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "s.toml").write_text(STUDY)
    here = _csv(tmp_path / "data" / "flowers.csv", 3)
    monkeypatch.chdir(tmp_path)
    assert load_study(Path("studies/s.toml")).config["data"]["dataset"] == str(here)


def test_the_same_file_from_both_places_is_no_ambiguity(project, monkeypatch):
    proj, _, own = project
    monkeypatch.chdir(proj)  # run from the study's folder: both lookups find the one file
    assert load_study(Path("study.toml")).config["data"]["dataset"] == str(own)
    (proj / "link").symlink_to(proj)  # a link to the study's folder names the same file too
    monkeypatch.chdir(proj / "link")
    assert load_study(proj / "study.toml").config["data"]["dataset"] == str(own)


def test_npy_label_and_split_keys_follow_the_rule(tmp_path, monkeypatch):
    proj, other = tmp_path / "proj", tmp_path / "other"
    for folder in (proj, other):
        folder.mkdir()
        np.save(folder / "y.npy", np.arange(10) % 2)
    np.save(proj / "x.npy", np.zeros((10, 3), dtype=np.float32))
    (proj / "s.toml").write_text(HEAD + '[data]\nx = "x.npy"\ny = "y.npy"\n[model]\nfamily = "mlp"\n')
    monkeypatch.chdir(other)
    with pytest.raises(StudyError, match=r"data\.y: is ambiguous"):
        load_study(proj / "s.toml")


def test_a_saved_trial_reference_follows_the_rule(tmp_path, monkeypatch):
    proj, other = tmp_path / "proj", tmp_path / "other"
    _csv(proj / "data" / "flowers.csv", 3)
    for folder in (proj, other):
        (folder / "results" / "a").mkdir(parents=True)
        (folder / "results" / "a" / "study.json").write_text("{}")
    (proj / "s.toml").write_text(STUDY + 'init_from = "results/a:0"\n')
    monkeypatch.chdir(other)
    with pytest.raises(StudyError, match=r"model\.init_from: is ambiguous: it names .* two different results directories"):
        load_study(proj / "s.toml")


def test_tilde_in_a_data_path_is_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    data = _csv(home / "flowers.csv", 3)
    monkeypatch.setenv("HOME", str(home))
    (tmp_path / "s.toml").write_text(STUDY.replace("data/flowers.csv", "~/flowers.csv"))
    assert load_study(tmp_path / "s.toml").config["data"]["dataset"] == str(data)


def test_tilde_in_the_commands_path_arguments(tmp_path, monkeypatch):
    from tests.helpers.report_tables import write_tiny

    home = tmp_path / "home"
    write_tiny(home, "res")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    for args in (["report", "~/res"], ["best", "~/res", "--study-out", "~/best.toml"], ["export", "~/res", "--out", "~/t.csv"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
    assert (home / "best.toml").is_file() and (home / "t.csv").is_file() and not (tmp_path / "~").exists()
