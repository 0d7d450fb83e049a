"""The Ray runtime of a process between searches (bug hunt s50/h2, findings 1 and 7):
``address=`` and ``num_cpus=`` are never ignored because Ray is already up. A runtime an earlier
search started gives way to what a later call asks for; one the user started (``ray.init()``) is
refused, naming it, before anything starts; with neither option the search runs on what is up.
A search from Python leaves Ray's loggers at their levels."""

from __future__ import annotations

import logging
import socket
from io import StringIO

import pytest
from rich.console import Console

import hpbench
from hpbench.dispatch import ray_runtime
from hpbench.dispatch.ray_runtime import CLUSTER, LOCAL, Runtime, Started
from tests.helpers.studies import TINY_STUDY

QUIET = Console(file=StringIO())
USERS = Runtime(gcs="10.1.2.3:6379", cpus=1.0, largest_node=1.0, started=None)


def ours(kind: str, *, cpus: float = 1.0, address: str | None = None) -> Runtime:
    return Runtime(gcs="10.1.2.3:6379", cpus=cpus, largest_node=cpus, started=Started(driver="d", address=address, kind=kind))


def test_what_a_call_asks_that_the_runtime_up_is_not():
    for runtime in (USERS, ours(LOCAL)):
        assert ray_runtime.differs(runtime, address=None, num_cpus=None) == ""
        assert ray_runtime.differs(runtime, address=None, num_cpus=1) == ""
        assert ray_runtime.differs(runtime, address=None, num_cpus=2) == "a local Ray runtime of 2 CPUs"
        assert ray_runtime.differs(runtime, address="10.1.2.3:6379", num_cpus=None) == ""
        assert ray_runtime.differs(runtime, address="10.1.2.4:6379", num_cpus=None) == "the Ray cluster at 10.1.2.4:6379"
    assert ray_runtime.differs(ours(LOCAL), address="local", num_cpus=None) == ""
    assert "of the search's own" in ray_runtime.differs(USERS, address="local", num_cpus=None)
    cluster = ours(CLUSTER, cpus=8, address="head:6379")
    assert ray_runtime.differs(cluster, address="head:6379", num_cpus=None) == ""
    assert ray_runtime.differs(cluster, address=None, num_cpus=8) == "a local Ray runtime of 8 CPUs"
    assert ray_runtime.same_endpoint("localhost:6379", "127.0.0.1:6379") and not ray_runtime.same_endpoint("localhost:6380", "127.0.0.1:6379")


def test_hpbenchs_own_runtime_gives_way_and_the_users_does_not(monkeypatch):
    import ray

    from hpbench.dispatch import local_ray

    shut: list[str] = []
    monkeypatch.setattr(ray, "shutdown", lambda: shut.append("shutdown"))
    monkeypatch.setattr(local_ray, "release", lambda: shut.append("release"))
    monkeypatch.setattr(ray_runtime, "current", lambda: ours(LOCAL))
    assert ray_runtime.make_way(address=None, num_cpus=1) is False and shut == []
    assert ray_runtime.make_way(address=None, num_cpus=None) is False and shut == []
    assert ray_runtime.make_way(address=None, num_cpus=2) is True and shut == ["shutdown", "release"]
    shut.clear()
    monkeypatch.setattr(ray_runtime, "current", lambda: USERS)  # refused before (check_runtime): never shut down here
    assert ray_runtime.make_way(address=None, num_cpus=2) is False and shut == []


@pytest.fixture
def listener():
    """Something that answers at an address (check_options asks that it does), other than the runtime's."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def no_ray_start(monkeypatch):
    import hpbench.dispatch.search_phase as search_phase

    monkeypatch.setattr(search_phase, "init_ray", lambda *a, **k: pytest.fail("the search went as far as Ray"))


def _refused(call, out, fragments: list[str]) -> None:
    with pytest.raises(hpbench.StudyError) as err:
        call()
    for frag in fragments:
        assert frag in str(err.value)
    assert not out.exists()


def test_a_call_that_the_users_runtime_does_not_fit_is_refused_before_anything(write_study, tmp_path, monkeypatch, listener, no_ray_start):
    monkeypatch.setattr(ray_runtime, "current", lambda: USERS)
    study = hpbench.Study.from_toml(write_study(TINY_STUDY))
    out = tmp_path / "out"
    _refused(lambda: hpbench.search(study, out=out, num_cpus=2, console=QUIET),
             out, ["num_cpus", "a local Ray runtime of 2 CPUs", "10.1.2.3:6379 with 1 CPUs", "not started by hpbench", "ray.shutdown()"])
    _refused(lambda: hpbench.search(study, out=out, address=listener, console=QUIET), out, ["address", f"the Ray cluster at {listener}", "10.1.2.3:6379"])
    big = hpbench.Study.from_toml(write_study(TINY_STUDY + "\n[resources]\ncpus_per_trial = 2\n", "big.toml"))
    _refused(lambda: hpbench.search(big, out=out, console=QUIET), out, ["resources.cpus_per_trial", "1 CPUs of the largest node", "10.1.2.3:6379"])
    # a GPU share on a runtime without GPUs, the user's or hpbench's own (it was not checked once Ray was up: CI dry run s50)
    gpu = hpbench.Study.from_toml(write_study(TINY_STUDY + "\n[resources]\ngpus_per_trial = 1\n", "gpu.toml"))
    for up in (USERS, ours(ray_runtime.LOCAL, cpus=2.0)):
        monkeypatch.setattr(ray_runtime, "current", lambda up=up: up)
        _refused(lambda: hpbench.search(gpu, out=out, console=QUIET), out, ["resources.gpus_per_trial", "has none", "10.1.2.3:6379"])


def test_a_search_from_python_leaves_rays_loggers_as_it_found_them(write_study, tmp_path, monkeypatch):
    from hpbench.api.search import SearchRefused
    from hpbench.dispatch import backend, runner
    from hpbench.dispatch.plan import ResumeRefused

    names = ("ray", "ray.tune", "ray.tune.tune")
    import ray  # noqa: F401  (its import sets its loggers' levels: before the test sets them)

    monkeypatch.setattr(backend, "_saved_levels", {"ray": logging.ERROR})  # left by an earlier search that restored nothing
    for name in names:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.WARNING)
    monkeypatch.setattr(ray_runtime, "make_way", lambda **k: False)  # Ray up and fitting: nothing to start

    def run(study, opts, **kwargs):
        backend.init_ray(opts)
        assert logging.getLogger("ray.tune").level == logging.ERROR  # quiet while the search runs
        raise ResumeRefused("stopped here")

    monkeypatch.setattr(runner, "run_search", run)
    with pytest.raises(SearchRefused):
        hpbench.search(hpbench.Study.from_toml(write_study(TINY_STUDY)), out=tmp_path / "out", preflight=False, console=QUIET)
    assert [logging.getLogger(n).level for n in names] == [logging.WARNING] * 3


SMALL = TINY_STUDY.replace("trials = 4", "trials = 2").replace("max_epochs = 3", "max_epochs = 1")


def _restore_the_suites_runtime(tmp_path) -> None:
    import ray

    from hpbench.dispatch.runner import SearchOptions, init_ray

    if ray_runtime.current() is not None and ray_runtime.current().started is None:  # type: ignore[union-attr]
        ray.shutdown()
    init_ray(SearchOptions(out=tmp_path, num_cpus=2))  # the session's runtime (conftest's ray_local), 2 CPUs again
    assert ray.cluster_resources()["CPU"] == 2


@pytest.mark.slow
def test_the_users_own_ray_init_is_used_as_it_is_and_not_replaced(ray_local, write_study, tmp_path, listener, no_ray_start):
    """The user's ray.init(num_cpus=1), then a search asking for 2 CPUs or another cluster: refused,
    naming the runtime (it ran on the user's runtime before, ignoring both)."""
    ray = ray_local
    study = hpbench.Study.from_toml(write_study(SMALL))
    out = tmp_path / "out"
    try:
        ray.shutdown()
        ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
        gcs = ray.get_runtime_context().gcs_address
        _refused(lambda: hpbench.search(study, out=out, num_cpus=2, console=QUIET), out, ["num_cpus", f"at {gcs} with 1 CPUs", "not started by hpbench"])
        _refused(lambda: hpbench.search(study, out=out, address=listener, console=QUIET), out, [f"the Ray cluster at {listener}", gcs])
        assert ray.get_runtime_context().gcs_address == gcs  # still the user's
    finally:
        _restore_the_suites_runtime(tmp_path)


@pytest.mark.slow
def test_a_second_search_asking_for_other_cpus_runs_on_them(ray_local, write_study, tmp_path):
    """After a search (hpbench's runtime up, 2 CPUs), one with num_cpus=1 ran on the 2-CPU runtime."""
    ray = ray_local
    study = hpbench.Study.from_toml(write_study(SMALL))
    try:
        results = hpbench.search(study, out=tmp_path / "out", num_cpus=1, early_trials=False, console=QUIET)
        assert ray.cluster_resources()["CPU"] == 1 and len(results.trials) == 2
    finally:
        _restore_the_suites_runtime(tmp_path)


def test_the_command_run_inside_a_process_with_the_users_ray_exits_2(write_study, tmp_path, monkeypatch, no_ray_start):
    from typer.testing import CliRunner

    from hpbench.cli import app

    monkeypatch.setattr(ray_runtime, "current", lambda: USERS)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["search", str(write_study(TINY_STUDY)), "--out", str(out), "--num-cpus", "2"])
    flat = " ".join(r.output.split())
    assert r.exit_code == 2 and "--num-cpus" in flat and "10.1.2.3:6379 with 1 CPUs" in flat, r.output
    assert not out.exists()
