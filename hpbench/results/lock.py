"""One search per results directory: a lock file naming the holder's pid and host.

The lock is taken with ``O_CREAT | O_EXCL`` (atomic on local file systems). A lock left
behind by a driver that was killed is *stale* when it names this host and a pid that is no
longer alive; a stale lock is taken over. A lock from another host is never taken over
(we cannot tell whether that driver still runs): the message says which file to delete.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

LOCK = ".hpbench.lock"


class LockHeld(RuntimeError):
    """Another search holds the results directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


class ResultsLock:
    """``with ResultsLock(out):`` holds ``out/.hpbench.lock`` for the duration."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK
        self.held = False

    def holder(self) -> dict[str, object]:
        return _read(self.path)

    def is_stale(self, info: dict[str, object]) -> bool:
        pid = info.get("pid")
        if not info or not isinstance(pid, int):
            return True  # unreadable: a writer died between create and write
        return info.get("host") == socket.gethostname() and not _alive(pid)

    def acquire(self) -> None:
        body = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = self.holder()
                if self.is_stale(info):
                    self.path.unlink(missing_ok=True)
                    continue
                raise LockHeld(
                    f"{self.path.parent}: another search (pid {info.get('pid')} on {info.get('host')}) is writing to this "
                    f"results directory; wait for it, use --out DIR, or delete {self.path} if that search is gone"
                ) from None
            with os.fdopen(fd, "wb") as f:
                f.write(body)
            self.held = True
            return
        raise LockHeld(f"{self.path}: could not take the lock")

    def release(self) -> None:
        if self.held:
            info = self.holder()
            if info.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> ResultsLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
