"""Searches at the same time (bug hunt s51/h2): a search reads the results folder only while it
holds the folder's lock, and two ``hpbench.search`` calls in one process run one after another.

No Ray and no training: the "other search" is the test, holding the lock and writing the tables
as a search does; the second search runs until it would start its trials (:func:`_locked`)."""

from __future__ import annotations

import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import hpbench
from hpbench.dispatch import runner
from hpbench.dispatch.plan import SearchOptions, write_study_record
from hpbench.results.lock import LockHeld, ResultsLock, search_running
from hpbench.results.store import ResultsStore
from hpbench.study.parse import parse_study
from tests.helpers.studies import TINY_STUDY


def _study(name: str = "tiny") -> Any:
    return parse_study(tomllib.loads(TINY_STUDY.replace('name = "tiny"', f'name = "{name}"')))


def _trial(store: ResultsStore, tid: str, value: float) -> None:
    store.start(tid, {"optimizer": "adam", "lr": 0.01})
    for e in (1, 2, 3):
        store.epoch(tid, {"epoch": e, "val_accuracy": value, "epoch_s": 0.1, **({"best_epoch": 3} if e == 3 else {})})


class OtherSearch:
    """Search A, as the second search meets it: holding the folder's lock, trial 0 finished and
    trial 1 running (``started``: else nothing written yet); :meth:`finish` ends its trials,
    writes the tables and releases the lock."""

    def __init__(self, out: Path, *, started: bool = True) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.lock = ResultsLock(out)
        self.lock.acquire()
        self.store: ResultsStore | None = None
        if started:
            self._begin()
            self.store.flush(force=True)  # type: ignore[union-attr]

    def _begin(self) -> None:
        write_study_record(_study(), self.out)
        self.store = ResultsStore(out=self.out, metric="val_accuracy", mode="max", param_keys=["optimizer", "lr"])
        _trial(self.store, "t0", 0.5)
        self.store.finish("t0")
        _trial(self.store, "t1", 0.9)

    def finish(self) -> None:
        if not self.lock.held:  # finished already (during the second search's pre-flight)
            return
        if self.store is None:
            self._begin()
        assert self.store is not None
        self.store.finish("t1")
        self.store.flush(force=True)
        self.lock.release()


def _second_search(monkeypatch, study: Any, opts: SearchOptions, *, during_preflight: Any) -> dict[str, Any]:
    """Run ``study`` as a second search would, ``during_preflight`` called as its pre-flight runs
    (the helper a thread, nothing imported); what it would start its trials with (its plan), or
    that the lock refused it."""
    seen: dict[str, Any] = {}

    def preflight(*_: Any, **__: Any) -> None:
        seen["preflight"] = True
        during_preflight()

    monkeypatch.setattr(runner, "preflight_start", preflight)
    monkeypatch.setattr(runner, "HelperProcess", lambda **_: ThreadPoolExecutor(max_workers=1))
    for name in ("import_search_modules", "import_driver_modules", "import_integrations"):
        monkeypatch.setattr(runner, name, lambda: None)
    monkeypatch.setattr(runner, "_locked", lambda study, opts, plan, console, *, start: seen.setdefault("plan", plan))
    try:
        runner.run_search(study, opts)
    except LockHeld:
        seen["refused"] = True
    return seen


def test_a_resume_never_drops_a_trial_that_finished_during_its_pre_flight(tmp_path, monkeypatch):
    """Planned before the lock, the resume counted trial 1 as left running; the other search
    finished it during the resume's pre-flight and released the lock: the resume took it, dropped
    trial 1's row and weights and ran its place again with another configuration (s51/h2 #1a)."""
    out = tmp_path / "out"
    other = OtherSearch(out)
    seen = _second_search(monkeypatch, _study(), SearchOptions(out=out, resume=True, early_trials=False), during_preflight=other.finish)
    if not seen.get("refused"):  # it may plan again under the lock: then it knows trial 1 finished
        prev = seen["plan"].previous
        assert (prev.n_done, prev.n_dropped) == (2, 0), "planned from the folder as it was before the lock"
    assert "preflight" not in seen  # refused at once: nothing to wait for
    other.finish()  # A ends as it would have
    assert len(hpbench.load(out)) == 2 and set(hpbench.load(out)["status"]) == {"finished"}


def test_another_study_never_replaces_one_that_finished_during_its_pre_flight(tmp_path, monkeypatch):
    """Planned while the folder held no study, a search of another study into the same new
    ``--out`` never ran the "holds the trials of another study" check and replaced the study that
    finished during its pre-flight: its study.json, its tables and its weights (s51/h2 #1b)."""
    out = tmp_path / "out"
    other = OtherSearch(out, started=False)  # search A has started there and written nothing yet
    seen = _second_search(monkeypatch, _study("other"), SearchOptions(out=out, early_trials=False), during_preflight=other.finish)
    if not seen.get("refused"):  # it may plan again under the lock: then it is refused as another study
        assert seen["plan"].previous is not None, "planned from the folder as it was before the lock: the other study is replaced"
    assert "preflight" not in seen  # refused at once: nothing to wait for
    other.finish()
    assert hpbench.load(out)["trial"].tolist() == [0, 1]


def test_the_plan_is_made_under_the_lock_and_a_refused_search_leaves_no_folder(tmp_path, monkeypatch):
    out = tmp_path / "new" / "out"
    held: list[bool] = []
    real = runner.plan_search

    def plan(study: Any, opts: SearchOptions) -> Any:
        held.append(search_running(opts.out))
        return real(study, opts)

    monkeypatch.setattr(runner, "plan_search", plan)
    with pytest.raises(runner.ResumeRefused, match="nothing to resume"):
        runner.run_search(_study(), SearchOptions(out=out, resume=True))
    assert held == [True]
    assert not (tmp_path / "new").exists()  # the folders made for the lock are removed with it


def test_holding_keeps_a_folder_it_did_not_make_and_one_written_to(tmp_path):
    from hpbench.results.lock import holding

    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(KeyError), holding(mine):
        raise KeyError
    assert mine.is_dir() and list(mine.iterdir()) == []
    new = tmp_path / "a" / "b"
    with holding(new):
        assert search_running(new)
        (new / "study.json").write_text("{}")
    assert (new / "study.json").is_file() and not search_running(new) and not (new / ".hpbench.lock").exists()


def test_a_second_search_in_another_thread_is_refused_at_once(tmp_path, monkeypatch):
    """Two hpbench.search calls in two threads of one process: the second crashed inside Ray ("Perhaps
    you called ray.init twice") after its pre-flight and early trials, left its folder with a trial
    "running", and restored the loggers the first had quieted (s51/h2 #2). Now it raises at once,
    naming the first, before it reads or writes anything."""
    from hpbench.api.search import REFUSALS

    first_in, first_go = threading.Event(), threading.Event()
    ran: list[Path] = []

    def run_search(study: Any, opts: SearchOptions, **_: Any) -> None:
        ran.append(opts.out)
        if len(ran) == 1:  # the first search runs until the test lets it go
            first_in.set()
            assert first_go.wait(60)  # (a failsafe)

    monkeypatch.setattr(runner, "run_search", run_search)
    monkeypatch.setattr("hpbench.api.results.Results", lambda *a, **k: None)
    errors: list[BaseException] = []

    def first() -> None:
        try:
            hpbench.search(_study("first"), out=tmp_path / "a")
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=first, name="first-search")
    thread.start()
    try:
        assert first_in.wait(60)  # the first search is running
        with pytest.raises(REFUSALS, match=r"another search is running in this process \(study 'first', in thread 'first-search'\)") as err:
            hpbench.search(_study("second"), out=tmp_path / "b")
        assert type(err.value).__name__ == "SearchRunning" and isinstance(err.value, RuntimeError)
    finally:
        first_go.set()
        thread.join()
    assert errors == [] and ran == [tmp_path / "a"] and not (tmp_path / "b").exists()
    hpbench.search(_study("second"), out=tmp_path / "b")  # once the first returned
    assert ran == [tmp_path / "a", tmp_path / "b"]
