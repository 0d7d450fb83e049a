"""``hpbench report RESULTS``: the leaderboard of a results directory, any time (also while
the search is still running: the tables are replaced atomically, so a read is consistent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import console, fail, read_record


def report(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="Results directory, e.g. results/quickstart.")],
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in the leaderboard.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the report of a finished or running search."""
    from hpbench.report.leaderboard import leaderboard_records, print_leaderboard
    from hpbench.results.load import load

    record = read_record(results)
    metric, mode = record["settings"]["metric"], record["settings"]["mode"]
    params = list(record["space"])
    try:
        trials = load(results)
    except FileNotFoundError as err:
        fail(str(err))
    if as_json:
        typer.echo(json.dumps({"study": record["name"], "metric": metric, "mode": mode, "n_trials": len(trials),
                               "leaderboard": leaderboard_records(trials, metric=metric, mode=mode, top=top)}, indent=2, default=str))
        return
    print_leaderboard(console(), trials, metric=metric, mode=mode, params=params, top=top)
