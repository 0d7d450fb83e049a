"""``hpbench compare A B``: two studies side by side (e.g. the same space on two devices)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import console, fail, read_record, user_path
from hpbench.results.files import DamagedTable


def compare(
    a: Annotated[Path, typer.Argument(parser=user_path, metavar="A", help="First results directory.")],
    b: Annotated[Path, typer.Argument(parser=user_path, metavar="B", help="Second results directory.")],
    top: Annotated[int, typer.Option("--top", min=1, help="Top trials of each study to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Compare two searches: counts, best metric, cost, and each one's top configurations."""
    from hpbench.report.compare import compare_json, compare_table
    from hpbench.report.data import load_report

    read_record(a)
    read_record(b)
    try:
        da, db = load_report(a), load_report(b)
    except (FileNotFoundError, DamagedTable) as err:
        fail(str(err))
    if as_json:
        typer.echo(json.dumps(compare_json(da, db, top=top), indent=2, default=str))
        return
    con = console()
    for r in compare_table(da, db, top=top):
        con.print(r)
