"""``hpbench train STUDY``: train one configuration (a study without ``[space]``, e.g. from
``hpbench best --study-out``) with the trainer every search trial runs; save the model and print
its metrics, the test split's included. A thin layer over :func:`hpbench.train_study`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.closed_stdout import drop
from hpbench.cli.common import console, fail, folder_path, stderr_console, user_path
from hpbench.console_text import literal
from hpbench.errors import StudyError


def train(
    study_file: Annotated[Path, typer.Argument(parser=user_path, metavar="STUDY", help="Study file (TOML) without \\[space].")],
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs (overrides \\[train] max_epochs).")] = None,
    out: Annotated[Path | None, typer.Option("--out", parser=folder_path, metavar="DIR", help="Where model.pt and metrics.json go \\[default: results/<study name>].")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a study key (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace another study's training in DIR (the same study's is replaced anyway).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final metrics as JSON (progress goes to stderr).")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full tracebacks of user code errors.")] = False,
) -> None:
    """Train one configuration and save the model; prints its metrics (test split included)."""
    from rich.table import Table

    from hpbench.api.retrain import OutputError, check_train, train_study
    from hpbench.api.study import Study

    try:
        study = Study.from_toml(study_file, overrides=set_ or ())
        check_train(study, epochs=epochs, out=out, cli=True, force=force)
    except StudyError as err:
        fail(err, debug=debug)
    except OutputError as err:
        fail(str(err))
    con = stderr_console(carry_on=True) if as_json else console(carry_on=True)  # a closed stdout (| head) does not stop a retraining
    from hpbench.train import allocator

    allocator.tune()  # the command's own process, short-lived: the trials' allocator (train_study leaves a caller's alone)
    try:
        done = train_study(study, epochs=epochs, out=out, force=force, console=con)
    except StudyError as err:  # the pre-flight's problems (bad data, a network that cannot be built)
        fail(err, debug=debug)
    except OutputError as err:  # DIR changed since the check above (another training there meanwhile)
        fail(str(err))
    if as_json:
        try:
            typer.echo(json.dumps(done.to_dict(), indent=2))
        except BrokenPipeError:  # its reader went away: the model is saved all the same
            drop(sys.stdout)
        return
    con.print(f"[bold]{literal(study.name)}[/]: best epoch {done.best_epoch} of {done.epochs} ({done.stop_reason}), {done.train_s:.1f} s of training",
              highlight=False)
    table = Table(header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in done.metrics.items():
        table.add_row(literal(k), f"{v:.4g}")
    con.print(table)
    con.print(f"model: {literal(done.weights)}  (metrics.json and study.toml, the study trained, beside it)", highlight=False, soft_wrap=True)
