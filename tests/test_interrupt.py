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


def test_a_sigterm_stops_the_search_as_the_first_ctrl_c_does(capsys):
    """Bug hunt s48/h2, finding 3: the command's SIGTERM raised KeyboardInterrupt wherever the main
    thread was (a second Ctrl-C's stop at once: the running trials left ``running`` in the tables).
    Inside a search it asks the search to stop, as a first Ctrl-C; a second one stops at once."""
    from hpbench.dispatch.interrupt import sigterm_as_interrupt

    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        with pytest.raises(SearchInterrupted), Interrupt() as stop:
            signal.raise_signal(signal.SIGTERM)
            assert stop.requested and stop.stopper().stop_all()
            signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is sigterm_as_interrupt  # the command's again, outside the search
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert "SIGTERM or Ctrl-C again to stop at once" in capsys.readouterr().err


def test_a_program_calling_the_search_keeps_its_own_sigterm_handler():
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    try:
        with Interrupt() as stop:
            signal.raise_signal(signal.SIGTERM)
            assert not stop.requested
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]


def _ray_like_init(**_kwargs: object) -> None:
    """``ray.init`` as far as a SIGTERM goes: it installs its own handler first thing (``sys.exit(signum)``,
    ray/_private/worker.py), and the signal comes while Ray starts."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(signum))
    signal.raise_signal(signal.SIGTERM)
    raise AssertionError("not reached: the handler raised")


@pytest.mark.parametrize("in_search", [False, True], ids=["before the search", "in the search"])
def test_a_sigterm_while_ray_starts_is_a_ctrl_c(monkeypatch, capsys, in_search):
    """Bug hunt s51/h3, finding 3: a SIGTERM while ray.init ran met Ray's handler, whose exit ended
    the command with code 15 and no word. It is the command's interrupt (exit 130, "interrupted
    before any trial was recorded"), and the command's handler is back once ray.init has ended."""
    import types

    from hpbench.dispatch.backend import _ray_init
    from hpbench.dispatch.interrupt import sigterm_as_interrupt

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(init=_ray_like_init))
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        if in_search:
            with pytest.raises(SearchInterrupted), Interrupt() as stop:
                _ray_init(num_cpus=1)
            assert stop.requested and "stopping:" in capsys.readouterr().err
        else:
            with pytest.raises(KeyboardInterrupt):
                _ray_init(num_cpus=1)
        assert signal.getsignal(signal.SIGTERM) is sigterm_as_interrupt
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_programs_own_sigterm_handler_hears_a_sigterm_while_ray_starts(monkeypatch):
    """A program's own handler (one that returns) is told; Ray's exit then goes on, as before."""
    import types

    from hpbench.dispatch.backend import _ray_init

    seen: list[int] = []

    def own(signum: int, _frame: object) -> None:
        seen.append(signum)

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(init=_ray_like_init))
    previous = signal.signal(signal.SIGTERM, own)
    try:
        with pytest.raises(SystemExit):
            _ray_init()
        assert signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]


def _ray_init_installs_its_handler(**_kwargs: object) -> None:
    """``ray.init`` as it starts without a signal: its own SIGTERM handler left installed."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(signum))


@pytest.mark.parametrize("handling", [signal.SIG_DFL, signal.SIG_IGN], ids=["SIG_DFL", "SIG_IGN"])
def test_a_programs_default_or_ignored_sigterm_is_given_back_after_ray_starts(monkeypatch, handling):
    """Bug hunt s52/h5, finding 3: a program whose SIGTERM was the default (or ignored) kept Ray's
    handler after its first search (it raised SystemExit(15), even after ray.shutdown()): only a
    callable handler was put back."""
    import types

    from hpbench.dispatch.backend import _ray_init

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(init=_ray_init_installs_its_handler))
    previous = signal.signal(signal.SIGTERM, handling)
    try:
        _ray_init(num_cpus=1)
        assert signal.getsignal(signal.SIGTERM) is handling
    finally:
        signal.signal(signal.SIGTERM, previous)
