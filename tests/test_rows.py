"""The store's compact rows (hpbench.results.rows): a mutable mapping over a shared column index."""

from __future__ import annotations

import copy
import pickle
import sys
from pathlib import Path

import pandas as pd
import pytest

from hpbench.results.rows import Columns, Row
from hpbench.results.store import ResultsStore


def test_a_row_reads_and_writes_as_a_dict() -> None:
    cols = Columns()
    r = Row(cols, {"trial": 0, "trial_id": "t0", "error": None})
    assert r["trial"] == 0 and r.get("error", "x") is None  # None is a value, not an absent column
    assert r.get("missing") is None and r.get("missing", 5) == 5 and "missing" not in r and "error" in r
    with pytest.raises(KeyError):
        r["missing"]
    r["status"] = "running"
    r.update({"trial": 1, "epochs": 3})
    assert dict(r) == {"trial": 1, "trial_id": "t0", "error": None, "status": "running", "epochs": 3}
    assert list(r) == ["trial", "trial_id", "error", "status", "epochs"] and len(r) == 5
    del r["error"]
    assert "error" not in r and len(r) == 4 and r == {"trial": 1, "trial_id": "t0", "status": "running", "epochs": 3}
    with pytest.raises(KeyError):
        del r["error"]


def test_rows_share_their_columns_but_not_their_values() -> None:
    cols = Columns()
    a, b = Row(cols, {"trial": 0}), Row(cols, {"trial": 1})
    a["val_loss"] = 0.5  # a column only one row has
    assert "val_loss" not in b and b.get("val_loss") is None and dict(b) == {"trial": 1}
    b["epoch_s"] = 0.1
    assert dict(a) == {"trial": 0, "val_loss": 0.5} and dict(b) == {"trial": 1, "epoch_s": 0.1}
    assert cols.names == ["trial", "val_loss", "epoch_s"]


def test_a_copied_or_pickled_row_keeps_its_columns_and_its_absent_ones() -> None:
    cols = Columns()
    Row(cols, {"a": 1, "b": 2})
    r = Row(cols, {"b": None})  # column "a" absent here
    for other in (copy.deepcopy(r), copy.copy(r), pickle.loads(pickle.dumps(r))):
        assert dict(other) == {"b": None} and "a" not in other


def test_the_tables_take_rows_as_they_took_dicts() -> None:
    cols = Columns()
    dicts = [{"trial": 0, "epoch": 1, "val_loss": 0.5}, {"trial": 1, "epoch": 1, "val_loss": 0.25, "extra": 2}]
    rows = [Row(cols, d) for d in dicts]
    pd.testing.assert_frame_equal(pd.DataFrame(rows), pd.DataFrame(dicts))


def test_a_row_is_smaller_than_a_dict_of_its_columns() -> None:
    cols = Columns()
    names = [f"column_{i}" for i in range(52)]  # a trial's row has ~50 columns
    row = Row(cols, dict.fromkeys(names, 1.0))
    as_dict = dict.fromkeys(names, 1.0)
    assert sys.getsizeof(row) + sys.getsizeof(row._vals) < 0.5 * sys.getsizeof(as_dict)


def test_the_store_keeps_its_rows_compact(tmp_path: Path) -> None:
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=["lr"])
    for i in range(3):
        store.start(f"t{i}", {"lr": 0.1 * (i + 1)})
        for e in (1, 2):
            store.epoch(f"t{i}", {"epoch": e, "val_accuracy": 0.5 + 0.1 * i + 0.01 * e, "epoch_s": 0.1, "ignored": 1})
        store.finish(f"t{i}")
    assert all(isinstance(r, Row) for r in [*store.trials.values(), *store.epochs.values()])
    assert len({id(r._cols) for r in store.trials.values()}) == 1 and len({id(r._cols) for r in store.epochs.values()}) == 1
    assert store.row("t2")["best_val_accuracy"] == pytest.approx(0.72, rel=1e-5)
    assert dict(store.epoch_row("t0", 2)) == {"trial": 0, "trial_id": "t0", "epoch": 2, "val_accuracy": pytest.approx(0.52, rel=1e-5),
                                              "epoch_s": 0.1}
    best = store.best()
    assert isinstance(best, dict) and best["trial_id"] == "t2"
    store.flush(force=True)
    back = pd.read_parquet(tmp_path / "trials.parquet")
    assert back["trial_id"].tolist() == ["t0", "t1", "t2"] and back["lr"].tolist() == pytest.approx([0.1, 0.2, 0.3], rel=1e-5)
    assert len(pd.read_parquet(tmp_path / "epochs.parquet")) == 6


def test_the_epochs_by_trial_and_epoch_are_a_view_of_the_per_trial_index(tmp_path: Path) -> None:
    store = ResultsStore(out=tmp_path, metric="val_accuracy", mode="max", param_keys=[])
    store.start("a", {})
    store.start("b", {})
    for t, e in (("a", 1), ("b", 1), ("a", 2)):
        store.epoch(t, {"epoch": e, "val_accuracy": 0.1 * e})
    idx = store.epochs
    assert list(idx) == [("a", 1), ("a", 2), ("b", 1)] and len(idx) == 3
    assert ("a", 2) in idx and ("b", 2) not in idx and ("c", 1) not in idx and "a" not in idx
    assert idx[("a", 2)]["val_accuracy"] == pytest.approx(0.2, rel=1e-5) and idx.get(("b", 2)) is None and idx.get(("c", 1), 0) == 0
    with pytest.raises(KeyError):
        idx[("b", 2)]
    store.epoch("b", {"epoch": 1, "val_accuracy": 0.5})  # a retried epoch replaces its row
    assert len(idx) == 3 and store.epoch_row("b", 1)["val_accuracy"] == 0.5
    assert dict(idx) == {k: idx[k] for k in [("a", 1), ("a", 2), ("b", 1)]}
