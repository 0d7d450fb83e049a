"""``hpbench.search``: run a study through Ray Tune, blocking, with the CLI's live progress.

Everything that can be wrong with the call (its options, the output location, an earlier run in
the results directory, a search already writing there, the data, the user's loader or model
builder) raises before anything is written or Ray starts: :class:`~hpbench.errors.StudyError`
for a bad option, :class:`~hpbench.preflight.PreflightFailed` (a StudyError listing every
problem) for bad data or broken user code, :data:`REFUSALS` for the rest. An
interrupted search (Ctrl-C) keeps its finished trials; the same call continues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hpbench.errors import StudyError
from hpbench.results.lock import LockHeld
from hpbench.results.resume import OutputError
from hpbench.study.schema import Study

if TYPE_CHECKING:
    from rich.console import Console

    from hpbench.api.results import Results

SOURCE = "hpbench.search"


class SearchRefused(RuntimeError):
    """The results directory holds a different study, or nothing to resume (``resume=True``)."""


REFUSALS: tuple[type[Exception], ...] = (OutputError, SearchRefused, LockHeld)
"""What :func:`search` raises, besides :class:`~hpbench.errors.StudyError`, when it refuses to start."""


def search(study: Study, *, out: str | Path | None = None, address: str | None = None, resume: bool = False, force: bool = False,
           num_cpus: int | None = None, storage: str | None = None, storage_path: str | None = None, repeats: int | None = None,
           budget_flops: float | None = None, budget_s: float | None = None, verbose: bool = False,
           console: Console | None = None, preflight: bool = True, started_at: float | None = None, early_trials: bool = True) -> Results:
    """Run ``study`` and return its :class:`~hpbench.api.results.Results` (the tables are written).

    ``out``: the results directory (default ``results/<study name>``); an earlier run there is
    continued (``resume=True`` insists there is one; ``force=True`` continues it even though the
    search space changed). ``address``: an existing Ray cluster (``HOST:PORT``, ``ray://HOST:PORT``
    or ``"auto"``) instead of a local runtime of ``num_cpus`` CPUs; with none, the warm local
    runtime when one is up (``hpbench ray start``; :mod:`hpbench.dispatch.local_ray`) and its CPUs
    match ``num_cpus`` (when given); ``"local"``: a local runtime of the search's own. ``storage``: the Optuna storage
    URL (default: ``RESULTS/optuna.db``); ``storage_path``: Ray Tune's checkpoints (a path every
    node sees, or a URI). ``repeats``: re-run the top configurations with this many other seeds
    (default: ``[study] repeats``). ``budget_flops``: stop launching trials once this many
    predicted FLOPs are spent; ``budget_s``: once the wall clock since ``started_at`` (default:
    this call) plus the predicted after-search work reaches this many seconds (the clock of the
    live ETA). ``console``: where the live progress goes (default: a new Rich console;
    ``Console(quiet=True)`` for none). ``started_at``: when the whole command started (epoch
    seconds; the CLI passes its process's start). Every search leaves a record of what it
    measured in this machine's history (next to the device models' cache), which
    :func:`hpbench.estimate` and later searches' ETAs read. ``preflight``: load and check the data
    and try every distinct network before anything starts (default: yes). ``early_trials``: train
    the searcher's first proposals in the helper process while Ray starts, on a fresh local search
    where that is safe (default: yes; :mod:`hpbench.dispatch.early`)."""
    from rich.console import Console

    check_options(address=address, num_cpus=num_cpus, budget_flops=budget_flops, budget_s=budget_s, repeats=repeats)
    from hpbench.cost.history import default_cache_dir
    from hpbench.dispatch.plan import ResumeRefused, SearchOptions, plan_search

    target = Path(out) if out is not None else study.default_out()
    opts = SearchOptions(out=target, address=address, verbose=verbose, storage_path=storage_path, num_cpus=num_cpus, resume=resume,
                         force=force, optuna_storage=storage, budget_flops=budget_flops, budget_s=budget_s,
                         repeats=study.settings.repeats if repeats is None else repeats, preflight=preflight, started_at=started_at,
                         history_dir=default_cache_dir(), early_trials=early_trials)
    try:
        plan = plan_search(study, opts)
    except ResumeRefused as err:
        raise SearchRefused(str(err)) from None
    except OutputError:
        raise
    except (OSError, ValueError) as err:  # an unreadable earlier record
        raise OutputError(f"{target}: cannot read the earlier run: {err}") from err
    con = console or Console()
    from hpbench.dispatch.runner import run_search
    from hpbench.dispatch.study_lock import StudyNameBusy

    try:  # its pre-flight raises PreflightFailed (a StudyError) for bad data or broken user code
        run_search(study, opts, console=con, plan=plan)
    except (ResumeRefused, StudyNameBusy) as err:
        raise SearchRefused(str(err)) from None
    from hpbench.api.results import Results  # pandas: imported off the search's start (the first trials wait for nothing it does)

    return Results(target, storage=storage)


def check_options(*, address: str | None, num_cpus: int | None, budget_flops: float | None, budget_s: float | None,
                  repeats: int | None, cli: bool = False) -> None:
    """The call's own options (the study was validated when it was read). ``cli``: name them as
    the command's flags (``--num-cpus``) instead of as keywords (``num_cpus``)."""

    def fail(key: str, rule: str, value: object) -> StudyError:
        name = "--" + key.replace("_", "-") if cli else key
        return StudyError(source="hpbench search" if cli else SOURCE, key=name, rule=rule, value=value)

    if address is not None and address not in ("auto", "local"):
        host, _, port = (address[len("ray://"):] if address.startswith("ray://") else address).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise fail("address", "must be HOST:PORT, ray://HOST:PORT, 'auto' or 'local'", address)
    if num_cpus is not None and address not in (None, "local"):
        where = "--address" if cli else "address"
        raise fail("num_cpus", f"sets the CPUs of a local Ray runtime; the cluster at {where} has its own", num_cpus)
    if num_cpus is not None and num_cpus < 1:
        raise fail("num_cpus", "must be at least 1", num_cpus)
    if repeats is not None and repeats < 0:
        raise fail("repeats", "must be at least 0", repeats)
    for key, value in (("budget_flops", budget_flops), ("budget_s", budget_s)):
        if value is not None and not value > 0:
            raise fail(key, "must be > 0", value)
