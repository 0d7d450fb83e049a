"""Whether a process is the warm runtime's daemon that a record names
(:data:`hpbench.dispatch.local_ray.STATE`), and not another process that took its PID since.

A daemon that ended uncleanly (``kill -9``, the OOM killer, a reboot: ``~/.cache`` survives one)
leaves its record behind; its PID can then belong to any process. Before, a record counted as
live whenever some process had its PID: ``hpbench ray status`` said up, every search hung joining
the dead runtime's address, and ``hpbench ray stop`` signalled the unrelated process (s50/h8 #1).
A record is now live only while its PID's process runs ``python -m hpbench.dispatch.warm_daemon``
and started no later than the record says the runtime came up. One daemon starts at a time
(:func:`one_start`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

MODULE = "hpbench.dispatch.warm_daemon"  # how local_ray.start runs the daemon: python -m MODULE ...
START_SLACK_S = 5.0  # the daemon starts before it records ``started_at`` (after ray.init); the slack covers clock ticks and rounding


def _proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return [] if Path("/proc/self").exists() else None  # Linux: no such process; elsewhere: no /proc
    except OSError:
        return None
    return raw.decode("utf-8", "replace").split("\0")


def _ps_cmdline(pid: int) -> list[str] | None:
    """Elsewhere (macOS, the BSDs): ``ps``'s view of its command line; None when ``ps`` cannot say."""
    try:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.split() if out.returncode == 0 else []


def _proc_started(pid: int) -> float | None:
    """When the process started (seconds since the epoch), from ``/proc``; None where it cannot say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime, counted after the command's ")"
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def is_daemon(pid: int, *, started_at: float) -> bool:
    """Whether ``pid`` is the warm daemon that recorded ``started_at``: its command line names
    :data:`MODULE`, and (where ``/proc`` says) it started no later than ``started_at``; a process
    that took a dead daemon's PID started after the daemon recorded that. Where neither ``/proc``
    nor ``ps`` can say, a process with that PID counts (the check before)."""
    cmdline = _proc_cmdline(pid)
    if cmdline is None:
        cmdline = _ps_cmdline(pid)
    if cmdline is None:
        return alive(pid)
    if MODULE not in cmdline:
        return False
    began = _proc_started(pid)
    return began is None or began <= started_at + START_SLACK_S


def alive(pid: int) -> bool:
    """Whether a process of ours has ``pid`` (another user's, under a reused pid, is not ours)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def terminate(pid: int, *, timeout_s: float, started_at: float | None = None) -> None:
    """SIGTERM, then SIGKILL to its process group: our own child (``started_at`` None), or the
    daemon a record names, checked again before the SIGKILL (its PID may be another's by then)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout_s
    while alive(pid) and time.time() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child (a failed start): reap it
                return
        time.sleep(0.1)
    if alive(pid) and (started_at is None or is_daemon(pid, started_at=started_at)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # the daemon leads its own session: its Ray processes with it


@contextlib.contextmanager
def one_start(path: Path, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """One daemon start at a time: an exclusive ``flock`` on ``path`` for the block (from the look
    for a runtime up to its record), waited for when another start holds it (``on_wait``: called
    once then). The kernel drops it with its holder; the daemon, started with ``close_fds``, holds
    none of it. Before, two ``hpbench ray start`` at once both found none and started a daemon: the
    second failed after ~25 s with Ray's authentication error (each daemon wrote its own token) and
    overwrote the live runtime's log (s51/h2 #3)."""
    with path.open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # released as the file closes
