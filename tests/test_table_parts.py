"""The results tables written as a base plus parts (hpbench.results.parts / writer; issue 20 §4):
a write holds the rows changed since the previous one, readers see one table, interrupted
writes lose nothing, damaged parts are dropped on resume, old single-file folders still load.
No Ray: a real store writes real parquet files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import hpbench
from hpbench.results import writer as writer_module
from hpbench.results.files import EPOCHS, PREV, TRIALS, DamagedTable
from hpbench.results.parts import PARTS_DIR, list_parts, parts_upto, read_table
from hpbench.results.resume import load_previous
from hpbench.results.store import ResultsStore
from hpbench.results.tables import epochs_frame, trials_frame
from tests.test_resume import _folder

PARAMS = ["optimizer", "lr", "batch_size"]


@pytest.fixture(autouse=True)
def _every_flush_writes(monkeypatch):
    """Writes are not spaced out by the writer's duty cycle here (each is waited for)."""
    import hpbench.results.store as store_module

    monkeypatch.setattr(store_module, "WRITER_DUTY", 1.0)


def _store(out: Path) -> ResultsStore:
    return ResultsStore(out=out, metric="val_accuracy", mode="max", param_keys=PARAMS, min_flush_s=0.0)


def _wait(store: ResultsStore) -> None:
    if store._writing is not None:
        store._writing.result()


def _search(store: ResultsStore, first: int, n: int, *, epochs: int = 2) -> None:
    """Trials ``first`` .. ``first + n - 1``, two at a time, each write waited for (as the
    background thread would finish it): statuses, a column of numbers and text (batch size 16
    or "full"), a failed trial, columns arriving late (``annotate``)."""
    for i in range(first, first + n, 2):
        pair = [f"t{j:04d}" for j in range(i, min(i + 2, first + n))]
        for j, tid in enumerate(pair):
            store.start(tid, {"optimizer": "adam" if j else "sgd", "lr": 1e-3 * (1 + i % 5), "batch_size": "full" if i % 7 == 3 else 16})
        for e in range(1, epochs + 1):
            for tid in pair:
                store.epoch(tid, {"epoch": e, "train_loss": 1.0 / e, "val_accuracy": 0.5 + (int(tid[1:]) % 13) / 30 + e / 100,
                                  "epoch_s": 0.1, "n_params": 1000, **({"best_epoch": e, "stop_reason": "completed"} if e == epochs else {})})
            store.flush()
            _wait(store)
        for k, tid in enumerate(pair):
            store.annotate(tid, {"predicted_s": 0.2, **({"test_accuracy": 0.9} if i % 3 == 0 else {})})
            store.finish(tid, error="boom" if (i + k) % 11 == 5 else None)
            store.flush(soon=True)
            _wait(store)


def _whole(store: ResultsStore) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables as one whole-table write of the store's rows would hold them."""
    return trials_frame([dict(r) for r in store.trials.values()], PARAMS), epochs_frame(list(store.epochs.values()))


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same rows and values; the leading columns (ids, status, parameters) in place, the
    others in the order they first appeared in the files rather than in the rows."""
    assert list(a.columns)[:8] == list(b.columns)[:8] and sorted(a.columns) == sorted(b.columns)
    # a column that a part wrote as float64 (a row without it in that part) reads back as floats: values compared
    pd.testing.assert_frame_equal(a[sorted(a.columns)].reset_index(drop=True), b[sorted(b.columns)].reset_index(drop=True),
                                  check_dtype=False, rtol=1e-5)


def test_while_a_search_runs_readers_see_one_table_equal_to_a_whole_write(tmp_path):
    store = _store(tmp_path)
    _search(store, 0, 60)
    assert len(list_parts(tmp_path, TRIALS)) >= 2 and len(list_parts(tmp_path, EPOCHS)) >= 2  # really read from parts
    trials, epochs = _whole(store)
    _same(hpbench.load(tmp_path), trials)
    _same(hpbench.load(tmp_path, "epochs"), epochs)
    _same(hpbench.load(tmp_path / TRIALS), trials)  # a table file of a results directory reads with its parts
    assert (hpbench.load(tmp_path).set_index("trial_id").loc["t0005", "status"]) == "failed"
    assert set(hpbench.load(tmp_path)["batch_size"]) == {"16", "full"}  # numbers and text in one column: text, as a whole write


def test_a_forced_flush_compacts_into_one_file_per_table_and_its_copy(tmp_path):
    store = _store(tmp_path)
    _search(store, 0, 20)
    store.flush(force=True)
    assert not (tmp_path / PARTS_DIR).exists()
    trials, epochs = _whole(store)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / TRIALS), trials)  # exactly the whole write, dtypes included
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / EPOCHS), epochs)
    for name in (TRIALS, EPOCHS):
        assert (tmp_path / name).read_bytes() == (tmp_path / (name + PREV)).read_bytes()
        assert not os.path.samefile(tmp_path / name, tmp_path / (name + PREV))  # a copy, not a link: damage to one leaves the other


def test_a_write_holds_the_rows_changed_and_parts_stay_few(tmp_path, monkeypatch):
    """The rows written do not grow with the study's square: over 300 trials (450 writes) each
    row version is rewritten at most once per merge level (log_8 of the writes; a whole-table
    write per flush would write ~70,000 rows), and a table never has more than 7 parts per level."""
    written: list[tuple[str, int]] = []
    real = writer_module.write_part

    def counting(path, table):
        written.append((path.name, table.num_rows))
        real(path, table)

    monkeypatch.setattr(writer_module, "write_part", counting)
    store = _store(tmp_path)
    most = 0
    for k in range(6):
        _search(store, 50 * k, 50, epochs=1)
        most = max(most, len(list_parts(tmp_path, TRIALS)), len(list_parts(tmp_path, EPOCHS)))
    n_writes = sum(1 for name, _ in written if name.startswith("trials."))
    levels = 1
    while 8**levels < n_writes:
        levels += 1
    changed = 300 * (3 + 1)  # per trial: 3 versions of its row (with its epoch, at its end, its pair's end) + 1 epoch row
    assert n_writes >= 400 and levels == 3
    assert sum(rows for _, rows in written) <= (levels + 1) * changed, (n_writes, sum(rows for _, rows in written))
    assert most <= 7 * levels
    _same(hpbench.load(tmp_path), _whole(store)[0])


def test_interrupted_writes_lose_nothing(tmp_path):
    """A merge that died before deleting the parts it replaced, a compaction that died before
    deleting the parts it holds, a part that died before its rename (a temporary file): each
    leaves the tables reading as the last complete write."""
    store = _store(tmp_path)
    _search(store, 0, 30)
    trials, epochs = _whole(store)
    parts = {p: p.read_bytes() for _, p in list_parts(tmp_path, TRIALS) + list_parts(tmp_path, EPOCHS)}
    (tmp_path / PARTS_DIR / ".trials.00000999.parquet.x.tmp").write_bytes(b"half a part")
    store.flush(force=True)
    for p, data in parts.items():  # the compaction died before its deletions
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
    assert parts_upto(tmp_path / TRIALS) >= max(int(p.name.split(".")[1]) for p in parts)
    _same(hpbench.load(tmp_path), trials)
    _same(hpbench.load(tmp_path, "epochs"), epochs)
    # a stale part of an earlier version that a later part supersedes: the later version wins
    store2 = _store(tmp_path / "b")
    _search(store2, 0, 4)
    first = {p.name: p.read_bytes() for _, p in list_parts(tmp_path / "b", TRIALS)}
    _search(store2, 4, 40)
    for name, data in first.items():  # resurrect the earliest parts (merged away since)
        (tmp_path / "b" / PARTS_DIR / name).write_bytes(data)
    _same(hpbench.load(tmp_path / "b"), _whole(store2)[0])


def test_a_damaged_part_fails_a_read_and_is_dropped_on_resume(tmp_path):
    _folder(tmp_path, 2)  # compacted: t0, t1 finished
    store = _store(tmp_path)
    store.load(load_previous(tmp_path).trials, load_previous(tmp_path).epochs)
    store.flush(force=True)
    _search(store, 2, 2)  # t0002, t0003 in 4 parts: 2 epochs of both, the end of each
    last = list_parts(tmp_path, TRIALS)[-1][1]
    last.write_bytes(last.read_bytes()[:20])
    with pytest.raises(DamagedTable, match=rf"{last.name}: cannot be read, it is damaged .*--resume.* drops it"):
        hpbench.load(tmp_path)
    prev = load_previous(tmp_path)
    assert prev is not None and prev.damaged == (last,)
    assert any(f"{PARTS_DIR}/{last.name} was damaged" in n and "dropped" in n for n in prev.notes), prev.notes
    # earlier parts stand; t0003's last epoch (its stop_reason) came before the damaged part, which
    # alone held its status: a trial whose end was written is kept (hpbench.results.resume)
    assert {t["trial_id"] for t in prev.trials} == {"t0", "t1", "t0002", "t0003"} and prev.n_dropped == 0
    assert {(r["trial_id"], r["epoch"]) for r in prev.epochs} >= {("t0002", 1), ("t0002", 2)}


def test_a_folder_of_single_file_tables_still_loads_and_resumes(tmp_path):
    store = _store(tmp_path / "ref")
    _search(store, 0, 6)
    trials, epochs = _whole(store)
    old = tmp_path / "old"
    _folder(old, 1)  # a study record
    for name in (TRIALS, EPOCHS, TRIALS + PREV, EPOCHS + PREV):
        (old / name).unlink()
    trials.to_parquet(old / TRIALS, index=False)  # as hpbench wrote tables before parts (no metadata)
    epochs.to_parquet(old / EPOCHS, index=False)
    assert parts_upto(old / TRIALS) == 0
    pd.testing.assert_frame_equal(hpbench.load(old), trials)
    prev = load_previous(old)
    assert prev is not None and prev.n_done == 6 and prev.notes == ()


def test_a_new_store_supersedes_what_an_earlier_run_left(tmp_path):
    """A store's first write is a compaction: a search that does not resume replaces the
    tables, parts included, and numbers its parts after theirs."""
    _search(_store(tmp_path), 0, 20)
    left = max(seq for seq, _ in list_parts(tmp_path, TRIALS))
    store = _store(tmp_path)
    _search(store, 100, 6)
    assert set(hpbench.load(tmp_path)["trial_id"]) == {f"t{i:04d}" for i in range(100, 106)}
    assert min(seq for seq, _ in list_parts(tmp_path, TRIALS)) > left
    _same(read_table(tmp_path, EPOCHS), _whole(store)[1])


def test_a_reader_racing_a_merge_lists_the_parts_again(tmp_path, monkeypatch):
    """A part deleted between a reader's listing and its read (merged into a larger part, or
    compacted): the reader lists the parts again instead of failing or missing rows."""
    import hpbench.results.parts as parts_module

    store = _store(tmp_path)
    _search(store, 0, 6)
    real, calls = parts_module.list_parts, [0]

    def stale_once(out, name):
        calls[0] += 1
        found = real(out, name)
        return [*found, (10**7, out / PARTS_DIR / f"{name[:-8]}.10000000.parquet")] if calls[0] == 1 else found

    monkeypatch.setattr(parts_module, "list_parts", stale_once)
    _same(hpbench.load(tmp_path), _whole(store)[0])
    assert calls[0] == 2


def test_whole_numbers_some_trials_lack_are_typed_int64():
    """repeat, repeat_of, seed and a trial's epochs, held as floats (1.0, NaN) because search
    trials lack them, are Int64 columns, as columns.py documents integer columns."""
    from hpbench.results.tables import trials_frame

    rows = [{"trial": 0, "trial_id": "a", "lr": 0.1, "epochs": 3}, {"trial": 1, "trial_id": "b", "lr": 0.1, "epochs": 3, "repeat": 1, "seed": 1},
            {"trial": 2, "trial_id": "c", "lr": 0.2}]
    df = trials_frame(rows, ["lr"])
    assert str(df["repeat"].dtype) == "Int64" and str(df["seed"].dtype) == "Int64" and str(df["epochs"].dtype) == "Int64"
    assert df["repeat"].isna().tolist() == [True, False, True] and int(df["repeat"][1]) == 1
    assert str(df["lr"].dtype) == "float64"


def test_a_table_file_is_its_table_and_another_table_is_refused(tmp_path):
    """hpbench.load("RESULTS/trials.parquet", table="epochs") returned the trials table (the file
    ignored table=), and so did `hpbench export RESULTS/trials.parquet --table epochs`."""
    from typer.testing import CliRunner

    from hpbench.cli import app

    _folder(tmp_path, 2)
    assert hpbench.load(tmp_path / EPOCHS).equals(hpbench.load(tmp_path, table="epochs"))
    assert hpbench.load(tmp_path / TRIALS, table="trials").equals(hpbench.load(tmp_path))
    with pytest.raises(ValueError, match=r"is the trials table, but table='epochs'"):
        hpbench.load(tmp_path / TRIALS, table="epochs")
    r = CliRunner().invoke(app, ["export", str(tmp_path / TRIALS), "--table", "epochs"])
    assert r.exit_code == 2 and "is the trials table" in r.output, r.output
    r = CliRunner().invoke(app, ["export", str(tmp_path / EPOCHS)])
    assert r.exit_code == 0 and r.output.splitlines()[0].startswith("trial,trial_id,epoch"), r.output


@pytest.mark.parametrize("name", ["study.toml", "study.json", "model.pt"])
def test_a_file_that_is_no_table_is_not_called_damaged(tmp_path, name):
    _folder(tmp_path, 1)
    path = tmp_path / name
    if not path.exists():
        path.write_bytes(b"PK\x03\x04 not a table")
    with pytest.raises(ValueError, match="not a results table") as err:
        hpbench.load(path)
    assert not isinstance(err.value, DamagedTable) and "damaged" not in str(err.value)


def test_a_choice_mixing_numbers_and_names_is_text_whatever_was_drawn(tmp_path):
    """batch_size = [16, 64, "full"] was an Int64 column in a search that never drew "full" and
    text in one that did: two searches' tables did not concatenate alike."""
    import hpbench
    from hpbench.results.store import ResultsStore

    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["batch_size", "lr"], mixed_keys=["batch_size"])
    for tid, bs in (("a", 16), ("b", 64)):
        store.start(tid, {"batch_size": bs, "lr": 0.1})
        store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        store.finish(tid)
    store.flush(force=True)
    df = hpbench.load(tmp_path)
    assert str(df["batch_size"].dtype) == "string" and df["batch_size"].tolist() == ["16", "64"]
    assert str(df["lr"].dtype) == "float64"


def test_the_space_names_its_mixed_keys(write_study):
    from hpbench.study.parse import load_study
    from tests.helpers.studies import TINY_STUDY

    text = TINY_STUDY.replace('lr = { loguniform = [1e-3, 1e-1] }', 'lr = { loguniform = [1e-3, 1e-1] }\nbatch_size = { choice = [16, "full"] }')
    assert load_study(write_study(text)).space.mixed_keys() == ["batch_size"]
    assert load_study(write_study(TINY_STUDY)).space.mixed_keys() == []


def test_a_conditional_key_no_trial_drew_keeps_its_type(tmp_path):
    """optimizer.momentum (active only with SGD's momentum) was an object column of None in a
    search that never drew momentum and float64 in one that did."""
    import hpbench
    from hpbench.results.columns import param_dtypes
    from hpbench.results.store import ResultsStore
    from hpbench.study.parse import load_study

    space = load_study("studies/quickstart.toml").space
    dtypes = param_dtypes(space)
    assert dtypes["optimizer.momentum"] == "float64" and dtypes["model.depth"] == "Int64" and dtypes["optimizer"] == "string"
    assert dtypes["batch_size"] == "string"  # 16 ... or "full": text, as mixed_keys says
    keys = ["optimizer", "optimizer.momentum", "model.depth"]
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=keys, param_dtypes=dtypes)
    for tid in ("a", "b"):
        store.start(tid, {"optimizer": "adam", "optimizer.momentum": None, "model.depth": None})
        store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.1})
        store.finish(tid)
    store.flush(force=True)
    df = hpbench.load(tmp_path)
    assert {k: str(df[k].dtype) for k in keys} == {"optimizer": "string", "optimizer.momentum": "float64", "model.depth": "Int64"}
    assert df["optimizer.momentum"].isna().all() and df["model.depth"].isna().all()
