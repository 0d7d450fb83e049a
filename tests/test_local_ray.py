"""The warm local Ray runtime (``hpbench ray start | stop | status``, :mod:`hpbench.dispatch.local_ray`):
its record, the hold a search takes on it, and, with a real runtime, a search joining it and the
runtime stopping by itself once no search used it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types

import pytest

from hpbench.api.search import check_options
from hpbench.dispatch import daemon_process, local_ray
from hpbench.dispatch.early_launch import n_early, wanted
from hpbench.dispatch.plan import Plan, SearchOptions
from hpbench.errors import StudyError
from hpbench.study.parse import load_study
from tests.helpers.studies import ROOT, TINY_STUDY
from tests.helpers.warm_record import fake_daemon, record


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_no_record_no_runtime(tmp_path):
    assert local_ray.find(tmp_path) is None
    assert local_ray.join(num_cpus=None, directory=tmp_path) is None


def test_a_dead_daemons_record_is_ignored(tmp_path):
    record(tmp_path, pid=dead_pid())
    assert local_ray.find(tmp_path) is None
    assert local_ray.join(num_cpus=None, directory=tmp_path) is None


def test_a_record_whose_pid_another_process_took_is_not_live(tmp_path):
    """A daemon killed uncleanly leaves its record; its PID may name another process since. Before,
    any process with that PID made the record live: `ray status` said up, a search hung joining the
    dead address, and `ray stop` SIGTERMed (then SIGKILLed the group of) the unrelated process (s50/h8 #1)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        record(tmp_path, pid=other.pid)
        assert local_ray.find(tmp_path) is None
        assert not (tmp_path / local_ray.STATE).exists()  # the stale record is removed
        record(tmp_path, pid=other.pid)
        assert local_ray.stop(directory=tmp_path, timeout_s=1, grace_s=1) is None
        assert other.poll() is None  # not signalled
        assert local_ray.join(num_cpus=None, directory=tmp_path) is None
    finally:
        other.kill()


def test_a_daemon_like_process_younger_than_the_record_is_not_live(tmp_path):
    """The PID taken by another warm daemon (another XDG_CACHE_HOME's) started after this record's runtime came up."""
    daemon = fake_daemon()
    try:
        record(tmp_path, pid=daemon.pid, started_at=time.time() - 3600)
        assert local_ray.find(tmp_path) is None
        record(tmp_path, pid=daemon.pid)
        assert local_ray.find(tmp_path) is not None
    finally:
        daemon.kill()


def test_a_warm_runtime_that_does_not_answer_is_left_for_a_runtime_of_the_searchs_own(tmp_path, monkeypatch):
    """Its daemon up, its GCS gone: the search says so and starts its own (before, Ray's join retried forever)."""
    from hpbench.dispatch import backend, ray_runtime

    record(tmp_path, address="127.0.0.1:1")  # nothing listens on port 1
    monkeypatch.setattr(local_ray, "state_dir", lambda: tmp_path)
    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))  # init_ray's import: Ray itself is not needed here
    monkeypatch.setattr(ray_runtime, "make_way", lambda **_: True)
    monkeypatch.setattr(ray_runtime, "record", lambda **_: None)
    inits: list[dict[str, object]] = []
    monkeypatch.setattr(backend, "_ray_init", lambda **kw: inits.append(kw))
    said: list[str] = []
    try:
        started = backend.init_ray(SearchOptions(out=tmp_path / "out"), say=said.append)
    finally:
        backend.restore_loggers()
        local_ray.release()
    assert started is True and [kw["address"] for kw in inits] == ["local"]
    assert len(said) == 1 and "127.0.0.1:1 does not answer" in said[0] and "of the search's own" in said[0]
    assert not local_ray.busy(tmp_path)


def test_a_damaged_record_is_ignored(tmp_path):
    (tmp_path / local_ray.STATE).write_text("{not json")
    assert local_ray.find(tmp_path) is None


def test_a_search_holds_the_runtime_it_joins(tmp_path):
    record(tmp_path)
    held = local_ray.join(num_cpus=2, directory=tmp_path)
    try:
        assert held is not None and held.runtime.address == "127.0.0.1:6390" and held.runtime.num_cpus == 2
        assert local_ray.busy(tmp_path)  # the daemon sees a search and does not stop
    finally:
        local_ray.release()
    assert not local_ray.busy(tmp_path)


@pytest.mark.parametrize("over, num_cpus", [({"num_cpus": 4}, 2), ({"ray_version": "0.0.1"}, None)])
def test_a_runtime_the_search_cannot_use_is_not_joined(tmp_path, over, num_cpus):
    """Other CPUs than --num-cpus asks for, or another Ray version: the search starts its own, and holds nothing."""
    record(tmp_path, **over)
    assert local_ray.join(num_cpus=num_cpus, directory=tmp_path) is None
    assert not local_ray.busy(tmp_path)


def test_a_cluster_named_in_ray_address_wins(tmp_path, monkeypatch):
    record(tmp_path)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert local_ray.join(num_cpus=None, directory=tmp_path) is None
    assert not local_ray.would_join(address=None, num_cpus=None, directory=tmp_path)


def test_state_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert local_ray.state_dir() == tmp_path / "hpbench" / "ray"


def test_idle_time():
    assert local_ray.idle_for(last_used=100.0, now=160.0) == pytest.approx(60.0)
    assert local_ray.idle_for(last_used=200.0, now=160.0) == 0.0


def test_address_local_is_accepted_with_num_cpus():
    check_options(address="local", num_cpus=2, budget_flops=None, budget_s=None, repeats=None)
    with pytest.raises(StudyError, match="num_cpus"):
        check_options(address="auto", num_cpus=2, budget_flops=None, budget_s=None, repeats=None)
    with pytest.raises(StudyError, match="'local'"):
        check_options(address="nowhere", num_cpus=None, budget_flops=None, budget_s=None, repeats=None)


@pytest.mark.parametrize("address, early", [(None, True), ("local", True), ("auto", False), ("10.0.0.1:6379", False)])
def test_early_trials_run_on_this_machines_runtimes_only(write_study, tmp_path, address, early):
    """A fresh local runtime and the warm one (no address, or 'local') run the trials on this machine's CPUs: the early trials train
    while Tune's workers start; a cluster's trials run elsewhere."""
    study = load_study(write_study(TINY_STUDY))
    n = wanted(study, SearchOptions(out=tmp_path, address=address), Plan(previous=None, n_total=4, n_new=4))
    assert n == (n_early(study, n_new=4, fresh=True, local=True, budget=False, shared_storage=False) if early else 0)
    assert n_early(study, n_new=4, fresh=True, local=True, budget=False, shared_storage=False) > 0


def test_a_second_ray_start_waits_for_the_first_and_finds_its_runtime_up(tmp_path, monkeypatch):
    """Two ``hpbench ray start`` at once both found no runtime and started a daemon: the second
    failed after ~25 s with Ray's authentication error (each daemon wrote its own token) and
    overwrote the live runtime's log (s51/h2 #3). Now the second waits for the first's start, then
    answers as it does after it: already up. (The daemon here is a sleeping process, its record
    written as the daemon writes it once Ray is up.)"""
    import threading

    spawned: list[list[str]] = []
    first_in, go, second_moved = threading.Event(), threading.Event(), threading.Event()
    daemons: list[subprocess.Popen[bytes]] = []

    def popen(cmd: list[str], **_: object) -> subprocess.Popen[bytes]:
        spawned.append(cmd)
        if len(spawned) > 1:
            second_moved.set()
            raise RuntimeError("a second daemon was started")
        first_in.set()
        assert go.wait(60)  # (a failsafe) the first start's daemon comes up when the test says
        daemons.append(fake_daemon())
        record(tmp_path, pid=daemons[0].pid)
        return daemons[0]

    monkeypatch.setattr(local_ray, "subprocess", types.SimpleNamespace(Popen=popen, DEVNULL=subprocess.DEVNULL, STDOUT=subprocess.STDOUT))
    results: dict[str, object] = {}

    def start(name: str, **kw: object) -> None:
        try:
            results[name] = local_ray.start(num_cpus=2, directory=tmp_path, timeout_s=60, **kw)  # type: ignore[arg-type]
        except Exception as err:
            results[name] = err
        finally:
            second_moved.set()

    first = threading.Thread(target=start, args=("first",))
    second = threading.Thread(target=start, args=("second",), kwargs={"on_wait": second_moved.set})
    try:
        first.start()
        assert first_in.wait(60)  # the first start is starting its daemon
        second.start()
        assert second_moved.wait(60)  # the second waits for it (or, before, started a daemon of its own)
        assert len(spawned) == 1 and "second" not in results
        go.set()
        first.join(60)
        second.join(60)
        up, started = results["first"]  # type: ignore[misc]
        assert started and up.pid == daemons[0].pid
        assert results["second"] == (up, False) and len(spawned) == 1
    finally:
        go.set()
        for d in daemons:
            d.kill()


# ---- with a real runtime -------------------------------------------------------------------------

def hpbench(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hpbench", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_ray_stop_asks_the_searches_on_the_runtime_to_stop_first(tmp_path):
    """``hpbench ray stop`` with a search holding the runtime: the search is told (its watch calls
    back, as a Ctrl-C), the daemon is stopped once the search let go, and a runtime being stopped is
    not joined by a new search. Before, the daemon stopped Ray under the search, which exited 1
    with only Ray's log line. (The daemon here is a sleeping process.)"""
    daemon = fake_daemon()
    try:
        record(tmp_path, pid=daemon.pid)
        held = local_ray.join(num_cpus=None, directory=tmp_path)
        assert held is not None
        told: list[str] = []
        held.watch(lambda: (told.append("stop"), local_ray.release()))  # the search stops, then lets go of the runtime
        waited: list[str] = []
        stopped = local_ray.stop(directory=tmp_path, grace_s=30, on_wait=lambda: waited.append("wait"))
        assert stopped is not None and stopped.pid == daemon.pid
        assert told == ["stop"] and waited == ["wait"]
        assert not daemon_process.alive(daemon.pid)  # SIGTERM, after the search let go (reaped by stop: its child here)
        assert not local_ray.stopping(tmp_path) and not local_ray.busy(tmp_path)
    finally:
        local_ray.release()
        daemon.kill()
    record(tmp_path)  # a runtime up (this process) whose stop is under way
    (tmp_path / local_ray.STOPPING).write_text("1")
    assert local_ray.join(num_cpus=None, directory=tmp_path) is None


def test_ray_stop_without_a_search_stops_at_once(tmp_path):
    daemon = fake_daemon()
    try:
        record(tmp_path, pid=daemon.pid)
        waited: list[str] = []
        assert local_ray.stop(directory=tmp_path, grace_s=30, on_wait=lambda: waited.append("wait")) is not None
        assert waited == [] and not daemon_process.alive(daemon.pid)
    finally:
        daemon.kill()


@pytest.mark.ray
@pytest.mark.slow
def test_a_search_joins_the_warm_runtime_which_stops_when_idle(tmp_path):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    directory = local_ray.state_dir()  # the suite's scratch cache (conftest): no other test's runtime
    study = tmp_path / "tiny.toml"
    study.write_text(TINY_STUDY)
    t0 = time.time()
    # idle for 30 s: the search holds the runtime from its join, after its pre-flight, which took over 5 s on
    # a loaded machine (the runtime, idle 6 s, had stopped before the search joined it)
    started = hpbench("ray", "start", "--num-cpus", "2", "--idle-minutes", "0.5", env=env)
    print(f"hpbench ray start: {time.time() - t0:.1f} s")
    runtime = local_ray.find(directory)
    try:
        assert started.returncode == 0, started.stderr
        assert runtime is not None and runtime.num_cpus == 2 and "searches on this machine join it" in started.stdout
        again = hpbench("ray", "start", env=env)
        assert again.returncode == 0 and "already up" in again.stdout and local_ray.find(directory) == runtime
        status = hpbench("ray", "status", env=env)
        assert status.returncode == 0 and runtime.address in status.stdout

        t0 = time.time()
        done = hpbench("search", str(study), "--out", str(tmp_path / "out"), env=env)
        print(f"the search on the warm runtime: {time.time() - t0:.1f} s")
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"on the warm Ray runtime at {runtime.address}" in done.stdout
        from hpbench.cost import history

        rec = [r for r in history.load(history.default_cache_dir()) if r.get("command") and r.get("study") == "tiny"][-1]
        assert rec["ray_started"] is False  # it joined the warm runtime: no Ray of its own
        import hpbench as hp

        trials = hp.load(tmp_path / "out")
        assert len(trials) == 4 and trials["trial_id"].astype(str).str.startswith("early_").any()  # early trials, as on a fresh runtime

        deadline = time.time() + 120  # 30 s without a search, checked every 2 s
        while local_ray.find(directory) is not None and time.time() < deadline:
            time.sleep(0.5)
        assert local_ray.find(directory) is None
        assert "idle for" in (directory / local_ray.LOG).read_text()
        status = hpbench("ray", "status", env=env)
        assert status.returncode == 1 and "no warm Ray runtime" in status.stdout
    finally:
        local_ray.stop(directory=directory)


@pytest.mark.ray
@pytest.mark.slow
def test_ray_stop_stops_the_warm_runtime(tmp_path):
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    assert hpbench("ray", "start", "--num-cpus", "1", env=env).returncode == 0
    runtime = local_ray.find()
    try:
        assert runtime is not None
        stopped = hpbench("ray", "stop", env=env)
        assert stopped.returncode == 0 and runtime.address in stopped.stdout
        assert local_ray.find() is None and not daemon_process.alive(runtime.pid)
        assert "stopping (asked to)" in (local_ray.state_dir() / local_ray.LOG).read_text()
        assert "no warm Ray runtime" in hpbench("ray", "stop", env=env).stdout
    finally:
        local_ray.stop()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_stop_stops_a_search_on_the_runtime_as_ctrl_c_would(tmp_path):
    """A search running on the warm runtime when ``hpbench ray stop`` comes stops cleanly: it says
    why and how to continue, exits 130 as on Ctrl-C, and its finished trials are in the tables."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    assert hpbench("ray", "start", "--num-cpus", "2", env=env).returncode == 0
    study = tmp_path / "long.toml"
    study.write_text(TINY_STUDY.replace("trials = 4", "trials = 500"))  # still running when the stop comes
    search = subprocess.Popen([sys.executable, "-m", "hpbench", "search", str(study), "--out", str(tmp_path / "out")], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        assert search.stdout is not None
        for line in search.stdout:  # the search has joined the runtime (and watches it) once it says so
            seen.append(line)
            if "on the warm Ray runtime" in line:
                break
        assert any("on the warm Ray runtime" in line for line in seen), "".join(seen)
        stopped = hpbench("ray", "stop", env=env)
        out = "".join(seen) + search.stdout.read()
        assert search.wait(timeout=120) == 130, out[-3000:]
        assert stopped.returncode == 0 and "they stop first" in stopped.stdout, stopped.stdout
        assert "hpbench ray stop is stopping the Ray runtime" in out and "--resume" in out, out[-3000:]
        assert local_ray.find() is None
    finally:
        search.kill()
        local_ray.stop()


# ---- what the estimate and the ETA price for a search on the warm runtime ----------------------

def test_would_join_follows_the_address_and_the_cpus(tmp_path):
    assert not local_ray.would_join(address=None, num_cpus=None, directory=tmp_path)  # none up
    record(tmp_path)
    assert local_ray.would_join(address=None, num_cpus=None, directory=tmp_path)
    assert local_ray.would_join(address=None, num_cpus=2, directory=tmp_path)
    assert not local_ray.would_join(address=None, num_cpus=3, directory=tmp_path)
    assert not local_ray.would_join(address="local", num_cpus=None, directory=tmp_path)
    assert not local_ray.would_join(address="auto", num_cpus=None, directory=tmp_path)


def test_a_warm_start_up_is_priced_from_its_own_searches_else_as_a_share_of_a_fresh_one():
    from hpbench.cost.figures import WARM_STARTUP_RATIO, Figures

    figs = Figures(startup_s=10.0, startup_solo_s=8.0)
    assert figs.startup(early=True, contention=1.0, warm=True) == pytest.approx(10.0 * WARM_STARTUP_RATIO, rel=1e-5)
    assert "on the warm runtime" in figs.startup_source(early=True, warm=True)
    assert figs.startup(early=False, contention=1.0) == pytest.approx(8.0, rel=1e-5)  # a fresh solo search: as before
    own = Figures(startup_s=10.0, startup_warm_s=3.0)
    assert own.startup(early=True, contention=2.0, warm=True) == pytest.approx(6.0, rel=1e-5)


def test_warm_searches_teach_their_own_start_up_and_not_the_fresh_one():
    from hpbench.cost import history

    def rec(startup_s: float, **over: object) -> dict[str, object]:
        return {"command": True, "ray_started": True, "startup_s": startup_s, "contention": 1.0, "n_search": 24, **over}

    recs = [rec(10.0), rec(12.0), rec(4.0, ray_started=False, warm_runtime=True), rec(5.0, ray_started=False, warm_runtime=True)]
    figs = history.figures(recs)
    assert figs.startup_s == pytest.approx(11.0, rel=1e-5) and figs.startup_warm_s == pytest.approx(4.5, rel=1e-5)
    assert "earlier searches here" in figs.startup_source(early=True, warm=True)


def test_a_warm_search_records_its_start_up():
    from hpbench.cost.record import search_record

    common = dict(run_id="r", study="s", trials=[], started_at=100.0, command=True, cpus=2, concurrency=2, cpus_per_trial=1.0,
                  contention=1.0, phases={})
    assert search_record(**common, ray_started=False, warm_runtime=True)["warm_runtime"] is True
    assert "warm_runtime" not in search_record(**common, ray_started=True)


def test_the_estimate_prices_a_warm_start_up_lower(write_study):
    from hpbench.cost.device import DeviceModel
    from hpbench.cost.estimate import estimate_study
    from hpbench.cost.figures import Figures

    study = load_study(write_study(TINY_STUDY))
    configs = [{"optimizer": "adam", "lr": 0.01}] * 4
    dev = DeviceModel.hypothetical_device(flops_per_s=1e10)
    figs = Figures(startup_s=10.0)
    fresh = estimate_study(study, device_model=dev, configs=configs, figures=figs, cpus=2, n_early=2, n_early_max=2)
    warm = estimate_study(study, device_model=dev, configs=configs, figures=figs, cpus=2, n_early=2, n_early_max=2, warm=True)
    fresh_s, warm_s = (e.summary["wall_time"]["parts"]["startup_s"] for e in (fresh, warm))
    assert warm_s < fresh_s and warm.summary["wall_time"]["total_s"] < fresh.summary["wall_time"]["total_s"]
    assert "on the warm runtime" in warm.summary["wall_time"]["sources"]["startup_s"]


def test_hpbench_estimate_prices_the_warm_runtime_while_one_is_up(write_study, tmp_path, monkeypatch):
    """``hpbench.estimate`` prices the search as ``hpbench search STUDY`` would run it: on the warm
    runtime while one is up (a record of a live process stands for it here), a fresh start-up after.
    A cache of its own: no history here, so both are the prior's (a warm search of another test
    would have taught the warm figure)."""
    import hpbench as hp

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    study = hp.Study.from_toml(write_study(TINY_STUDY))
    directory = local_ray.state_dir()
    record(directory)
    try:
        warm = hp.estimate(study, samples=2, device_flops=1e12).attrs["summary"]["wall_time"]
    finally:
        (directory / local_ray.STATE).unlink()
    fresh = hp.estimate(study, samples=2, device_flops=1e12).attrs["summary"]["wall_time"]
    assert "on the warm runtime" in warm["sources"]["startup_s"] and "on the warm runtime" not in fresh["sources"]["startup_s"]
    # each estimate probes the machine's contention at its own moment (a busy machine reads higher then): compared without it
    assert warm["parts"]["startup_s"] / max(1.0, warm["contention"]) < fresh["parts"]["startup_s"] / max(1.0, fresh["contention"])


def test_a_runtime_of_the_searchs_own_is_started_even_beside_a_ray_start_cluster():
    """ray.init() with no address joins the cluster `ray start --head` recorded on this machine,
    and refused hpbench's own settings then ("When connecting to an existing cluster,
    _system_config must not be provided"): a plain search failed while a head node was up."""
    assert local_ray.init_kwargs(num_cpus=2)["address"] == "local"
    assert local_ray.init_kwargs(num_cpus=None, loopback=False)["address"] == "local"  # the warm runtime's too


def test_a_cluster_that_refuses_the_driver_is_a_refusal_naming_token_auth(tmp_path, monkeypatch):
    """Joining a `ray start --head` cluster without RAY_AUTH_MODE=token failed after ~25 s with
    three tracebacks; it is now one line naming the address and the setting."""
    import ray

    from hpbench.dispatch.backend import init_ray
    from hpbench.dispatch.plan import ResumeRefused

    def refused(*a, **k):
        raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.9:6379")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refused)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    with pytest.raises(ResumeRefused) as err:
        init_ray(SearchOptions(out=tmp_path, address="10.0.0.9:6379"))
    assert "--address 10.0.0.9:6379: cannot join the Ray cluster there" in str(err.value) and "RAY_AUTH_MODE=token" in str(err.value)
