"""``hpbench estimate STUDY``: what the study's configurations will cost, before running anything
(a thin layer over :func:`hpbench.api.estimate.study_estimate`, which :func:`hpbench.estimate` shares)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hpbench.cli.common import console, fail, folder_path, stderr_console, user_path
from hpbench.errors import StudyError


def estimate(
    study_file: Annotated[Path, typer.Argument(parser=user_path, metavar="STUDY", help="Study file (TOML).")],
    samples: Annotated[int | None, typer.Option("--samples", min=1, help="Configurations sampled from the space \\[default: the study's trials, at most 64; the sample's totals are scaled to the trials].")] = None,
    grid: Annotated[bool, typer.Option("--grid", help="Every configuration of a finite space.")] = False,
    device_flops: Annotated[float | None, typer.Option("--device-flops", help="Predict for a hypothetical device of N FLOP/s (FLOPs / N, no overheads).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a study key (repeatable).")] = None,
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", parser=folder_path, metavar="DIR", help="Device model cache \\[default: $XDG_CACHE_HOME/hpbench/devices, else ~/.cache/hpbench/devices].")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Configurations shown in the table.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full tracebacks of user code errors.")] = False,
    no_preflight: Annotated[bool, typer.Option("--no-preflight", help="Skip the pre-flight checks of the data and the networks.")] = False,
) -> None:
    """Predict FLOPs and seconds per configuration and for the whole study."""
    from hpbench.api.estimate import study_estimate
    from hpbench.api.study import Study
    from hpbench.results.files import OutputError

    progress = stderr_console() if as_json else console()  # a calibration's lines: never in the JSON
    try:
        study = Study.from_toml(study_file, overrides=set_ or ())
        est = study_estimate(study, samples=samples, grid=grid, device_flops=device_flops, cache_dir=cache_dir, cli=True,
                             preflight=not no_preflight, log=lambda line: progress.print(f"[dim]{escape(line)}[/]", highlight=False))
    except StudyError as err:  # the pre-flight's too: bad data, broken user code
        fail(err, debug=debug)
    except OutputError as err:  # --cache-dir cannot be a folder
        fail(str(err))
    except (ValueError, KeyError) as err:
        fail(f"{study_file}: {err}")
    if as_json:
        typer.echo(json.dumps({"study": study.name, "summary": est.summary, "configurations": est.rows}, indent=2, default=str))
        return
    import pandas as pd

    from hpbench.report.cost import coverage_notes, estimate_table, summary_table

    con = console()
    for warning in est.summary.get("warnings", ()):
        con.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)  # one line each: a long path is not folded
    con.print(estimate_table(est.rows, params=study.space.keys(), top=top, width=con.width))
    con.print(summary_table(est.summary))
    for note in coverage_notes(pd.DataFrame(est.rows), label="configuration", id_column="config"):
        con.print("  " + note, highlight=False, markup=False)
