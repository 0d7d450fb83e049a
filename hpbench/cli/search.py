"""``hpbench search STUDY``: validate the study, run it through Ray Tune, print the ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpbench.cli.common import console, fail
from hpbench.errors import StudyError


def search(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="Study file (TOML), e.g. studies/quickstart.toml.")],
    trials: Annotated[int | None, typer.Option("--trials", min=1, help="Number of trials (overrides [study] trials).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Results directory [default: results/<study name>].")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a study key: --set train.max_epochs=10 (repeatable).")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Join an existing Ray cluster (ADDRESS or 'auto') instead of starting a local one.")] = None,
    storage_path: Annotated[str | None, typer.Option("--storage-path", help="Ray Tune's storage (a path shared by all nodes, or a URI) for multi-host clusters.")] = None,
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", min=1, help="CPUs of the local Ray runtime [default: all].")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows in the final leaderboard.")] = 10,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show Ray's own output.")] = False,
) -> None:
    """Run a hyperparameter search defined by a study file."""
    from hpbench.study.parse import load_study

    try:
        study = load_study(study_file, overrides=set_ or (), trials=trials)
    except StudyError as err:
        fail(err)
    target = out or study.default_out()
    from hpbench.dispatch.runner import SearchOptions, run_search
    from hpbench.report.leaderboard import print_leaderboard
    from hpbench.results.tables import trials_frame

    con = console()
    store = run_search(study, SearchOptions(out=target, address=address, verbose=verbose, storage_path=storage_path, num_cpus=num_cpus), console=con)
    df = trials_frame(list(store.trials.values()), store.param_keys)
    print_leaderboard(con, df, metric=study.settings.metric, mode=study.settings.mode, params=study.space.keys(), top=top)
    con.print(f"results: {target}  (hpbench report {target}; hpbench.load({str(target)!r}))", highlight=False)
