"""Shared fixtures and markers. Ray is started at most once per test session (it takes
seconds), and only by tests that ask for ``ray_local``; such tests are marked ``ray``
automatically, so ``pytest -m "not slow and not ray"`` (``make test-fast``) runs without Ray.

``pytest --update-golden`` rewrites the expected outputs under ``tests/golden/`` instead of
comparing with them."""

from __future__ import annotations

import os
import shutil
from io import StringIO
from pathlib import Path

import pytest

from tests.helpers.studies import ROOT, STUDIES, TINY_STUDY

__all__ = ["ROOT", "STUDIES", "TINY_STUDY"]  # kept here for the test modules that import them from conftest

RAY_FIXTURES = frozenset({"ray_local"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/ from the current output instead of comparing with it")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ray: starts a Ray runtime (marked automatically for tests using ray_local)")
    # pytest-xdist registers it too; here for a run without xdist (``--strict-markers``)
    config.addinivalue_line("markers", "xdist_group(name): tests that run on one xdist worker (set in pytest_collection_modifyitems)")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)
    # Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) the Ray and slow tests all run on
    # one worker, in collection order, as in a serial run: one Ray runtime for all of them, and the
    # fault tests' kills and the cluster test's `ray start` never beside another Ray test. So do the
    # other tests of their modules that share a module fixture with them (a search, a PostgreSQL
    # server, the toy plugin that pip installs into this environment): set up once, on that worker.
    # The other tests spread over the workers.
    def heavy(item: pytest.Item) -> bool:
        return item.get_closest_marker("ray") is not None or item.get_closest_marker("slow") is not None

    def shares_a_module_fixture(item: pytest.Item) -> bool:
        info = getattr(item, "_fixtureinfo", None)
        return info is not None and any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values() if defs)

    heavy_modules = {item.path for item in items if heavy(item)}
    for item in items:
        if heavy(item) or (item.path in heavy_modules and shares_a_module_fixture(item)):
            item.add_marker(pytest.mark.xdist_group("ray"))
            if getattr(config.option, "loadgroup", False):  # an xdist worker under --dist loadgroup
                group_nodeid(item, "ray")


def group_nodeid(item: pytest.Item, group: str) -> None:
    """xdist's scheduler groups tests by the suffix ``@group`` of their node ids, which its hook
    writes into ``item._nodeid``; pytest 9.2 keeps the node id in ``item._id`` instead (xdist 3.8's
    suffix is lost and every test is scheduled alone), so the suffix is written here."""
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # a pytest before 9.2: xdist's hook does it
        return
    if not item.nodeid.endswith(f"@{group}"):
        item._id = coerce_node_id(f"{item.nodeid}@{group}")


@pytest.fixture(scope="session", autouse=True)
def scratch_cache(tmp_path_factory):
    """The suite runs with ``XDG_CACHE_HOME`` on a scratch copy of hpbench's cache (the device
    models and data caches, not the search history nor the start-up probe's record; inherited by
    the CLI's subprocesses), so that its searches, in-process on the session's running Ray, do
    not record into this machine's history a start-up of nothing that a user's later estimates
    would read, and its estimates price a machine with no history as the prior does."""
    before = os.environ.get("XDG_CACHE_HOME")
    real = Path(before or os.path.expanduser("~/.cache")) / "hpbench"
    scratch = tmp_path_factory.mktemp("xdg")
    if real.is_dir():
        shutil.copytree(real, scratch / "hpbench", ignore=shutil.ignore_patterns("*-searches.json", "*-probe.json", "ray"))  # "ray": a warm runtime of the user's (hpbench ray start) is not the suite's
    os.environ["XDG_CACHE_HOME"] = str(scratch)
    probe = os.environ.get("HPBENCH_STARTUP_PROBE")
    os.environ["HPBENCH_STARTUP_PROBE"] = "0"  # an estimate that calibrates the scratch cache times no probe search
    yield scratch
    if probe is None:
        os.environ.pop("HPBENCH_STARTUP_PROBE", None)
    else:
        os.environ["HPBENCH_STARTUP_PROBE"] = probe
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray runtime shared by the Ray integration tests."""
    import ray

    from hpbench.dispatch.runner import SearchOptions, init_ray

    init_ray(SearchOptions(out=Path("."), num_cpus=2))
    yield ray
    ray.shutdown()


@pytest.fixture
def write_study(tmp_path):
    """Write a study file from TOML text; returns its path."""

    def _write(text: str, name: str = "study.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture(scope="session")
def report_results(ray_local, tmp_path_factory) -> Path:
    """A real tiny search for the report tests (Ray, 6 trials of 3 epochs with ASHA, then 2
    repeats of the top 2), run once per test session."""
    from rich.console import Console

    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.study.parse import load_study

    root = tmp_path_factory.mktemp("report")
    src = root / "tiny.toml"
    src.write_text(TINY_STUDY.replace("trials = 4", "trials = 6\nrepeats = 2\nrepeats_top = 2").replace('scheduler = "none"', 'scheduler = "asha"'))
    study = load_study(src)
    out = root / "results"
    con = Console(file=StringIO())
    store = run_search(study, SearchOptions(out=out, num_cpus=2, repeats=study.settings.repeats), console=con)
    assert sum(1 for t in store.trials.values() if t.get("repeat")) == 4
    return out


@pytest.fixture
def golden(request):
    """``golden(name, text)``: compare with ``tests/golden/<name>`` (or rewrite it under ``--update-golden``)."""
    from tests.helpers.golden import check

    update = bool(request.config.getoption("--update-golden"))
    return lambda name, text: check(name, text, update=update)
