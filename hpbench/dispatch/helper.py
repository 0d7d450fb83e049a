"""A helper process: a fresh interpreter that runs module-level functions sent to it, one at a
time, behind the ``concurrent.futures.Executor`` interface.

Unlike ``ProcessPoolExecutor`` with the spawn method, the helper never imports the caller's
``__main__`` module: a user script that calls hpbench without an ``if __name__ ==
"__main__"`` guard is not run a second time. Calls and results travel pickled over a pipe of
their own (the helper's stdout is moved to stderr, so a stray print cannot break the
protocol). If the helper dies, every pending future fails with :class:`HelperDied`.

A call is written to the helper's pipe by a writer thread, never by the caller: the helper reads
its next call only when the one before has ended, so a caller writing a full pipe (64 KB: ~25
predictions, each carrying its pickled study) waited behind a long call (an early trial), and the
reader thread, which launches the next early trial from a done callback, could wait there while
the helper waited for it to read a reply. The writer sends a call once the helper answered the
one before (one call in the pipe at a time), so a call submitted with :meth:`HelperProcess.submit_first`
(the next early trial) runs before those queued earlier: behind the cost predictions, which run
at nice 19, the race's next early trial waited 5.7 s while Tune's first workers started (digits,
benchmarks/timeline.py, session 11).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, InvalidStateError
from pathlib import Path
from typing import Any


class HelperDied(RuntimeError):
    """The helper process exited before answering."""


class HelperProcess(Executor):
    def __init__(self, *, quiet: bool = True, preload: tuple[str, ...] = ()) -> None:
        """Starts the helper at once. ``quiet``: its stderr (warnings of the libraries it
        loads) goes to /dev/null. ``preload``: modules it imports as it starts, before it reads
        its first call (torch, ~1 s: while the driver still loads the study's data)."""
        root = str(Path(__file__).resolve().parents[2])  # where the hpbench package lives
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "hpbench.dispatch.helper", *preload], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else None, env=env,
        )
        self._ids = itertools.count()
        self._futures: dict[int, Future[Any]] = {}
        self._lock = threading.Lock()
        self._closed = False
        # (rank, order, call id, pickled call): rank 0 (submit_first) before 1; a call id None closes the pipe
        self._outbox: queue.PriorityQueue[tuple[int, int, int | None, bytes]] = queue.PriorityQueue()
        self._answered = threading.Semaphore(1)  # released by the reader at each reply: the helper is free for the next call
        self._gone = False  # the reader saw the helper exit: nothing is written any more
        self._reader = threading.Thread(target=self._read, name="hpbench-helper-reader", daemon=True)
        self._reader.start()
        self._writer = threading.Thread(target=self._write, name="hpbench-helper-writer", daemon=True)
        self._writer.start()

    @property
    def pid(self) -> int:
        """The helper's process (where the early trials train: their ``pid`` column)."""
        return int(self._proc.pid)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue ``fn(*args, **kwargs)`` for the helper (pickled now: the arguments as they are at
        the call; an unpicklable call raises here); never waits for the pipe."""
        return self._queue(1, fn, args, kwargs)

    def submit_first(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """:meth:`submit`, but run before every call submitted with :meth:`submit` and not begun yet."""
        return self._queue(0, fn, args, kwargs)

    def _queue(self, rank: int, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a helper process after shutdown")
            call_id = next(self._ids)
            data = pickle.dumps((call_id, fn, args, kwargs))  # the arguments as they are now
            self._futures[call_id] = fut
            self._outbox.put((rank, call_id, call_id, data))  # by rank, then in submission order
        return fut

    def _write(self) -> None:
        """The writer thread: each queued call onto the helper's pipe, in order; the pipe closed
        (the helper then finishes what it has and exits) at ``None``."""
        stdin = self._proc.stdin
        assert stdin is not None  # internal: opened with stdin=PIPE
        while True:
            self._answered.acquire()  # the call before was answered (or the helper is gone): then the first call queued
            _, _, call_id, data = self._outbox.get()
            if call_id is None:
                with contextlib.suppress(OSError, ValueError):
                    stdin.close()
                return
            error: Exception | None = None
            if self._gone:
                self._answered.release()
                error = HelperDied("the helper process exited")
            else:
                try:
                    stdin.write(data)
                    stdin.flush()
                except (OSError, ValueError) as err:  # the helper is gone (BrokenPipeError is an OSError)
                    error = HelperDied(f"the helper process is gone: {err}")
            if error is not None:
                with self._lock:
                    fut = self._futures.pop(call_id, None)
                if fut is not None:
                    _settle(fut, None, error)

    def _read(self) -> None:
        assert self._proc.stdout is not None  # internal: opened with stdout=PIPE
        while True:
            try:
                call_id, ok, value = pickle.load(self._proc.stdout)
            except Exception:  # EOF (the helper exited) or a torn message
                break
            with self._lock:
                fut = self._futures.pop(call_id, None)
            if fut is not None:
                _settle(fut, value if ok else None, None if ok else value)  # its callbacks may submit_first the next call
            self._answered.release()
        self._gone = True
        self._answered.release()
        with self._lock:
            pending, self._futures = list(self._futures.values()), {}
        for fut in pending:
            _settle(fut, None, HelperDied(f"the helper process exited (code {self._proc.poll()})"))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if cancel_futures:  # cancelled futures leave the table: the reader never completes them
                for fut in self._futures.values():
                    fut.cancel()
                self._futures = {}
        if cancel_futures:
            self._proc.kill()
        self._outbox.put((1, next(self._ids), None, b""))  # after the calls queued before: the helper finishes what it has, then exits
        if wait:
            self._proc.wait()
            self._reader.join()
            self._writer.join()


def _settle(fut: Future[Any], result: Any, error: BaseException | None) -> None:
    """Complete ``fut`` unless it was cancelled meanwhile (``shutdown(cancel_futures=True)``
    races the reader: completing a cancelled future raises InvalidStateError, which would end
    the reader thread with a traceback)."""
    try:
        if error is None:
            fut.set_result(result)
        else:
            fut.set_exception(error)
    except InvalidStateError:
        pass


def _serve(preload: list[str]) -> None:
    """The helper's loop: read a call, run it, write its result or its exception. First the
    ``preload`` modules are imported (one that fails to import fails again in the call that needs it)."""
    # Ctrl-C reaches the terminal's whole process group, the helper too: the driver decides (it
    # stops an early trial after its epoch, hpbench.dispatch.early, and shuts the helper down).
    # Before, the helper died of the KeyboardInterrupt and a running early trial was recorded failed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints of the code it runs go to stderr, not into the protocol
    inp = sys.stdin.buffer
    for name in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    while True:
        try:
            call_id, fn, args, kwargs = pickle.load(inp)
        except EOFError:
            return
        try:
            reply = (call_id, True, fn(*args, **kwargs))
        except Exception as err:
            reply = (call_id, False, err)
        try:
            data = pickle.dumps(reply)
        except Exception as err:  # an unpicklable result or exception
            data = pickle.dumps((call_id, False, RuntimeError(f"{type(err).__name__}: {err}")))
        out.write(data)
        out.flush()


if __name__ == "__main__":
    _serve(sys.argv[1:])
