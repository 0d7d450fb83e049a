"""A search whose stdout's reader goes away (``| head``, quitting ``less``) carries on without
printing there (hpbench.cli.closed_stdout; bug hunt s51/h3, finding 1)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.studies import ROOT


def _closed_pipe() -> int:
    """The writing end of a pipe whose reader is gone: a write to it raises BrokenPipeError."""
    read, write = os.pipe()
    os.close(read)
    return write


def _is_devnull(fd: int) -> bool:
    here, null = os.fstat(fd), os.stat(os.devnull)
    return (here.st_dev, here.st_ino) == (null.st_dev, null.st_ino)


def test_the_searchs_progress_goes_on_when_stdout_is_closed(tmp_path, monkeypatch, capsys):
    """The progress line of a trial's end raised Rich's SystemExit(1) on a closed pipe: the search
    died there without a word, exit 1. The search's console drops its output instead, once
    saying so on stderr, and every later write to the stream succeeds."""
    from hpbench.cli.closed_stdout import NOTE
    from hpbench.cli.common import console
    from hpbench.dispatch.progress import Progress
    from hpbench.results.store import ResultsStore

    stdout = os.fdopen(_closed_pipe(), "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    progress = Progress(store=store, n_trials=2, console=console(carry_on=True), study_name="tiny")
    for tid in ("t0", "t1"):
        store.start(tid, {"lr": 0.01})
        store.epoch(tid, {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.25})
        store.finish(tid)
        progress.trial_done(tid)  # raised SystemExit(1)
    assert _is_devnull(stdout.fileno())
    print("after", file=stdout, flush=True)  # any writer of the process: no BrokenPipeError
    assert capsys.readouterr().err.count(NOTE) == 1
    monkeypatch.undo()
    stdout.close()


def test_the_other_commands_still_stop_on_a_closed_stdout(monkeypatch):
    """``hpbench report | head``: a short command stops there as before (exit 1, no traceback)."""
    from hpbench.cli.common import console

    stdout = os.fdopen(_closed_pipe(), "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    with pytest.raises(SystemExit) as done:
        console().print("a line")
    assert done.value.code == 1
    monkeypatch.undo()
    stdout.close()


@pytest.mark.slow
def test_a_search_piped_to_a_reader_that_goes_away_runs_all_its_trials(tmp_path):
    """``hpbench search study.toml | head -2``: the reader left after the first lines; the next
    trial's line ended the search with exit 1, nothing on stderr, a trial left ``running`` and
    the rest never run. Its trials wait for a file the test writes once the pipe is closed, so
    that the trials' lines come after."""
    import hpbench
    from tests.test_faults import flaky_study

    study = flaky_study(tmp_path, n_slots=3, max_epochs=1, name="piped")
    go = tmp_path / "go"
    study.write_text(study.read_text().replace("[train]", f'wait_for = "{go}"\n\n[train]'), encoding="utf-8")
    out, err = tmp_path / "out", tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "hpbench", "search", str(study), "--out", str(out), "--num-cpus", "2", "--no-early-trials"]
    with err.open("w") as err_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=err_file,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not list((tmp_path / "marks").glob("pid-*")):  # a trial is training: Ray is up, its lines said
                assert proc.poll() is None and time.monotonic() < deadline, err.read_text()[-3000:]
                time.sleep(0.2)
            assert proc.stdout is not None
            proc.stdout.close()  # the reader goes away (head has its lines)
            Path(go).touch()
            assert proc.wait(timeout=300) == 0, err.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
    stderr = err.read_text()
    assert "stdout was closed" in stderr and "Traceback" not in stderr, stderr[-3000:]
    trials = hpbench.load(out)
    assert sorted(trials["status"]) == ["finished"] * 3, trials[["trial", "status"]]


def test_a_retraining_whose_stdout_is_closed_saves_its_model(tmp_path):
    """``hpbench train best.toml | head -1``: a retraining can be long, so it carries on as a search
    does: its model and metrics are saved, exit 0, stderr says once that stdout was closed."""
    from tests.conftest import TINY_STUDY

    study = tmp_path / "tiny.toml"
    study.write_text(TINY_STUDY.split("[space]")[0] + '\n[optimizer]\nname = "adam"\nlr = 0.02\n', encoding="utf-8")
    out, stdout = tmp_path / "trained", _closed_pipe()
    try:
        done = subprocess.run([sys.executable, "-m", "hpbench", "train", str(study), "--out", str(out), "--epochs", "1"], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(stdout)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stdout was closed" in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert (out / "model.pt").is_file() and (out / "metrics.json").is_file()
