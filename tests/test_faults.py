"""Faults: nothing is lost. Retries from checkpoints (a trial that raises, a worker killed with
SIGKILL), a trial that keeps failing, a driver killed three times and resumed, and resuming with a
changed search space (the results lock: tests/test_lock.py)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hpbench.results.resume import space_diff

ROOT = Path(__file__).resolve().parents[1]
HPBENCH = [sys.executable, "-m", "hpbench.cli"]


def flaky_study(tmp: Path, *, n_slots: int, max_epochs: int = 5, fail_every: int = 0, fail_times: int = 1,
                sleep: float = 0.0, max_failures: int = 1, name: str = "flaky", checkpoint_s: float = 0, fail_epoch: int = 3) -> Path:
    marks = tmp / "marks"
    marks.mkdir(exist_ok=True)
    path = tmp / f"{name}.toml"
    path.write_text(f"""
[study]
name = "{name}"
metric = "val_accuracy"
mode = "max"
searcher = "grid"
scheduler = "none"
max_concurrent = 2
max_failures = {max_failures}
checkpoint_s = {checkpoint_s}

[data]
dataset = "digits"

[model]
family = "tests.helpers.flaky:build"
dir = "{marks}"
fail_every = {fail_every}
fail_times = {fail_times}
fail_epoch = {fail_epoch}
sleep = {sleep}

[train]
max_epochs = {max_epochs}
batch_size = 256

[space]
"model.slot" = {{ choice = {list(range(n_slots))} }}
""", encoding="utf-8")
    return path


def run_in_process(study_file: Path, out: Path, *, early_trials: bool = True):
    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    return run_search(load_study(study_file), SearchOptions(out=out, early_trials=early_trials), console=Console(quiet=True))


def epochs_log(tmp: Path, slot: int) -> int:
    return len((tmp / "marks" / f"epochs-{slot}").read_text().splitlines())


# -- no Ray ---------------------------------------------------------------------------------------
def test_space_diff_is_readable():
    lines = space_diff({"lr": "loguniform(0.001, 0.1)", "optimizer": "choice(['adam'])"}, {"lr": "loguniform(0.0001, 0.1)"})
    assert lines == ["  - lr: loguniform(0.001, 0.1)", "  + lr: loguniform(0.0001, 0.1)", "  - optimizer: choice(['adam'])"]


# -- Ray, in process ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_trials_that_raise_once_retry_from_their_checkpoint(ray_local, tmp_path):
    # 6 trials, 2 of them failing (slots 0 and 3): each trial and each retry starts a Ray worker
    # process; with the 16 slots (4 failing) it had, this test took 30 s alone on the machine (84 s at load ~10-30)
    store = run_in_process(flaky_study(tmp_path, n_slots=6, fail_every=3), tmp_path / "out")
    import hpbench

    trials = hpbench.load(tmp_path / "out")
    epochs = hpbench.load(tmp_path / "out", "epochs")
    assert len(store.trials) == 6
    assert (trials["status"] == "finished").all(), trials[["trial", "status", "error"]]
    assert (trials["epochs"] == 5).all()
    assert not epochs.duplicated(["trial", "epoch"]).any()
    assert epochs.groupby("trial")["epoch"].apply(list).map(lambda e: e == [1, 2, 3, 4, 5]).all()
    for slot in range(6):
        # 2 epochs + the failed start of the 3rd, then epochs 3..5 from the checkpoint
        assert epochs_log(tmp_path, slot) == (6 if slot % 3 == 0 else 5), slot


@pytest.mark.slow
def test_a_trial_that_keeps_failing_ends_failed_and_the_study_completes(ray_local, tmp_path):
    run_in_process(flaky_study(tmp_path, n_slots=2, max_epochs=3, fail_every=2, fail_times=9), tmp_path / "out")
    import hpbench

    trials = hpbench.load(tmp_path / "out").set_index("model.slot")
    assert trials.loc[1, "status"] == "finished"
    assert trials.loc[0, "status"] == "failed"
    assert "flaky trial 0 fails at epoch" in trials.loc[0, "error"]


@pytest.mark.slow
def test_a_tune_trial_that_raises_keeps_the_epochs_it_finished(ray_local, tmp_path):
    """Without retries and checkpoints every epoch, short epochs are reported together (at most
    once a second): a Tune trial that raised in its 2nd epoch lost its 1st, held back, and said
    "failed after 0 epochs" with no epoch row, where the early trial alike kept it (bug hunt
    s52h2, finding 2). Ray Tune keeps every result an errored trial reported."""
    study = flaky_study(tmp_path, n_slots=2, max_epochs=4, fail_every=1, fail_epoch=2, max_failures=0, checkpoint_s=60)
    run_in_process(study, tmp_path / "out", early_trials=False)
    import hpbench

    trials = hpbench.load(tmp_path / "out")
    epochs = hpbench.load(tmp_path / "out", "epochs")
    assert (trials["status"] == "failed").all() and len(trials) == 2, trials[["trial", "status", "error"]]
    assert not trials["trial_id"].str.startswith("early").any()
    assert (trials["epochs"] == 1).all(), trials[["trial", "epochs"]]
    assert sorted(epochs["trial"]) == sorted(trials["trial"]) and (epochs["epoch"] == 1).all()


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_is_retried_and_completes(ray_local, tmp_path):
    study = flaky_study(tmp_path, n_slots=2, max_epochs=4, sleep=0.6)
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pid_file, log = tmp_path / "marks" / "pid-0", tmp_path / "marks" / "epochs-0"
            if pid_file.exists() and log.exists() and len(log.read_text().splitlines()) >= 2:
                pid = int(pid_file.read_text())
                os.kill(pid, signal.SIGKILL)  # mid-epoch: the model sleeps at the epoch's start
                killed.append(pid)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    run_in_process(study, tmp_path / "out")
    t.join(1)
    import hpbench

    trials = hpbench.load(tmp_path / "out")
    assert killed
    assert (trials["status"] == "finished").all(), trials[["trial", "status", "error"]]
    assert (trials["epochs"] == 4).all()
    assert epochs_log(tmp_path, 0) < 8  # resumed from a checkpoint, not from scratch


# -- the driver, killed -----------------------------------------------------------------------------
@pytest.mark.slow
def test_driver_killed_three_times_then_resumed_runs_each_trial_once(tmp_path):
    study = tmp_path / "kill.toml"
    study.write_text("""
[study]
name = "kill"
metric = "val_accuracy"
mode = "max"
trials = 12
searcher = "tpe"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"

[model]
family = "mlp"
depth = 1
width = 16

[train]
max_epochs = 3
batch_size = 128

[space]
lr = { loguniform = [1e-3, 1e-1] }
optimizer = { choice = ["adam", "sgd"] }
""", encoding="utf-8")
    out = tmp_path / "out"
    cmd = [*HPBENCH, "search", str(study), "--out", str(out), "--num-cpus", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(6)
    for kill in range(3):
        proc = subprocess.Popen([*cmd, *(["--resume"] if kill else [])], cwd=ROOT, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(rng.uniform(6.0, 14.0))
            sig = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)[kill]
            os.kill(proc.pid, sig)
            proc.wait(60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # Ray processes the dead driver left behind
        import hpbench

        if (out / "trials.parquet").exists():  # every file parses right after a kill
            hpbench.load(out)
            hpbench.load(out, "epochs")
    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    import hpbench

    trials = hpbench.load(out)
    epochs = hpbench.load(out, "epochs")
    assert len(trials) == 12 and (trials["status"] == "finished").all(), trials[["trial", "status"]]
    assert trials["trial_id"].is_unique
    assert not epochs.duplicated(["trial", "epoch"]).any()
    assert set(epochs["trial"]) == set(trials["trial"])
    assert epochs.groupby("trial")["epoch"].apply(list).map(lambda e: e == [1, 2, 3]).all()
    import optuna

    ostudy = optuna.load_study(study_name="kill", storage=f"sqlite:///{out / 'optuna.db'}")
    assert sum(t.state.name == "COMPLETE" for t in ostudy.trials) >= 12  # the searcher kept its history
    assert not any(t.state.name == "RUNNING" for t in ostudy.trials)


# -- fault injection: Ctrl-C, a full disk, damaged tables, a killed worker with no retries ------------
def _launch(cmd: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_finished(out: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    """Until ``out``'s trials table holds ``n`` finished trials (the search is under way)."""
    import hpbench

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the search ended early: {proc.communicate()[1][-2000:]}"
        with contextlib.suppress(Exception):
            if (hpbench.load(out)["status"] == "finished").sum() >= n:  # its base and its parts
                return
        time.sleep(0.2)
    raise AssertionError(f"no {n} finished trials in {timeout} s")


def _finish(proc: subprocess.Popen, timeout: float = 180) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # Ray processes a dead driver may leave behind


def _resume_completes(cmd: list[str], out: Path, *, n_trials: int, n_epochs: int, kept: set[str]) -> None:
    """``--resume`` finishes the study: every trial finished once, with each epoch once, and the
    trials finished before the fault kept (not run again)."""
    import hpbench

    done = subprocess.run([*cmd, "--resume"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    trials, epochs = hpbench.load(out), hpbench.load(out, "epochs")
    assert len(trials) == n_trials and (trials["status"] == "finished").all(), trials[["trial", "status", "error"]]
    assert trials["trial_id"].is_unique and kept <= set(trials["trial_id"])
    assert not epochs.duplicated(["trial", "epoch"]).any()
    assert epochs.groupby("trial")["epoch"].apply(list).map(lambda e: e == list(range(1, n_epochs + 1))).all()


def _finished_ids(out: Path) -> set[str]:
    import hpbench

    trials = hpbench.load(out)  # the tables parse right after the fault
    return set(trials.loc[trials["status"] == "finished", "trial_id"])


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_the_search_writes_the_tables_and_prints_the_exact_resume_command(tmp_path, sig):
    """Ctrl-C, or SIGTERM to the driver (kill, docker stop, a batch system): the same clean stop.
    Ray's core replaced the command's SIGTERM handler with its own at ray.init, which printed
    '*** SIGTERM received' and exited 1, the running trials left 'running' in the tables."""
    import shlex

    study = flaky_study(tmp_path, n_slots=4, max_epochs=5, sleep=0.4, name="sigint")
    out = tmp_path / "out"
    cmd = [*HPBENCH, "search", str(study), "--out", str(out), "--num-cpus", "2", "--set", "train.batch_size=256"]
    proc = _launch(cmd)
    _wait_finished(out, 1, proc)
    proc.send_signal(sig)
    t0 = time.monotonic()
    stdout, stderr = _finish(proc)
    print(f"Ctrl-C to exit: {time.monotonic() - t0:.1f} s (the 10 s target: benchmarks/interrupt.py)")
    assert proc.returncode == 130, stderr[-3000:]
    again = shlex.join(["hpbench", "search", str(study), "--out", str(out), "--set", "train.batch_size=256", "--num-cpus", "2", "--resume"])
    assert f"continue with: {again}" in stdout, stdout[-2000:]
    assert "Traceback" not in stderr and "SIGTERM received" not in stderr, stderr[-3000:]
    assert "stopping: the running trials stop" in stderr, stderr[-3000:]  # the first Ctrl-C's way, SIGTERM's too (bug hunt s48/h2, finding 3)
    import hpbench

    statuses = set(hpbench.load(out)["status"])
    assert "running" not in statuses, statuses  # SIGTERM left the running trials "running", Ctrl-C "interrupted"
    kept = _finished_ids(out)
    assert kept
    _resume_completes(cmd, out, n_trials=4, n_epochs=5, kept=kept)


@pytest.mark.slow
def test_ctrl_c_keeps_the_running_trials_epochs_with_their_report_times(tmp_path):
    """A terminal's Ctrl-C (SIGINT to the whole process group, the helper included) mid-trial: the
    trials Tune stopped are ``interrupted`` (not failed, not finished) with every epoch they had
    sent, each with its ``reported_at`` inside the trial's life; the race counts them (benchmarks/race.py)."""
    import hpbench
    from benchmarks.race import table_events

    study = flaky_study(tmp_path, n_slots=4, max_epochs=60, sleep=0.3, max_failures=0, name="keep")
    out = tmp_path / "out"
    proc = _launch([*HPBENCH, "search", str(study), "--out", str(out), "--num-cpus", "2", "--no-early-trials"])
    deadline = time.monotonic() + 300
    while True:  # until a running trial has 3 epochs in the tables
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:] if proc.poll() is not None else "no epochs"
        with contextlib.suppress(Exception):
            ep = hpbench.load(out, "epochs")
            if len(ep) and ep.groupby("trial_id")["epoch"].max().max() >= 3:
                break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = _finish(proc)
    assert proc.returncode == 130, stderr[-3000:]
    trials, epochs = hpbench.load(out), hpbench.load(out, "epochs")
    assert set(trials["status"]) == {"interrupted"}, trials[["trial", "status", "error"]]  # 60 epochs of 0.3 s: none ended
    for _, t in trials.iterrows():
        mine = epochs[epochs["trial"] == t["trial"]].sort_values("epoch")
        assert mine["epoch"].tolist() == list(range(1, len(mine) + 1))
        at = mine["reported_at"].tolist()
        assert at == sorted(at) and all(t["started_at"] <= x <= t["ended_at"] for x in at)
    assert epochs.groupby("trial")["epoch"].max().max() >= 3
    counted, ended = table_events(trials, epochs, t0=0.0)
    assert len(counted) == len(epochs) and ended == []  # every epoch counts, though no trial finished


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_and_the_folder_still_resumes(tmp_path):
    import threading as th

    study = flaky_study(tmp_path, n_slots=4, max_epochs=5, sleep=0.4, name="twice")
    out = tmp_path / "out"
    cmd = [*HPBENCH, "search", str(study), "--out", str(out), "--num-cpus", "2"]
    proc = _launch(cmd)
    _wait_finished(out, 1, proc)
    lines: list[str] = []
    printed: list[str] = []
    stopping = th.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("stopping:"):
                stopping.set()

    def read_stdout() -> None:
        assert proc.stdout is not None
        printed.extend(proc.stdout)

    readers = [th.Thread(target=read_stderr, daemon=True), th.Thread(target=read_stdout, daemon=True)]
    for r in readers:
        r.start()
    proc.send_signal(signal.SIGINT)
    assert stopping.wait(60), "".join(lines)[-2000:]
    proc.send_signal(signal.SIGINT)  # while the first one winds the search down
    t0 = time.monotonic()
    try:
        proc.wait(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    for r in readers:
        r.join(10)
    print(f"second Ctrl-C to exit: {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 130, "".join(lines)[-3000:]
    assert "continue with: hpbench search" in "".join(printed) and "Traceback" not in "".join(lines)
    _resume_completes(cmd, out, n_trials=4, n_epochs=5, kept=_finished_ids(out))


def _mount_tmpfs(where: Path, mib: int) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m", "tmpfs", str(where)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


@pytest.mark.slow
def test_a_full_results_disk_is_a_clear_error_the_tables_stay_intact_and_resume_finishes(tmp_path):
    """A small tmpfs holds the results; once the first trial is done it is filled up. The
    search ends with exit code 1 and a message (no traceback), the tables parse (their last
    complete write), and after freeing the space ``--resume`` finishes the study. Where no tmpfs
    can be mounted (not root), the same is checked in process with the error injected."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, 80):  # check_writable wants 64 MiB free to start
        _disk_full_injected(tmp_path)
        return
    try:
        study = flaky_study(tmp_path, n_slots=5, max_epochs=5, sleep=0.3, name="full")
        out = disk / "out"
        cmd = [*HPBENCH, "search", str(study), "--out", str(out), "--num-cpus", "2"]
        proc = _launch(cmd)
        _wait_finished(out, 1, proc)
        filler = disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 2**20)
                f.flush()
        _, stderr = _finish(proc)
        assert proc.returncode == 1, stderr[-3000:]
        flat = " ".join(stderr.split())
        assert "error: the disk of the results is full" in flat and "No space left on device" in flat, flat[-2000:]
        assert f"continue with: hpbench search {study} --out {out} --num-cpus 2 --resume" in flat
        assert "Traceback" not in stderr, stderr[-3000:]
        kept = _finished_ids(out)  # the tables parse: their last complete write
        assert kept
        filler.unlink()
        _resume_completes(cmd, out, n_trials=5, n_epochs=5, kept=kept)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, capture_output=True)


def _disk_full_injected(tmp_path: Path) -> None:
    import errno

    import hpbench
    import hpbench.results.writer as writer_module
    from hpbench.results.store import TablesNotWritten

    study = flaky_study(tmp_path, n_slots=4, max_epochs=3, name="full")
    real = writer_module.write_part
    calls = [0]

    def full(path, table):
        calls[0] += 1
        if calls[0] > 6:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, table)

    writer_module.write_part = full  # the parts written while the search runs
    try:
        with pytest.raises(TablesNotWritten, match="No space left on device"):
            run_in_process(study, tmp_path / "out")
    finally:
        writer_module.write_part = real
    hpbench.load(tmp_path / "out")
    store = run_in_process(study, tmp_path / "out")
    assert len(store.trials) == 4 and all(t["status"] == "finished" for t in store.trials.values())


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_tables_at_resume_are_rebuilt_from_their_copy(ray_local, tmp_path, damage):
    from io import StringIO

    from rich.console import Console

    import hpbench
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study
    from tests.conftest import TINY_STUDY

    src = tmp_path / "tiny.toml"
    src.write_text(TINY_STUDY)
    out = tmp_path / "out"
    run_search(load_study(src), SearchOptions(out=out, num_cpus=2), console=Console(file=StringIO()))
    before = hpbench.load(out)
    for name in ("trials.parquet", "epochs.parquet", "optuna.db"):
        p = out / name
        p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2] if damage == "truncated" else b"not a parquet file")
    log = StringIO()
    store = run_search(load_study(src, trials=6), SearchOptions(out=out, num_cpus=2), console=Console(file=log, width=400))
    text = log.getvalue()
    assert "trials.parquet was damaged" in text and "rebuilt from trials.parquet.prev" in text, text
    assert "optuna.db was damaged" in " ".join(text.split()), text
    assert (out / "trials.parquet.damaged").is_file() and (out / "epochs.parquet.damaged").is_file() and (out / "optuna.db.damaged").is_file()
    trials, epochs = hpbench.load(out), hpbench.load(out, "epochs")
    assert len(trials) == 6 == len(store.trials) and (trials["status"] == "finished").all()
    assert trials["trial_id"].is_unique and not epochs.duplicated(["trial", "epoch"]).any()
    assert set(epochs["trial"]) == set(trials["trial"])
    assert set(before["trial_id"]) <= set(trials["trial_id"])  # every finished trial kept from the copy, none re-run


@pytest.mark.slow
def test_a_worker_killed_with_no_retries_left_ends_failed_and_the_search_goes_on(ray_local, tmp_path):
    study = flaky_study(tmp_path, n_slots=3, max_epochs=4, sleep=0.6, max_failures=0, name="nofail")
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pid_file, log = tmp_path / "marks" / "pid-0", tmp_path / "marks" / "epochs-0"
            if pid_file.exists() and log.exists() and len(log.read_text().splitlines()) >= 2:
                pid = int(pid_file.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    run_in_process(study, tmp_path / "out")
    t.join(1)
    import hpbench

    trials = hpbench.load(tmp_path / "out").set_index("model.slot")
    assert killed and len(trials) == 3
    assert trials.loc[0, "status"] == "failed" and trials.loc[0, "stop_reason"] == "failed"
    assert "died" in trials.loc[0, "error"].lower() or "exit" in trials.loc[0, "error"].lower(), trials.loc[0, "error"]
    assert (trials.loc[[1, 2], "status"] == "finished").all()
    store = run_in_process(study, tmp_path / "out")  # the resume has nothing left to do
    assert len(store.trials) == 3
