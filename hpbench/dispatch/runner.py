"""Run a validated study through Ray Tune: start (or join) Ray, build the searcher and
scheduler, run the trials, and keep the results tables and the live progress up to date.

Ray and Tune are imported here and only here (and in the trainable).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from hpbench.dispatch.progress import Progress
from hpbench.dispatch.searchers import make_searcher, n_trials
from hpbench.dispatch.trainable import run_trial
from hpbench.results.files import OPTUNA_DB, STUDY_JSON, STUDY_TOML, atomic_write_json, atomic_write_text
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study

# Ray Tune knobs (Ray's own, documented in ray.tune.constants): hpbench keeps its own tables,
# so Tune's per-trial JSON/CSV/TensorBoard loggers only cost time (measured: ~0.3 s per
# trial), and its experiment snapshot need not be taken every few seconds.
_TUNE_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_GLOBAL_CHECKPOINT_S": "60",
    "TUNE_RESULT_BUFFER_LENGTH": "1",
    "RAY_AIR_NEW_OUTPUT": "1",
}


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    out: Path
    address: str | None = None
    verbose: bool = False
    storage_path: str | None = None
    num_cpus: int | None = None


def _tune_callback(store: ResultsStore, progress: Progress) -> Any:
    from ray.tune import Callback

    class _Recorder(Callback):  # type: ignore[misc]
        # Tune pickles its callbacks into its experiment snapshot; this one lives only in the
        # driver (hpbench resumes from its own tables), so it pickles to nothing.
        def __reduce__(self) -> Any:
            return (Callback, ())

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            store.start(trial.trial_id, trial.config)
            progress.refresh()

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
            if "epoch" in result:
                store.epoch(trial.trial_id, result)
                store.flush()
            progress.refresh()

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            store.finish(trial.trial_id)
            store.flush(force=True)
            progress.trial_done(trial.trial_id)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            store.finish(trial.trial_id, error=_error_text(trial))
            store.flush(force=True)
            progress.trial_done(trial.trial_id)

        def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
            progress.refresh()

    return _Recorder()


def _error_text(trial: Any) -> str:
    try:
        err = trial.get_error()
    except Exception:  # noqa: BLE001 - best effort: the message is informational
        err = None
    text = str(err) if err is not None else "trial failed"
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
        ray.init(num_cpus=opts.num_cpus, **kwargs)


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


def run_search(study: Study, opts: SearchOptions, *, console: Console | None = None) -> ResultsStore:
    """Run the study; returns the final results store (tables already written)."""
    console = console or Console()
    out = opts.out
    write_study_record(study, out)
    init_ray(opts)
    import optuna
    from ray import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(out / OPTUNA_DB).resolve()}")
    total = n_trials(study)
    store = ResultsStore(out=out, metric=study.settings.metric, mode=study.settings.mode, param_keys=study.space.keys())
    searcher = make_searcher(study, storage=storage)
    from hpbench.dispatch.schedulers import make_scheduler

    scheduler = make_scheduler(study, max_t=int(study.config["train"]["max_epochs"]))
    res = study.resources
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, study=study),
        {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial},
    )
    storage_path = opts.storage_path or str((out / ".ray").resolve())
    progress = Progress(store=store, n_trials=total, console=console, study_name=study.name)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=total,
            max_concurrent_trials=study.settings.max_concurrent, reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name="tune", storage_path=storage_path, verbose=1 if opts.verbose else 0,
            callbacks=[_tune_callback(store, progress)],
            failure_config=tune.FailureConfig(max_failures=study.settings.max_failures),
        ),
    )
    with progress:
        tuner.fit()
    store.flush(force=True)
    return store
