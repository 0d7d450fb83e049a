"""Where a search or a training may write its results: a new or empty folder, or one of hpbench's
own (a search's results, an earlier training's), never a folder of the user's files. Bug hunt
s49/h2, finding 1: ``--out .`` in the user's folder replaced their ``study.toml`` with a copy of the
study run, and ``--out ""`` meant the current folder. No Ray: every refusal comes before it, and
the folders a search may continue in are judged by its plan alone."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import hpbench
from hpbench.cli import app
from hpbench.dispatch import plan as plan_module
from hpbench.dispatch.plan import SearchOptions, plan_search, write_study_record
from hpbench.results.files import OutputError
from hpbench.results.lock import LOCK
from hpbench.results.store import ResultsStore
from hpbench.study.parse import load_study, parse_study
from tests.helpers.studies import TINY_STUDY

FIXED = TINY_STUDY.split("[space]")[0].replace('name = "tiny"', 'name = "fixed"').replace("max_epochs = 3", "max_epochs = 1")
FIXED += '\n[optimizer]\nname = "adam"\nlr = 0.02\n'


@pytest.fixture
def no_ray(monkeypatch):
    import hpbench.dispatch.search_phase as search_phase

    monkeypatch.setattr(search_phase, "init_ray", lambda *a, **k: pytest.fail("Ray was started"))


def _user_folder(root: Path, run: str) -> Path:
    """The user's folder: their own hand-written ``study.toml`` and ``mine.toml``, the study they run."""
    folder = root / "mine"
    folder.mkdir(parents=True)
    (folder / "study.toml").write_text("# my own study, with my comments\n" + TINY_STUDY, encoding="utf-8")
    (folder / "mine.toml").write_text(run, encoding="utf-8")
    return folder


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _flat(text: str) -> str:
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())  # Typer's boxes wrap lines


@pytest.mark.parametrize("command", ["search", "train"])
@pytest.mark.parametrize("out", [".", ""])
def test_a_folder_of_the_users_files_is_refused_and_nothing_is_written(tmp_path, monkeypatch, no_ray, command, out):
    folder = _user_folder(tmp_path, TINY_STUDY if command == "search" else FIXED)
    before = _files(folder)
    monkeypatch.chdir(folder)
    res = CliRunner().invoke(app, [command, "mine.toml", "--out", out])
    flat = _flat(res.output)
    assert res.exit_code == 2, res.output
    if out:
        kind = "an hpbench results folder (holding study.json)" if command == "search" else "an earlier training's folder"
        assert f"--out .: must be a new or empty folder or {kind}" in flat, flat
        assert "but it holds files hpbench did not write (mine.toml, study.toml)" in flat, flat
    else:  # Path("") is the current folder: a script's empty $OUT wrote a whole search among the files there
        assert "Invalid value for '--out': must be a folder path, not empty" in flat, flat
    assert _files(folder) == before  # the user's study.toml as it was; not even the lock file was made


def test_the_api_refuses_them_too(tmp_path, no_ray):
    folder = _user_folder(tmp_path, TINY_STUDY)
    before = _files(folder)
    study = hpbench.Study.from_toml(folder / "mine.toml")
    with pytest.raises(OutputError, match=r"must be a new or empty folder .*\(mine\.toml, study\.toml\)"):
        hpbench.search(study, out=folder, console=Console(quiet=True))
    with pytest.raises(hpbench.StudyError, match=r"hpbench\.search: out: must be a folder path, not empty"):
        hpbench.search(study, out="", console=Console(quiet=True))
    fixed = hpbench.Study.from_toml(_user_folder(tmp_path / "t", FIXED) / "mine.toml")
    with pytest.raises(OutputError, match=r"must be a new or empty folder or an earlier training's folder"):
        hpbench.train_study(fixed, out=tmp_path / "t" / "mine", console=Console(quiet=True))
    with pytest.raises(hpbench.StudyError, match=r"hpbench\.train: out: must be a folder path, not empty"):
        hpbench.train_study(fixed, out="", console=Console(quiet=True))
    assert _files(folder) == before


def _trials(out: Path, n: int) -> None:
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    for i in range(n):
        store.start(f"t{i}", {"optimizer": "adam", "lr": 0.01})
        store.epoch(f"t{i}", {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        store.finish(f"t{i}")
    store.flush(force=True)


@pytest.mark.parametrize("case", ["new", "empty", "lock_only", "results", "results_and_notes", "forced_space_change"])
def test_every_folder_a_search_may_write_into_is_accepted(tmp_path, monkeypatch, case):
    """A new or empty folder (hidden files, e.g. a search's lock left by one killed before its
    record, do not count), and a search's results: resumed (the user's notes beside them are
    theirs to keep), or continued with --force after the space changed."""
    monkeypatch.chdir(tmp_path)
    study = parse_study(tomllib.loads(TINY_STUDY))
    out = study.default_out() if case == "new" else tmp_path / "out"
    if case != "new":
        out.mkdir()
    if case == "lock_only":
        (out / LOCK).write_text("", encoding="utf-8")
        (out / ".DS_Store").write_bytes(b"")
    if case.startswith("results") or case == "forced_space_change":
        write_study_record(study, out)
        _trials(out, 1)
    if case == "results_and_notes":
        (out / "notes.txt").write_text("mine", encoding="utf-8")
    if case == "forced_space_change":
        study = parse_study(tomllib.loads(TINY_STUDY.replace("1e-3, 1e-1", "1e-4, 1e-1")))
    plan = plan_search(study, SearchOptions(out=out, force=case == "forced_space_change"))
    assert plan.n_new == (3 if plan.previous is not None else 4)
    assert (plan.previous is not None) == (case.startswith("results") or case == "forced_space_change")


@pytest.mark.parametrize("killed_at", ["atomic_write_json", "atomic_write_text"])
def test_a_search_killed_while_writing_its_record_is_continued_not_refused(tmp_path, write_study, monkeypatch, killed_at):
    """study.json (what marks a results folder) is written before the copy of the study file: a
    driver killed between the two left a folder the next run would have called the user's."""
    study = load_study(write_study(TINY_STUDY))
    out = tmp_path / "out"

    def killed(*a, **k):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(plan_module, killed_at, killed)
        with pytest.raises(KeyboardInterrupt):
            write_study_record(study, out)
    plan_search(study, SearchOptions(out=out))  # not refused
    write_study_record(study, out)
    assert sorted(p.name for p in out.iterdir()) == ["study.json", "study.toml"]


def test_a_study_json_of_the_users_is_not_taken_for_a_results_folder(tmp_path):
    """A folder holding a study.json that hpbench did not write (no space fingerprint) was continued
    with --force, its study.json and study.toml replaced."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "study.json").write_text('{"name": "mine", "space": {}}', encoding="utf-8")
    with pytest.raises(OutputError, match=r"study\.json: not a study record written by hpbench"):
        plan_search(parse_study(tomllib.loads(TINY_STUDY)), SearchOptions(out=out, force=True))


def test_a_training_trains_again_into_its_own_folder_and_not_into_the_users(tmp_path, write_study):
    from hpbench.api.retrain import METRICS_FILE, check_train

    study = load_study(write_study(FIXED, "fixed.toml"))
    out = tmp_path / "out"
    out.mkdir()  # an empty folder
    for _ in range(2):  # the second time into its own earlier training
        hpbench.train_study(study, out=out, console=Console(quiet=True))
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt", "study.toml"]
    (out / "model.pt").unlink()  # its files gone but its metrics.json (hpbench.api.train_folder): still its own folder
    (out / "study.toml").unlink()
    assert check_train(study, epochs=None, out=out) == out
    (out / METRICS_FILE).write_text('{"accuracy": 0.9}', encoding="utf-8")  # a metrics.json of the user's
    with pytest.raises(OutputError, match=r"holds files hpbench did not write \(metrics\.json\)"):
        check_train(study, epochs=None, out=out)


def test_a_search_into_a_training_folder_says_it_holds_a_training(tmp_path, write_study, no_ray):
    """Bug hunt s51/v1, finding 4: a search into the folder ``hpbench train`` wrote was refused as
    holding "files hpbench did not write"; it is refused as the training it holds (its metrics.json)."""
    out = tmp_path / "out"
    hpbench.train_study(load_study(write_study(FIXED, "fixed.toml")), out=out, console=Console(quiet=True))
    before = _files(out)
    res = CliRunner().invoke(app, ["search", str(write_study(TINY_STUDY, "tiny.toml")), "--out", str(out)])
    text = _flat(res.output)
    assert res.exit_code == 2, res.output
    assert ("must be a new or empty folder or an hpbench results folder (holding study.json), but it holds the training of study "
            "'fixed' written by hpbench train (metrics.json, model.pt, study.toml); use another --out") in text, text
    assert "did not write" not in text
    assert _files(out) == before
