"""Learning-rate schedules, registered by name with the parameters each accepts (``[lr_schedule]``).

Every schedule is a ``torch.optim.lr_scheduler`` class, stepped where PyTorch's documentation
steps it: per epoch (``step``, ``multistep``, ``exponential``, ``cosine``, ``plateau``, after the
epoch's validation) or per optimizer step (``warmup_cosine``, ``one_cycle``, after each batch).
Durations are given in epochs; a per-step schedule turns them into steps with the trial's
steps per epoch. ``constant`` keeps the optimizer's ``lr`` (no scheduler).

* ``step``: ``StepLR(step_size, gamma)``; ``multistep``: ``MultiStepLR(milestones, gamma)``;
  ``exponential``: ``ExponentialLR(gamma)``;
* ``cosine``: ``CosineAnnealingLR(T_max = t_max or max_epochs, eta_min)``;
* ``warmup_cosine``: ``LinearLR`` from ``start_factor · lr`` to ``lr`` over ``warmup_epochs``,
  then ``CosineAnnealingLR`` down to ``eta_min`` at the last step (``SequentialLR``);
* ``one_cycle``: ``OneCycleLR(max_lr = lr, total_steps = max_epochs · steps per epoch, ...)``:
  the optimizer's ``lr`` is the peak;
* ``plateau``: ``ReduceLROnPlateau`` on ``monitor`` (default: the study metric), mode inferred
  from its name unless set (Keras's and PyTorch's defaults: factor 0.1, patience 10).

A builder is ``build(optimizer, *, horizon, **params)`` returning a ``torch.optim.lr_scheduler``
(or ``None``); plugins (entry-point group ``hpbench.lr_schedules``) say when theirs steps with
``interval="step"`` (default ``"epoch"``). Registries stay importable without torch: the
builders import it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from hpbench.registry import Param, Registry
from hpbench.rules import Bool, Float, Int, ListOf, OneOf, Str

SCHEDULES: Registry[Any] = Registry(what="learning-rate schedule", group="hpbench.lr_schedules")


class Interval(enum.StrEnum):
    """When a schedule steps."""

    EPOCH = "epoch"  # after each epoch's validation
    STEP = "step"  # after each optimizer step


@dataclass(frozen=True, kw_only=True)
class Horizon:
    """What a schedule needs to know about the run it schedules."""

    max_epochs: int
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.max_epochs * self.steps_per_epoch


_GAMMA = Param(Float(min=0.0, max=1.0, min_open=True), 0.1, "factor applied to the lr at each decay")
_ETA_MIN = Param(Float(min=0.0), 0.0, "the lowest lr, reached at the end of the cosine")


@SCHEDULES.register("constant", doc="the optimizer's lr throughout", interval=Interval.EPOCH)
def _constant(optimizer: Any, *, horizon: Horizon) -> Any:
    return None


@SCHEDULES.register("step", params={"step_size": Param(Int(min=1), 10, "epochs between decays"), "gamma": _GAMMA},
                    doc="lr x gamma every step_size epochs", interval=Interval.EPOCH)
def _step(optimizer: Any, *, horizon: Horizon, step_size: int = 10, gamma: float = 0.1) -> Any:
    import torch

    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma)


@SCHEDULES.register("multistep", params={"milestones": Param(ListOf(Int(min=1), min_len=1), None, "epochs after which the lr decays (increasing)"),
                                         "gamma": _GAMMA}, doc="lr x gamma at each milestone epoch", interval=Interval.EPOCH)
def _multistep(optimizer: Any, *, horizon: Horizon, milestones: tuple[int, ...] = (), gamma: float = 0.1) -> Any:
    import torch

    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(milestones), gamma=gamma)


@SCHEDULES.register("exponential", params={"gamma": Param(Float(min=0.0, max=1.0, min_open=True), 0.95, "factor applied every epoch")},
                    doc="lr x gamma every epoch", interval=Interval.EPOCH)
def _exponential(optimizer: Any, *, horizon: Horizon, gamma: float = 0.95) -> Any:
    import torch

    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)


@SCHEDULES.register("cosine", params={"t_max": Param(Int(min=1), None, "epochs of the half cosine (default: max_epochs)"), "eta_min": _ETA_MIN},
                    doc="cosine annealing from lr to eta_min", interval=Interval.EPOCH)
def _cosine(optimizer: Any, *, horizon: Horizon, t_max: int | None = None, eta_min: float = 0.0) -> Any:
    import torch

    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max or horizon.max_epochs, eta_min=eta_min)


def warmup_steps(warmup_epochs: float, steps_per_epoch: int) -> int:
    """Whole steps of a warm-up of ``warmup_epochs`` (rounded down: it ends before the run does)."""
    return int(warmup_epochs * steps_per_epoch)


@SCHEDULES.register(
    "warmup_cosine",
    params={"warmup_epochs": Param(Float(min=0.0), 1.0, "epochs of linear warm-up (fractions allowed)"),
            "start_factor": Param(Float(min=0.0, max=1.0, min_open=True), 0.01, "the warm-up starts at start_factor x lr"),
            "eta_min": _ETA_MIN},
    doc="linear warm-up, then cosine annealing to eta_min at the last step", interval=Interval.STEP,
)
def _warmup_cosine(optimizer: Any, *, horizon: Horizon, warmup_epochs: float = 1.0, start_factor: float = 0.01, eta_min: float = 0.0) -> Any:
    from torch.optim import lr_scheduler as S

    warm = warmup_steps(warmup_epochs, horizon.steps_per_epoch)
    if warm >= horizon.total_steps:
        raise ValueError(f"lr_schedule.warmup_epochs: the warm-up must end before the last step, but it takes {warm} of "
                         f"{horizon.total_steps} steps (warmup_epochs={warmup_epochs}, max_epochs={horizon.max_epochs})")
    cosine = S.CosineAnnealingLR(optimizer, T_max=horizon.total_steps - warm, eta_min=eta_min)
    if warm == 0:
        return cosine
    linear = S.LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warm)
    return S.SequentialLR(optimizer, [linear, cosine], milestones=[warm])


@SCHEDULES.register(
    "one_cycle",
    params={"pct_start": Param(Float(min=0.0, max=1.0, min_open=True, max_open=True), 0.3, "share of the steps spent increasing the lr"),
            "anneal_strategy": Param(OneOf(("cos", "linear"), "anneal strategy"), "cos", "the shape of the lr's rise and fall"),
            "div_factor": Param(Float(min=1.0), 25.0, "the cycle starts at lr / div_factor"),
            "final_div_factor": Param(Float(min=1.0), 1e4, "and ends at lr / div_factor / final_div_factor"),
            "three_phase": Param(Bool(), False, "a third phase annihilating the lr (fast.ai's variant)"),
            "cycle_momentum": Param(Bool(), False, "also cycle momentum / beta1 inversely, in place of the optimizer's own (needs an optimizer with one)"),
            "base_momentum": Param(Float(min=0.0, max=1.0, max_open=True), 0.85, "with cycle_momentum: the momentum / beta1 at the peak lr"),
            "max_momentum": Param(Float(min=0.0, max=1.0, max_open=True), 0.95, "with cycle_momentum: the momentum / beta1 at the cycle's ends")},
    doc="one-cycle policy (Smith 2018): up to lr, then down far below", interval=Interval.STEP,
)
def _one_cycle(optimizer: Any, *, horizon: Horizon, pct_start: float = 0.3, anneal_strategy: Literal["cos", "linear"] = "cos", div_factor: float = 25.0,
               final_div_factor: float = 1e4, three_phase: bool = False, cycle_momentum: bool = False, base_momentum: float = 0.85,
               max_momentum: float = 0.95) -> Any:
    import torch

    max_lr = [g["lr"] for g in optimizer.param_groups]
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=horizon.total_steps, pct_start=pct_start,
                                               anneal_strategy=anneal_strategy, div_factor=div_factor, final_div_factor=final_div_factor,
                                               three_phase=three_phase, cycle_momentum=cycle_momentum, base_momentum=base_momentum,
                                               max_momentum=max_momentum)


PLATEAU_MONITOR = "monitor"


@SCHEDULES.register(
    "plateau",
    params={PLATEAU_MONITOR: Param(Str(), None, "the metric watched (default: the study metric)"),
            "mode": Param(OneOf(("auto", "min", "max"), "mode"), "auto", "whether lower or higher is better; auto: from the monitored metric"),
            "factor": Param(Float(min=0.0, max=1.0, min_open=True, max_open=True), 0.1, "lr x factor on a plateau"),
            "patience": Param(Int(min=0), 10, "epochs without improvement before the lr drops"),
            "threshold": Param(Float(min=0.0), 1e-4, "the smallest change counted as an improvement"),
            "threshold_mode": Param(OneOf(("rel", "abs"), "threshold mode"), "rel", "threshold relative to the best value, or absolute"),
            "cooldown": Param(Int(min=0), 0, "epochs to wait after a drop"),
            "min_lr": Param(Float(min=0.0), 0.0, "the lr never drops below this")},
    doc="drop the lr when the monitored metric stops improving", interval=Interval.EPOCH, monitored=True,
)
def _plateau(optimizer: Any, *, horizon: Horizon, mode: Literal["min", "max"] = "min", factor: float = 0.1, patience: int = 10, threshold: float = 1e-4,
             threshold_mode: Literal["rel", "abs"] = "rel", cooldown: int = 0, min_lr: float = 0.0) -> Any:
    import torch

    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience, threshold=threshold,
                                                      threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr)


def interval(name: str) -> Interval:
    """When the schedule steps (a plugin's ``interval`` meta; per epoch when it names none)."""
    return Interval(SCHEDULES.get(name).meta.get("interval", Interval.EPOCH))


def monitored(name: str) -> bool:
    """Whether the schedule steps on a metric (``plateau``)."""
    return bool(SCHEDULES.get(name).meta.get("monitored", False))


class LRSchedule:
    """A trial's schedule at run time, built on its optimizer: the trainer calls
    :meth:`after_step` after every optimizer step and :meth:`after_epoch` after each epoch's
    validation; the one matching the schedule's :class:`Interval` steps it."""

    def __init__(self, *, scheduler: Any, interval: Interval, monitor: str | None, optimizer: Any) -> None:
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor
        self.optimizer = optimizer

    @property
    def lr(self) -> float:
        """The learning rate the next optimizer step uses."""
        return float(self.optimizer.param_groups[0]["lr"])

    def after_step(self) -> None:
        if self.scheduler is not None and self.interval is Interval.STEP:
            self.scheduler.step()

    def after_epoch(self, row: dict[str, Any]) -> None:
        if self.scheduler is None or self.interval is not Interval.EPOCH:
            return
        if self.monitor is not None:
            self.scheduler.step(row[self.monitor])
        else:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any] | None:
        return self.scheduler.state_dict() if self.scheduler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)


def build_schedule(name: str, optimizer: Any, *, params: dict[str, Any], horizon: Horizon, metric: str, mode: str) -> LRSchedule:
    """The schedule ``name`` on ``optimizer`` (build it after the optimizer, before any step).
    A monitored schedule watches ``params["monitor"]`` or else the study ``metric`` (whose
    direction is ``mode``)."""
    from hpbench.train.early_stopping import infer_mode

    entry = SCHEDULES.get(name)
    kwargs = {**entry.defaults(), **{k: v for k, v in params.items() if k in entry.params}}
    monitor = None
    if monitored(name):
        monitor = str(kwargs.pop(PLATEAU_MONITOR, None) or metric)
        if kwargs.get("mode", "auto") == "auto":
            kwargs["mode"] = mode if monitor == metric else infer_mode(monitor)
    scheduler = entry.build(optimizer, horizon=horizon, **kwargs)
    return LRSchedule(scheduler=scheduler, interval=interval(name), monitor=monitor, optimizer=optimizer)
