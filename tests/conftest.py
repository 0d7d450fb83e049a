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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session", autouse=True)
def scratch_cache(tmp_path_factory):
    """The suite runs with ``XDG_CACHE_HOME`` on a scratch copy of hpbench's cache (the device
    models and data caches, not the search history; inherited by the CLI's subprocesses), so that
    its searches, in-process on the session's running Ray, do not record into this machine's
    history a start-up of nothing that a user's later estimates would read."""
    before = os.environ.get("XDG_CACHE_HOME")
    real = Path(before or os.path.expanduser("~/.cache")) / "hpbench"
    scratch = tmp_path_factory.mktemp("xdg")
    if real.is_dir():
        shutil.copytree(real, scratch / "hpbench", ignore=shutil.ignore_patterns("*-searches.json"))
    os.environ["XDG_CACHE_HOME"] = str(scratch)
    yield scratch
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
