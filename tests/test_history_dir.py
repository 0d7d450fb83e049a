"""Where the search history lives: ``$HPBENCH_HISTORY_DIR`` when set, else next to the device
models; the test suite keeps its own searches out of this machine's history."""

from __future__ import annotations

import os
from pathlib import Path

from hpbench.cost import history


def test_history_dir_follows_the_environment_then_the_device_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HPBENCH_HISTORY_DIR", str(tmp_path / "h"))
    assert history.history_dir() == tmp_path / "h"
    history.append(history.history_dir(), {"schema": history.SCHEMA, "study": "s", "nice": 0})
    assert [r["study"] for r in history.load(tmp_path / "h")] == ["s"]
    monkeypatch.setenv("HPBENCH_HISTORY_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert history.history_dir() == tmp_path / "xdg" / "hpbench" / "devices" == history.default_cache_dir()


def test_the_suite_records_its_searches_in_a_scratch_history(scratch_search_history):
    assert os.environ["HPBENCH_HISTORY_DIR"] == str(scratch_search_history)
    assert history.history_dir() == scratch_search_history
    assert history.history_dir() != Path(os.path.expanduser("~/.cache/hpbench/devices"))
