"""The installed command's exit and a command run inside a caller's process."""

from __future__ import annotations

import gc
import sys
import time

import pytest


def test_a_command_run_in_process_leaves_the_garbage_collector_on(tmp_path):
    """A search's last parts (hpbench.cli.search._finish) froze and disabled the collector, so a
    search run in a caller's process (the tests' CliRunner, ``app`` called from Python) left
    garbage collection off for the rest of that process."""
    from hpbench.cli.search import _finish

    assert gc.isenabled()
    _finish(tmp_path, started_at=time.time())
    assert gc.isenabled()


def test_the_installed_command_leaves_through_leave_done_after_its_exit_hooks(tmp_path):
    """The installed ``hpbench`` (hpbench.cli.main) ends its process when the command is done
    (hpbench.cli.leave_done: the exit hooks, then os._exit, skipping the interpreter's
    finalization): its output and its exit code are the command's, and an atexit hook runs."""
    import subprocess

    mark = tmp_path / "atexit"
    code = ("import atexit, sys; from hpbench.cli import main; "
            f"atexit.register(lambda: open({str(mark)!r}, 'w').write('ran')); sys.argv = ['hpbench', '--version']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("hpbench ") and mark.read_text() == "ran"
    proc = subprocess.run([sys.executable, "-c", code.replace("'--version'", "'no-such-command'")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "no-such-command" in proc.stderr  # Click's usage error: its code, its message


def test_leave_now_with_ray_still_being_imported(monkeypatch):
    """A Ctrl-C in a search's first seconds could come while a thread still imported Ray: its
    module had no ``is_initialized`` yet, and the interrupted command ended in a traceback, exit 1."""
    import os
    import sys
    import types

    import hpbench.cli as cli

    exited: list[int] = []

    class Exited(Exception):
        pass

    def fake_exit(code: int) -> None:
        exited.append(code)
        raise Exited

    monkeypatch.setitem(sys.modules, "ray", types.ModuleType("ray"))  # as a partly run `import ray` leaves it
    monkeypatch.setattr(os, "_exit", fake_exit)
    with pytest.raises(Exited):
        cli.leave_now(130)
    assert exited == [130]
