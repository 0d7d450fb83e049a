"""``hpbench.search``: run a study through Ray Tune, blocking, with the CLI's live progress.

Everything that can be wrong with the call (its options, the output location, an earlier run in
the results directory, a search already writing there, another search running in this process,
the data, the user's loader or model builder) raises before anything is written or Ray starts:
:class:`~hpbench.errors.StudyError` for a bad option, :class:`~hpbench.preflight.PreflightFailed`
(a StudyError listing every problem) for bad data or broken user code, :data:`REFUSALS` for the
rest. An interrupted search (Ctrl-C) keeps its finished trials; the same call continues it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from hpbench.api.checks import check_call
from hpbench.api.one_search import SearchRunning, one_search
from hpbench.dispatch.reach import unreachable
from hpbench.errors import StudyError
from hpbench.results.files import OutputError
from hpbench.results.lock import LockHeld
from hpbench.study.keys import MAX_REPEATS
from hpbench.study.schema import Study

if TYPE_CHECKING:
    from rich.console import Console

    from hpbench.api.results import Results

SOURCE = "hpbench.search"


class SearchRefused(RuntimeError):
    """The results directory holds a different study, or nothing to resume (``resume=True``)."""


REFUSALS: tuple[type[Exception], ...] = (OutputError, SearchRefused, LockHeld, SearchRunning)
"""What :func:`search` raises, besides :class:`~hpbench.errors.StudyError`, when it refuses to start."""


def search(study: Study, *, out: str | Path | None = None, address: str | None = None, resume: bool = False, force: bool = False,
           num_cpus: int | None = None, storage: str | None = None, storage_path: str | None = None, repeats: int | None = None,
           budget_flops: float | None = None, budget_s: float | None = None, verbose: bool = False,
           console: Console | None = None, preflight: bool = True, started_at: float | None = None, early_trials: bool = True) -> Results:
    """Run ``study`` and return its :class:`~hpbench.api.results.Results` (the tables are written).

    ``out``: the results directory (default ``results/<study name>``), new, empty or a search's
    results (an existing folder of other files is refused: OutputError); an earlier run there is
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
    where that is safe (default: yes; :mod:`hpbench.dispatch.early_launch`).

    The Ray runtime the search started stays up for the next call in this process (which then
    starts at once); a call with another ``address`` or ``num_cpus`` shuts it down and starts what
    it asks for, and ``ray.shutdown()`` ends it. Ray already up by the caller's own ``ray.init()``
    is used as it is: a call asking for another address or other CPUs raises StudyError
    (:func:`check_runtime`)."""
    with one_search(source=SOURCE, what=f"study {getattr(study, 'name', '?')!r}"):  # before anything is read or written
        from rich.console import Console

        check_call(SOURCE, study, ints={"num_cpus": num_cpus, "repeats": repeats}, numbers={"budget_flops": budget_flops, "budget_s": budget_s})
        check_options(address=address, num_cpus=num_cpus, budget_flops=budget_flops, budget_s=budget_s, repeats=repeats, storage=storage)
        if out is not None and not isinstance(out, (str, Path)):
            raise StudyError(source=SOURCE, key="out", rule="must be a path (a str or a pathlib.Path)", value=out)
        if out == "":  # Path("") is the current folder: an unset variable wrote a whole search among the caller's files
            raise StudyError(source=SOURCE, key="out", rule="must be a folder path, not empty ('.' names the current folder)", value=out)
        check_runtime(address=address, num_cpus=num_cpus)
        check_fits(study, address=address, num_cpus=num_cpus)
        from hpbench.api.cache_check import check_default_cache
        from hpbench.cost.history import default_cache_dir

        check_default_cache(flag=None)  # the trials' cost predictions calibrate this machine's model there when it has none
        from hpbench.dispatch.plan import ResumeRefused, SearchOptions

        target = Path(out) if out is not None else study.default_out()
        opts = SearchOptions(out=target, address=address, verbose=verbose, storage_path=storage_path, num_cpus=num_cpus, resume=resume,
                             force=force, optuna_storage=storage, budget_flops=budget_flops, budget_s=budget_s,
                             repeats=study.settings.repeats if repeats is None else repeats, preflight=preflight, started_at=started_at,
                             history_dir=default_cache_dir(), early_trials=early_trials)
        con = console or Console(emoji=False)
        from hpbench.dispatch.backend import forget_loggers, restore_loggers
        from hpbench.dispatch.runner import run_search
        from hpbench.dispatch.study_lock import StudyNameBusy

        forget_loggers()  # the levels this call finds are the ones it leaves (not those of a run that restored nothing)
        try:  # planned under the folder's lock (LockHeld, OutputError, ResumeRefused); its pre-flight raises PreflightFailed
            run_search(study, opts, console=con)
        except (ResumeRefused, StudyNameBusy) as err:
            raise SearchRefused(str(err)) from None
        finally:
            restore_loggers()  # the Ray runtime stays up for the next call (the caller's process ends it, or ray.shutdown())
        from hpbench.api.results import Results  # pandas: imported off the search's start (the first trials wait for nothing it does)

        return Results(target, storage=storage)


def check_options(*, address: str | None, num_cpus: int | None, budget_flops: float | None, budget_s: float | None,
                  repeats: int | None, storage: str | None = None, cli: bool = False) -> None:
    """The call's own options (the study was validated when it was read). ``cli``: name them as
    the command's flags (``--num-cpus``) instead of as keywords (``num_cpus``)."""

    def fail(key: str, rule: str, value: object, hint: str = "") -> StudyError:
        name = "--" + key.replace("_", "-") if cli else key
        return StudyError(source="hpbench search" if cli else SOURCE, key=name, rule=rule, value=value, hint=hint)

    if address is not None and address not in ("auto", "local"):
        host, port = _host_port(address)
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise fail("address", "must be HOST:PORT, ray://HOST:PORT, 'auto' or 'local'", address)
    if num_cpus is not None and address not in (None, "local"):
        where = "--address" if cli else "address"
        raise fail("num_cpus", f"sets the CPUs of a local Ray runtime; the cluster at {where} has its own", num_cpus)
    if num_cpus is not None and num_cpus < 1:
        raise fail("num_cpus", "must be at least 1", num_cpus)
    if repeats is not None and not 0 <= repeats <= MAX_REPEATS:
        raise fail("repeats", f"must be from 0 to {MAX_REPEATS:,}", repeats)
    for key, value in (("budget_flops", budget_flops), ("budget_s", budget_s)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise fail(key, "must be a number", value)
        if value is not None and not value > 0:
            raise fail(key, "must be > 0", value)
    if storage is not None:
        if not isinstance(storage, str) or not storage:
            raise fail("storage", "must be a database URL (a str)", storage)
        from hpbench.dispatch.storage import shown_url, url_problem

        problem = url_problem(storage)
        if problem is not None:
            raise fail("storage", problem[0], shown_url(storage), hint=problem[1])
    if address == "auto":  # Ray's own search for it failed after tens of seconds, with a traceback, the results folder made
        found = auto_address()
        if found == "":
            raise fail("address", "'auto' must find a running Ray cluster on this machine (`ray start --head` starts one; "
                       "RAY_ADDRESS names one elsewhere)", address)
        reason = unreachable(*_reach(found)) if found else ""
        if reason:
            raise fail("address", f"'auto' found the Ray cluster at {found}, which must answer", address,
                       hint=f"{reason}: a cluster stopped since; `ray start --head` starts one")
    if address is not None and address not in ("auto", "local"):
        reason = unreachable(*_reach(address))
        if reason:  # Ray's own connect retries for minutes, deaf to Ctrl-C, when nothing listens there
            raise fail("address", "must reach a running Ray cluster (its head node's GCS port, 6379 by default)", address,
                       hint=f"{reason}; `ray status` on the head node prints its address")


def check_runtime(*, address: str | None, num_cpus: int | None, cli: bool = False) -> None:
    """Ray already up in this process (the user's ``ray.init()``, or an earlier search's runtime,
    which stays up between calls) is what a search with neither option runs on. A runtime hpbench
    started gives way to one a call asks for with other options
    (:func:`hpbench.dispatch.ray_runtime.make_way`); the user's is theirs to end: a call asking
    for another address or other CPUs is refused here, naming both, before anything starts."""
    from hpbench.dispatch import ray_runtime

    runtime = ray_runtime.current()
    if runtime is None or runtime.started is not None:
        return
    asked = auto_address() or address if address == "auto" else address
    wanted = ray_runtime.differs(runtime, address=asked, num_cpus=num_cpus)
    if wanted:
        key = "address" if address is not None else "num_cpus"
        raise StudyError(source="hpbench search" if cli else SOURCE, key="--" + key.replace("_", "-") if cli else key,
                         rule=f"must fit the Ray runtime already up in this process ({runtime.describe()}), which is not {wanted}",
                         value=address if key == "address" else num_cpus,
                         hint="call ray.shutdown() first to search elsewhere, or leave address and num_cpus unset to search on it")


def check_fits(study: Study, *, address: str | None, num_cpus: int | None, what: str = "search") -> None:
    """A trial's CPUs fit the local Ray runtime the search runs on: Ray Tune queues a trial that
    asks for more than a node has until one appears, which a local runtime never adds (the search
    sat silent forever). A runtime up in this process that the search will use is checked as it
    is (its largest node); a cluster's nodes are checked once the search joined it
    (:func:`hpbench.dispatch.backend.check_resources`)."""
    from hpbench.dispatch import ray_runtime
    from hpbench.dispatch.local_ray import find, local_cpus, would_join

    up = ray_runtime.current()
    if up is not None and (up.started is None or not ray_runtime.differs(up, address=address, num_cpus=num_cpus)):
        local = up.started is not None and up.started.kind != ray_runtime.CLUSTER
        if study.resources.cpus_per_trial > up.largest_node:
            which = (f"the local Ray runtime an earlier search started in this process (at {up.gcs})" if local
                     else f"the largest node of the Ray runtime already up in this process ({up.describe()})")
            raise StudyError(source=study.source, key="resources.cpus_per_trial",
                             rule=f"must be at most the {up.largest_node:g} CPUs of {which}, which the {what} runs on",
                             value=study.resources.cpus_per_trial,
                             hint="a trial asking for more would wait for them forever: lower it, or ray.shutdown() first for a runtime of its own")
        if study.resources.gpus_per_trial > 0 and up.gpus == 0:
            rule = ("needs a GPU the local Ray runtime can use, and the one up in this process has none" if local
                    else "needs a GPU the Ray runtime already up in this process can use, and it has none")
            raise StudyError(source=study.source, key="resources.gpus_per_trial", rule=f"{rule} ({up.describe()})",
                             value=study.resources.gpus_per_trial, hint="set it to 0, or ray.shutdown() first and search on a cluster with GPUs (address=)")
        return
    cpus = local_cpus(address=address, num_cpus=num_cpus)
    if cpus is not None and study.resources.gpus_per_trial > 0 and local_gpus() == 0:  # refused after optuna.db was made, before
        raise StudyError(source=study.source, key="resources.gpus_per_trial",
                         rule=f"needs a GPU the local Ray runtime can use, and this machine has none ({what} here)",
                         value=study.resources.gpus_per_trial, hint="set it to 0, or search on a cluster with GPUs (--address)")
    want = study.resources.cpus_per_trial
    if cpus is not None and want > cpus:
        warm = find() if num_cpus is None and would_join(address=address, num_cpus=None) else None
        if warm is not None:  # its CPUs, not this machine's (s50/h8 #3)
            raise StudyError(source=study.source, key="resources.cpus_per_trial",
                             rule=f"must be at most the {cpus} CPUs of the warm Ray runtime at {warm.address} (hpbench ray start), which a search here "
                                  "joins", value=want,
                             hint=f"a trial asking for more would wait for them forever: lower it, or give the search a runtime of its own "
                                  f"(--address local, or --num-cpus {math.ceil(want)}), or `hpbench ray stop`")
        where = "--num-cpus" if num_cpus is not None else "this machine's" if what == "search" else "this machine's, where the estimate prices the search"
        raise StudyError(source=study.source, key="resources.cpus_per_trial", rule=f"must be at most the {cpus} CPUs of the local Ray runtime ({where})",
                         value=want, hint="a trial asking for more would wait for them forever: lower it, or search on a cluster with larger nodes (--address)")


def _host_port(address: str) -> tuple[str, str]:
    """``HOST:PORT`` or ``ray://HOST:PORT`` as (host, port as written)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return host, port


def _reach(address: str) -> tuple[str, int]:
    """An address checked by :func:`check_options` (or Ray's own), as :func:`unreachable` takes it."""
    host, port = _host_port(address)
    return host, int(port)


def auto_address() -> str | None:
    """The address ``--address auto`` leads Ray to (``RAY_ADDRESS``, else the cluster ``ray start``
    last recorded on this machine): '' when there is none, None when this Ray cannot say."""
    try:
        from ray._private.services import canonicalize_bootstrap_address  # how ray.init resolves "auto" (private: guarded)
    except ImportError:
        return None
    try:
        found = canonicalize_bootstrap_address("auto")
    except ConnectionError:
        return ""
    except Exception:  # Ray's own resolution failed another way: let ray.init say it
        return None
    if found is None:
        return ""
    host, port = _host_port(str(found))
    return str(found) if host and port.isdigit() else None


def local_gpus() -> int | None:
    """The GPUs Ray finds on this machine, as ``ray.init`` counts them (NVIDIA, AMD, Intel, Apple:
    Ray's own accelerator managers, private, guarded); None when this Ray cannot say."""
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource

        manager = get_accelerator_manager_for_resource("GPU")
        return None if manager is None else int(manager.get_current_node_num_accelerators())
    except Exception:  # Ray's internals moved: let ray.init and the cluster check say it
        return None
