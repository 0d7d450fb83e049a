"""Ctrl-C handling without Ray: the second Ctrl-C reaches the main thread even where it first
lands in a garbage collector's callback (which swallows exceptions)."""

from __future__ import annotations

import signal
import sys
import time
import weakref

import pytest

from hpbench.dispatch.interrupt import Interrupt, SearchInterrupted


class _Owner:
    pass


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:  # bytecodes for a pending signal handler to run between
        time.sleep(0.001)


def test_the_first_ctrl_c_only_asks_the_search_to_stop(capsys):
    with Interrupt() as stop:
        assert not stop.requested and not stop.stopper().stop_all()
        signal.raise_signal(signal.SIGINT)
        assert stop.requested and stop.stopper().stop_all()
        with pytest.raises(SearchInterrupted):
            stop.check()
    assert "Ctrl-C again to stop at once" in capsys.readouterr().err


def test_a_second_ctrl_c_swallowed_in_a_weakref_callback_is_raised_again_in_the_main_thread(capsys):
    hooks_before, handler_before = sys.unraisablehook, signal.getsignal(signal.SIGINT)
    seen: list[str] = []
    with pytest.raises(SearchInterrupted), Interrupt():
        signal.raise_signal(signal.SIGINT)  # the first: the search winds down
        owner = _Owner()

        def collected(_ref: object) -> None:  # like a library's clean-up run by the collector
            seen.append("callback")
            signal.raise_signal(signal.SIGINT)  # the second lands here and is swallowed
            seen.append("not reached")

        ref = weakref.ref(owner, collected)
        del owner
        seen.append("after the callback")
        _spin(10.0)
        seen.append("the interrupt never came back")
    assert ref() is None
    assert seen == ["callback", "after the callback"]
    assert sys.unraisablehook is hooks_before and signal.getsignal(signal.SIGINT) is handler_before
    err = capsys.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err


def test_other_unraisable_errors_still_reach_the_previous_hook():
    got: list[BaseException | None] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: got.append(u.exc_value)
    try:
        with Interrupt():
            owner = _Owner()
            weakref.ref(owner, lambda _r: 1 / 0)
            keep = weakref.ref(owner, lambda _r: 1 / 0)
            del owner
        assert keep() is None
    finally:
        sys.unraisablehook = previous
    assert any(isinstance(e, ZeroDivisionError) for e in got)
