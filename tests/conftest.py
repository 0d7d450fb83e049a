"""Shared fixtures. Ray is started at most once per test session (it takes seconds), and
only by tests that ask for ``ray_local``."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"


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


TINY_STUDY = """
[study]
name = "tiny"
seed = 0
metric = "val_accuracy"
mode = "max"
trials = 4
searcher = "random"
scheduler = "none"
max_concurrent = 2

[data]
dataset = "digits"
preprocess = ["standardize"]

[model]
family = "mlp"
depth = 1
width = 32

[train]
max_epochs = 3
batch_size = 64

[space]
optimizer = { choice = ["adam", "sgd"] }
lr = { loguniform = [1e-3, 1e-1] }
"""
