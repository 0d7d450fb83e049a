"""The installed command's exit and a command run inside a caller's process."""

from __future__ import annotations

import gc
import sys
import time


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
