"""A searched data file (``[space] "data.dataset" = { choice = ["a.npz", "b.npz"] }``) is looked up as
the fixed ``[data] dataset`` is (beside the study file or in the working directory; refused when
missing, or when both hold a different file) and each trial trains from its absolute path (bug hunt
s51/v1 #1: the choices were kept as written, and every trial failed with FileNotFoundError in its
Ray worker, whose working directory is its own). The trials table keeps the values as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hpbench.api.fixed import fixed_study
from hpbench.cli import app
from hpbench.errors import StudyError
from hpbench.study.parse import load_study
from hpbench.study.resolve import trial_config

STUDY = """[study]
name = "pick"
trials = 2
searcher = "grid"
scheduler = "none"
[data]
dataset = "a.npz"
[model]
family = "mlp"
width = 4
depth = 1
[train]
max_epochs = 1
[space]
"data.dataset" = { KIND = CHOICES }
"""


def _npz(path: Path, n_features: int) -> Path:
    rng = np.random.default_rng(n_features)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=rng.normal(size=(30, n_features)).astype("float32"), y=np.arange(30) % 2)
    return path


def _study(folder: Path, choices: str, *, kind: str = "choice", data: str = 'dataset = "a.npz"') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = STUDY.replace("KIND", kind).replace("CHOICES", choices).replace('dataset = "a.npz"', data)
    (folder / "study.toml").write_text(text)
    return folder / "study.toml"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """proj/study.toml with a.npz and b.npz beside it, and the command run from another folder, other/."""
    proj, other = tmp_path / "proj", tmp_path / "other"
    a, b = _npz(proj / "a.npz", 3), _npz(proj / "b.npz", 5)
    other.mkdir()
    monkeypatch.chdir(other)
    return proj, other, a, b


def test_each_choice_is_found_beside_the_study_and_trains_from_its_absolute_path(project):
    proj, _, a, b = project
    study = load_study(_study(proj, '["a.npz", "b.npz"]'))
    assert study.space.dim("data.dataset").dist.values == ("a.npz", "b.npz")  # the table's values: as written
    assert study.data_choices == {"data.dataset": {"a.npz": str(a), "b.npz": str(b)}}
    assert trial_config(study, {"data.dataset": "b.npz"}).data.dataset == str(b)
    assert trial_config(study, {"data.dataset": "a.npz"}).data.dataset == str(a)


def test_a_choice_in_the_working_directory_is_found_there(project):
    proj, other, _, _ = project
    c = _npz(other / "c.npz", 4)
    study = load_study(_study(proj, '["a.npz", "c.npz"]'))
    assert trial_config(study, {"data.dataset": "c.npz"}).data.dataset == str(c)


def test_a_missing_choice_is_refused_naming_its_place_the_rule_and_the_value(project):
    proj, _, _, _ = project
    with pytest.raises(StudyError) as err:
        load_study(_study(proj, '["a.npz", "gone.npz"]', kind="grid"))
    text = str(err.value)
    assert "space.data.dataset.grid[1]: data file must exist" in text and "but got 'gone.npz'" in text


def test_an_ambiguous_choice_is_refused_naming_both_files(project):
    proj, other, _, b = project
    theirs = _npz(other / "b.npz", 2)
    with pytest.raises(StudyError) as err:
        load_study(_study(proj, '["a.npz", "b.npz"]'))
    text = str(err.value)
    assert "space.data.dataset.choice[1]: is ambiguous" in text and str(b) in text and str(theirs) in text and "but got 'b.npz'" in text


def test_the_refusal_ends_the_search_with_exit_2_and_nothing_written(project):
    proj, other, _, _ = project
    out = other / "r"
    res = CliRunner().invoke(app, ["search", str(_study(proj, '["a.npz", "gone.npz"]')), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "space.data.dataset.choice[1]" in res.output and not out.exists()


def test_a_built_in_dataset_and_a_loader_are_no_files(project):
    proj, _, a, _ = project
    study = load_study(_study(proj, '["a.npz", "iris", "mypkg.data:load"]'))
    assert study.data_choices == {"data.dataset": {"a.npz": str(a)}}
    assert trial_config(study, {"data.dataset": "iris"}).data.dataset == "iris"
    assert trial_config(study, {"data.dataset": "mypkg.data:load"}).data.dataset == "mypkg.data:load"


def test_npy_label_choices_follow_the_rule_and_a_searched_x_is_the_dataset(tmp_path, monkeypatch):
    proj, other = tmp_path / "proj", tmp_path / "other"
    proj.mkdir()
    other.mkdir()
    for name in ("x1", "x2"):
        np.save(proj / f"{name}.npy", np.zeros((30, 3), dtype="float32"))
    for name in ("y1", "y2"):
        np.save(proj / f"{name}.npy", np.arange(30) % 2)
    _npz(proj / "a.npz", 3)
    monkeypatch.chdir(other)
    data = 'x = "x1.npy"\ny = "y1.npy"'

    def searched(key: str, choices: str) -> Path:
        path = _study(proj, choices, data=data)
        path.write_text(path.read_text().replace('"data.dataset"', f'"{key}"'))
        return path

    study = load_study(searched("data.y", '["y1.npy", "y2.npy"]'))
    assert trial_config(study, {"data.y": "y2.npy"}).data.options["y"] == str(proj / "y2.npy")
    with pytest.raises(StudyError) as err:
        load_study(searched("data.y", '["y1.npy", "gone.npy", "a.npz"]'))
    assert "space.data.y.choice[1]: data file must exist" in str(err.value)
    assert "space.data.y.choice[2]: must be a .npy file" in str(err.value)  # every refused choice, at once
    study = load_study(searched("data.x", '["x1.npy", "x2.npy"]'))
    assert trial_config(study, {"data.x": "x2.npy"}).data.dataset == str(proj / "x2.npy")  # the searched inputs, not the fixed x1


def test_best_study_out_names_the_chosen_file(project):
    """``hpbench best --study-out`` of a trial that chose b.npz: b.npz, absolute (the fixed a.npz replaced it before)."""
    proj, _, a, b = project
    study = load_study(_study(proj, '["a.npz", "b.npz"]'))
    record = {"name": "pick", "source": str(proj / "study.toml"), "raw": study.raw, "config": study.config,
              "data_choices": {"data.dataset": {"a.npz": str(a), "b.npz": str(b)}}}  # as study.json records them
    assert fixed_study(record, {"data.dataset": "b.npz"})["data"]["dataset"] == str(b)
    assert fixed_study(record, {"data.dataset": "a.npz"})["data"]["dataset"] == str(a)


@pytest.mark.slow
@pytest.mark.parametrize("run_in", ["other", "proj"])
def test_real_grid_search_over_two_files_beside_the_study(ray_local, project, monkeypatch, run_in):
    """Both trials finish, run from another folder or from the study's own (there the pre-flight
    passed, then each trial failed with FileNotFoundError in its Ray worker); the table holds the
    choices as written."""
    import hpbench
    from hpbench.api.results import Results
    from hpbench.dispatch.runner import SearchOptions, run_search

    proj, other, _, b = project
    monkeypatch.chdir(proj if run_in == "proj" else other)
    study = load_study(_study(proj, '["a.npz", "b.npz"]', kind="grid"))
    out = other / "out"
    run_search(study, SearchOptions(out=out))
    trials = hpbench.load(out)
    assert sorted(trials["status"]) == ["finished", "finished"]
    assert sorted(trials["data.dataset"]) == ["a.npz", "b.npz"]
    chose_b = int(trials[trials["data.dataset"] == "b.npz"]["trial"].iloc[0])
    written = Results(out).write_best_study(other / "best.toml", trial=chose_b)
    assert load_study(written).config["data"]["dataset"] == str(b)
