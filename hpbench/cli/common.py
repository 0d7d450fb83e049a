"""What the commands share: the console and the one way a user error ends a command."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hpbench.cli.closed_stdout import CarryOnConsole
from hpbench.errors import DataFileProblem, StudyError
from hpbench.preflight.problems import PreflightFailed
from hpbench.results import files
from hpbench.results.files import STUDY_JSON

EXIT_USAGE = 2
EXIT_ALL_FAILED = 1  # a search in which every trial failed, or no trial produced a value of the metric


PIPE_WIDTH = 160  # tables printed to a pipe or a CI log are not squeezed into 80 columns


def console(*, carry_on: bool = False) -> Console:
    """The command's output. ``carry_on``: when its reader goes away, the command goes on without
    printing (a search: :mod:`hpbench.cli.closed_stdout`) instead of ending with exit 1."""
    kind = CarryOnConsole if carry_on else Console
    con = kind(emoji=False)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con = kind(emoji=False, width=PIPE_WIDTH)
    return con


def stderr_console(*, carry_on: bool = False) -> Console:
    """Progress and messages when stdout carries the command's JSON."""
    return (CarryOnConsole if carry_on else Console)(emoji=False, stderr=True)


def fail(err: StudyError | str, *, debug: bool = False) -> NoReturn:
    """Print a user error on stderr (one line per problem of a StudyError) and exit with code 2.
    A problem in user code (the pre-flight's) is followed by the user's own frames, and with
    ``debug`` by its full traceback."""
    con = Console(emoji=False, stderr=True)
    problems = list(err.problems) if isinstance(err, StudyError) else [str(err)]
    tracebacks = False
    for p in problems:
        con.print(f"[bold red]error:[/] {escape(str(p))}", highlight=False, soft_wrap=True)  # "[distill]" is text, not markup
        for frame in getattr(p, "frames", ()):
            con.print(f"    at {frame}", highlight=False, soft_wrap=True, markup=False)
        traceback = getattr(p, "traceback", "")
        tracebacks = tracebacks or bool(traceback)
        if debug and traceback:
            con.print(traceback.rstrip(), highlight=False, soft_wrap=True, markup=False)
    if tracebacks and not debug:
        con.print("(--debug shows the full traceback)", highlight=False)
    if isinstance(err, PreflightFailed) or any(isinstance(p, DataFileProblem) for p in problems):
        n = len(problems)
        con.print(f"nothing was started or written: {n} problem{'s' if n != 1 else ''} to fix first", highlight=False)
    raise typer.Exit(EXIT_USAGE)


def user_path(value: str) -> Path:
    """A path argument or option as a path, ``~`` the home folder: the shell leaves a quoted
    ``"~/x"`` and ``--out=~/x`` as they are, and a folder named ``~`` was made instead."""
    return Path(value).expanduser()


def folder_path(value: str) -> Path:
    """A folder option's value (``--out``, ``--cache-dir``) as a path: an empty one is refused, where
    ``Path("")`` would silently be the current folder (a script's unset ``$OUT`` wrote a search there)."""
    if not value:
        raise typer.BadParameter("must be a folder path, not empty ('.' names the current folder), but got ''")
    return user_path(value)


def read_record(results: Path) -> dict[str, Any]:
    path = results / STUDY_JSON
    if not results.is_dir() or not path.is_file():
        fail(StudyError(source=str(results), key="(results)", rule=f"must be a results directory holding {STUDY_JSON}", value=str(results)))
    try:
        return files.read_record(results)
    except (FileNotFoundError, files.DamagedRecord) as err:
        fail(str(err))


def command_line(ctx: typer.Context, *, add: tuple[str, ...] = ()) -> str:
    """The running command as the user would type it again (``hpbench search STUDY --out X
    --set k=v ...``: its arguments and every option given a value other than its default), with
    ``add`` appended unless already there; quoted for a POSIX shell."""
    import shlex

    words = ["hpbench", *([ctx.info_name] if ctx.parent is not None and ctx.info_name else [])]
    for param in ctx.command.params:
        value = ctx.params.get(param.name) if param.name else None
        if param.param_type_name == "argument":
            words += [str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v is not None]
            continue
        if param.param_type_name != "option" or value is None or value == param.default or value in ((), []):
            continue
        flag = param.opts[0]
        if getattr(param, "is_flag", False):
            words += [flag] if value else []
        else:
            words += [w for v in (value if param.multiple else [value]) for w in (flag, str(v))]
    words += [a for a in add if a not in words]
    return shlex.join(words)


def json_text(value: Any) -> str:
    """``value`` as strict JSON (RFC 8259 has no NaN or Infinity): a non-finite float, at any depth,
    as null, as ``report --json`` and ``export -f json`` write it; other objects as their text."""
    def plain(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return json.dumps(plain(value), indent=2, default=str, allow_nan=False)
