"""``hpbench best RESULTS``: the best trial of a search (its hyperparameters, metrics and saved
weights), and with ``--study-out FILE`` the study with them fixed and no ``[space]``, ready for
``hpbench train FILE``. A thin layer over :class:`hpbench.Results` (``best``, ``write_best_study``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import console, fail, json_text, read_record, user_path
from hpbench.console_text import literal, shell_command
from hpbench.errors import StudyError
from hpbench.results.files import DamagedTable, OutputError, check_output
from hpbench.results.ranking import finite_number

NONE_SAVED = "none saved"  # a trial that did not end by itself (pruned, budget-stopped, failed) saves no weights file


def best(
    results: Annotated[Path, typer.Argument(parser=user_path, metavar="RESULTS", help="Results directory, e.g. results/quickstart.")],
    study_out: Annotated[Path | None, typer.Option("--study-out", parser=user_path, help="Write the best configuration as a study file (no \\[space]) for `hpbench train`: a file path "
                                                                       "(its folder is created), not a directory nor a file of RESULTS.")] = None,
    trial: Annotated[int | None, typer.Option("--trial", min=0, help="This trial instead of the best one.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the best trial of a search; --study-out writes it as a study to train."""
    from rich.table import Table

    from hpbench.api.results import Results

    read_record(results)
    res = Results(results)
    try:
        if study_out is not None:
            check_output(results, study_out, source="hpbench best", key="--study-out")
        chosen = res.best if trial is None else res.trial(trial)
        written = res.write_best_study(study_out, trial=chosen.trial) if study_out is not None else None
    except (LookupError, FileNotFoundError, DamagedTable) as err:
        fail(str(err.args[0]) if err.args else str(err))
    except StudyError as err:
        fail(err)
    except OutputError as err:  # a folder that is a file, a read-only one
        fail(str(err))
    if as_json:
        missing = None if chosen.weights is not None else res.no_weights(chosen.trial) or NONE_SAVED
        typer.echo(json_text({**chosen.to_dict(), "weights_missing": missing,  # why it has no file: the table's reason
                              "weights_not_kept": res.not_kept(chosen.trial) if chosen.weights is None else None,  # keep_weights deleted it
                              "study_out": str(written) if written else None}))
        return
    table = Table(show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in chosen.params.items():
        table.add_row(literal(k), literal(v))
    for k, v in chosen.metrics.items():
        table.add_row(literal(k), _number(v))
    ended = chosen.stop_reason or chosen.status  # an interrupted (or running) trial has no stop reason: its status says why
    table.add_row("epochs", f"best {'-' if chosen.best_epoch is None else chosen.best_epoch} of {chosen.epochs} ({ended})")
    table.add_row("weights", literal(chosen.weights) if chosen.weights else f"- ({literal(res.no_weights(chosen.trial) or NONE_SAVED)})")
    con = console()
    con.print(f"[bold]{literal(res.name)}[/]: {'best trial' if trial is None else 'trial'} {chosen.trial},",
              f"{literal(chosen.metric)} {_number(chosen.value)} ({chosen.mode})"
              + ("" if finite_number(chosen.value) is not None else f", no value: {literal(ended)}"), highlight=False)
    origin = res.repeat_origin(chosen.trial)
    if origin is not None:  # a repeat: its seed, and what retraining it gives where it trained fused
        note = origin.fused_note()
        con.print(f"{origin.label()}" + (f"; {note}" if note else ""), highlight=False, soft_wrap=True)
    con.print(table)
    if written is not None:
        con.print(f"study: {literal(written)}  ({shell_command('hpbench', 'train', written)})", highlight=False, soft_wrap=True)


def _number(v: object) -> str:
    """A metric as the table shows it: 4 significant digits, "-" where the trial has none (NA)."""
    f = finite_number(v)
    return "-" if f is None else f"{f:.4g}"
