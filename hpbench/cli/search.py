"""``hpbench search STUDY``: validate the study, run it through Ray Tune, print the ranking.

Everything that can be wrong with the input (the study file, the options, the output
location, an earlier run in the results directory, a search already writing there) is
checked before anything is written or Ray starts, and ends the command with exit code 2.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from hpbench.cli.common import console, fail
from hpbench.errors import StudyError

EXIT_INTERRUPTED = 130


def _check_address(address: str | None) -> None:
    if address is None or address == "auto":
        return
    host, _, port = address.rpartition(":")
    if address.startswith("ray://"):
        host, _, port = address[len("ray://"):].rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        fail(StudyError(source="--address", key="--address", rule="must be HOST:PORT, ray://HOST:PORT or 'auto'", value=address))


def _positive(value: int | None) -> int | None:
    """Typer's own ``min=1`` message omits the bad value; this one names it."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be at least 1, but got {value}")
    return value


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def search(
    study_file: Annotated[Path, typer.Argument(metavar="STUDY", help="Study file (TOML), e.g. studies/quickstart.toml.")],
    trials: Annotated[int | None, typer.Option("--trials", callback=_positive, help="Number of trials (overrides [study] trials; on a finished study, extends it).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Results directory [default: results/<study name>].")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a study key: --set train.max_epochs=10 (repeatable).")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Join an existing Ray cluster (HOST:PORT or 'auto') instead of starting a local one.")] = None,
    storage_path: Annotated[str | None, typer.Option("--storage-path", help="Ray Tune's storage (a path shared by all nodes, or a URI) for multi-host clusters.")] = None,
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", callback=_positive, help="CPUs of the local Ray runtime [default: all].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the earlier run in the results directory (re-running the same command does too; --resume insists there is one).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Continue an earlier run even though the search space changed.")] = False,
    top: Annotated[int, typer.Option("--top", callback=_positive, help="Rows in the final leaderboard.")] = 10,
    repeats: Annotated[int | None, typer.Option("--repeats", min=0, help="After the search, re-run the top configurations ([study] repeats_top, default 3) with N other seeds (overrides [study] repeats).")] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna storage, any SQLAlchemy URL (e.g. postgresql://user@host/db) [default: sqlite file RESULTS/optuna.db].")] = None,
    budget_flops: Annotated[float | None, typer.Option("--budget-flops", min=0, help="Stop launching trials once N predicted FLOPs are spent.")] = None,
    budget_s: Annotated[float | None, typer.Option("--budget-s", min=0, help="Stop launching trials once N seconds of training are spent.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show Ray's own output.")] = False,
) -> None:
    """Run a hyperparameter search defined by a study file."""
    from hpbench.study.parse import load_study

    try:
        study = load_study(study_file, overrides=set_ or (), trials=trials)
    except StudyError as err:
        fail(err)
    _check_address(address)
    if num_cpus is not None and address is not None:
        fail(StudyError(source="--num-cpus", key="--num-cpus", rule="sets the CPUs of a local Ray runtime; the cluster at --address has its own", value=num_cpus))
    target = out or study.default_out()
    from hpbench.dispatch.plan import ResumeRefused, SearchOptions, plan_search
    from hpbench.dispatch.runner import run_search
    from hpbench.results.lock import LockHeld
    from hpbench.results.resume import OutputError

    for name, v in (("--budget-flops", budget_flops), ("--budget-s", budget_s)):
        if v is not None and v <= 0:
            fail(f"{name} must be > 0, but got {v}")
    opts = SearchOptions(out=target, address=address, verbose=verbose, storage_path=storage_path, num_cpus=num_cpus, resume=resume, force=force, optuna_storage=storage,
                         budget_flops=budget_flops, budget_s=budget_s,
                         repeats=study.settings.repeats if repeats is None else repeats)
    try:
        plan = plan_search(study, opts)
    except (OutputError, ResumeRefused) as err:
        fail(str(err))
    except (OSError, ValueError) as err:  # an unreadable earlier record
        fail(f"{target}: cannot read the earlier run: {err}")

    con = console()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        run_search(study, opts, console=con, plan=plan)
    except (LockHeld, ResumeRefused) as err:
        fail(str(err))
    except KeyboardInterrupt:
        con.print(f"interrupted: the finished trials are saved; continue with `hpbench search {study_file} --resume`", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    from hpbench.report.data import load_report
    from hpbench.report.sections import print_report

    # The ranking, and per value of each searched dimension what it achieved ("which
    # optimizer / init wins here?"); the full report is `hpbench report`.
    print_report(con, load_report(target, storage=storage), sections=["leaderboard", "matters"], top=top)
    con.print(f"results: {target}  (hpbench report {target}; hpbench.load({str(target)!r}))", highlight=False)
