"""The start-up probe (hpbench.cost.startup_probe): a small real search timed when a machine is
calibrated, whose machine figures price a machine with no search history in place of the prior's
(measured on another machine)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from conftest import TINY_STUDY
from typer.testing import CliRunner

from hpbench.cli import app
from hpbench.cost import history, startup_probe
from hpbench.cost.figures import PRIOR_BEST, Figures
from hpbench.results.files import atomic_write_json

REL = 1e-5
runner = CliRunner()
MODEL = history.tag_of(1796430000.0).to_dict()  # the probe prices with the machine's models, cached before it (no calibration wait)


def _record(**over):
    """A probe search's record, as a search writes it into the history."""
    rec = {"schema": history.SCHEMA, "run_id": "probe", "study": startup_probe.STUDY_NAME, "command": True, "ray_started": True,
           "early_trials": True, "n_search": 8, "started_at": 1796430600.0, "contention": 1.0, "startup_s": 5.0, "ray_s": 3.9,
           "data_s": 0.01, "fresh_worker_s": 1.5, "setup_s": 0.01, "tail_s": 0.02, "test_cold_s": 1.4, "report_s": 0.9, "exit_s": 1.3,
           "speed": 0.4, "model": MODEL}
    return {**rec, **over}


def _repeats(**over):
    """The probe's second command's record: the search done, only its repeats and the test split after them."""
    rec = {"schema": history.SCHEMA, "run_id": "probe-repeats", "study": startup_probe.STUDY_NAME, "command": True, "ray_started": True,
           "early_trials": False, "n_search": 0, "started_at": 1796430620.0, "contention": 1.0, "startup_s": None, "ray_s": 3.7,
           "fused_start_s": 3.0, "repeats_s": 5.0, "test_s": 0.13, "report_s": 0.86, "exit_s": 1.1, "model": MODEL}
    return {**rec, **over}


def test_the_probe_puts_the_machine_figures_over_the_prior():
    """What any search measures alike (start-up, Ray, a fresh worker, the repeats' start, the test
    split, the final table, the exit) is the probe's; what depends on the study (the speed
    ratio, where early stopping ends trials) stays the prior's; each figure over the contention
    it ran under."""
    f = startup_probe.probed([_record(), _repeats()])
    assert f.test_cold_s == pytest.approx(1.4, rel=REL) and f.fresh_worker_s == pytest.approx(1.5, rel=REL)
    assert f.fused_start_s == pytest.approx(3.0, rel=REL) and f.test_s == pytest.approx(0.13, rel=REL)  # the repeats' command's
    assert f.ray_s == pytest.approx((3.9 + 3.7) / 2, rel=REL) and f.exit_s == pytest.approx((1.3 + 1.1) / 2, rel=REL)  # both commands'
    assert f.startup_s == pytest.approx(5.0, rel=REL) and f.report_s == pytest.approx(0.9, rel=REL)  # the search's only
    assert f.speed == Figures().speed and f.best_fractions == PRIOR_BEST
    # an unfused replay's start: the prior's scaled by the probe's fused start over the prior's (its repeats fuse)
    assert f.replay_start_s == pytest.approx(Figures().replay_start_s * 3.0 / Figures().fused_start_s, rel=REL)
    assert f.source("replay_start_s").startswith("this machine's probe search") and "fused repeats' start" in f.source("replay_start_s")
    assert startup_probe.probed([_record()]).replay_start_s == Figures().replay_start_s  # no repeats probed: the prior's
    assert f.source("startup_s") == "this machine's probe search (2026-12-05 00:30 UTC)" and f.source("speed") == "prior"
    # the estimate's start-up: the probe's, with the study's own data in place of the probe's
    assert f.startup(early=True, contention=1.0, data_s=0.5) == pytest.approx(5.0 + 0.5 - 0.01, rel=REL)
    assert startup_probe.probed_figures(f)["startup_s"] == pytest.approx(5.0, rel=REL) and "speed" not in startup_probe.probed_figures(f)
    loaded = startup_probe.probed([_record(contention=2.0)])
    assert loaded.startup_s == pytest.approx(2.5, rel=REL) and loaded.exit_s == pytest.approx(0.65, rel=REL)


def test_the_machines_own_searches_replace_the_probe():
    """A search recorded here measures the start-up itself: its figure wins; a figure no record
    measured yet (here the test split's first use of torch) stays the probe's, not the prior's."""
    searched = _record(run_id="mine", study="mine", startup_s=7.0, ray_s=5.0, test_cold_s=None, n_search=20)
    f = history.figures([searched], study="mine", prior=startup_probe.probed([_record()]))
    assert f.startup_s == pytest.approx(7.0, rel=REL) and f.source("startup_s") == "1 earlier searches here"
    assert f.test_cold_s == pytest.approx(1.4, rel=REL) and f.source("test_cold_s").startswith("this machine's probe search")


def test_no_probe_kept_is_the_prior(tmp_path):
    assert startup_probe.prior(None) == Figures() and startup_probe.prior(tmp_path) == Figures()
    here = startup_probe.machine()
    for bad in ("{not json", json.dumps({"schema": 999, "machine": here, "records": [_record()]}),
                json.dumps({"schema": startup_probe.SCHEMA, "machine": here, "records": [1]}),
                json.dumps({"schema": startup_probe.SCHEMA, "machine": here, "records": []}),
                json.dumps({"schema": startup_probe.SCHEMA, "machine": here, "records": [_record(schema=-1)]}),
                # another machine's, or another version's: its start-up is not this one's
                json.dumps({"schema": startup_probe.SCHEMA, "machine": {**here, "cpus": (here["cpus"] or 1) + 1}, "records": [_record()]}),
                json.dumps({"schema": startup_probe.SCHEMA, "machine": {**here, "hpbench": "0.0.0"}, "records": [_record()]}),
                json.dumps({"schema": startup_probe.SCHEMA, "records": [_record()]})):
        startup_probe.cache_file(tmp_path).write_text(bad, encoding="utf-8")
        assert startup_probe.load(tmp_path) is None and startup_probe.prior(tmp_path) == Figures()
    _keep(tmp_path, [_record()])
    assert startup_probe.prior(tmp_path).startup_s == pytest.approx(5.0, rel=REL)


def _keep(cache_dir, records):
    """A probe's records kept in ``cache_dir``, as :func:`startup_probe.measure` keeps them."""
    atomic_write_json(startup_probe.cache_file(cache_dir), {"schema": startup_probe.SCHEMA, "at": time.time(), "machine": startup_probe.machine(),
                                                            "records": records})


def test_a_failed_probe_keeps_the_prior_and_writes_nothing(tmp_path, monkeypatch):
    """The probe's search refused (here its study: trials = 0): None, the reason said, no file."""
    monkeypatch.setattr(startup_probe, "STUDY", startup_probe.STUDY.replace("trials = 8", "trials = 0"))
    said: list[str] = []
    assert startup_probe.measure(tmp_path, log=said.append) is None
    assert not startup_probe.cache_file(tmp_path).exists()
    assert "search failed (exit 2" in said[-2] and said[-1] == "the start-up stays the prior's"


def test_a_probe_past_its_time_is_stopped_and_keeps_the_prior(tmp_path):
    """A probe whose search does not finish in time (a Ray that hangs) is killed with its
    process group; the prior stays and nothing is written."""
    said: list[str] = []
    assert startup_probe.measure(tmp_path, log=said.append, timeout_s=0.3) is None
    assert not startup_probe.cache_file(tmp_path).exists()
    assert said[-2] == "the probe's search did not finish (TimeoutExpired)" and said[-1] == "the start-up stays the prior's"


# The probe's search as far as a stop goes: it deaf to SIGTERM (SIGKILL must come), with a process of
# its session (Ray's, in the real search) that keeps writing into the probe's folder, re-made if gone
_GROUP = """
import os, signal, subprocess, sys, time
from pathlib import Path
signal.signal(signal.SIGTERM, signal.SIG_IGN)
writer = "import os, time\\nwhile True:\\n    os.makedirs({d!r}, exist_ok=True)\\n    time.sleep(0.02)".format(d=os.path.join(os.getcwd(), "results"))
g = subprocess.Popen([sys.executable, "-c", writer])
Path("pids.tmp").write_text(f"{os.getpid()} {g.pid}")
os.replace("pids.tmp", "pids")
while True:
    time.sleep(0.05)
"""


def _gone(pgid: int, within_s: float = 10.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_probe_stopped_by_ctrl_c_takes_its_process_group_along(tmp_path, monkeypatch):
    """Bug hunt s52/h5, finding 1: a Ctrl-C (or the SIGTERM the command takes as one) while the
    probe ran left its search running in its own session, with its own Ray, which wrote into the
    probe's folder again after it was removed. Its whole process group goes (SIGTERM, then SIGKILL),
    then the folder; the Ctrl-C goes on."""
    import sys
    import threading

    monkeypatch.setattr(startup_probe, "STOP_GRACE_S", 0.2, raising=False)  # (absent before the fix, which this test was checked against)
    real_run = startup_probe._run
    seen: dict[str, object] = {}
    ended = threading.Event()

    def interrupt_once_started(folder: Path) -> None:
        while not (folder / "pids").exists():
            if ended.wait(0.02):
                return  # the command ended first (it failed to start): no Ctrl-C into a later test
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)  # a Ctrl-C: wakes the main thread's wait

    def run(cmd, *, env, cwd, timeout_s):  # the probe's command, stopped by a Ctrl-C once its group is up
        seen["cwd"] = Path(cwd)
        threading.Thread(target=interrupt_once_started, args=(Path(cwd),), daemon=True).start()
        try:
            return real_run([sys.executable, "-c", _GROUP], env=env, cwd=cwd, timeout_s=120)
        finally:
            ended.set()
            seen["pids"] = [int(p) for p in (Path(cwd) / "pids").read_text().split()] if (Path(cwd) / "pids").exists() else []

    monkeypatch.setattr(startup_probe, "_run", run)
    # Python's own Ctrl-C handler, which a process started in the background (nohup, `&` in a script,
    # as CI may run the suite) does not have: SIGINT is ignored there and no KeyboardInterrupt comes
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            startup_probe.measure(tmp_path)
    finally:
        signal.signal(signal.SIGINT, before)
    pids = seen["pids"]
    assert isinstance(pids, list) and len(pids) == 2
    gone = _gone(pids[0])  # the child is its group's leader; the other process is in its group
    if not gone:
        with contextlib.suppress(OSError):
            os.killpg(pids[0], signal.SIGKILL)
    assert gone, "the probe's process group is still running"
    assert not Path(str(seen["cwd"])).exists()  # removed, and nothing is left to make it again
    assert not startup_probe.cache_file(tmp_path).exists()


def _fake_calibration(monkeypatch):
    """This machine's device model, as calibrating it would give (copied from the suite's scratch
    cache, where the calibration ran once), without measuring it again."""
    from hpbench.cost import calibrate as D

    real = D.device_model(device="cpu", threads=1)
    calls: list[str] = []

    def fake(*, device, threads, log=None, quick=False):
        calls.append(device)
        return dataclasses.replace(real, measured_at=time.time())  # as a calibration stamps its model

    monkeypatch.setattr(D, "calibrate", fake)
    monkeypatch.setattr(D, "calibrate_as_worker", fake)
    return calls


def test_an_estimate_that_calibrates_a_machine_times_its_start_up(write_study, tmp_path, monkeypatch):
    """The first estimate on a machine (its device model calibrated by this call) runs the probe
    and prices the start-up from it; the next estimate (the model cached) does not run it again;
    HPBENCH_STARTUP_PROBE=0 turns it off."""
    calls = _fake_calibration(monkeypatch)
    probes: list[Path] = []

    def measure(cache_dir, *, log=None, timeout_s=0.0):  # the probe's search (timed for real in the slow test below)
        probes.append(cache_dir)
        _keep(cache_dir, [_record()])
        return [_record()]

    monkeypatch.setattr(startup_probe, "measure", measure)
    monkeypatch.setenv(startup_probe.ENV_OFF, "1")
    study = write_study(TINY_STUDY)
    args = ["estimate", str(study), "--json", "--samples", "2", "--cache-dir", str(tmp_path / "new")]
    r = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    w = json.loads(r.output)["summary"]["wall_time"]
    assert calls == ["cpu"] and probes == [tmp_path / "new"]
    assert w["sources"]["startup_s"].startswith("this machine's probe search")
    assert w["parts"]["exit_s"] == pytest.approx(1.3 * w["contention"], rel=REL)
    assert runner.invoke(app, args, env={"COLUMNS": "200"}).exit_code == 0
    assert calls == ["cpu"] and len(probes) == 1  # cached: neither measured again
    monkeypatch.setenv(startup_probe.ENV_OFF, "0")
    r = runner.invoke(app, [*args[:-1], str(tmp_path / "off")], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and len(calls) == 2 and len(probes) == 1
    assert json.loads(r.output)["summary"]["wall_time"]["sources"]["startup_s"] == "prior"


@pytest.mark.slow
def test_the_probe_times_a_real_search(tmp_path):
    """The probe's search runs on a Ray of its own and keeps its record: every machine figure
    measured, Ray up before Tune's first trial, and the prior then reads them."""
    scratch = Path(os.environ["XDG_CACHE_HOME"]) / "hpbench" / "devices"
    for f in scratch.glob("*-cpu-t1.json") if scratch.is_dir() else ():
        shutil.copy2(f, tmp_path / f.name)  # this machine's model: the probe's helper prices its trials without calibrating
    said: list[str] = []
    recs = startup_probe.measure(tmp_path, log=said.append)
    assert recs is not None and len(recs) == 2, said
    search, repeats = recs
    assert search["study"] == repeats["study"] == startup_probe.STUDY_NAME and search["command"] and search["ray_started"]
    assert 0 < search["ray_s"] < search["startup_s"] and search["report_s"] > 0 and search["exit_s"] > 0 and search["test_cold_s"] > 0
    assert repeats["fused_start_s"] > 0 and repeats["repeats_s"] > 0 and repeats["test_s"] > 0  # the repeats as one fused group
    f = startup_probe.prior(tmp_path)
    assert f.startup_s == pytest.approx(search["startup_s"] / max(1.0, search["contention"]), rel=REL)
    assert set(startup_probe.probed_figures(f)) == set(startup_probe.MACHINE_FIGURES)  # every machine figure measured
    assert not history.load(tmp_path)  # the machine's search history holds no probe
