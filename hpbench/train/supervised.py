"""The ``supervised`` task: classification and regression on a dataset, one epoch = one pass over
the training split (:func:`hpbench.train.epoch.train_batches`), then the validation metrics.

It builds the data (tensors preloaded on the trial's device), the model, its initialization and
the optimizer (:mod:`hpbench.train.build`), and the optional techniques, each in its own module:
learning-rate schedules (``schedules``, stepped per batch or per epoch; each epoch's rate is
reported as ``learning_rate``), gradient clipping (``clipping``), label smoothing of the training
loss (``tasks``), starting from a saved trial's weights with layers frozen (``transfer``), a
teacher's soft targets (``distill``), mixed precision (``precision``) and temperature scaling of
the final model on the validation split (``calibration``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import torch

from hpbench.config import TrialConfig
from hpbench.results.status import StopReason
from hpbench.train import tasks, transfer
from hpbench.train.build import Prepared, batch_rows, build, eval_rows, load_data, resolve_device
from hpbench.train.calibration import calibrate
from hpbench.train.clipping import GradClip
from hpbench.train.distill import Distillation, load_teacher
from hpbench.train.epoch import train_batches
from hpbench.train.evaluate import evaluate_batches, logits_batches
from hpbench.train.optimizers import build_optimizer
from hpbench.train.precision import MixedPrecision
from hpbench.train.schedules import Horizon, LRSchedule, build_schedule
from hpbench.train.weights import WeightsRecord
from hpbench.train.weights import record as weights_record


class SupervisedRun:
    """One supervised trial (:class:`hpbench.train.task.TaskRun`). Its resumable state holds
    ``model``, ``optimizer`` (``state_dict``s), ``generator`` (the shuffling generator's state) and
    ``lr_schedule`` (the scheduler's ``state_dict`` or ``None``; absent from older states)."""

    def __init__(self, cfg: TrialConfig) -> None:
        self.cfg = cfg
        self.device = device = resolve_device(cfg.train.device)
        self.data = data = load_data(cfg, device)
        self.task = data.splits.task
        self.model = build(cfg, data.splits, device)
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self._first = _transfer(cfg, self.model)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(cfg.optimizer.name, trainable, lr=cfg.optimizer.lr, params=dict(cfg.optimizer.params))
        self.loss_fn = tasks.loss_fn(self.task)  # validation's: the plain loss, comparable across trials
        ls = cfg.train.label_smoothing
        self.train_loss_fn = tasks.loss_fn(self.task, label_smoothing=ls) if ls else self.loss_fn
        self.distill = _distillation(cfg, data, device)
        self.precision = MixedPrecision.of(cfg.train.precision, device)
        n = data.n_train
        if cfg.train.batch_size == "full" and data.stream is not None:
            raise ValueError("train.batch_size: \"full\" makes the whole training split one batch, which streamed data cannot hold "
                             "(use a number, or data.stream = false for data that fits in memory)")
        self.batch_size = batch_rows(cfg, n)
        self._eval_rows: int | None = None  # sized on the first evaluation (a fused group's members never evaluate alone)
        self.schedule = _schedule(cfg, self.optimizer, steps_per_epoch=data.steps_per_epoch(self.batch_size))
        self.clip = GradClip.of(trainable, norm=cfg.train.clip_norm, value=cfg.train.clip_value)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.augment = None
        if data.augment is not None:
            self.augment = functools.partial(data.augment, gen=torch.Generator(device=device).manual_seed(cfg.seed + 1))

    def first_fields(self) -> dict[str, Any]:
        return {"device": self.device.type, **self._first}

    def run_epoch(self) -> dict[str, Any]:
        d = self.data
        lr = self.schedule.lr  # the epoch's learning rate (at its first step, for a per-step schedule)
        train_loss = train_batches(self.model, self.optimizer, batches=d.train_batches(self.batch_size, self.generator), loss_fn=self.train_loss_fn,
                                   precision=self.precision, augment=self.augment, distill=self.distill, clip=self.clip,
                                   after_step=self.schedule.after_step)
        val = evaluate_batches(self.model, d.eval_batches("val", rows=self.eval_rows), self.task, self.loss_fn)
        row: dict[str, Any] = {"train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()}, "learning_rate": lr}
        self.schedule.after_epoch(row)
        return row

    def diverged(self, row: Mapping[str, Any]) -> bool:
        return not math.isfinite(row["train_loss"]) or not math.isfinite(row["val_loss"])

    def stop_reason(self) -> StopReason | None:
        return None

    def final_fields(self, *, diverged: bool) -> dict[str, Any]:
        """Temperature scaling of the final model on the validation split (``[train] calibration``)."""
        if self.cfg.train.calibration != "temperature" or diverged:
            return {}
        return calibrate(*logits_batches(self.model, self.data.eval_batches("val", rows=self.eval_rows)))

    @property
    def eval_rows(self) -> int:
        """Rows per forward pass of the validation (:func:`hpbench.train.build.eval_rows`)."""
        if self._eval_rows is None:
            self._eval_rows = eval_rows(self.model, self.data.splits, batch_size=self.batch_size)
        return self._eval_rows

    def record(self, row: Mapping[str, Any]) -> WeightsRecord:
        return weights_record(self.cfg, self.data.splits, self.model, temperature=row.get("temperature"))

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                "lr_schedule": self.schedule.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """The schedule after the optimizer: the optimizer's state holds the learning rate the schedule set."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.schedule.load_state_dict(state.get("lr_schedule"))

    def close(self) -> None:
        pass


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
