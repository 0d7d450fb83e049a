"""The results-folder lock: an OS lock that dies with its holder. Twenty processes race for one
folder, fifty rounds, with a stale lock file (empty, as a writer that died between create and
write leaves it, or naming a dead pid) in the way: exactly one wins each round."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hpbench.results.lock import LOCK, LockHeld, ResultsLock

N_PROCS, N_ROUNDS = 20, 50


def _yield(*_: object) -> None:
    os.sched_yield()


def _contender(folder: str, barrier, results) -> None:
    for r in range(N_ROUNDS):
        barrier.wait()  # the parent has laid out this round's lock file
        lock = ResultsLock(Path(folder))
        sys.setprofile(_yield)  # give the CPU away at every call and return inside acquire: races show up
        try:
            lock.acquire()
            won = True
        except LockHeld:
            won = False
        finally:
            sys.setprofile(None)
        results.put((r, os.getpid(), won))
        barrier.wait()  # everyone has tried
        if won:
            lock.release()
        barrier.wait()  # released before the next round


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_twenty_processes_race_fifty_rounds_and_exactly_one_wins_each(tmp_path):
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(N_PROCS + 1), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(tmp_path), barrier, results), daemon=True) for _ in range(N_PROCS)]
    for p in procs:
        p.start()
    dead = _dead_pid()
    try:
        for r in range(N_ROUNDS):
            stale = ["", json.dumps({"pid": dead, "host": socket.gethostname()}), None][r % 3]
            if stale is not None:  # a lock file a killed driver left behind
                (tmp_path / LOCK).write_text(stale)
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
        outcomes = [results.get(timeout=60) for _ in range(N_PROCS * N_ROUNDS)]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    winners = {r: [pid for rr, pid, won in outcomes if rr == r and won] for r in range(N_ROUNDS)}
    assert all(len(w) == 1 for w in winners.values()), {r: w for r, w in winners.items() if len(w) != 1}
    assert not (tmp_path / LOCK).exists()  # the last winner removed it


def test_a_live_holder_is_refused_and_named(tmp_path):
    with ResultsLock(tmp_path) as held:
        assert held.holder()["pid"] == os.getpid()
        with pytest.raises(LockHeld, match=rf"another search \(pid {os.getpid()} on {socket.gethostname()}\)"):
            ResultsLock(tmp_path).acquire()
    assert not (tmp_path / LOCK).exists()


def test_a_dead_holders_lock_is_free_whatever_its_file_says(tmp_path):
    """A pid that was reused by a live process (here: this test's own parent) cannot keep a dead
    search's lock alive, and an empty file (a writer killed between create and write) is no lock."""
    for content in (json.dumps({"pid": os.getppid(), "host": socket.gethostname()}), "", "not json"):
        (tmp_path / LOCK).write_text(content)
        with ResultsLock(tmp_path) as lock:
            assert lock.holder()["pid"] == os.getpid()


def test_a_killed_holder_releases_the_lock(tmp_path):
    code = ("import sys, time; from pathlib import Path; from hpbench.results.lock import ResultsLock\n"
            "ResultsLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"pid {proc.pid}"):
            ResultsLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert (tmp_path / LOCK).exists()  # the file stays, the lock does not
    with ResultsLock(tmp_path) as lock:
        assert lock.holder()["pid"] == os.getpid()


# -- one live search per study name in a shared Optuna storage (SQLite here; PostgreSQL: test_storage.py)
def test_a_study_name_is_held_once_per_storage_and_freed_when_its_holder_dies(tmp_path):
    from hpbench.dispatch.study_lock import StudyNameBusy, hold_study_name

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with hold_study_name(url, "a"):
        with pytest.raises(StudyNameBusy, match=r"another search is recording study 'a'"), hold_study_name(url, "a"):
            pass
        with hold_study_name(url, "b"):  # another name: no conflict
            pass
    code = ("import sys, time; from hpbench.dispatch.study_lock import hold_study_name\n"
            "with hold_study_name(sys.argv[1], 'a'):\n    print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(StudyNameBusy), hold_study_name(url, "a"):
            pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    with hold_study_name(url, "a"):
        pass


def test_the_sqlite_lock_file_is_named_after_the_database_file_not_the_urls_options(tmp_path, monkeypatch):
    """Bug hunt s49/h2, finding 4: ``sqlite:///my.db?timeout=30`` held its study name in a file named
    ``my.db?timeout=30.hpbench-….lock``; the lock is now beside the database SQLite opens."""
    from hpbench.dispatch.study_lock import StudyNameBusy, hold_study_name

    monkeypatch.chdir(tmp_path)
    with hold_study_name("sqlite:///my.db?timeout=30", "a"), pytest.raises(StudyNameBusy), hold_study_name("sqlite:///my.db", "a"):
        pass
    absolute = tmp_path / "sub" / "abs.db"
    absolute.parent.mkdir()
    with hold_study_name(f"sqlite:///{absolute}?timeout=5", "a"):
        pass
    names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert len(names) == 2 and all(n.startswith(("my.db.hpbench-", "abs.db.hpbench-")) and "?" not in n for n in names), names
