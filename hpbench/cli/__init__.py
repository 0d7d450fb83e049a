"""The ``hpbench`` command line: one module per command, assembled here.

Heavy libraries (Ray, torch) are imported inside the commands that need them, so that
``hpbench --help`` and a rejected study file answer at once.
"""

from __future__ import annotations

import typer

from hpbench.cli import compare as _compare
from hpbench.cli import devices as _devices
from hpbench.cli import estimate as _estimate
from hpbench.cli import export as _export
from hpbench.cli import plugins as _plugins
from hpbench.cli import report as _report
from hpbench.cli import schema as _schema
from hpbench.cli import search as _search

app = typer.Typer(
    name="hpbench",
    help="Hyperparameter search and benchmarking for PyTorch training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("search")(_search.search)
app.command("report")(_report.report)
app.command("export")(_export.export)
app.command("compare")(_compare.compare)
app.command("devices")(_devices.devices)
app.command("estimate")(_estimate.estimate)
app.command("plugins")(_plugins.plugins_command)
app.command("schema")(_schema.schema)


def main() -> None:
    app()
