"""Run a validated study through Ray Tune: start (or join) Ray, build the searcher and
scheduler, run the trials, and keep the results tables and the live progress up to date.

Ray and Tune are imported here and only here (and in the trainable).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from hpbench.dispatch.predictions import AsyncPredictions
from hpbench.dispatch.progress import Progress
from hpbench.dispatch.searchers import make_searcher, n_trials
from hpbench.dispatch.storage import open_storage, sqlite_url
from hpbench.dispatch.trainable import WEIGHTS_HANDOFF, Handoff, Replay, epoch_rows, run_trial, study_data
from hpbench.results.files import OPTUNA_DB, STUDY_JSON, STUDY_TOML, atomic_write_json, atomic_write_text
from hpbench.results.lock import ResultsLock
from hpbench.results.resume import Previous, check_writable, load_previous, space_diff
from hpbench.results.store import ResultsStore
from hpbench.results.weights import INCOMING_DIR
from hpbench.study.schema import Study

# Ray Tune knobs (Ray's own, documented in ray.tune.constants): hpbench keeps its own tables,
# so Tune's per-trial JSON/CSV/TensorBoard loggers only cost time (measured: ~0.3 s per
# trial), and its experiment snapshot need not be taken every few seconds.
_TUNE_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "60",
    "TUNE_RESULT_BUFFER_LENGTH": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
}


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    out: Path
    address: str | None = None
    verbose: bool = False
    storage_path: str | None = None
    num_cpus: int | None = None
    optuna_storage: str | None = None  # any SQLAlchemy URL [default: sqlite file in the results directory]
    resume: bool = False  # require an earlier run to continue from (re-running continues anyway)
    force: bool = False  # continue even though the search space changed
    budget_flops: float | None = None  # stop launching trials once this many predicted FLOPs are spent
    budget_s: float | None = None  # ... or this many measured training seconds
    repeats: int = 0  # after the search, re-run the top configurations with this many other seeds


class ResumeRefused(RuntimeError):
    """The results directory holds a different study (or none, with ``--resume``)."""


@dataclass(frozen=True)
class Plan:
    """What a search will do, decided before Ray starts: the earlier run it continues from
    (if any) and how many new trials it runs."""

    previous: Previous | None
    n_total: int
    n_new: int


def plan_search(study: Study, opts: SearchOptions) -> Plan:
    """Check the output location and any earlier run; raises before anything is written."""
    check_writable(opts.out)
    previous = load_previous(opts.out) if opts.out.is_dir() else None
    if previous is None and opts.resume:
        raise ResumeRefused(f"--resume: nothing to resume in {opts.out} (no {STUDY_JSON}); run without --resume to start")
    if previous is not None:
        old = previous.record.get("space", {})
        new = study.space.describe()
        if previous.record.get("space_fingerprint") != study.space.fingerprint() and not opts.force:
            diff = "\n".join(space_diff(old, new))
            raise ResumeRefused(f"{opts.out}: the search space changed since the earlier run:\n{diff}\n"
                                "(use --force to continue anyway, or --out DIR for a new study)")
    total = n_trials(study)
    done = previous.n_done if previous else 0
    return Plan(previous=previous, n_total=total, n_new=max(0, total - done))


def check_gpus(study: Study) -> None:
    """A study asking for GPU shares on a cluster without GPUs would wait forever in Tune's
    queue: refuse it at once."""
    import ray

    want = study.resources.gpus_per_trial
    have = float(ray.cluster_resources().get("GPU", 0.0))
    if want > 0 and have < want:
        raise ResumeRefused(f"resources.gpus_per_trial = {want}, but the Ray cluster has {have:g} GPUs")


def _settle_optuna(storage: Any, study_name: str) -> int:
    """Trials left RUNNING in Optuna's storage by a killed driver are marked FAIL, so that the
    sampler neither waits for them nor learns from half a trial. Returns how many."""
    import optuna
    from optuna.trial import TrialState

    try:
        ostudy = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    stale = ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:
        storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    return len(stale)


def _tune_callback(store: ResultsStore, progress: Progress, *, predictions: AsyncPredictions | None = None, budget: Any = None,
                   replays: list[Replay] | None = None) -> Any:
    from ray.tune import Callback

    class _Recorder(Callback):  # type: ignore[misc]
        # Tune pickles its callbacks into its experiment snapshot; this one lives only in the
        # driver (hpbench resumes from its own tables), so it pickles to nothing.
        def __reduce__(self) -> Any:
            return (Callback, ())

        def __init__(self) -> None:
            super().__init__()
            # Epochs reported before their trial's prediction arrived: their FLOPs are charged
            # to the budget when it does (the driver never waits for a prediction).
            self.uncharged: dict[str, int] = {}

        def _harvest(self) -> None:
            if predictions is None:
                return
            for tid in predictions.harvest(store):
                n = self.uncharged.pop(tid, 0)
                if budget is not None and n:
                    budget.charge(flops=n * float(store.trials[tid].get("flops_per_epoch") or 0.0))

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            params, labels, device = trial.config, {}, None
            if replays is not None:
                replay = replays[int(trial.config["replay"])]
                params, labels, device = replay.params, replay.labels, replay.device
            store.start(trial.trial_id, params)
            store.trials[trial.trial_id].update(labels)
            if predictions is not None:
                predictions.submit(trial.trial_id, params, device=device)
            progress.refresh()

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
            self._harvest()
            if "epoch" in result:
                for row in epoch_rows(result):
                    store.epoch(trial.trial_id, row)
                    if budget is not None:
                        flops = store.trials[trial.trial_id].get("flops_per_epoch")
                        if flops is None and predictions is not None and predictions.is_pending(trial.trial_id):
                            self.uncharged[trial.trial_id] = self.uncharged.get(trial.trial_id, 0) + 1
                        budget.charge(flops=flops or 0.0, seconds=float(row.get("epoch_s") or 0.0))
                store.flush()
            progress.refresh()

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self._harvest()
            _save_weights(store, trial)
            store.finish(trial.trial_id)
            store.flush(soon=True)
            progress.trial_done(trial.trial_id)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            self._harvest()
            store.finish(trial.trial_id, error=_error_text(trial))
            store.flush(soon=True)
            progress.trial_done(trial.trial_id)

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            self._harvest()
            store.flush()  # changes a skipped write left behind (throttled; nothing if none)
            progress.refresh()

    return _Recorder()


def _save_weights(store: ResultsStore, trial: Any) -> None:
    """Copy a finished trial's final model from its last Tune checkpoint into the results
    directory (``weights/<trial>.pt``). Pruned trials have none; a failed copy is reported in
    the trial's ``error`` column, not raised (the trial itself finished)."""
    from hpbench.results.weights import save_from_checkpoint, save_from_file

    try:
        n = int(store.trials[trial.trial_id]["trial"])
        handed = (trial.last_result or {}).get(WEIGHTS_HANDOFF)
        if handed:
            save_from_file(store.out, n, handed)
        else:
            save_from_checkpoint(store.out, n, trial.checkpoint)
    except Exception as err:  # the weights are an extra; losing them must not stop the search
        store.trials[trial.trial_id]["error"] = f"saving weights failed: {err}"[:500]


def _error_text(trial: Any) -> str:
    text = ""
    try:  # Tune writes the trial's error file locally first (its storage copy may lag)
        local = trial.error_file
        if local and Path(local).is_file():
            text = Path(local).read_text(encoding="utf-8", errors="replace")
        if not text.strip():
            text = str(trial.get_error() or "")
    except Exception:  # best effort: the message is informational
        text = ""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "trial failed"


def init_ray(opts: SearchOptions) -> None:
    import ray

    for k, v in _TUNE_ENV.items():
        os.environ.setdefault(k, v)
    if not opts.verbose:
        for name in ("ray", "ray.tune", "ray.train", "ray.data"):
            logging.getLogger(name).setLevel(logging.ERROR)
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = dict(
        include_dashboard=False,
        log_to_driver=opts.verbose,
        logging_level=logging.INFO if opts.verbose else logging.ERROR,
        configure_logging=True,
    )
    if opts.address:
        ray.init(address=opts.address, **kwargs)
    else:
        # A local runtime listens on loopback only: nothing outside this machine needs to reach
        # it, and it skips the IP detection that cost up to a second of start-up here.
        # Ray would start one idle worker per CPU for this driver, but Tune's trial actors carry
        # their own runtime environment (environment variables), so they never land on those
        # workers: skipping them saves ~0.7 s of CPU while the search starts (measured).
        ray.init(num_cpus=opts.num_cpus, _node_ip_address="127.0.0.1", _system_config={"prestart_worker_first_driver": False}, **kwargs)


def write_study_record(study: Study, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    src = Path(study.source)
    if src.is_file():
        atomic_write_text(out / STUDY_TOML, src.read_text(encoding="utf-8"))
    atomic_write_json(
        out / STUDY_JSON,
        {
            "name": study.name,
            "source": study.source,
            "settings": study.settings.__dict__,
            "resources": study.resources.__dict__,
            "config": study.config,
            "space": study.space.describe(),
            "space_fingerprint": study.space.fingerprint(),
            "raw": study.raw,
        },
    )


def run_search(study: Study, opts: SearchOptions, *, console: Console | None = None, plan: Plan | None = None) -> ResultsStore:
    """Run the study; returns the final results store (tables already written).

    Continues an earlier run in ``opts.out``: its finished (and failed) trials are kept and
    not re-run, trials it left running run again as new trials, and the Optuna storage keeps
    the searcher's history. Holds the results directory's lock throughout."""
    console = console or Console()
    out = opts.out
    plan = plan or plan_search(study, opts)
    out.mkdir(parents=True, exist_ok=True)
    with ResultsLock(out):
        return _run_locked(study, opts, plan, console)


def _run_locked(study: Study, opts: SearchOptions, plan: Plan, console: Console) -> ResultsStore:
    out = opts.out
    write_study_record(study, out)
    store = ResultsStore(out=out, metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    prev = plan.previous
    if prev is not None and (prev.trials or prev.n_dropped):
        store.load(prev.trials, prev.epochs)
        store.flush(force=True)  # drop the rows of trials that were running when the driver died
        console.print(f"resuming {study.name}: {prev.n_done} of {plan.n_total} trials done"
                      + (f", {prev.n_dropped} interrupted (run again)" if prev.n_dropped else ""), highlight=False)
    if plan.n_new == 0 and not opts.repeats:
        console.print(f"{study.name}: all {plan.n_total} trials done (--trials N to extend)", highlight=False)
        return store
    # The cost predictions' helper process starts first: it loads torch while ray.init waits
    # on Ray's own processes (hpbench.dispatch.predictions).
    predictions = AsyncPredictions(study=study)
    try:
        _search(study, opts, plan, console, store, predictions)
    finally:
        predictions.close(store)
        store.flush(force=True)
        with contextlib.suppress(OSError):
            (out / INCOMING_DIR).rmdir()  # empty once every handed-over weights file was moved
    return store


def _search(study: Study, opts: SearchOptions, plan: Plan, console: Console, store: ResultsStore, predictions: AsyncPredictions) -> None:
    out = opts.out
    prev = plan.previous
    # While Ray starts (seconds; ray.init must run on the main thread), the modules the driver
    # needs next are imported and the study's data prepared on another thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hpbench-imports") as pool:
        imported = pool.submit(_import_driver_modules)
        data = pool.submit(_study_data_or_none, study)
        init_ray(opts)
        imported.result()
        shipped = data.result()
    import optuna
    from ray import tune

    from hpbench.dispatch.schedulers import make_scheduler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(opts.optuna_storage or sqlite_url(out / OPTUNA_DB))
    _settle_optuna(storage, study.name)
    keys = study.space.keys()
    done = [{k: t.get(k) for k in keys} for t in (prev.trials if prev else []) if not t.get("repeat") and t.get("device_of") is None]
    searcher = make_searcher(study, storage=storage, done=done)
    scheduler = make_scheduler(study, max_t=int(study.config["train"]["max_epochs"]))
    check_gpus(study)
    total = plan.n_new
    progress = Progress(store=store, n_trials=plan.n_total, console=console, study_name=study.name)
    from hpbench.dispatch.budget import Budget, stopper

    budget = Budget(flops=opts.budget_flops, seconds=opts.budget_s) if (opts.budget_flops or opts.budget_s) else None
    tuner = tune.Tuner(
        _trainable(study, out, data=shipped),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=total,
            max_concurrent_trials=study.settings.max_concurrent, reuse_actors=True,
        ),
        run_config=_run_config(study, opts, name="tune", callback=_tune_callback(store, progress, predictions=predictions, budget=budget),
                               stop=stopper(budget) if budget is not None else None),
    )
    if total > 0:
        with progress:
            tuner.fit()
    if opts.repeats:
        _run_repeats(study, opts, store, predictions, console)
    for device in study.config["train"].get("devices", [])[1:]:
        _run_on_device(study, opts, store, predictions, console, device=device)
    from hpbench.dispatch.test_split import evaluate_best_on_test

    if evaluate_best_on_test(study, store):
        console.print("test split: evaluated the best configurations once (test_* columns)", highlight=False)


def _import_driver_modules() -> None:
    import optuna.storages  # noqa: F401
    import ray.tune.schedulers
    import ray.tune.search.optuna  # noqa: F401
    import sqlalchemy  # noqa: F401


def _study_data_or_none(study: Study) -> Any:
    """The study's data for the workers, or None when the driver cannot load it (each trial
    then loads its own and reports its own error)."""
    try:
        return study_data(study)
    except Exception:
        return None


def _trainable(study: Study, out: Path, replays: list[Replay] | None = None, data: Any = None, device: str | None = None) -> Any:
    import ray
    from ray import tune

    from hpbench.dispatch.schedulers import decision_epochs
    from hpbench.results.weights import INCOMING_DIR

    res = study.resources
    handoff = Handoff(node_id=ray.get_runtime_context().get_node_id(), incoming=str((out / INCOMING_DIR).resolve()))
    decide_at = decision_epochs(study, max_t=int(study.config["train"]["max_epochs"])) if replays is None else frozenset()
    return tune.with_resources(
        tune.with_parameters(run_trial, study=study, replays=replays, data=data, handoff=handoff, decide_at=decide_at),
        {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial if (device or study.config["train"]["device"]) != "cpu" else 0},
    )


def _run_config(study: Study, opts: SearchOptions, *, name: str, callback: Any, stop: Any = None) -> Any:
    from ray import tune

    return tune.RunConfig(
        name=f"{name}-{int(time.time())}", storage_path=opts.storage_path or str((opts.out / ".ray").resolve()),
        verbose=1 if opts.verbose else 0, callbacks=[callback], stop=stop,
        failure_config=tune.FailureConfig(max_failures=study.settings.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
    )


def _run_repeats(study: Study, opts: SearchOptions, store: ResultsStore, predictions: AsyncPredictions, console: Console) -> None:
    """Re-run the top configurations with other seeds (rows labelled repeat / repeat_of / seed),
    inside the same lock as the search, through the same trainable and recorder."""
    from ray import tune

    from hpbench.dispatch.repeats import plan_repeats

    replays = plan_repeats(study, store, n_repeats=opts.repeats)
    if not replays:
        return
    console.print(f"repeats: re-running the top {len({r.labels['repeat_of'] for r in replays})} configurations with "
                  f"{opts.repeats} other seeds ({len(replays)} runs)", highlight=False)
    progress = Progress(store=store, n_trials=len(store.trials) + len(replays), console=console, study_name=f"{study.name} repeats")
    tuner = tune.Tuner(
        _trainable(study, opts.out, replays),
        param_space={"replay": tune.grid_search(list(range(len(replays))))},
        tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=study.settings.max_concurrent, reuse_actors=True),
        run_config=_run_config(study, opts, name="repeats", callback=_tune_callback(store, progress, predictions=predictions, replays=replays)),
    )
    with progress:
        tuner.fit()


def _run_on_device(study: Study, opts: SearchOptions, store: ResultsStore, predictions: AsyncPredictions, console: Console,
                   *, device: str) -> None:
    """``[train] devices``: every configuration of the search again on ``device`` (same seed),
    to compare measured (and predicted) time and the metric across devices."""
    from ray import tune

    from hpbench.dispatch.repeats import plan_device_runs

    replays = plan_device_runs(study, store, device=device)
    if not replays:
        return
    console.print(f"devices: running the {len(replays)} configurations again on {device}", highlight=False)
    progress = Progress(store=store, n_trials=len(store.trials) + len(replays), console=console, study_name=f"{study.name} on {device}")
    tuner = tune.Tuner(
        _trainable(study, opts.out, replays, device=device),
        param_space={"replay": tune.grid_search(list(range(len(replays))))},
        tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=study.settings.max_concurrent, reuse_actors=True),
        run_config=_run_config(study, opts, name=f"devices-{device}",
                               callback=_tune_callback(store, progress, predictions=predictions, replays=replays)),
    )
    with progress:
        tuner.fit()
