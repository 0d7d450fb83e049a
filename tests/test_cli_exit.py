"""The installed command's exit and a command run inside a caller's process."""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

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


def test_the_system_refusing_a_write_is_one_line_and_exit_1(tmp_path):
    """A disk that filled while ``hpbench export`` wrote its file ended in a 30-line traceback
    (session 47's notes, checked on a 64 KiB tmpfs in session 48). The installed command now says
    in one line what the system refused, naming the file, and exits 1; an OSError with no errno
    (not the system's refusal) keeps its traceback."""
    import subprocess

    code = ("import sys, hpbench.cli as c\n"
            "def app(**_): raise OSError(28, 'No space left on device', {where!r})\n"
            "c.app = app; sys.argv = ['hpbench', 'export']; c.main()\n")
    proc = subprocess.run([sys.executable, "-c", code.format(where=str(tmp_path / "out.parquet"))], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: No space left on device: {str(tmp_path / 'out.parquet')!r} (ENOSPC)"
    bare = code.replace("OSError(28, 'No space left on device', {where!r})", "OSError('no errno')")
    proc = subprocess.run([sys.executable, "-c", bare], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "OSError: no errno" in proc.stderr


def test_an_atomic_write_the_disk_refuses_names_its_file_and_leaves_nothing(tmp_path, monkeypatch):
    """A write's ENOSPC names no file (the OS raises it on the temporary file's write or fsync):
    the error now names the file being written, and neither it nor the temporary file is left."""
    import errno
    import os

    from hpbench.results import files

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    target = tmp_path / "out.parquet"
    with pytest.raises(OSError) as info:
        files.atomic_write_bytes(target, b"x" * 100)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert files.disk_full(info.value)
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("how", ["installed", "python -m hpbench"])
def test_a_ctrl_c_while_the_command_starts_exits_130_without_a_traceback(how):
    """Bug hunt s51/h3, finding 6: a Ctrl-C in the command's first fraction of a second, while the
    console script imported hpbench.cli (Typer, pandas, every command's modules), printed a
    20-50 line KeyboardInterrupt traceback. The interrupt comes here as an import of the command
    line that raises it."""
    import subprocess

    interrupt = ("import sys\n"
                 "class Interrupting:\n"
                 "    def find_spec(self, name, path=None, target=None):\n"
                 "        if name == 'hpbench.cli':\n"
                 "            raise KeyboardInterrupt\n"
                 "sys.meta_path.insert(0, Interrupting())\n")
    start = ("import sys; from hpbench.command import main; sys.argv = ['hpbench', '--version']; sys.exit(main())" if how == "installed"
             else "import runpy, sys; sys.argv = ['hpbench', '--version']; runpy.run_module('hpbench', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", interrupt + start], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and proc.stderr == "" and proc.stdout == "", proc.stderr
    # not interrupted: the command as before
    proc = subprocess.run([sys.executable, "-c", start.replace("'--version'", "'--help'")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Usage: hpbench" in proc.stdout, proc.stderr


def test_the_installed_command_starts_where_a_ctrl_c_is_caught():
    """The console script's entry point is hpbench.command:main (pyproject.toml), not hpbench.cli:main,
    whose import is what a Ctrl-C at start-up interrupts."""
    import tomllib

    from hpbench.cli.search import EXIT_INTERRUPTED
    from hpbench.command import EXIT_INTERRUPTED as AT_START

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["hpbench"] == "hpbench.command:main"
    assert AT_START == EXIT_INTERRUPTED
