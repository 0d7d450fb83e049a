"""A search whose output's reader goes away (``hpbench search study.toml | head``, quitting ``less``)
carries on (so does `hpbench train`, a retraining that can be long): what it would print is dropped, its trials run and its tables are written as usual,
and stderr says once that stdout was closed. Rich's own way with a closed pipe
(``Console.on_broken_pipe``) raised ``SystemExit(1)`` wherever the console printed: the search
died at its next progress line without a word, exit 1 (the code of "every trial failed"), a trial
left ``running`` and the rest never run (bug hunt s51/h3, finding 1). The other commands are
short: they stop there as before (exit 1, no traceback).

The stream's file descriptor is pointed at ``os.devnull``, Python's advice for a closed pipe
(https://docs.python.org/3/library/signal.html#note-on-sigpipe): every later write to it, by
this console or any other writer of the process (``print``, Click's echo), succeeds.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import IO

from rich.console import Console

NOTE = "note: stdout was closed (its reader went away); the command goes on without printing there, its results are written as usual\n"

_lock = threading.Lock()  # one thread points the stream elsewhere (and says so)


class CarryOnConsole(Console):
    """A console whose closed stream drops its output instead of ending the process."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to render
        drop(self.file, say=not self.stderr)


def drop(stream: IO[str], *, say: bool = True) -> None:
    """Point ``stream``'s file descriptor at ``os.devnull`` (its reader went away), once; with ``say``,
    say so on stderr (when stderr is still open)."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a file (a test's buffer): nothing to point elsewhere
        return
    with _lock:
        if _is_devnull(fd):  # done already (another console, another thread)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
    if say:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(NOTE)
            sys.stderr.flush()


def _is_devnull(fd: int) -> bool:
    here, null = os.fstat(fd), os.stat(os.devnull)
    return (here.st_dev, here.st_ino) == (null.st_dev, null.st_ino)
