"""The machine facts a wall-clock prediction needs: when this command started, how many CPUs
there are, and how much slower than alone a busy thread runs right now (contention).

The command's clock starts when its process started (``/proc/self/stat``), so that the ETA,
``--budget-s`` and the measured start-up count the interpreter and the imports the user waits
for too; where that cannot be read (not Linux), at the first call in this process.

Contention is measured, not inferred from a load count: the kernel keeps, per thread, the time
it ran and the time it waited runnable for a CPU (``/proc/<pid>/task/<tid>/schedstat``), so a
CPU-bound thread's contention is ``(run + wait) / run``. Counting runnable threads (the load
average) was tried first and overstated it about threefold on this shared machine (other
processes' threads are short-lived, niced or grouped by the scheduler).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_FIRST_CALL = time.time()


def process_started_at() -> float:
    """Epoch seconds when this process started: now, less the process's age on the kernel's
    boot clock (its start in ``/proc/self/stat``, in clock ticks after boot, against
    ``CLOCK_BOOTTIME``), to 10 ms. Not ``btime`` + start: ``btime`` is the boot's epoch second
    rounded down, and it drifts from the wall clock as the clock is adjusted after boot; it put
    the start 0.7-0.85 s early on the development VM (session 12), and that phantom time was in
    every search's clock, its recorded start-up and its ETA."""
    try:
        stat = Path("/proc/self/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ", field 3 onwards
        ticks = int(fields[19])  # field 22: starttime, in clock ticks after boot (boot clock, suspend included)
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - max(0.0, age)
    except (OSError, ValueError, IndexError, AttributeError):
        return _FIRST_CALL


def n_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def schedstat(pid: int) -> dict[int, tuple[int, int]] | None:
    """Per thread of process ``pid``: nanoseconds it ran, and waited runnable for a CPU (None
    where the kernel does not say)."""
    out = {}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with open(task / "schedstat", encoding="ascii") as f:
                parts = f.read().split()
            out[int(task.name)] = (int(parts[0]), int(parts[1]))
    except (OSError, ValueError, IndexError):
        return None
    return out


def _thread_schedstat() -> tuple[int, int] | None:
    try:
        parts = Path("/proc/thread-self/schedstat").read_text().split()
        return int(parts[0]), int(parts[1])
    except (OSError, ValueError, IndexError):
        return None


def _spin(seconds: float) -> float:
    before, t0, c0 = _thread_schedstat(), time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        pass
    after, wall, cpu = _thread_schedstat(), time.perf_counter() - t0, time.thread_time() - c0
    if before is not None and after is not None and after[0] > before[0]:
        run, wait = after[0] - before[0], after[1] - before[1]
        return max(1.0, (run + wait) / run)
    return max(1.0, wall / cpu) if cpu > 0 else 1.0


def worker_niceness() -> int:
    """The ``nice`` Ray's workers (the trials) run at: Ray starts them at ``RAY_worker_niceness``
    (15 unless set; seen here as NI 15 beside a driver at 0), at most 19."""
    try:
        extra = int(os.environ.get("RAY_worker_niceness", "15"))  # noqa: SIM112 (Ray spells it so)
    except ValueError:
        extra = 15
    try:
        base = os.nice(0)
    except (AttributeError, OSError):
        base = 0
    return min(19, max(base, base + extra))


def _spins(seconds: float, parts: int) -> float:
    each = seconds / (2 * max(1, parts))
    values = []
    for i in range(max(1, parts)):
        if i:
            time.sleep(each)
        values.append(_spin(each))
    values.sort()
    return values[len(values) // 2]


def probe_contention(seconds: float = 1.0, *, parts: int = 5) -> float:
    """Contention a busy thread at the trials' priority meets now: a thread at
    :func:`worker_niceness` spins ``parts`` times, for half of ``seconds`` in all, with pauses
    between, and compares the CPU time it got with the time it waited for a CPU (1.0: a CPU to
    itself); the median of the spins (one burst of other work does not decide it). At the
    driver's nice 0 the probe read 1.1-1.8 where one at nice 15 read 2.1-5.1 beside processes at
    nice 19, and the trials (nice 15) ran 2-4x slower than at the probe's 1.0."""
    out: list[float] = []

    def run() -> None:
        with contextlib.suppress(AttributeError, OSError):  # a thread's own nice (Linux); else the caller's
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), worker_niceness())
        out.append(_spins(seconds, parts))

    t = threading.Thread(target=run, name="hpbench-contention-probe", daemon=True)
    t.start()
    t.join()
    return out[0] if out else 1.0


def contention(*, probe: float, own: float, cpus: int) -> float:
    """The contention ``own`` busy threads (the trials) will meet, from a probe's measure taken
    without them: the probe's (c - 1) x cpus threads of other work, plus ours, shared evenly over
    the CPUs (1 when everything fits)."""
    other = max(0.0, probe - 1.0) * max(1, cpus)
    return max(1.0, (other + max(1.0, own)) / max(1, cpus))


# The search's own bookkeeping (the helper's cost predictions) runs below the trials: at nice 19
# and in the SCHED_IDLE policy, where Ray's workers run at RAY_worker_niceness (15). Measured
# (benchmarks/pair_probe.py, the quiet run's seq_c2 study, 24 trials at max_concurrent = 2 on 2
# cores): the helper, at the driver's nice 0, used 15.8 CPU s of the 16.8-s window in which Ray's
# trials trained (counting LSTM/GRU/transformer FLOPs op by op), so the two trials at nice 15 shared
# the other core (pairs 1.83x one alone in seed 1673824814's run). At nice 19 it still used 2.96 CPU s
# of a 6.17-s window (seed 806290811's seq_c2; digits_c2: 0.82 of 2.31 s), and two identical trials
# ran 1.39x one alone (the calibration's two processes, nothing beside them: 1.04-1.15). CFS weights
# (kernel sched_prio_to_weight): nice 15 = 36, nice 19 = 15, SCHED_IDLE = 3 (WEIGHT_IDLEPRIO): a trial
# sharing its core with the pricing thread keeps 36 / (36 + 15) = 71% of it at nice 19, 92% in
# SCHED_IDLE. Beside the driver, Ray's daemons and the helper's early trials (nice 0: 1024) the
# thread gets ~1.5% at nice 19 and ~0.3% idle: it prices on what those leave, as before.
BACKGROUND_NICE = 19
_background: ThreadPoolExecutor | None = None
_background_lock = threading.Lock()


def thread_nice() -> int:
    """The calling thread's own ``nice`` (Linux keeps one per thread: ``/proc/thread-self/stat``
    field 19); the process's where that cannot be read."""
    try:
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[16])
    except (AttributeError, OSError, ValueError, IndexError):
        return os.nice(0)


SCHED_IDLE = 5  # Linux's policy number (include/uapi/linux/sched.h), as /proc/<pid>/task/<tid>/stat field 41 reads it


def thread_policy() -> int | None:
    """The calling thread's scheduling policy (``/proc/thread-self/stat`` field 41: 0 normal, 5
    SCHED_IDLE); None where it cannot be read."""
    try:
        stat = Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[38])
    except (AttributeError, OSError, ValueError, IndexError):
        return None


def _lower_this_thread() -> None:
    tid = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):  # a thread's own nice (Linux); elsewhere it runs as the caller
        os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
    with contextlib.suppress(AttributeError, OSError):  # the idle policy (Linux; lowering needs no privilege): below nice 19
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))


def below_trials(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` run on this process's background thread (nice
    :data:`BACKGROUND_NICE` in the SCHED_IDLE policy, below the trials) and waited for; its exception is raised here. The
    calling thread keeps its priority (the helper's early trials train on it at the driver's)."""
    global _background
    with _background_lock:
        if _background is None:
            _background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpbench-below-trials", initializer=_lower_this_thread)
    return _background.submit(fn, *args, **kwargs).result()
