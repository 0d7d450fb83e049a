"""``hpbench plugins``: the entries installed packages add through entry points."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from hpbench.catalog.registries import REGISTRIES
from hpbench.cli.common import console
from hpbench.console_text import literal


def plugins_command() -> None:
    """List the installed plugins: the model families, datasets, optimizers, ... that packages
    add through entry points (groups hpbench.families, hpbench.datasets, ...), and those kept out.
    Exits 1 when any plugin was kept out (as `pip check` does), so scripts can gate on it."""
    con = console()
    table = Table(title="hpbench plugins")
    for col in ("group", "name", "entry point", "package", "status"):
        table.add_column(col)
    for named in REGISTRIES:
        for p in named.registry.plugins():
            status = f"[red]kept out: {escape(p.error)}[/]" if p.error else "ok: " + escape(named.registry.get(p.name).doc or "(no doc)")
            table.add_row(*(literal(v) for v in (p.group, p.name, p.value, p.dist)), status)
    if not table.row_count:
        con.print("no plugins installed (entry-point groups: " + ", ".join(n.group for n in REGISTRIES) + ")", highlight=False)
        return
    con.print(table)
    kept_out = sum(1 for named in REGISTRIES for p in named.registry.plugins() if p.error)
    if kept_out:
        con.print(f"[red]{kept_out} plugin(s) kept out[/]: studies cannot use them until the package is fixed")
        raise typer.Exit(1)
