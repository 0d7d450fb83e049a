"""The one trainer every trial runs, whatever it learns. Usable from Python without Ray::

    from hpbench.train.trainer import train
    outcome = train(trial_config, report=print)

It builds the trial's task run (:mod:`hpbench.train.task`: ``supervised`` classification and
regression, ``rl`` reinforcement learning), then trains epoch by epoch with what every task
shares: Keras-exact early stopping, the weights a trial ends with (its best epoch's:
:mod:`hpbench.train.best`), divergence, the time limit (:mod:`hpbench.train.time_limit`), the stop
reasons (``completed``, ``early_stopped``, ``time_limit``, ``diverged``, and the task's own, e.g.
``solved``), the resumable state
(:mod:`hpbench.train.resume`) and the final weights record (:mod:`hpbench.train.weights`). Each epoch's row goes to ``report`` (the dispatcher passes Ray
Tune's reporter, which may prune the trial by raising out of it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hpbench.config import EarlyStoppingConfig, TrialConfig
from hpbench.results.columns import EPOCH_CPU_S, REPORTED_AT
from hpbench.results.status import StopReason
from hpbench.train import allocator, eager, resume, time_limit
from hpbench.train.best import BestWeights
from hpbench.train.build import Prepared, build, load_data, resolve_device
from hpbench.train.early_stopping import EarlyStopping, EarlyStoppingState
from hpbench.train.evaluate import evaluate, evaluate_test
from hpbench.train.task import build_run

# The trainer's public surface as it was before the split (importers keep working).
__all__ = ["Prepared", "Reporter", "StateHook", "StopReason", "TrialOutcome", "build", "evaluate", "evaluate_test", "load_data",
           "resolve_device", "train"]

Reporter = Callable[[dict[str, Any]], None]
Clock = Callable[[], float]  # seconds (time.perf_counter): what each epoch's epoch_s and the time limit are measured with
StateHook = Callable[[dict[str, Any]], None]  # receives the resumable state after each epoch


@dataclass(frozen=True, kw_only=True)
class TrialOutcome:
    history: list[dict[str, Any]]
    stop_reason: StopReason
    best_epoch: int | None  # 1-based epoch whose weights the model ends with (hpbench.train.best); None: diverged before any was kept
    n_params: int
    early_stopping: EarlyStoppingState | None
    wall_s: float
    model: Any = field(default=None, repr=False)


def train(cfg: TrialConfig, *, report: Reporter | None = None, on_state: StateHook | None = None,
          start_state: dict[str, Any] | None = None, clock: Clock = time.perf_counter) -> TrialOutcome:
    """Train one trial. ``on_state`` gets, before each ``report``, the state that
    ``start_state`` resumes from (the task's state, early stopping, history): the dispatcher
    checkpoints it so that a failed trial retries from its last epoch. ``clock``: the seconds
    each epoch is timed with (a test's fake clock makes epochs slow without sleeping)."""
    t0 = clock()
    torch.set_num_threads(cfg.threads)
    eager.install()  # no TorchDynamo import for the optimizers (~2 CPU-s a fresh worker)
    allocator.tune()  # large tensors stay mapped between steps (hpbench.train.allocator)
    run = build_run(cfg)
    try:
        return _epochs(cfg, run, report=report, on_state=on_state, start_state=start_state, t0=t0, clock=clock)
    finally:
        run.close()


def _epochs(cfg: TrialConfig, run: Any, *, report: Reporter | None, on_state: StateHook | None, start_state: dict[str, Any] | None,
            t0: float, clock: Clock) -> TrialOutcome:
    es = early_stopping(cfg.train.early_stopping)
    history: list[dict[str, Any]] = []
    best = BestWeights(metric=cfg.metric, mode=cfg.mode, by_monitor=es is not None and es.restore_best_weights)
    reason = StopReason.COMPLETED
    start_epoch = 0
    if start_state is not None:
        resumed = resume.restore(start_state, run=run, early_stopping=es, best=best)
        history, start_epoch = resumed.history, resumed.start_epoch
    cpu = cpu_clock(cfg.threads)
    spent = time_limit.spent_s(history)  # a resumed trial's epochs so far count towards its time limit
    for epoch in range(start_epoch, cfg.train.max_epochs):
        e0, c0 = clock(), cpu()
        row: dict[str, Any] = {"epoch": epoch + 1, **run.run_epoch()}
        row["epoch_s"], row[EPOCH_CPU_S] = clock() - e0, cpu() - c0
        spent += row["epoch_s"]
        if epoch == 0:
            row["n_params"] = run.n_params
            row.update(run.first_fields())
        ended = end_of_epoch(run, epoch=epoch, row=row, es=es, best=best,
                             out_of_time=time_limit.out_of_time(spent=spent, max_time_s=cfg.train.max_time_s, epoch=epoch,
                                                                max_epochs=cfg.train.max_epochs))
        if ended is not None:
            reason = ended
        last = ended is not None or epoch + 1 == cfg.train.max_epochs
        final_model = None
        if last:
            finish(run, epoch=epoch, row=row, reason=reason, es=es, best=best)
            if on_state is not None and row["best_epoch"] is not None:  # None: no finite weights to save
                final_model = run.record(row)
        row[REPORTED_AT] = time.time()  # the epoch's result exists from here (a batched Tune report carries it later)
        history.append(row)
        if on_state is not None:
            on_state(resume.snapshot(epoch=epoch + 1, task_state=run.state_dict(), early_stopping=es, best=best, history=history,
                                     final_model=final_model))
        if report is not None:
            report(row)
        if last:
            break
    return TrialOutcome(
        history=history, stop_reason=reason, best_epoch=history[-1]["best_epoch"], n_params=run.n_params,
        early_stopping=es.state() if es else None, wall_s=clock() - t0, model=run.model,
    )


def cpu_clock(threads: int) -> Callable[[], float]:
    """The CPU clock of an epoch: the training thread's with one thread (torch runs every op of a
    1-thread trial, its backward included, in the calling thread; the worker's other threads are
    Ray's), the process's with more (torch's intra-op threads)."""
    return time.thread_time if threads == 1 else time.process_time


def end_of_epoch(run: Any, *, epoch: int, row: dict[str, Any], es: EarlyStopping | None, best: BestWeights,
                 state: Callable[[], dict[str, Any]] | None = None, out_of_time: bool = False) -> StopReason | None:
    """After 0-based ``epoch`` (its ``row``): early stopping, the best weights kept, divergence,
    the task's own stop and the time limit (``out_of_time``: :func:`hpbench.train.time_limit.out_of_time`;
    the other reasons first, when they end it too). Returns why the trial ends here, or None when
    it goes on. ``state``: a copy of the run's weights where its module does not hold them (a fused member's are in the stack).
    An epoch that diverged has no metric values (:func:`no_values`): it is never the best epoch."""
    diverged = run.diverged(row)
    if diverged:
        no_values(row)
    stop = False
    monitor_improved = False
    if es is not None:
        monitor_improved = es.on_epoch_end(epoch, row)
        stop = es.stop_training
        diverged = diverged or es.diverged
    best.update(epoch, row, run.model, monitor_improved=monitor_improved, state=state)
    own = run.stop_reason()
    if diverged:
        return StopReason.DIVERGED
    if own is not None:
        return own
    if stop:
        return StopReason.EARLY_STOPPED
    return StopReason.TIME_LIMIT if out_of_time else None


def no_values(row: dict[str, Any]) -> None:
    """Every metric of a diverged epoch's ``row`` (its ``val_*`` and ``train_*`` values) made NaN,
    NA in the tables: they were measured on non-finite outputs, and a classifier's NaN logits still
    score an accuracy (argmax over NaN is class 0, a binary NaN logit reads as class 0: the share of
    class 0, often the majority's), which ranked a diverged trial first and saved its NaN weights as
    its best (bug hunt s48h3). Values already non-finite (the loss that diverged) are kept."""
    for k, v in row.items():
        if k.startswith(("val_", "train_")) and isinstance(v, float) and math.isfinite(v):
            row[k] = math.nan


def finish(run: Any, *, epoch: int, row: dict[str, Any], reason: StopReason, es: EarlyStopping | None, best: BestWeights) -> None:
    """The trial's last epoch: the final model is the best epoch's weights (hpbench.train.best),
    the epoch the tables call best_epoch, calibrated, saved, evaluated on the test split and
    returned; the last row gets the final fields. A trial that diverged before any epoch's weights
    were kept has ``best_epoch`` None: its model is not finite, and nothing is saved."""
    best_epoch = best.restore_into(run.model, last_epoch=epoch + 1, diverged=reason == StopReason.DIVERGED)
    row.update(_final_fields(reason, best_epoch, es))
    row.update(run.final_fields(diverged=reason == StopReason.DIVERGED))


def early_stopping(c: EarlyStoppingConfig | None) -> EarlyStopping | None:
    if c is None:
        return None
    return EarlyStopping(c.monitor, min_delta=c.min_delta, patience=c.patience, mode=c.mode, baseline=c.baseline,
                         restore_best_weights=c.restore_best_weights, start_from_epoch=c.start_from_epoch)


def _final_fields(reason: StopReason, best_epoch: int | None, es: EarlyStopping | None) -> dict[str, Any]:
    out: dict[str, Any] = {"stop_reason": reason.value, "best_epoch": best_epoch}
    if es is not None:
        st = es.state()
        out.update(es_best=st.best, es_best_epoch=st.best_epoch, es_wait=st.wait, es_stopped_epoch=st.stopped_epoch)
    return out
