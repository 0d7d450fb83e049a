"""``hpbench plugins``: the entries installed packages add through entry points."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from hpbench.catalog.registries import REGISTRIES
from hpbench.cli.common import console


def plugins_command() -> None:
    """List the installed plugins: the model families, datasets, optimizers, ... that packages
    add through entry points (groups hpbench.families, hpbench.datasets, ...), and those kept out."""
    con = console()
    table = Table(title="hpbench plugins")
    for col in ("group", "name", "entry point", "package", "status"):
        table.add_column(col)
    for named in REGISTRIES:
        for p in named.registry.plugins():
            status = f"[red]kept out: {escape(p.error)}[/]" if p.error else "ok: " + escape(named.registry.get(p.name).doc or "(no doc)")
            table.add_row(p.group, p.name, p.value, p.dist, status)
    if not table.row_count:
        con.print("no plugins installed (entry-point groups: " + ", ".join(n.group for n in REGISTRIES) + ")", highlight=False)
        return
    con.print(table)
