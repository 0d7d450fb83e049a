"""The one trainer every trial runs. Usable from Python without Ray::

    from hpbench.train.trainer import train
    outcome = train(trial_config, report=print)

It builds the data (tensors preloaded on the trial's device), the model, its initialization
and the optimizer (:mod:`hpbench.train.build`); trains epoch by epoch
(:func:`hpbench.train.epoch.train_epoch`) with Keras-exact early stopping; and hands each
epoch's metrics to ``report`` (the dispatcher passes Ray Tune's reporter, which may prune the
trial by raising out of it).

Optional techniques, each in its own module: learning-rate schedules (``schedules``, stepped
per batch or per epoch; each epoch's rate is reported as ``learning_rate``), gradient clipping
(``clipping``), label smoothing of the training loss (``tasks``), starting from a saved trial's
weights with layers frozen (``transfer``), a teacher's soft targets (``distill``), mixed
precision (``precision``) and temperature scaling of the final model on the validation split
(``calibration``). The resumable state is :mod:`hpbench.train.resume`'s, the final weights
record :mod:`hpbench.train.weights`'s.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hpbench.config import EarlyStoppingConfig, TrialConfig
from hpbench.results.status import StopReason
from hpbench.train import resume, tasks, transfer, weights
from hpbench.train.best import BestWeights
from hpbench.train.build import Prepared, build, load_data, resolve_device
from hpbench.train.calibration import calibrate
from hpbench.train.clipping import GradClip
from hpbench.train.distill import Distillation, load_teacher
from hpbench.train.early_stopping import EarlyStopping, EarlyStoppingState
from hpbench.train.epoch import train_batches
from hpbench.train.evaluate import evaluate, evaluate_batches, evaluate_test, logits_batches
from hpbench.train.optimizers import build_optimizer
from hpbench.train.precision import MixedPrecision
from hpbench.train.schedules import Horizon, LRSchedule, build_schedule

# The trainer's public surface as it was before the split (importers keep working).
__all__ = ["Prepared", "Reporter", "StateHook", "StopReason", "TrialOutcome", "build", "evaluate", "evaluate_test", "load_data",
           "resolve_device", "train"]

Reporter = Callable[[dict[str, Any]], None]
StateHook = Callable[[dict[str, Any]], None]  # receives the resumable state after each epoch


@dataclass(frozen=True, kw_only=True)
class TrialOutcome:
    history: list[dict[str, Any]]
    stop_reason: StopReason
    best_epoch: int  # 1-based epoch whose weights the model ends with (hpbench.train.best)
    n_params: int
    early_stopping: EarlyStoppingState | None
    wall_s: float
    model: Any = field(default=None, repr=False)


def train(cfg: TrialConfig, *, report: Reporter | None = None, on_state: StateHook | None = None,
          start_state: dict[str, Any] | None = None) -> TrialOutcome:
    """Train one trial. ``on_state`` gets, before each ``report``, the state that
    ``start_state`` resumes from (model, optimizer, early stopping, shuffling, history): the
    dispatcher checkpoints it so that a failed trial retries from its last epoch."""
    t0 = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.train.device)
    data = load_data(cfg, device)
    task = data.splits.task
    model = build(cfg, data.splits, device)
    n_params = sum(p.numel() for p in model.parameters())
    first_fields = _transfer(cfg, model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(cfg.optimizer.name, trainable, lr=cfg.optimizer.lr, params=dict(cfg.optimizer.params))
    loss_fn = tasks.loss_fn(task)  # validation's: the plain loss, comparable across trials
    train_loss_fn = tasks.loss_fn(task, label_smoothing=cfg.train.label_smoothing) if cfg.train.label_smoothing else loss_fn
    distill = _distillation(cfg, data, device)
    es = _early_stopping(cfg.train.early_stopping)
    precision = MixedPrecision.of(cfg.train.precision, device)
    n = data.n_train
    bs = n if cfg.train.batch_size == "full" else min(int(cfg.train.batch_size), n)
    schedule = _schedule(cfg, opt, steps_per_epoch=math.ceil(n / bs))
    clip = GradClip.of(trainable, norm=cfg.train.clip_norm, value=cfg.train.clip_value)
    gen = torch.Generator().manual_seed(cfg.seed)
    augment = None
    if data.augment is not None:
        augment = functools.partial(data.augment, gen=torch.Generator(device=device).manual_seed(cfg.seed + 1))
    history: list[dict[str, Any]] = []
    best = BestWeights(metric=cfg.metric, mode=cfg.mode, by_monitor=es is not None and es.restore_best_weights)
    reason = StopReason.COMPLETED
    start_epoch = 0
    if start_state is not None:
        resumed = resume.restore(start_state, model=model, optimizer=opt, generator=gen, early_stopping=es, best=best, schedule=schedule)
        history, start_epoch = resumed.history, resumed.start_epoch
    for epoch in range(start_epoch, cfg.train.max_epochs):
        e0 = time.perf_counter()
        lr = schedule.lr  # the epoch's learning rate (at its first step, for a per-step schedule)
        train_loss = train_batches(model, opt, batches=data.train_batches(bs, gen), loss_fn=train_loss_fn, precision=precision,
                                   augment=augment, distill=distill, clip=clip, after_step=schedule.after_step)
        val = evaluate_batches(model, data.eval_batches("val"), task, loss_fn)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()}, "learning_rate": lr}
        schedule.after_epoch(row)
        row["epoch_s"] = time.perf_counter() - e0
        if epoch == 0:
            row["n_params"] = n_params
            row["device"] = device.type
            row.update(first_fields)
        diverged = not math.isfinite(train_loss) or not math.isfinite(val["loss"])
        stop = False
        monitor_improved = False
        if es is not None:
            monitor_improved = es.on_epoch_end(epoch, row)
            stop = es.stop_training
            diverged = diverged or es.diverged
        best.update(epoch, row, model, monitor_improved=monitor_improved)
        if diverged:
            reason, stop = StopReason.DIVERGED, True
        elif stop:
            reason = StopReason.EARLY_STOPPED
        last = stop or epoch + 1 == cfg.train.max_epochs
        final_model = None
        if last:
            # the final model, calibrated, saved, evaluated on the test split and returned: the
            # best epoch's weights (hpbench.train.best), the epoch the tables call best_epoch
            best_epoch = best.restore_into(model, last_epoch=epoch + 1)
            row.update(_final_fields(reason, best_epoch, es))
            row.update(_calibrate(cfg, model, data, diverged=diverged))
            if on_state is not None:
                final_model = weights.record(cfg, data.splits, model, temperature=row.get("temperature"))
        history.append(row)
        if on_state is not None:
            on_state(resume.snapshot(epoch=epoch + 1, model=model, optimizer=opt, generator=gen, early_stopping=es, best=best,
                                     history=history, schedule=schedule, final_model=final_model))
        if report is not None:
            report(row)
        if last:
            break
    return TrialOutcome(
        history=history, stop_reason=reason, best_epoch=history[-1]["best_epoch"], n_params=n_params,
        early_stopping=es.state() if es else None, wall_s=time.perf_counter() - t0, model=model,
    )


def _transfer(cfg: TrialConfig, model: torch.nn.Module) -> dict[str, Any]:
    """Start from a saved trial's weights (``[model] init_from``); the first row's extra fields."""
    if cfg.model.init_from is None:
        return {}
    info = transfer.apply(model, cfg.model.init_from, freeze=cfg.model.freeze)
    return {"n_trainable": info.n_trainable, "n_reused": info.n_reused, "new_head": info.new_head}


def _distillation(cfg: TrialConfig, data: Prepared, device: torch.device) -> Distillation | None:
    """The teacher of ``[distill]``; none with alpha = 0 (hard labels only, no teacher to run)."""
    if cfg.distill is None or not cfg.distill.alpha > 0:
        return None
    teacher = load_teacher(cfg.distill.teacher, device=device, input_shape=data.splits.input_shape, n_outputs=data.splits.n_outputs,
                           user_families=(cfg.model.family,))
    return Distillation(teacher=teacher, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature, label_smoothing=cfg.train.label_smoothing)


def _schedule(cfg: TrialConfig, optimizer: torch.optim.Optimizer, *, steps_per_epoch: int) -> LRSchedule:
    """The learning-rate schedule of ``[lr_schedule]`` on the trial's optimizer."""
    s = cfg.lr_schedule
    return build_schedule(s.name, optimizer, params=dict(s.params), horizon=Horizon(max_epochs=cfg.train.max_epochs, steps_per_epoch=steps_per_epoch),
                          metric=cfg.metric, mode=cfg.mode)


def _early_stopping(c: EarlyStoppingConfig | None) -> EarlyStopping | None:
    if c is None:
        return None
    return EarlyStopping(c.monitor, min_delta=c.min_delta, patience=c.patience, mode=c.mode, baseline=c.baseline,
                         restore_best_weights=c.restore_best_weights, start_from_epoch=c.start_from_epoch)


def _calibrate(cfg: TrialConfig, model: torch.nn.Module, data: Prepared, *, diverged: bool) -> dict[str, Any]:
    """Temperature scaling of the final model on the validation split (``[train] calibration``)."""
    if cfg.train.calibration != "temperature" or diverged:
        return {}
    return calibrate(*logits_batches(model, data.eval_batches("val")))


def _final_fields(reason: StopReason, best_epoch: int, es: EarlyStopping | None) -> dict[str, Any]:
    out: dict[str, Any] = {"stop_reason": reason.value, "best_epoch": best_epoch}
    if es is not None:
        st = es.state()
        out.update(es_best=st.best, es_best_epoch=st.best_epoch, es_wait=st.wait, es_stopped_epoch=st.stopped_epoch)
    return out
