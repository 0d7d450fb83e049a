"""Repeats: after the search, re-run the top configurations with other seeds through Ray Tune
(a fixed list of runs, one grid point each), writing rows into the same results store with
``repeat`` (1..N), ``repeat_of`` (the search trial) and ``seed`` columns. The report turns
them into mean ± 95% CI and statistical ties (hpbench/report/stats.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from hpbench.dispatch.searchers import OBJECTIVE
from hpbench.results.columns import REPEAT, REPEAT_OF, SEED
from hpbench.results.store import ResultsStore
from hpbench.study.schema import Study

TOP_K = 3  # configurations re-run: the N seeds of each cost N full trainings


@dataclass(frozen=True, kw_only=True)
class RepeatRun:
    repeat_of: int  # the search trial re-run
    repeat: int  # 1..N
    seed: int
    params: dict[str, Any]


def plan_repeats(study: Study, store: ResultsStore, *, n_repeats: int, top: int = TOP_K) -> list[RepeatRun]:
    """The runs: the ``top`` best search trials, each with seeds ``seed + 1 .. seed + N``
    (the search used ``seed``, so every repeat seed is new)."""
    if n_repeats < 1:
        return []
    key = f"best_{store.metric}"
    done = [t for t in store.trials.values() if not t.get(REPEAT) and isinstance(t.get(key), float) and math.isfinite(t[key])]
    done.sort(key=lambda t: t[key], reverse=store.mode == "max")
    runs = []
    for t in done[:top]:
        params = {k: t[k] for k in store.param_keys if t.get(k) is not None and not (isinstance(t[k], float) and math.isnan(t[k]))}
        for r in range(1, n_repeats + 1):
            runs.append(RepeatRun(repeat_of=int(t["trial"]), repeat=r, seed=study.settings.seed + r, params=params))
    return runs


def run_repeat(config: dict[str, Any], *, study: Study, runs: list[RepeatRun]) -> None:
    """The Tune trainable of one repeat: the shared trainer with the run's seed."""
    from ray import tune

    from hpbench.study.resolve import trial_config
    from hpbench.train.trainer import train

    run = runs[int(config["run"])]
    cfg = trial_config(study, run.params, seed=run.seed)
    best: list[float] = []
    sign = 1.0 if study.settings.mode == "max" else -1.0

    def report(row: dict[str, Any]) -> None:
        value = row.get(study.settings.metric)
        if value is not None and math.isfinite(value) and (not best or sign * value > sign * best[0]):
            best[:] = [value]
        tune.report({**row, OBJECTIVE: best[0] if best else -sign * math.inf})

    train(cfg, report=report)


def _callback(store: ResultsStore, runs: list[RepeatRun]) -> Any:
    from ray.tune import Callback

    class _Recorder(Callback):  # type: ignore[misc]
        def __reduce__(self) -> Any:
            return (Callback, ())

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            run = runs[int(trial.config["run"])]
            store.start(trial.trial_id, run.params)
            store.trials[trial.trial_id].update({REPEAT: run.repeat, REPEAT_OF: run.repeat_of, SEED: run.seed})

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any) -> None:
            if "epoch" in result:
                store.epoch(trial.trial_id, result)
                store.flush()

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            store.finish(trial.trial_id)
            store.flush(force=True)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
            store.finish(trial.trial_id, error="repeat failed")
            store.flush(force=True)

    return _Recorder()


def run_repeats(study: Study, store: ResultsStore, *, n_repeats: int, top: int = TOP_K, storage_path: str | None = None,
                console: Console | None = None) -> int:
    """Run the repeats (Ray must be initialised: this follows ``run_search``); returns how many ran."""
    from ray import tune

    runs = plan_repeats(study, store, n_repeats=n_repeats, top=top)
    if not runs:
        return 0
    if console is not None:
        console.print(f"repeats: re-running the top {len({r.repeat_of for r in runs})} configurations with {n_repeats} other seeds "
                      f"({len(runs)} runs)", highlight=False)
    res = study.resources
    trainable = tune.with_resources(tune.with_parameters(run_repeat, study=study, runs=runs),
                                    {"cpu": res.cpus_per_trial, "gpu": res.gpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space={"run": tune.grid_search(list(range(len(runs))))},
        tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=study.settings.max_concurrent, reuse_actors=True),
        run_config=tune.RunConfig(name="repeats", storage_path=storage_path or str((store.out / ".ray").resolve()), verbose=0,
                                  callbacks=[_callback(store, runs)]),
    )
    tuner.fit()
    store.flush(force=True)
    return len(runs)
