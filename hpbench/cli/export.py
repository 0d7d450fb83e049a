"""``hpbench export RESULTS --format csv|parquet|json``: a results table in another format."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from hpbench.cli.common import fail, user_path
from hpbench.errors import StudyError
from hpbench.results.files import OutputError, atomic_write_parquet, atomic_write_text, check_output


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


class TableName(StrEnum):
    trials = "trials"
    epochs = "epochs"


def export(
    results: Annotated[Path, typer.Argument(parser=user_path, metavar="RESULTS", help="Results directory, e.g. results/quickstart.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.csv,
    table: Annotated[TableName | None, typer.Option("--table", help="Which table: one row per trial, or per trial and epoch \\[default: trials, or the table file RESULTS names].", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", parser=user_path, help="Output file, its folder created \\[default: stdout for csv/json; RESULTS/<table>.export.parquet for parquet]. "
                                                              "The results' own files are never overwritten.")] = None,
) -> None:
    """Export a results table (typed columns, one row per trial or epoch) as CSV, Parquet or JSON."""
    from hpbench.results.load import TABLES, load

    folder = results if results.is_dir() else results.parent  # RESULTS may be a table file of the folder
    target = out
    if fmt is Format.parquet and out is None:  # the default: beside the table exported
        name = table.value if table else next((k for k, v in TABLES.items() if v == results.name), TableName.trials.value)
        target = folder / f"{name}.export.parquet"
    try:
        if target is not None:
            check_output(folder, target, source="hpbench export", key="--out")
            if target.resolve() == results.resolve():
                raise StudyError(source="hpbench export", key="--out", value=str(target), rule="is the table exported; write elsewhere")
        df = load(results, table=table.value if table else None)
    except StudyError as err:
        fail(err)
    except OutputError as err:  # a folder that is a file, a read-only one (results shared read-only: the default parquet output)
        fail(str(err) if out is not None else f"{err} (the default output of -f parquet; write elsewhere with -o FILE)")
    except (FileNotFoundError, ValueError) as err:  # DamagedTable, a table file and another --table, a file that is no table
        fail(str(err))
    if fmt is Format.parquet and target is not None:  # target: -o, else the default
        atomic_write_parquet(target, df)
        typer.echo(str(target))
        return
    text = df.to_csv(index=False) if fmt is Format.csv else _json(df)
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        typer.echo(str(out))


def _json(df: Any) -> str:
    """The table as JSON records whose numbers read back as the same float64 (pandas' to_json
    keeps at most 15 digits: lr 0.07780155576901421 came back 0.077801555769014); NA and
    non-finite numbers as null, as pandas writes them."""
    import json
    import math

    from hpbench.results.parts import plain_row

    def value(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v

    rows = [{k: value(v) for k, v in plain_row(r).items()} for r in df.to_dict("records")]
    return json.dumps(rows, indent=2, default=str) + "\n"
