"""What a search is doing before its first trial reports: loading and checking a large data file,
trying the networks, starting Ray can take a minute on real data (a 500,000-row CSV: 54 s before
the first byte on a terminal; a log's first line came when the first trial ended, 64-112 s in,
bug hunt s47h4). On a terminal (not a dumb one: :func:`redraws`) a spinner names the step while it
runs (Rich's status, gone once the step ends); in a log, the step is named once it has gone on for
:data:`AFTER_S`, so that a quick step adds no line."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from hpbench.console_text import literal
from hpbench.study.schema import Study

AFTER_S = 5.0  # a log names a step that has gone on this long


def redraws(console: Console) -> bool:
    """Whether ``console`` shows live displays (a spinner, the search's panel): a terminal, but not a
    dumb one (``TERM=dumb``: Emacs' shell, some IDE consoles), where Rich never refreshes them and a
    search showed nothing until it ended (bug hunt s51/h3, finding 5); there, the log's lines."""
    return console.is_terminal and not console.is_dumb_terminal


@contextlib.contextmanager
def announce(console: Console, what: str, *, after_s: float = AFTER_S) -> Iterator[None]:
    """Say ``what`` the search is doing for the block: a spinner on a terminal, else one dim line
    if the block lasts ``after_s`` seconds."""
    if redraws(console):
        with console.status(f"[dim]{literal(what)}[/]"):
            yield
        return
    timer = threading.Timer(after_s, lambda: console.print(f"[dim]{literal(what)}...[/]", highlight=False))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def preflight_step(study: Study) -> str:
    """The pre-flight's first step, named by the study's data: a file's name, a built-in's, a loader's."""
    data = study.config.get("data") or {}
    dataset = str(data.get("dataset") or "")
    if not dataset:  # reinforcement learning: an environment, no dataset
        return "pre-flight: checking the study"
    return f"pre-flight: loading and checking the data ({Path(dataset).name if '/' in dataset else dataset})"
