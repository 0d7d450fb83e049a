"""The test suite keeps its searches out of this machine's search history: it runs on a scratch
copy of hpbench's cache (device models kept, history left behind)."""

from __future__ import annotations

import os
from pathlib import Path

from hpbench.cost import history


def test_the_suite_records_its_searches_in_a_scratch_cache(scratch_cache):
    assert os.environ["XDG_CACHE_HOME"] == str(scratch_cache)
    cache = history.default_cache_dir()
    assert cache == scratch_cache / "hpbench" / "devices"
    assert cache != Path(os.path.expanduser("~/.cache/hpbench/devices"))
    history.append(cache, {"schema": history.SCHEMA, "study": "suite-scratch-check", "nice": 0})
    assert [r["study"] for r in history.load(cache)][-1] == "suite-scratch-check"
    real = Path(os.path.expanduser("~/.cache/hpbench/devices"))
    assert all(r.get("study") != "suite-scratch-check" for r in history.load(real))
