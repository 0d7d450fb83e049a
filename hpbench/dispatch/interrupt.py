"""Ctrl-C during a search. The first one stops it cleanly: no trial is launched any more, the
running ones stop (they were not finished: a resume runs them again), the tables are written
and the command says how to continue. A second Ctrl-C stops at once, without waiting for the
trials to wind down (the tables, written atomically, hold their last write).

Ray Tune's own Ctrl-C handler is off (``TUNE_DISABLE_SIGINT_HANDLER``, set with the other Tune
knobs in :mod:`hpbench.dispatch.backend`): it ended ``Tuner.fit`` as if the search had finished,
so the search went on to its repeats and test split and never said it was interrupted. Here the
first Ctrl-C reaches Tune through a ``Stopper`` (``stop_all``), which Tune consults every step.

A SIGTERM is a Ctrl-C where the command asked for that (its handler is :func:`sigterm_as_interrupt`,
which raises KeyboardInterrupt outside a search): inside one, the first stops it cleanly, its
running trials recorded ``interrupted``, as a first Ctrl-C (bug hunt s48/h2, finding 3: it was
the second Ctrl-C's stop at once, the running trials left ``running`` in the tables). A program
that calls :func:`hpbench.search` keeps its own SIGTERM handler.

The second Ctrl-C raises :class:`SearchInterrupted` wherever the main thread is. Where that is a
finalizer or a weakref callback (a library's clean-up run by the garbage collector), Python
swallows the exception and prints "Exception ignored in ..." with a traceback, and the search
went on winding down. While a search runs, such a swallowed interrupt is caught by
``sys.unraisablehook``: nothing is printed and it is raised again in the main thread once the
callback has returned.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from types import FrameType
from typing import Any


class SearchInterrupted(KeyboardInterrupt):
    """The search stopped on Ctrl-C (or SIGTERM); its finished trials are in the tables."""


def sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """The command's SIGTERM handler: a Ctrl-C (outside a search: before its trials start, while its
    report prints); inside one, :class:`Interrupt` takes SIGTERM as a first Ctrl-C."""
    raise KeyboardInterrupt


class Interrupt:
    """``with Interrupt() as stop:`` catches Ctrl-C in the main thread; ``stop.requested`` tells
    whether one came, ``stop.stopper(...)`` is the Tune stopper that ends the search on it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: Any = None
        self._previous_term: Any = None  # the command's SIGTERM handler, while this one takes SIGTERM
        self._previous_hook: Any = None
        self._installed = False

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            if signal.getsignal(signal.SIGTERM) is sigterm_as_interrupt:
                self._previous_term = signal.signal(signal.SIGTERM, self._handle)
            self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            if self._previous_term is not None:
                signal.signal(signal.SIGTERM, self._previous_term)
                self._previous_term = None
            sys.unraisablehook = self._previous_hook
            self._installed = False

    def _unraisable(self, unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, SearchInterrupted):
            self._previous_hook(unraisable)
            return
        self._again()  # swallowed in a finalizer: raised again in the main thread

    @staticmethod
    def _again() -> None:
        # A bare thread (``threading.Thread.start`` waits on a lock, which the signal interrupts);
        # the main thread runs the handler between its own bytecodes, after this hook if it can.
        _thread.start_new_thread(_thread.interrupt_main, (signal.SIGINT,))

    def request(self, why: str) -> None:
        """Stop as on a first Ctrl-C, from any thread (``hpbench ray stop`` stopping the runtime the
        search runs on), saying ``why``."""
        if not self.event.is_set():
            self.event.set()
            sys.stderr.write(f"\nstopping: {why}; the running trials stop (they run again on --resume), the tables are written\n")

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            if _within(frame, Interrupt._unraisable.__code__):
                self._again()  # landed in the hook itself, where it would be swallowed again
                return
            raise SearchInterrupted  # the second Ctrl-C: at once
        self.event.set()
        again = "SIGTERM or Ctrl-C again" if signum == signal.SIGTERM else "Ctrl-C again"
        sys.stderr.write("\nstopping: the running trials stop (they run again on --resume), the tables are written; "
                         f"{again} to stop at once\n")
        sys.stderr.flush()

    def check(self) -> None:
        """Raise :class:`SearchInterrupted` once a Ctrl-C came (between the search's phases)."""
        if self.event.is_set():
            raise SearchInterrupted

    def stopper(self, inner: Any = None) -> Any:
        """A Ray Tune ``Stopper`` that ends the run on Ctrl-C, or when ``inner`` (another stopper,
        e.g. the budget's) says so."""
        from ray.tune import Stopper
        from ray.tune.stopper.noop import NoopStopper

        event = self.event

        class InterruptStopper(Stopper):  # type: ignore[misc]
            # Tune pickles its run config into its experiment snapshot; this stopper lives in the
            # driver only (hpbench resumes from its own tables), so it pickles to a no-op one.
            def __reduce__(self) -> Any:
                return (NoopStopper, ())

            def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
                return bool(inner(trial_id, result)) if inner is not None else False

            def stop_all(self) -> bool:
                return event.is_set() or (inner is not None and bool(inner.stop_all()))

        return InterruptStopper()


def _within(frame: FrameType | None, code: Any) -> bool:
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False
