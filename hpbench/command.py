"""The ``hpbench`` command's start: the installed command's entry point (``[project.scripts]``) and
``python -m hpbench``'s. The command line (:mod:`hpbench.cli`: Typer, Rich, pandas and every
command's modules) is imported inside its ``try``: a Ctrl-C in that first fraction of a second
printed a 20-50 line KeyboardInterrupt traceback from the console script's own import (bug hunt
s51/h3, finding 6). It ends the command quietly with exit 130, as an interrupted command does.
This module imports nothing of hpbench's at its top (``import hpbench`` itself is light)."""

from __future__ import annotations

import os
import sys

EXIT_INTERRUPTED = 130  # as hpbench.cli.search.EXIT_INTERRUPTED (not imported: importing it is what is interrupted)


def main(prog_name: str | None = None) -> None:
    """Run the ``hpbench`` command (:func:`hpbench.cli.main`); ``prog_name``: its name in its help
    (``python -m hpbench`` would say ``__main__.py``)."""
    try:
        from hpbench.cli import main as command
    except KeyboardInterrupt:
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)  # at once: nothing started yet, a half-imported module needs no teardown
    command(prog_name=prog_name)
