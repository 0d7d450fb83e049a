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
                sleep: float = 0.0, max_failures: int = 1, name: str = "flaky") -> Path:
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
checkpoint_s = 0

[data]
dataset = "digits"

[model]
family = "tests.helpers.flaky:build"
dir = "{marks}"
fail_every = {fail_every}
fail_times = {fail_times}
sleep = {sleep}

[train]
max_epochs = {max_epochs}
batch_size = 256

[space]
"model.slot" = {{ choice = {list(range(n_slots))} }}
""", encoding="utf-8")
    return path


def run_in_process(study_file: Path, out: Path):
    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    return run_search(load_study(study_file), SearchOptions(out=out), console=Console(quiet=True))


def epochs_log(tmp: Path, slot: int) -> int:
    return len((tmp / "marks" / f"epochs-{slot}").read_text().splitlines())


# -- no Ray ---------------------------------------------------------------------------------------
def test_space_diff_is_readable():
    lines = space_diff({"lr": "loguniform(0.001, 0.1)", "optimizer": "choice(['adam'])"}, {"lr": "loguniform(0.0001, 0.1)"})
    assert lines == ["  - lr: loguniform(0.001, 0.1)", "  + lr: loguniform(0.0001, 0.1)", "  - optimizer: choice(['adam'])"]


# -- Ray, in process ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_trials_that_raise_once_retry_from_their_checkpoint(ray_local, tmp_path):
    store = run_in_process(flaky_study(tmp_path, n_slots=16, fail_every=4), tmp_path / "out")
    import hpbench

    trials = hpbench.load(tmp_path / "out")
    epochs = hpbench.load(tmp_path / "out", "epochs")
    assert len(store.trials) == 16
    assert (trials["status"] == "finished").all(), trials[["trial", "status", "error"]]
    assert (trials["epochs"] == 5).all()
    assert not epochs.duplicated(["trial", "epoch"]).any()
    assert epochs.groupby("trial")["epoch"].apply(list).map(lambda e: e == [1, 2, 3, 4, 5]).all()
    for slot in range(16):
        # 2 epochs + the failed start of the 3rd, then epochs 3..5 from the checkpoint
        assert epochs_log(tmp_path, slot) == (6 if slot % 4 == 0 else 5), slot


@pytest.mark.slow
def test_a_trial_that_keeps_failing_ends_failed_and_the_study_completes(ray_local, tmp_path):
    run_in_process(flaky_study(tmp_path, n_slots=2, max_epochs=3, fail_every=2, fail_times=9), tmp_path / "out")
    import hpbench

    trials = hpbench.load(tmp_path / "out").set_index("model.slot")
    assert trials.loc[1, "status"] == "finished"
    assert trials.loc[0, "status"] == "failed"
    assert "flaky trial 0 fails at epoch" in trials.loc[0, "error"]


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
