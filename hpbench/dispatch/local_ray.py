"""Local Ray runtimes: how hpbench starts one (:func:`init_kwargs`), and the one kept warm
between searches (``hpbench ray start``).

A fresh local search starts Ray before its first Tune trial: Ray's processes (its GCS, the
raylet, and five Python services that each import Ray) take ~3-8 s of wall time and most of a core
on a 2-core machine, while the search can train on the other core only (its early trials,
:mod:`hpbench.dispatch.early`). A runtime started once and kept up spares every later search that
part: the search joins it, and its Tune workers start at once (measured in the race, session 41:
Tune's first trial 2.3-3.2 s sooner, 6.6-7.2 s from the command's start against 8.9-9.9 s).

The runtime belongs to a small daemon (:mod:`hpbench.dispatch.warm_daemon`) that started it
with ``ray.init`` and holds it, so that stopping it stops exactly its processes (``ray stop``
would stop every Ray runtime of the user). The daemon writes :data:`STATE` (the runtime's address,
its CPUs, its process) once Ray is up, in :func:`state_dir`. A search with no ``--address`` joins
it (:func:`join`) when its ``--num-cpus``, if given, matches, and trains its early trials as a
fresh local search does: the runtime runs on this machine's CPUs. While it runs, a search holds a
shared lock on :data:`IN_USE`; the daemon stops the runtime once nothing has held that lock for
``idle_s`` seconds, and at once on SIGTERM (``hpbench ray stop``). A search never finds a runtime
that is stopping: the daemon withdraws :data:`STATE` under the lock's exclusive side before it
shuts Ray down, and a search reads it again under the shared side before it joins.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hpbench.dispatch.daemon_process import alive, is_daemon, one_start, terminate

STATE = "runtime.json"
IN_USE = "in-use.lock"
STARTING = "start.lock"  # held by ``hpbench ray start`` from its look for a runtime up to that runtime's record
STOPPING = "stopping"  # written by ``hpbench ray stop`` while searches hold the runtime: they stop as on Ctrl-C, then it stops
LOG = "runtime.log"
IDLE_S = 30 * 60.0  # a runtime no search used for this long stops itself (``hpbench ray start --idle-minutes``)
POLL_S = 2.0  # how often the daemon looks at the lock and at its stop signal
LOCAL_IP = "127.0.0.1"  # a search's own local runtime listens on loopback only
TOKEN = "auth_token"  # Ray's token authentication: the runtime listens on the machine's address, so only this user's drivers join


@dataclass(frozen=True, kw_only=True)
class WarmRuntime:
    """A running warm runtime, as its daemon recorded it."""

    address: str  # its GCS address (HOST:PORT), what ``ray.init(address=...)`` joins
    pid: int  # the daemon's process
    num_cpus: int
    started_at: float
    idle_s: float
    ray_version: str


def init_kwargs(*, num_cpus: int | None, loopback: bool = True) -> dict[str, Any]:
    """How hpbench starts a local Ray runtime: a search's own (``loopback``), and the warm one
    (other drivers join it, which Ray does by the machine's address, never by loopback)."""
    # A search's own runtime listens on loopback only: nothing outside this machine needs to
    # reach it, and it skips the IP detection that cost up to a second of start-up here.
    # Ray would start one idle worker per CPU for this driver, but Tune's trial actors carry
    # their own runtime environment (environment variables), so they never land on those
    # workers: skipping them saves ~0.7 s of CPU while the search starts (measured).
    # address="local": a runtime of its own even while `ray start` has one up here (ray.init() with no
    # address joins the one /tmp/ray/ray_current_cluster names, and refused hpbench's own settings then)
    where = {"_node_ip_address": LOCAL_IP} if loopback else {}
    return dict(address="local", num_cpus=num_cpus, **where, include_dashboard=False, _system_config={"prestart_worker_first_driver": False},
                log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)


def state_dir() -> Path:
    """``$XDG_CACHE_HOME/hpbench/ray`` (``~/.cache/hpbench/ray`` when it is unset or empty): one
    warm runtime per user and machine. A process with another ``XDG_CACHE_HOME`` (the tests, the
    start-up probe of ``hpbench devices``) sees none."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "hpbench" / "ray"


def _read(directory: Path) -> WarmRuntime | None:
    try:
        text = (directory / STATE).read_text(encoding="utf-8")
        raw = json.loads(text)
        runtime = WarmRuntime(**{k: raw[k] for k in WarmRuntime.__dataclass_fields__})
        live = is_daemon(int(runtime.pid), started_at=float(runtime.started_at))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not live:  # its daemon died, its PID maybe another process's now: the record goes (unless a new daemon just wrote its own)
        with contextlib.suppress(OSError):
            if (directory / STATE).read_text(encoding="utf-8") == text:
                (directory / STATE).unlink()
        return None
    return runtime


def find(directory: Path | None = None) -> WarmRuntime | None:
    """The warm runtime of this user and machine, None when none is up (a record left by a daemon
    that died is removed, even when its PID now names another process:
    :func:`~hpbench.dispatch.daemon_process.is_daemon`)."""
    return _read(directory or state_dir())


def _version() -> str:
    from importlib.metadata import version

    return version("ray")


def use_token(directory: Path | None = None) -> None:
    """Ray's token authentication with the warm runtime's token, for this process (the daemon
    before its ``ray.init``, a search before it joins) and the processes it starts. Ray reads its
    authentication mode once, into its cached configuration; reloaded here as Ray itself does when
    ``ray.init`` turns token authentication on (``ray._private.authentication``)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN_PATH"] = str((directory or state_dir()) / TOKEN)
    os.environ.pop("RAY_AUTH_TOKEN", None)
    if "ray._raylet" in sys.modules:
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")


class Joined:
    """A search's hold on the warm runtime it joined: the shared lock that keeps the daemon from
    stopping the runtime while the search runs. Released by :meth:`release` or at the process's
    end (the kernel drops the lock with the process)."""

    def __init__(self, *, runtime: WarmRuntime, handle: IO[str], directory: Path) -> None:
        self.runtime = runtime
        self.directory = directory
        self._handle: IO[str] | None = handle
        self._watch: StopWatch | None = None

    def watch(self, on_stop: Callable[[], None]) -> None:
        """Call ``on_stop`` once should ``hpbench ray stop`` ask the searches on the runtime to stop."""
        if self._watch is None:
            self._watch = StopWatch(directory=self.directory, on_stop=on_stop)

    def release(self) -> None:
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
            self._handle = None


_HELD: list[Joined] = []  # this process's holds (one per connection: released when it disconnects)


def release() -> None:
    """Release this process's holds on the warm runtime (once it has disconnected from Ray)."""
    while _HELD:
        _HELD.pop().release()


def join(*, num_cpus: int | None, directory: Path | None = None) -> Joined | None:
    """Hold the warm runtime for a search (see :class:`Joined`), or None when none is up, when it
    has other CPUs than ``num_cpus`` asks for, or when it runs another Ray version than this
    process imports (the search then starts a fresh runtime of its own), or when ``RAY_ADDRESS``
    names a cluster (Ray's own way to point a driver at one). The hold is this process's until
    :func:`release`."""
    d = directory or state_dir()
    if os.environ.get("RAY_ADDRESS") or find(d) is None:  # a cluster named in the environment; none up: the common case
        return None
    d.mkdir(parents=True, exist_ok=True)
    handle = (d / IN_USE).open("a+", encoding="utf-8")
    fcntl.flock(handle, fcntl.LOCK_SH)
    runtime = _read(d)  # again, under the lock: the daemon withdraws its record under the exclusive side before it stops
    if runtime is None or not _usable(runtime, num_cpus=num_cpus) or stopping(d):  # one being stopped: a runtime of its own
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
        return None
    held = Joined(runtime=runtime, handle=handle, directory=d)
    _HELD.append(held)
    return held


def would_join(*, address: str | None, num_cpus: int | None, directory: Path | None = None) -> bool:
    """Whether a search with this ``--address`` and ``--num-cpus`` would join the warm runtime as
    things stand (what its estimate and its ETA price; :func:`join` decides)."""
    return not (address or os.environ.get("RAY_ADDRESS")) and _usable(find(directory), num_cpus=num_cpus)


def local_cpus(*, address: str | None, num_cpus: int | None, directory: Path | None = None) -> int | None:
    """The CPUs of the local Ray runtime a search with this ``--address`` and ``--num-cpus`` runs
    on: ``num_cpus``, else the warm runtime's when it would join it, else this machine's; None
    where the search runs on a cluster (``--address`` or ``RAY_ADDRESS``: its nodes say, once joined)."""
    if address not in (None, "local") or (address is None and os.environ.get("RAY_ADDRESS")):
        return None
    if num_cpus is not None:
        return num_cpus
    runtime = find(directory) if address is None else None  # (RAY_ADDRESS ruled out above: would_join's other condition)
    if runtime is not None and _usable(runtime, num_cpus=None):
        return runtime.num_cpus
    from hpbench.cost.clock import n_cpus

    return n_cpus()


def _usable(runtime: WarmRuntime | None, *, num_cpus: int | None) -> bool:
    """A runtime up, of the CPUs asked for (if any), on the Ray this process imports."""
    return runtime is not None and num_cpus in (None, runtime.num_cpus) and runtime.ray_version == _version()


class StartFailed(RuntimeError):
    """The daemon ended before its runtime was up; the message carries its log's end."""


def start(*, num_cpus: int, idle_s: float = IDLE_S, directory: Path | None = None, timeout_s: float = 120.0,
          on_wait: Callable[[], None] | None = None) -> tuple[WarmRuntime, bool]:
    """Start the warm runtime's daemon and wait for its runtime: (the runtime, True), or (the one
    already up, False). Raises :class:`StartFailed` when the daemon ends first or ``timeout_s``
    passes (the daemon is then stopped). A start while another runs waits for it (``on_wait``:
    called once when it waits), then finds its runtime up (:func:`~hpbench.dispatch.daemon_process.one_start`)."""
    d = directory or state_dir()
    d.mkdir(parents=True, exist_ok=True)
    with one_start(d / STARTING, on_wait=on_wait):
        up = find(d)
        if up is not None:
            return up, False
        for stale in (STATE, STOPPING):  # a dead daemon's
            with contextlib.suppress(OSError):
                (d / stale).unlink()
        cmd = [sys.executable, "-m", "hpbench.dispatch.warm_daemon", "--num-cpus", str(num_cpus), "--idle-s", repr(float(idle_s)), "--dir", str(d)]
        with (d / LOG).open("w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            runtime = _read(d)
            if runtime is not None and runtime.pid == proc.pid:
                return runtime, True
            if proc.poll() is not None:
                raise StartFailed(f"the runtime's daemon exited with code {proc.returncode}: {_tail(d / LOG)}")
            time.sleep(0.1)
        terminate(proc.pid, timeout_s=10.0)
        raise StartFailed(f"the runtime was not up after {timeout_s:g} s: {_tail(d / LOG)}")


def stop(*, directory: Path | None = None, timeout_s: float = 60.0, grace_s: float = 120.0,
         on_wait: Callable[[], None] | None = None) -> WarmRuntime | None:
    """Stop the warm runtime (SIGTERM to its daemon, which shuts Ray down), waiting for its daemon
    to end; the runtime that was stopped, or None when none was up. Searches running on it are
    asked to stop first (:data:`STOPPING`, which each reads as a Ctrl-C: :class:`StopWatch`): their
    running trials stop, their tables are written and each says how to continue (``--resume``);
    the runtime stops once none holds it, or after ``grace_s``. Before, a search lost its runtime
    under it and exited 1 with nothing but Ray's own log line. ``on_wait``: called once when it waits."""
    d = directory or state_dir()
    runtime = find(d)
    if runtime is None:
        return None
    if busy(d):
        (d / STOPPING).write_text(str(runtime.pid), encoding="utf-8")
        if on_wait is not None:
            on_wait()
        deadline = time.time() + grace_s
        while busy(d) and time.time() < deadline and alive(runtime.pid):
            time.sleep(0.2)
    terminate(runtime.pid, timeout_s=timeout_s, started_at=runtime.started_at)
    with contextlib.suppress(OSError):
        (d / STOPPING).unlink()
    return runtime


def stopping(directory: Path | None = None) -> bool:
    """Whether ``hpbench ray stop`` is stopping the warm runtime (its searches asked to stop)."""
    return (directory or state_dir()).joinpath(STOPPING).exists()


class StopWatch:
    """A search's watch on the runtime it joined: ``on_stop`` is called once (from a daemon
    thread) when ``hpbench ray stop`` asks its searches to stop (:data:`STOPPING`)."""

    def __init__(self, *, directory: Path, on_stop: Callable[[], None], poll_s: float = 0.5) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(directory, on_stop, poll_s), name="hpbench-ray-stop-watch", daemon=True)
        self._thread.start()

    def _watch(self, directory: Path, on_stop: Callable[[], None], poll_s: float) -> None:
        while not self._done.wait(poll_s):
            if stopping(directory):
                on_stop()
                return

    def close(self) -> None:
        self._done.set()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


@contextlib.contextmanager
def unused(directory: Path) -> Iterator[bool]:
    """The exclusive side of :data:`IN_USE`, held for the block when no search holds the runtime:
    whether it was free (False: a search holds it, and nothing is held)."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / IN_USE).open("a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def busy(directory: Path | None = None) -> bool:
    """Whether a search holds the warm runtime (a shared lock on :data:`IN_USE`)."""
    with unused(directory or state_dir()) as free:
        return not free


def idle_for(*, last_used: float, now: float) -> float:
    """Seconds the runtime has stood idle since a search last held it."""
    return max(0.0, now - last_used)
