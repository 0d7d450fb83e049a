"""A warm runtime's record (:data:`hpbench.dispatch.local_ray.STATE`) in a test's folder, its
daemon a sleeping process whose command line names the daemon's module."""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import time
from pathlib import Path

from hpbench.dispatch import daemon_process, local_ray


def fake_daemon() -> subprocess.Popen[bytes]:
    """A sleeping process whose command line names the daemon's module, as ``hpbench ray start``'s does."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "-m", daemon_process.MODULE])
    deadline = time.time() + 30
    while not daemon_process.is_daemon(proc.pid, started_at=time.time()) and time.time() < deadline:
        time.sleep(0.01)  # until it runs Python: just forked, it is still the test's process
    return proc


_FAKE: list[subprocess.Popen[bytes]] = []


def daemon_pid() -> int:
    """One fake daemon for the records that only need a live one (ended with the test session)."""
    if not _FAKE or _FAKE[0].poll() is not None:
        _FAKE[:] = [fake_daemon()]
        atexit.register(_FAKE[0].kill)
    return _FAKE[0].pid


def record(directory: Path, **over: object) -> dict[str, object]:
    rec: dict[str, object] = dict(address="127.0.0.1:6390", pid=over.pop("pid", None) or daemon_pid(), num_cpus=2, started_at=time.time(), idle_s=60.0,
                                  ray_version=local_ray._version())
    rec.update(over)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / local_ray.STATE).write_text(json.dumps(rec))
    return rec
