"""The configuration one trial trains with, as frozen dataclasses (a leaf: no hpbench imports).

Data flows one way: study file → validated study (``hpbench.study``) → a trial's sampled
parameters → :class:`TrialConfig` → the trainer. The trainer, the cost model and the dispatcher
read this module; nothing here reads the study file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, kw_only=True)
class EarlyStoppingConfig:
    monitor: str = "val_loss"
    min_delta: float = 0.0
    patience: int = 0
    mode: str = "auto"
    baseline: float | None = None
    restore_best_weights: bool = False
    start_from_epoch: int = 0


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    dataset: str = ""  # "" for a task that learns from an environment instead (``env``)
    val_fraction: float = 0.2
    test_fraction: float = 0.0
    preprocess: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)  # dataset-specific (target, seq_len, ...)
    shape: tuple[int, ...] | None = None  # [data] shape: each sample's shape in its kind's layout (flat columns reshaped)
    kind: str | None = None  # [data] kind: tabular | signal | sequence | image (None: the data's own, or inferred)
    stream: bool | str = "auto"  # [data] stream: read batches from where the data is (True), load it (False), or by size ("auto")
    num_workers: int = 0  # DataLoader worker processes of streamed data (0: read in the trial's own process)
    env: str | None = None  # a Gymnasium environment id (task "rl"), in place of a dataset


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # weights file of a saved trial (transfer learning), resolved by the parser
    freeze: int | None = None  # freeze all but the last k layers (None: train every layer)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-3
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    max_epochs: int = 20
    max_time_s: float | None = None  # end the trial after the first epoch whose cumulative seconds reach this (None: no limit)
    batch_size: int | str = 32  # an int, or "full" for full-batch gradient descent
    init: str = "default"
    init_params: Mapping[str, Any] = field(default_factory=dict)
    early_stopping: EarlyStoppingConfig | None = None
    device: str = "cpu"
    calibration: str = "none"  # "temperature": fit temperature scaling on the validation split after training
    precision: str = "fp32"  # "bf16" / "fp16": forward and loss under autocast (fp16 with a gradient scaler)
    clip_norm: float | None = None  # clip the global gradient norm to this (torch.nn.utils.clip_grad_norm_)
    clip_value: float | None = None  # clip every gradient element to [-clip_value, clip_value]
    label_smoothing: float = 0.0  # classification: the training loss's targets are smoothed by this much


@dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """``[lr_schedule]``: a registered learning-rate schedule (:mod:`hpbench.train.schedules`) and
    its own parameters; ``constant`` keeps the optimizer's lr throughout."""

    name: str = "constant"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DistillConfig:
    teacher: str  # weights file of a saved trial, resolved by the parser
    alpha: float = 0.5  # weight of the soft (teacher) term; 0 = no teacher
    temperature: float = 4.0


@dataclass(frozen=True, kw_only=True)
class TrialConfig:
    """Everything one trial's training needs; built from the study and the sampled params.

    ``task`` names the trainer's task (:data:`hpbench.train.task.TASKS`: ``supervised``, ``rl``);
    ``task_params`` holds that task's own validated keys (``[model] algorithm``, ``[train]
    n_envs``, ...; empty for ``supervised``), which the task turns into its typed config."""

    seed: int
    data: DataConfig
    model: ModelConfig
    optimizer: OptimizerConfig
    train: TrainConfig
    metric: str
    mode: str
    threads: int = 1
    distill: DistillConfig | None = None  # [distill]: learn from a teacher's soft outputs too
    lr_schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    task: str = "supervised"
    task_params: Mapping[str, Any] = field(default_factory=dict)


# The families the fused trainer writes out as batched kernels (hpbench.train.fused_layers.native),
# drawing each member's dropout masks as its run alone would (hpbench.train.fused_dropout); any other
# family goes through vmap, which cannot.
NATIVE_FAMILIES = ("mlp", "cnn", "rnn", "lstm", "gru", "transformer")


def unfusable(cfg: TrialConfig) -> str | None:
    """Why ``cfg``'s repeats cannot be fused, or None when they can (the model's own layers are
    checked when the group is built: buffers such as BatchNorm's running statistics are not, nor
    random draws through vmap)."""
    t = cfg.train
    dropout = cfg.model.params.get("dropout")
    reasons = [
        (cfg.task != "supervised", f"task {cfg.task!r}"),
        (cfg.data.stream is True, "streamed data"),
        ("augment" in cfg.data.preprocess, "augmentation"),
        (cfg.distill is not None, "distillation"),
        (cfg.model.init_from is not None, "transfer learning (init_from)"),
        (t.precision != "fp32", f"precision {t.precision}"),
        (t.clip_norm is not None, "clip_norm (a norm over each member's gradients)"),
        (cfg.lr_schedule.name == "plateau", "the plateau schedule (it follows each member's metric)"),
        # a member's epoch_s is its 1/N share of the stacked epoch: under the limit it would run ~1.6x
        # the epochs of its run alone, and `hpbench train` of it would stop earlier (bug hunt s52/v1 #3)
        (t.max_time_s is not None, "max_time_s (a member's seconds are its share of the stacked epoch, not its run's alone)"),
        (cfg.model.family not in NATIVE_FAMILIES and isinstance(dropout, (int, float)) and dropout > 0,
         f"dropout in family {cfg.model.family!r} (through vmap the members' masks are not those of their runs alone)"),
    ]
    return next((why for bad, why in reasons if bad), None)


# What sibling configurations may differ in, beside the seed: the learning rate (where the schedule
# scales it: :func:`lr_scalable`) and the initialization; everything else shapes the stacked step.
def siblings_differ(cfgs: Sequence[TrialConfig]) -> str | None:
    """Why the configurations ``cfgs`` cannot train as one stack, or None: they must be equal
    but for their seed, learning rate and initialization."""
    def shape(c: TrialConfig) -> TrialConfig:
        return replace(c, seed=0, optimizer=replace(c.optimizer, lr=1.0), train=replace(c.train, init="", init_params={}))

    first = shape(cfgs[0])
    if any(shape(c) != first for c in cfgs[1:]):
        return "the members differ in more than their seed, learning rate and initialization"
    if len({c.optimizer.lr for c in cfgs}) > 1 and not lr_scalable(cfgs[0]):
        return f"the members' learning rates differ and the {cfgs[0].lr_schedule.name!r} schedule sets an absolute one (eta_min)"
    return None


def lr_scalable(cfg: TrialConfig) -> bool:
    """Whether ``cfg``'s schedule scales the optimizer's lr (every step's lr proportional to it), so
    that members with other lrs can share one schedule run at lr 1: all but an ``eta_min`` above 0."""
    return not float(cfg.lr_schedule.params.get("eta_min", 0.0) or 0.0) > 0.0
