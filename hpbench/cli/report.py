"""``hpbench report RESULTS``: the report of a results directory, any time (also while the
search is still running: the tables are replaced atomically, so a read is consistent). A thin
layer over :class:`hpbench.Results` (``report``, ``report_json``, ``plots``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import console, fail, read_record, user_path
from hpbench.errors import StudyError
from hpbench.report.names import SECTION_NAMES
from hpbench.results.files import DamagedTable, OutputError


def report(
    results: Annotated[Path, typer.Argument(parser=user_path, metavar="RESULTS", help="Results directory, e.g. results/quickstart.")],
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in the leaderboard.")] = 10,
    section: Annotated[list[str] | None, typer.Option("--section", "-s", help=f"Only these sections (repeatable): {', '.join(SECTION_NAMES)}.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plots: Annotated[Path | None, typer.Option("--plots", parser=user_path, help="Write PNG figures into this directory.")] = None,
    html: Annotated[bool, typer.Option("--html", help="With --plots: also write report.html with the figures embedded.")] = False,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna storage URL the search used \\[default: RESULTS/optuna.db].")] = None,
    budget_flops: Annotated[float | None, typer.Option("--budget-flops", help="Cost section: the best trial whose predicted FLOPs (to max epochs) fit in N.")] = None,
    budget_s: Annotated[float | None, typer.Option("--budget-s", help="Cost section: the best trial whose predicted seconds fit in N.")] = None,
) -> None:
    """Print the report of a finished or running search."""
    from hpbench.api.results import Results
    from hpbench.report.plots import FIGURES, check_plots_dir

    read_record(results)
    for s in section or ():
        if s not in SECTION_NAMES:
            fail(f"Invalid value for '--section': {s!r} is not one of {', '.join(SECTION_NAMES)}.")
    for flag, value in (("--budget-flops", budget_flops), ("--budget-s", budget_s)):
        if value is not None and not value > 0:
            fail(f"Invalid value for '{flag}': must be > 0, but got {value}.")
    if html and plots is None:
        fail("--html needs --plots DIR (the page is written next to the figures)")
    if plots is not None:
        try:
            check_plots_dir(plots, source="hpbench report", key="--plots")
        except StudyError as err:
            fail(err)
        except OutputError as err:  # under a file, in a read-only folder
            fail(str(err))
    res = Results(results, storage=storage)
    try:
        if as_json:
            typer.echo(json.dumps(res.report_json(sections=section, top=top, budget_flops=budget_flops, budget_s=budget_s), indent=2, default=str))
        else:
            res.report(console(), sections=section, top=top, budget_flops=budget_flops, budget_s=budget_s)
    except (FileNotFoundError, DamagedTable) as err:
        fail(str(err))
    if plots is not None:
        written = res.plots(plots, top=min(top, 8), html=html)
        if not as_json:
            con = console()
            con.print("plots: " + (", ".join(str(p) for p in written) or "none"), highlight=False, soft_wrap=True, markup=False)
            if missing := [f for f in FIGURES if plots / f not in written]:
                con.print(f"not drawn (too few trials with a value of {res.metric} for them): {', '.join(missing)}", highlight=False,
                          soft_wrap=True, markup=False)
