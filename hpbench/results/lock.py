"""One search per results directory: an OS lock on ``.hpbench.lock``, which also names the
holder's pid and host for the message a second search gets.

The lock is ``flock`` on the open file: the kernel holds it for the process and drops it when
the process ends, however it ends (SIGKILL included), so there is no stale lock to judge and
take over: a dead holder's lock is free, a live holder's is not, whatever the file says (a
reused pid or a half-written file cannot fool it). The file itself is only the message: it is
written after the lock is taken, and removed, still locked, on release; a search that opened
the file just before it was removed notices (the path no longer names its file) and tries
again. On a network filesystem the lock is as good as the filesystem's ``flock`` (NFSv4 maps
it to its own locks).

A search takes it before it reads the folder (:func:`holding`): what it plans from the folder (the
trials done, those left running, the study there) stays true until it has written (s51/h2: one
that planned first, then waited out its pre-flight, took the lock from a search that had finished
meanwhile and dropped that search's last trial, or replaced its whole study).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK = ".hpbench.lock"


class LockHeld(RuntimeError):
    """Another search holds the results directory."""


def _read(path: Path) -> dict[str, object]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


class ResultsLock:
    """``with ResultsLock(out):`` holds ``out/.hpbench.lock`` for the duration."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, object]:
        """What the lock file says about its holder (empty while it is being written)."""
        return _read(self.path)

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                info = self.holder()
                who = f"pid {info.get('pid')} on {info.get('host')}" if info else "a process that is starting"
                raise LockHeld(f"{self.path.parent}: another search ({who}) is writing to this results directory; "
                               "wait for it, or use --out DIR") from None
            except BaseException:
                os.close(fd)
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the holder removed this file between our open and our lock: take the new one
                os.close(fd)
                continue
            body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, body, 0)
            self._fd = fd
            return

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # still locked: nobody can have taken it meanwhile
        finally:
            os.close(self._fd)  # drops the lock
            self._fd = None

    def __enter__(self) -> ResultsLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextmanager
def holding(out: Path) -> Iterator[ResultsLock]:
    """Hold ``out``'s lock for the block, making the folder (and its missing parents) for it; the
    folders it made are removed again when the block leaves them empty (a search refused, or
    stopped by its pre-flight, writes nothing). Raises :class:`LockHeld` when a search holds it."""
    made = []  # deepest first
    folder = out
    while not folder.exists() and folder.parent != folder:
        made.append(folder)
        folder = folder.parent
    lock = ResultsLock(out)
    try:
        while not lock.held:
            out.mkdir(parents=True, exist_ok=True)
            try:
                lock.acquire()
            except FileNotFoundError:  # a refused search removed the empty folder it had made, as we opened the lock: again
                continue
        yield lock
    finally:
        lock.release()
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty (written, or another search's lock in it), or gone
                break


def search_running(out: Path) -> bool:
    """Whether a live search holds ``out`` now (its lock taken; a killed search's is free)."""
    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the shared lock taken just now
    return False
