"""`hpbench report` on a search that is still running: every read is a consistent snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.helpers.studies import TINY_STUDY

pytestmark = pytest.mark.slow


def test_report_reads_a_running_search(tmp_path):
    study = tmp_path / "live.toml"
    study.write_text(TINY_STUDY.replace("trials = 4", "trials = 6").replace("max_epochs = 3", "max_epochs = 25"))
    out = tmp_path / "out"
    search = subprocess.Popen([sys.executable, "-m", "hpbench.cli", "search", str(study), "--out", str(out), "--num-cpus", "2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen_running, reads = 0, 0
    try:
        deadline = time.monotonic() + 180
        # 3 reads mid-search are the check; more (each a process importing hpbench) only take CPU
        # from the search until its end
        while search.poll() is None and time.monotonic() < deadline and seen_running < 3:
            if (out / "trials.parquet").exists():
                res = subprocess.run([sys.executable, "-m", "hpbench.cli", "report", str(out), "--json", "-s", "leaderboard"],
                                     capture_output=True, text=True, check=False)
                assert res.returncode == 0, res.stderr
                doc = json.loads(res.stdout)
                reads += 1
                seen_running += doc["n_trials"] < 6
            time.sleep(0.2)
        _, err = search.communicate(timeout=300)
    finally:
        if search.poll() is None:
            search.kill()
            _, err = search.communicate()
    assert search.returncode == 0, err[-2000:]
    assert reads >= 1 and seen_running >= 1  # at least one read happened mid-search
