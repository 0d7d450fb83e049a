"""``hpbench search STUDY``: validate the study, run it through Ray Tune, print the ranking.

A thin layer over :func:`hpbench.search`. Everything that can be wrong with the input (the study
file, the options, the output location, an earlier run in the results directory, a search
already writing there) is checked before anything is written or Ray starts, and ends the
command with exit code 2. ``--json`` prints a machine-readable summary on stdout at the end (the
live progress then goes to stderr).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from hpbench.cli.closed_stdout import drop
from hpbench.cli.common import EXIT_ALL_FAILED, command_line, console, fail, folder_path, stderr_console, user_path
from hpbench.console_text import literal, shell_command
from hpbench.dispatch.interrupt import sigterm_as_interrupt
from hpbench.errors import StudyError
from hpbench.results.failures import Failures, no_value
from hpbench.results.files import TRIALS, disk_full
from hpbench.results.parts import table_exists
from hpbench.results.store import TablesNotWritten

EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (hpbench.cli.main then leaves at once: see leave_now)
EXIT_FAULT = 1  # the search stopped on a fault of its environment (the results disk full)


def _chain(err: BaseException | None) -> list[BaseException]:
    out: list[BaseException] = []
    while err is not None and len(out) < 20:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


def _positive(value: int | None) -> int | None:
    """Typer's own ``min=1`` message omits the bad value; this one names it."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be at least 1, but got {value}")
    return value


def search(
    ctx: typer.Context,
    study_file: Annotated[Path, typer.Argument(parser=user_path, metavar="STUDY", help="Study file (TOML), e.g. studies/quickstart.toml.")],
    trials: Annotated[int | None, typer.Option("--trials", callback=_positive, help="Number of trials (overrides \\[study] trials; on a finished study, extends it).")] = None,
    out: Annotated[Path | None, typer.Option("--out", parser=folder_path, metavar="DIR", help="Results directory \\[default: results/<study name>].")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a study key: --set train.max_epochs=10 (repeatable).")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Join an existing Ray cluster (HOST:PORT or 'auto') instead of starting a local one; 'local': a local runtime of the search's own even while the warm one (hpbench ray start) is up.")] = None,
    storage_path: Annotated[str | None, typer.Option("--storage-path", help="Ray Tune's storage (a path shared by all nodes, or a URI) for multi-host clusters.")] = None,
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", callback=_positive, help="CPUs of the local Ray runtime \\[default: all; the warm runtime's when it is up, which a search asking for other CPUs does not join].")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the earlier run in the results directory (re-running the same command does too; --resume insists there is one).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Continue an earlier run even though the search space changed.")] = False,
    top: Annotated[int, typer.Option("--top", callback=_positive, help="Rows in the final leaderboard.")] = 10,
    repeats: Annotated[int | None, typer.Option("--repeats", min=0, help="After the search, re-run the top configurations (\\[study] repeats_top, default 3) with N other seeds (overrides \\[study] repeats).")] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna storage, any SQLAlchemy URL (e.g. postgresql://user@host/db) \\[default: sqlite file RESULTS/optuna.db].")] = None,
    budget_flops: Annotated[float | None, typer.Option("--budget-flops", help="Stop launching trials once N predicted FLOPs are spent.")] = None,
    budget_s: Annotated[float | None, typer.Option("--budget-s", help="Stop launching trials once the command has run N seconds, counting the work still to run after the search (the ETA's clock).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="At the end, print a JSON summary on stdout instead of the leaderboard (progress goes to stderr).")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show Ray's own output.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show everything: full tracebacks of user code errors, and Ray's own output.")] = False,
    no_preflight: Annotated[bool, typer.Option("--no-preflight", help="Skip the pre-flight checks of the data and the networks.")] = False,
    no_early_trials: Annotated[bool, typer.Option("--no-early-trials", help="Run every trial through Ray Tune (by default a fresh local search trains its first trials in its helper process while Ray starts).")] = False,
) -> None:
    """Run a hyperparameter search defined by a study file."""
    from hpbench.api.search import REFUSALS, check_options, check_runtime
    from hpbench.api.search import search as run
    from hpbench.api.study import Study
    from hpbench.cost.clock import process_started_at

    started_at = process_started_at()  # the clock of the ETA, of --budget-s and of the history's figures

    overrides = [*(set_ or ()), *([f"study.trials={trials}"] if trials is not None else [])]
    try:
        study = Study.from_toml(study_file, overrides=overrides)
        check_options(address=address, num_cpus=num_cpus, budget_flops=budget_flops, budget_s=budget_s, repeats=repeats, storage=storage, cli=True)
        check_runtime(address=address, num_cpus=num_cpus, cli=True)  # Ray up already: a command run inside a caller's process
    except StudyError as err:
        fail(err)
    con = stderr_console(carry_on=True) if as_json else console(carry_on=True)  # a closed stdout (| head) does not stop the search
    if trials is not None and study.settings.searcher == "grid":  # as Ray Tune's grid_search and the study's own trials key
        con.print(f"[yellow]warning:[/] --trials {trials} is not used: a grid search runs every point of its grid "
                  f"({len(study.space.grid())}); a searcher that samples (random, tpe) runs a number of trials", highlight=False)
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        results = run(study, out=out, address=address, resume=resume, force=force, num_cpus=num_cpus, storage=storage,
                      storage_path=storage_path, repeats=repeats, budget_flops=budget_flops, budget_s=budget_s, verbose=verbose or debug,
                      console=con, preflight=not no_preflight, early_trials=not no_early_trials,
                      started_at=started_at)
    except StudyError as err:  # found once the data was read: the pre-flight's problems (bad data, broken user code)
        fail(err, debug=debug)
    except REFUSALS as err:
        fail(str(err))
    except KeyboardInterrupt:
        if table_exists(Path(out) if out is not None else study.default_out(), TRIALS):
            con.print(f"interrupted: the finished trials are saved; continue with: {escape(command_line(ctx, add=('--resume',)))}",
                      highlight=False, soft_wrap=True)
        else:  # during the pre-flight or the start-up: no trial was recorded
            con.print("interrupted before any trial was recorded: nothing to resume", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as err:
        if not disk_full(err):
            raise
        detail = next((str(e) for e in _chain(err) if isinstance(e, TablesNotWritten)), f"{type(err).__name__}: {err}")
        Console(emoji=False, stderr=True).print(f"[bold red]error:[/] the disk of the results is full: {escape(detail.splitlines()[0])}. Free some space, "
                                   f"then continue with: {escape(command_line(ctx, add=('--resume',)))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAULT) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    # nothing ran: a budget spent before the first trial could start, or before any trial's first epoch
    if not table_exists(results.path, TRIALS) or ((budget_s or budget_flops) and not _trained(results.trials)):
        given = " ".join(f"{flag} {v:g}" for flag, v in (("--budget-s", budget_s), ("--budget-flops", budget_flops)) if v)
        con.print(f"[yellow]no trial ran[/]: the budget ({given}) was spent before the first trial trained an epoch; the command took "
                  f"{time.time() - started_at:.1f} s (its start-up part: {shell_command('hpbench', 'estimate', study_file)}). Give a larger budget",
                  highlight=False)
        raise typer.Exit(EXIT_FAULT)
    signal.signal(signal.SIGTERM, sigterm_as_interrupt)  # ... and while the report prints
    try:
        failed = results.failures()
        if as_json:
            try:
                typer.echo(json.dumps(results.summary(), indent=2, default=str))
            except BrokenPipeError:  # its reader went away: the search is done all the same
                drop(sys.stdout)
        else:
            # The ranking, and per value of each searched dimension what it achieved ("which
            # optimizer / init wins here?"); the full report is `hpbench report`.
            results.report(con, sections=["leaderboard", "matters"], top=top)
            con.print(results_line(results.path), highlight=False, soft_wrap=True)
    except KeyboardInterrupt:  # the search is done and written: only its report is cut short
        con.print(f"\ninterrupted during the report: the search is done, its results are saved in {literal(results.path)} "
                  f"({shell_command('hpbench', 'report', results.path)})", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    _say_failures(con, failed)
    _say_no_value(con, no_value(results.trials.to_dict("records"), metric=results.metric))
    _finish(results.path, started_at=started_at)


def results_line(path: Path) -> str:
    """The search's last line (markup): where its results are, and the command and the call that read them."""
    return f"results: {literal(path)}  ({shell_command('hpbench', 'report', path)}; hpbench.load({literal(repr(str(path)))}))"


def _trained(trials: Any) -> bool:
    """Whether any trial of the table trained an epoch."""
    return "epochs" in trials.columns and bool((trials["epochs"].fillna(0) > 0).any())


def _finish(out: Path, *, started_at: float) -> None:
    """The command's last parts, measured for this machine's history (the next estimate reads
    them): the final table, and the exit (shutting down the Ray runtime the search started, which
    the interpreter's exit would do anyway). The installed command then leaves without the
    interpreter's finalization (:func:`hpbench.cli.leave_done`); a command run inside a caller's
    process returns to it."""
    from hpbench.cost import history
    from hpbench.dispatch import local_ray, ray_runtime

    report_end = time.time()
    ray_runtime.shutdown(drop_session=True)  # a runtime of the search's own: its session folder too (hpbench.dispatch.leftovers)
    local_ray.release()  # the warm runtime's hold, when the search joined it
    exit_s = time.time() - report_end
    with contextlib.suppress(OSError):
        history.finish(history.default_cache_dir(), out=str(out.resolve()), started_at=started_at, report_end=report_end, exit_s=exit_s)


def _say_failures(con: Console, failed: Failures) -> None:
    """Failed trials: the distinct errors and how many trials each ended; exit 1 when every trial failed."""
    if not failed.n_failed:
        return
    con.print(Text(failed.headline() + ":", style="bold red" if failed.all_failed else "yellow"), highlight=False)
    for line in failed.lines():
        con.print(Text("  " + line), highlight=False, soft_wrap=True)
    if failed.all_failed:
        raise typer.Exit(EXIT_ALL_FAILED)


def _say_no_value(con: Console, line: str | None) -> None:
    """A search that ended with no trial holding a value of its metric (every one diverged, say:
    :func:`hpbench.results.failures.no_value`): its closing line, and exit 1 as when every trial failed."""
    if line is None:
        return
    con.print(Text(line, style="bold red"), highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_ALL_FAILED)
