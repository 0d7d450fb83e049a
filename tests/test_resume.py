"""Resuming from a results folder whose content is damaged, and what the search command says
when it is interrupted or the disk fills up (no Ray: the tables are written by the store, the
search itself is replaced where a test only needs the command's answer)."""

from __future__ import annotations

import errno
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.results.files import PREV
from hpbench.results.resume import OutputError, load_previous
from hpbench.results.store import ResultsStore, TablesNotWritten
from tests.helpers.studies import TINY_STUDY


def _folder(out: Path, n: int) -> None:
    """A results folder with ``n`` finished trials, compacted twice (each table a single file
    and its copy, ``<table>.prev``)."""
    import tomllib

    from hpbench.dispatch.plan import write_study_record
    from hpbench.study.parse import parse_study

    write_study_record(parse_study(tomllib.loads(TINY_STUDY)), out)
    store = ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    for i in range(n):
        tid = f"t{i}"
        store.start(tid, {"optimizer": "adam", "lr": 0.01})
        for e in (1, 2, 3):
            store.epoch(tid, {"epoch": e, "val_accuracy": 0.5 + i / 100, "epoch_s": 0.1, **({"best_epoch": 3} if e == 3 else {})})
        store.finish(tid)
        if i >= n - 2:
            store.flush(force=True)


def test_an_intact_folder_resumes_as_it_is(tmp_path):
    _folder(tmp_path, 3)
    prev = load_previous(tmp_path)
    assert prev is not None and prev.n_done == 3 and prev.notes == () and len(prev.epochs) == 9


def test_a_trial_whose_end_was_written_but_not_its_status_is_kept(tmp_path):
    """A SIGKILL in the second after a trial ended (the tables are written behind) left its row
    'running' with its stop_reason and every epoch: the resumed search ran it again, and the
    Optuna storage ended with one trial more than the tables."""
    _folder(tmp_path, 2)
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    prev = load_previous(tmp_path)
    store.load(prev.trials, prev.epochs)
    for tid, final in (("ended", {"stop_reason": "completed"}), ("running", {})):
        store.start(tid, {"optimizer": "adam", "lr": 0.02})
        for e in (1, 2):
            store.epoch(tid, {"epoch": e, "val_accuracy": 0.6, "epoch_s": 0.1, **(final if e == 2 else {})})
    store.flush(force=True)  # the driver died here: neither trial's end marked
    prev = load_previous(tmp_path)
    kept = {t["trial_id"]: t for t in prev.trials}
    assert set(kept) == {"t0", "t1", "ended"} and kept["ended"]["status"] == "finished" and prev.n_dropped == 1
    assert sum(1 for e in prev.epochs if e["trial_id"] == "ended") == 2
    resumed = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    resumed.load(prev.trials, prev.epochs)
    assert resumed.row("ended")["best_val_accuracy"] == pytest.approx(0.6) and resumed.row("ended")["train_s"] == pytest.approx(0.2)


@pytest.mark.parametrize("table", ["trials.parquet", "epochs.parquet"])
@pytest.mark.parametrize("damage", [b"", b"not parquet", "half"])
def test_a_damaged_table_is_rebuilt_from_its_copy(tmp_path, table, damage):
    _folder(tmp_path, 3)
    p = tmp_path / table
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2] if damage == "half" else damage)  # in place: a hard link would share it
    prev = load_previous(tmp_path)
    assert prev is not None and prev.damaged == (p,)
    assert any(f"{table} was damaged" in n and f"rebuilt from {table}{PREV}" in n for n in prev.notes), prev.notes
    assert prev.n_done == 3 and {r["trial_id"] for r in prev.epochs} == {"t0", "t1", "t2"} and len(prev.epochs) == 9  # nothing lost


def test_a_trials_table_with_no_intact_version_is_refused_with_what_to_do(tmp_path):
    _folder(tmp_path, 3)
    for name in ("trials.parquet", "trials.parquet" + PREV):
        (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(OutputError) as info:
        load_previous(tmp_path)
    text = str(info.value)
    assert "trials.parquet is damaged" in text and f"mv {tmp_path / 'trials.parquet'}" in text and "--out DIR" in text


def test_lost_epoch_rows_alone_do_not_stop_a_resume(tmp_path):
    _folder(tmp_path, 3)
    for name in ("epochs.parquet", "epochs.parquet" + PREV):
        (tmp_path / name).write_bytes(b"garbage")
    prev = load_previous(tmp_path)
    assert prev is not None and prev.n_done == 3 and prev.epochs == []
    assert any("without their per-epoch rows" in n for n in prev.notes)


@pytest.mark.parametrize("record", ["[1, 2]", "{", '{"space": 3}'])
def test_a_damaged_study_record_is_refused_with_what_to_do(tmp_path, record):
    _folder(tmp_path, 1)
    (tmp_path / "study.json").write_text(record)
    with pytest.raises(OutputError, match=r"study.json is damaged .* cannot be continued"):
        load_previous(tmp_path)


def test_a_failed_table_write_keeps_the_previous_tables(tmp_path, monkeypatch):
    import hpbench
    import hpbench.results.files as files

    _folder(tmp_path, 2)
    before = hpbench.load(tmp_path)
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    store.start("t9", {"optimizer": "sgd", "lr": 0.1})

    # the disk fills up as a table is written
    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(TablesNotWritten, match=r"cannot write epochs.parquet: No space left on device; the tables on disk are intact"):
        store.flush(force=True)
    monkeypatch.undo()
    assert hpbench.load(tmp_path).equals(before)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- what the command says ------------------------------------------------------------------------------
@pytest.fixture
def study_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(TINY_STUDY)
    return p


def test_an_interrupted_search_prints_the_exact_command_to_continue(study_file, tmp_path, monkeypatch):
    import hpbench.api.search as api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "search", interrupted)
    out = tmp_path / "my results"
    res = CliRunner().invoke(app, ["search", str(study_file), "--out", str(out), "--set", "train.max_epochs=2", "--set",
                                   "optimizer.name=sgd", "--num-cpus", "2", "--trials", "7"])
    assert res.exit_code == 130, res.output
    assert "interrupted before any trial was recorded: nothing to resume" in res.output, res.output  # no table: no --resume to offer
    out.mkdir()
    pd.DataFrame({"trial": [0]}).to_parquet(out / "trials.parquet")  # a trial recorded before the Ctrl-C
    res = CliRunner().invoke(app, ["search", str(study_file), "--out", str(out), "--set", "train.max_epochs=2", "--set",
                                   "optimizer.name=sgd", "--num-cpus", "2", "--trials", "7"])
    assert res.exit_code == 130, res.output
    again = shlex.join(["hpbench", "search", str(study_file), "--trials", "7", "--out", str(out), "--set", "train.max_epochs=2",
                        "--set", "optimizer.name=sgd", "--num-cpus", "2", "--resume"])
    assert f"continue with: {again}" in " ".join(res.output.split()), res.output


def test_a_full_disk_ends_the_command_with_exit_1_and_what_to_do(study_file, tmp_path, monkeypatch):
    import hpbench.api.search as api

    def full(*a, **k):
        raise TablesNotWritten(f"{tmp_path}: cannot write trials.parquet: No space left on device") from OSError(errno.ENOSPC, "full")

    monkeypatch.setattr(api, "search", full)
    res = CliRunner().invoke(app, ["search", str(study_file), "--out", str(tmp_path / "out"), "--resume"])
    assert res.exit_code == 1, res.output
    flat = " ".join(res.stderr.split())
    assert "error: the disk of the results is full" in flat and "cannot write trials.parquet" in flat
    assert f"continue with: hpbench search {study_file} --out {tmp_path / 'out'} --resume" in flat


@pytest.mark.parametrize("command", [["report"], ["export"], ["best"], ["report", "--json"]])
def test_commands_reading_a_damaged_table_exit_2_with_what_to_do(tmp_path, command):
    _folder(tmp_path, 2)
    (tmp_path / "trials.parquet").write_bytes(b"PAR1 truncated")
    res = CliRunner().invoke(app, [command[0], str(tmp_path), *command[1:]])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert "trials.parquet: cannot be read, it is damaged" in flat and "--resume" in flat
    assert res.exception is None or isinstance(res.exception, SystemExit)


@pytest.mark.parametrize("record", ["[1, 2]", '"text"', '{"settings": 3}'])
def test_report_on_a_hostile_study_record_exits_2(tmp_path, record):
    _folder(tmp_path, 1)
    (tmp_path / "study.json").write_text(record)
    res = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "not a study record written by hpbench" in " ".join(res.output.split()), res.output


@pytest.mark.parametrize("record", ["{}", '{"name": "x", "settings": {}}', '{"name": "x", "settings": {"metric": "m", "mode": "max"}, "space": 3}',
                                    '{"name": "x", "settings": {"metric": "m", "mode": "max"'])
@pytest.mark.parametrize("command", [["report"], ["report", "--json"], ["best"], ["compare", "OTHER"]])
def test_a_malformed_study_record_is_named_by_every_reader(tmp_path, record, command):
    """study.json of valid JSON but no record ('{}') gave KeyError: 'space' in report/compare and
    'error: settings' in best; now the message the truncated file gets, exit 2 (and Results raises it)."""
    import hpbench
    from hpbench.results.files import DamagedRecord

    _folder(tmp_path / "a", 1)
    _folder(tmp_path / "b", 1)
    (tmp_path / "a" / "study.json").write_text(record)
    args = [str(tmp_path / "b") if a == "OTHER" else a for a in command[1:]]
    res = CliRunner().invoke(app, [command[0], str(tmp_path / "a"), *args])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert "study.json:" in flat and ("not a study record written by hpbench" in flat or "it is damaged" in flat), flat
    assert res.exception is None or isinstance(res.exception, SystemExit)
    with pytest.raises(DamagedRecord, match=r"study\.json"):
        hpbench.Results(tmp_path / "a")


@pytest.mark.parametrize("content", [b"garbage, not SQLite", b"SQLite format 3\x00" + b"\x07" * 5000])
def test_a_damaged_optuna_database_is_found_before_anything_starts(tmp_path, content):
    """The study's own Optuna database (the searcher's history) is checked by the plan; the
    search then moves it aside and starts a new history (the tables keep every trial)."""
    import tomllib

    from hpbench.dispatch.plan import SearchOptions, plan_search
    from hpbench.study.parse import parse_study

    _folder(tmp_path, 2)
    (tmp_path / "optuna.db").write_bytes(content)
    plan = plan_search(parse_study(tomllib.loads(TINY_STUDY)), SearchOptions(out=tmp_path))
    assert plan.storage_damage is not None and plan.previous is not None and plan.previous.n_done == 2
    import sqlite3

    sqlite3.connect(str(tmp_path / "good.db")).execute("create table t (x)").connection.commit()
    (tmp_path / "optuna.db").write_bytes((tmp_path / "good.db").read_bytes())
    assert plan_search(parse_study(tomllib.loads(TINY_STUDY)), SearchOptions(out=tmp_path)).storage_damage is None


def test_a_search_extended_before_counts_all_its_trials_on_a_plain_rerun(tmp_path):
    """After ``--trials 6`` on a 4-trial study, a plain re-run holds 6 trials of 6 (it printed
    "6 of 4 trials done", and its progress counted to 4); it runs none."""
    import tomllib

    from hpbench.dispatch.plan import SearchOptions, plan_search
    from hpbench.study.parse import parse_study

    _folder(tmp_path, 6)
    plan = plan_search(parse_study(tomllib.loads(TINY_STUDY)), SearchOptions(out=tmp_path))
    assert (plan.n_total, plan.n_new) == (6, 0)
    more = plan_search(parse_study(tomllib.loads(TINY_STUDY.replace("trials = 4", "trials = 9"))), SearchOptions(out=tmp_path))
    assert (more.n_total, more.n_new) == (9, 3)


def test_a_resumed_search_counts_the_earlier_trials_at_ashas_rungs(tmp_path):
    """An earlier run's finished trials are told to the resumed search's scheduler (no Ray runtime:
    Ray's ASHA built as the search builds it): a new trial below them at the first rung is pruned
    there, as an Optuna study's pruner reading its storage would prune it. Before, the rungs started
    empty and the first trial after a resume passed every one."""
    import tomllib

    pytest.importorskip("ray")
    from hpbench.dispatch.early_helper import replay_previous
    from hpbench.dispatch.schedulers import make_scheduler
    from hpbench.study.parse import parse_study

    _folder(tmp_path, 3)  # val_accuracy 0.50, 0.51, 0.52 at every epoch
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
    prev = load_previous(tmp_path)
    store.load(prev.trials, prev.epochs)
    store.start("r0", {"optimizer": "adam", "lr": 0.02})
    store.annotate("r0", {"repeat": 1, "repeat_of": 0})  # a repeat's rows: not a search trial
    store.epoch("r0", {"epoch": 1, "val_accuracy": 0.9, "epoch_s": 0.1, "stop_reason": "completed"})
    store.finish("r0")
    store.flush(force=True)
    prev = load_previous(tmp_path)
    study = parse_study(tomllib.loads(TINY_STUDY.replace('scheduler = "none"', 'scheduler = "asha"')))
    sched = make_scheduler(study, max_t=9)
    assert replay_previous(sched, study, prev.trials, prev.epochs) == 3
    rungs = {m: dict(recorded) for m, recorded in sched._brackets[0]._rungs}
    first = min(rungs)
    assert sorted(rungs[first].values()) == pytest.approx([0.50, 0.51, 0.52], rel=1e-5)
    assert all(k.startswith("earlier:") for k in rungs[first])

    class Trial:
        trial_id, config = "new", {"optimizer": "adam", "lr": 0.1}

    sched.on_trial_add(None, Trial())
    assert sched.on_trial_result(None, Trial(), {"epoch": first, "objective": 0.3}) == "STOP"
    assert replay_previous(None, study, prev.trials, prev.epochs) == 0  # no scheduler: nothing told
    assert replay_previous(sched, study, prev.trials, []) == 0  # epoch rows lost: nothing to tell


def test_a_resume_removes_the_weights_of_the_trials_it_runs_again(tmp_path):
    """Bug hunt s48/h2, finding 1: a trial's weights are saved as it ends, before its row's end is
    written; a driver killed between the two left ``weights/N.pt`` of a trial the resume drops (its row
    ``running``) and runs again, and a new trial given number N read those weights as its own."""
    from hpbench.results.weights import WEIGHTS_DIR, drop_unrecorded

    folder = tmp_path / WEIGHTS_DIR
    folder.mkdir()
    for name in ("0.pt", "1.pt", "2.pt", "notes.txt", "best.pt"):
        (folder / name).write_bytes(b"x")
    gone = drop_unrecorded(tmp_path, {0, 2})
    assert [p.name for p in gone] == ["1.pt"]
    assert sorted(p.name for p in folder.iterdir()) == ["0.pt", "2.pt", "best.pt", "notes.txt"]
    assert drop_unrecorded(tmp_path / "elsewhere", {0}) == []  # no weights folder: nothing to do
