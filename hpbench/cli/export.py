"""``hpbench export RESULTS --format csv|parquet|json``: a results table in another format."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import fail
from hpbench.results.files import DamagedTable


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


class TableName(StrEnum):
    trials = "trials"
    epochs = "epochs"


def export(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="Results directory, e.g. results/quickstart.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
    table: Annotated[TableName, typer.Option("--table", help="Which table: one row per trial, or per trial and epoch.")] = TableName.trials,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file \\[default: stdout for csv/json; RESULTS/<table>.export.parquet for parquet (the results' own table is not overwritten)].")] = None,
) -> None:
    """Export a results table (typed columns, one row per trial or epoch) as CSV, Parquet or JSON."""
    from hpbench.results.load import load

    try:
        df = load(results, table=table.value)
    except (FileNotFoundError, DamagedTable) as err:
        fail(str(err))
    if fmt is Format.parquet:
        target = out or results / f"{table.value}.export.parquet"
        df.to_parquet(target, index=False)
        typer.echo(str(target))
        return
    text = df.to_csv(index=False) if fmt is Format.csv else df.to_json(orient="records", indent=2, double_precision=15)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(str(out))
