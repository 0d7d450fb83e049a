"""What the commands share: the console and the one way a user error ends a command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hpbench.errors import StudyError
from hpbench.results.files import STUDY_JSON

EXIT_USAGE = 2


PIPE_WIDTH = 160  # tables printed to a pipe or a CI log are not squeezed into 80 columns


def console() -> Console:
    con = Console()
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con = Console(width=PIPE_WIDTH)
    return con


def stderr_console() -> Console:
    """Progress and messages when stdout carries the command's JSON."""
    return Console(stderr=True)


def fail(err: StudyError | str) -> NoReturn:
    """Print a user error on stderr (one line per problem of a StudyError) and exit with code 2."""
    con = Console(stderr=True)
    for line in [str(p) for p in err.problems] if isinstance(err, StudyError) else [str(err)]:
        con.print(f"[bold red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)  # "[distill]" is text, not markup
    raise typer.Exit(EXIT_USAGE)


def read_record(results: Path) -> dict[str, Any]:
    path = results / STUDY_JSON
    if not results.is_dir() or not path.is_file():
        fail(StudyError(source=str(results), key="(results)", rule=f"must be a results directory holding {STUDY_JSON}", value=str(results)))
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, json.JSONDecodeError) as err:
        fail(f"{path}: cannot read the study record: {err}")
