"""Where a machine's CPU goes while a command runs: every process's CPU seconds read from
``/proc`` a few times a second, summed by kind (hpbench's driver and helper, Ray's trial workers,
its daemons) per window of wall time. A diagnostic for benchmarks/timeline.py (issue 20: is a
search's start-up bound by the CPU, and whose?). Linux only; run it with nothing else running
(benchmarks/exclusive.sh): it counts every process whose command line names one of the kinds.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
KINDS = ("driver", "helper", "ray-worker", "ray-daemons")


def kind(cmdline: str) -> str | None:
    """The kind of a process from its command line (and name), None for processes of no interest."""
    if "hpbench.dispatch.helper" in cmdline:
        return "helper"
    if "hpbench search" in cmdline or "timeline.py --child" in cmdline:
        return "driver"
    if "default_worker" in cmdline or "setup_worker" in cmdline or "ray::" in cmdline:
        return "ray-worker" if "IDLE" not in cmdline and "Agent" not in cmdline else "ray-daemons"
    if "raylet" in cmdline or "gcs_server" in cmdline or "site-packages/ray/" in cmdline:
        return "ray-daemons"
    return None


def _cpu_by_pid(classify: Callable[[str], str | None]) -> dict[int, tuple[str, float]]:
    out: dict[int, tuple[str, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        k = classify(f"{cmd} {comm}")
        if k is not None:
            fields = stat[stat.rindex(")") + 2 :].split()
            out[int(name)] = (k, (int(fields[11]) + int(fields[12])) / HZ)  # utime + stime
    return out


class CpuPoll:
    """Polls from :meth:`start` to :meth:`stop`; ``windows[i][kind]``: CPU seconds of ``kind`` in
    ``[i * window_s, (i + 1) * window_s)`` from ``t0`` (a process's CPU before its first poll
    counts in the window it was first seen in). ``classify``: a command line's kind (None: not counted)."""

    def __init__(self, *, t0: float, window_s: float = 2.0, every_s: float = 0.2, classify: Callable[[str], str | None] = kind) -> None:
        self.t0, self.window_s, self.every_s, self.classify = t0, window_s, every_s, classify
        self.windows: dict[int, dict[str, float]] = collections.defaultdict(lambda: collections.defaultdict(float))
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-poll", daemon=True)

    def start(self) -> CpuPoll:
        self._thread.start()
        return self

    def stop(self) -> dict[str, dict[str, float]]:
        self._stop.set()
        self._thread.join()
        return {f"{i * self.window_s:g}": dict(c) for i, c in sorted(self.windows.items())}

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time() - self.t0
            for pid, (k, cpu) in _cpu_by_pid(self.classify).items():
                self.windows[int(now // self.window_s)][k] += cpu - self._seen.get(pid, 0.0)
                self._seen[pid] = cpu
            self._stop.wait(self.every_s)


def table(windows: dict[str, dict[str, float]], *, cpus: int | None = None, until: float | None = None) -> list[str]:
    """Lines: each window's CPU seconds by kind, and the sums (up to ``until`` seconds, if given)."""
    cpus = cpus or os.cpu_count() or 1
    lines = ["CPU seconds by kind per window (s from process start; the machine has "
             f"{cpus} CPUs: {cpus} CPU-s per second at most):"]
    total: dict[str, float] = collections.defaultdict(float)
    early: dict[str, float] = collections.defaultdict(float)
    for start, by in windows.items():
        lines.append(f"  {float(start):5.1f}  " + "  ".join(f"{k} {by.get(k, 0.0):5.2f}" for k in KINDS))
        for k, v in by.items():
            total[k] += v
            if until is not None and float(start) < until:
                early[k] += v
    lines.append("  total  " + "  ".join(f"{k} {total.get(k, 0.0):5.1f}" for k in KINDS))
    if until is not None:
        lines.append(f"  before {until:.1f} s  " + "  ".join(f"{k} {early.get(k, 0.0):5.1f}" for k in KINDS))
    return lines
