"""Where a search's progress shows: Rich's live displays on a terminal that redraws, the log's
plain lines elsewhere (a pipe, a file, a dumb terminal)."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console


def _console(term: str) -> Console:
    return Console(file=StringIO(), width=200, force_terminal=True, _environ={"TERM": term})


@pytest.mark.parametrize(("term", "live"), [("dumb", False), ("xterm-256color", True)])
def test_a_dumb_terminal_gets_the_logs_lines(tmp_path, term, live):
    """Bug hunt s51/h3, finding 5: on ``TERM=dumb`` (Emacs' shell, some IDE consoles) Rich never
    refreshes a live display, and a search showed nothing until it ended: no step, no trial."""
    import threading

    from hpbench.dispatch.announce import announce
    from hpbench.dispatch.progress import Progress
    from hpbench.results.store import ResultsStore

    con = _console(term)
    store = ResultsStore(out=tmp_path / "out", metric="val_accuracy", mode="max", param_keys=["lr"])
    with Progress(store=store, n_trials=1, console=con, study_name="tiny") as progress:
        assert (progress.live is not None) is live
        store.start("t0", {"lr": 0.01})
        store.epoch("t0", {"epoch": 1, "val_accuracy": 0.5, "epoch_s": 0.25})
        store.finish("t0")
        progress.trial_done("t0")
    assert ("] trial 0 " in con.file.getvalue()) is not live  # its line in a log
    if live:
        return
    con = _console(term)
    with announce(con, "slow step", after_s=0.0):
        for _ in range(1000):  # until the line is printed (at most 10 s), not a fixed sleep
            if "slow step..." in con.file.getvalue():
                break
            threading.Event().wait(0.01)
    assert "slow step..." in con.file.getvalue()
