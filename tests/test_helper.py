"""The helper process behind the cost predictions: a fresh interpreter, results and errors
carried back, no re-run of the caller's script, and a clean failure when it dies."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from concurrent.futures import wait

import pytest

from hpbench.dispatch.helper import HelperDied, HelperProcess


def test_runs_functions_in_another_process_and_returns_results_and_errors():
    helper = HelperProcess()
    try:
        pid = helper.submit(os.getpid).result(timeout=60)
        assert pid != os.getpid()
        assert helper.submit(divmod, 17, 5).result(timeout=60) == (3, 2)
        with pytest.raises(ZeroDivisionError):
            helper.submit(divmod, 1, 0).result(timeout=60)
        assert helper.submit(print, "stray output").result(timeout=60) is None  # a print cannot break the protocol
        assert helper.submit(sum, [1, 2, 3]).result(timeout=60) == 6
    finally:
        helper.shutdown()


def test_a_dead_helper_fails_its_pending_calls_instead_of_hanging():
    import time

    helper = HelperProcess()
    try:
        slow = helper.submit(time.sleep, 30)
        helper._proc.kill()
        done, _ = wait([slow], timeout=30)
        assert done and isinstance(slow.exception(), HelperDied)
    finally:
        helper.shutdown(cancel_futures=True)


def test_an_unguarded_user_script_is_not_run_again(tmp_path):
    """A script without ``if __name__ == "__main__"`` that starts a helper runs once (a spawned
    multiprocessing child would import it again)."""
    marker = tmp_path / "runs.txt"
    script = tmp_path / "user_script.py"
    script.write_text(
        "from pathlib import Path\n"
        f"p = Path({str(marker)!r}); p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        "from hpbench.dispatch.helper import HelperProcess\n"
        "h = HelperProcess(); print(h.submit(sum, [2, 3]).result(timeout=60)); h.shutdown()\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "5"
    assert marker.read_text() == "x"


def test_shutdown_cancelling_a_pending_call_ends_the_reader_cleanly(monkeypatch):
    """The cost helper is closed with ``cancel_futures=True`` while a call (e.g. the warm-up
    prediction) may still run: its future is cancelled, and the reader thread, which then sees
    the helper exit, must neither complete the cancelled future (InvalidStateError) nor die with
    a traceback."""
    import threading
    import time

    crashes: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashes.append(args.exc_value))
    helper = HelperProcess()
    assert helper.submit(sum, [1, 2]).result(timeout=60) == 3  # the helper is up
    warm_up = helper.submit(time.sleep, 30)
    time.sleep(0.2)
    helper.shutdown(wait=True, cancel_futures=True)
    assert warm_up.cancelled()
    assert not helper._reader.is_alive()
    assert crashes == [], crashes


def test_submitting_never_waits_for_a_busy_helper(tmp_path):
    """While the helper runs a long call it reads no new one: submitting more than its pipe holds
    (here 2 MB of arguments behind a call that waits for a file) returned only after that call
    ended when the caller wrote the pipe itself. Now every submit returns at once and the calls
    run in order once the long one ends."""
    import threading

    helper = HelperProcess()
    go = tmp_path / "go"
    try:
        assert helper.submit(sum, [1]).result(timeout=60) == 1  # the helper is up
        wait_for_go = ["sh", "-c", f"while [ ! -e '{go}' ]; do sleep 0.01; done"]
        blocker = helper.submit(subprocess.call, wait_for_go)  # a long call, ended by the test
        futures: list = []
        submitted = threading.Event()

        def submit_many() -> None:
            for i in range(32):
                futures.append(helper.submit(len, b"x" * 65536 + bytes([i % 256])))
            submitted.set()

        t = threading.Thread(target=submit_many, daemon=True)
        t.start()
        assert submitted.wait(timeout=60), "submit waited for the busy helper"
        assert not blocker.done()  # the helper is still in the long call: nothing was read
        go.touch()
        assert blocker.result(timeout=60) == 0
        assert [f.result(timeout=60) for f in futures] == [65537] * 32
    finally:
        go.touch()
        helper.shutdown()


def test_an_unpicklable_call_raises_in_the_caller_and_the_helper_goes_on():
    helper = HelperProcess()
    try:
        with pytest.raises((pickle.PicklingError, AttributeError)):  # a local lambda cannot be pickled
            helper.submit(sum, [lambda: 1])
        assert helper.submit(sum, [2, 3]).result(timeout=60) == 5
    finally:
        helper.shutdown()


def test_a_call_submitted_first_runs_before_the_calls_queued_earlier():
    import time

    helper = HelperProcess()
    try:
        helper.submit(time.sleep, 0.5).result(timeout=60)  # started: the calls below queue behind the next one
        busy = helper.submit(time.sleep, 0.5)
        queued = [helper.submit(time.time) for _ in range(3)]
        first = helper.submit_first(time.time)  # the next early trial, behind the cost predictions
        assert first.result(timeout=60) < min(f.result(timeout=60) for f in queued)
        assert busy.done()
    finally:
        helper.shutdown()


def test_preloaded_modules_are_imported_before_the_first_call():
    helper = HelperProcess(preload=("colorsys", "no_such_module_hpbench"))  # one that fails to import is passed over
    try:
        assert helper.submit(eval, _IMPORTED.format("colorsys")).result(timeout=60)
        assert not helper.submit(eval, _IMPORTED.format("no_such_module_hpbench")).result(timeout=60)
        assert helper.submit(divmod, 17, 5).result(timeout=60) == (3, 2)
    finally:
        helper.shutdown()
    plain = HelperProcess()
    try:
        assert not plain.submit(eval, _IMPORTED.format("colorsys")).result(timeout=60)
    finally:
        plain.shutdown()


_IMPORTED = '"{}" in __import__("sys").modules'  # evaluated in the helper (a builtin call: the test module is not importable there)
