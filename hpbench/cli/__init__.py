"""The ``hpbench`` command line: one module per command, assembled here. Each command is a thin
layer over the Python API (:mod:`hpbench.api`): it reads its options, calls the API, prints.

Heavy libraries (Ray, torch) are imported inside the commands that need them, so that
``hpbench --help`` and a rejected study file answer at once. Shell completion:
``hpbench --install-completion`` (bash, zsh, fish, PowerShell).
"""

from __future__ import annotations

from typing import Annotated

import typer

from hpbench._version import __version__
from hpbench.cli import best as _best
from hpbench.cli import compare as _compare
from hpbench.cli import devices as _devices
from hpbench.cli import estimate as _estimate
from hpbench.cli import export as _export
from hpbench.cli import plugins as _plugins
from hpbench.cli import report as _report
from hpbench.cli import runtime as _runtime
from hpbench.cli import schema as _schema
from hpbench.cli import search as _search
from hpbench.cli import train as _train
from hpbench.results.record_format import NewerFormatWarning

app = typer.Typer(
    name="hpbench",
    help="Hyperparameter search and benchmarking for PyTorch training.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hpbench {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print hpbench's version and exit.")] = False,
) -> None:
    """Hyperparameter search and benchmarking for PyTorch training."""


app.command("search")(_search.search)
app.command("report")(_report.report)
app.command("best")(_best.best)
app.command("train")(_train.train)
app.command("export")(_export.export)
app.command("compare")(_compare.compare)
app.command("devices")(_devices.devices)
app.command("estimate")(_estimate.estimate)
app.command("plugins")(_plugins.plugins_command)
app.command("schema")(_schema.schema)
app.add_typer(_runtime.app, name="ray")


def main(prog_name: str | None = None) -> None:
    """The installed ``hpbench`` command (started by :func:`hpbench.command.main`, as ``python -m
    hpbench``). Its process ends here (Click ends every command with SystemExit): by
    :func:`leave_done` once the command is done, by :func:`leave_now` when it was interrupted."""
    import warnings

    shown = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *args, **kwargs: (  # hpbench's own reader warning: one line, as an error is
        f"warning: {message}\n" if issubclass(category, NewerFormatWarning) else shown(message, category, *args, **kwargs))
    try:
        app(prog_name=prog_name)
    except SystemExit as done:
        leave(done.code)
        raise
    except OSError as err:
        if err.errno is None:  # not the system's refusal: a defect, with its traceback
            raise
        leave(system_refused(err))
        raise


EXIT_SYSTEM = 1  # the system refused a read or write (a full disk, a read-only or unreadable path)


def system_refused(err: OSError) -> int:
    """Say in one line what the system refused a command (``error: No space left on device:
    'out.parquet'``) and return the command's exit code. Where a command's output cannot be
    written at all it refuses before writing (:func:`hpbench.results.files.check_writable`: exit 2);
    a disk that fills while it writes ended in a 30-line traceback (the files are written
    atomically: nothing half-written is left)."""
    import errno
    import sys

    where = f": {err.filename!r}" if err.filename is not None else ""
    name = errno.errorcode.get(err.errno or 0, "")
    print(f"error: {err.strerror or err}{where}" + (f" ({name})" if name else ""), file=sys.stderr, flush=True)
    return EXIT_SYSTEM


def leave(code: object) -> None:
    """End the installed command's process with its exit code: at once when it was interrupted
    (:func:`leave_now`), after its exit hooks when it is done (:func:`leave_done`)."""
    if code == _search.EXIT_INTERRUPTED:
        leave_now(_search.EXIT_INTERRUPTED)
    leave_done(code)


def leave_done(code: object) -> None:
    """End a command that is done, without the interpreter's finalization: first what a normal
    exit runs that Python code can see (the threads' exit hooks and joins: executors' workers,
    loggers; then the ``atexit`` hooks: logging's flush, Ray's), then ``os._exit``. The
    finalization left out (module teardown, the collector's passes over a search driver's heap,
    the Ray core library's destructors) took 1.15 s after a quickstart search had shut Ray down
    and run every hook, 0.04 s without it (session 12, quiet): time the user waited after the
    final table, which no figure of the ETA held. Only the installed command (and ``python -m
    hpbench``) does this: a command run in a caller's process returns to it; an exit code that
    is not a number leaves the normal way (Python prints it)."""
    import atexit
    import os
    import sys
    import threading

    shutdown = getattr(threading, "_shutdown", None)  # CPython's: run at every normal exit
    if not (code is None or isinstance(code, int)) or shutdown is None:
        return
    shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def leave_now(code: int) -> None:
    """End an interrupted command at once: its tables are written and its lock released by now,
    so after Ray's own shutdown the process exits without the interpreter's finalization, which
    Ray's C++ core stretched to ~5 s (measured: Ctrl-C to exit 7-9 s, of which ~5.5 s after the
    last Python code ran). Only the installed command does this (tests call ``app``)."""
    import os
    import sys

    from hpbench.dispatch import ray_runtime

    ray_runtime.shutdown(drop_session=True)  # a runtime of the search's own: its session folder too (hpbench.dispatch.leftovers)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
