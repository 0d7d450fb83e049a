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


def test_the_installed_command_exits_with_the_collector_frozen(monkeypatch):
    """Only the installed ``hpbench`` (hpbench.cli.main), whose process ends with the command,
    freezes it: its final passes over a search driver's heap took 2 s of the exit under load."""
    from hpbench.cli import main

    monkeypatch.setattr(sys, "argv", ["hpbench", "--help"])
    frozen_before = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit) as done:
            main()
        assert done.value.code == 0
        assert not gc.isenabled()
        assert gc.get_freeze_count() > frozen_before
    finally:
        gc.unfreeze()
        gc.enable()
