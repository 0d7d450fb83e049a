"""Shared fixtures and markers. Ray is started at most once per test session (it takes
seconds), and only by tests that ask for ``ray_local``; such tests are marked ``ray``
automatically, so ``pytest -m "not slow and not ray"`` (``make test-fast``) runs without Ray.

``pytest --update-golden`` rewrites the expected outputs under ``tests/golden/`` instead of
comparing with them."""

from __future__ import annotations

import os
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
def scratch_search_history(tmp_path_factory):
    """The test searches record into a scratch history (``HPBENCH_HISTORY_DIR``, inherited by the
    CLI's subprocesses), not this machine's: an in-process search on the session's running Ray
    would teach a user's later estimates a start-up of nothing. The device models stay shared."""
    before = os.environ.get("HPBENCH_HISTORY_DIR")
    os.environ["HPBENCH_HISTORY_DIR"] = str(tmp_path_factory.mktemp("history"))
    yield Path(os.environ["HPBENCH_HISTORY_DIR"])
    if before is None:
        os.environ.pop("HPBENCH_HISTORY_DIR", None)
    else:
        os.environ["HPBENCH_HISTORY_DIR"] = before


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
