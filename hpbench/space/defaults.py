"""The search's first configuration: the study's own values, the defaults its libraries use, the middle of everything else.

A searcher's first trials are drawn at random (TPE's first 10), and a random draw from a wide
space is often a configuration nobody would run (plain SGD at 1e-4, zero initialization): the
first rows of a search's table say little, and a search stopped early by its budget may have
nothing good. Syne Tune starts every search from a default configuration for this reason, its
FAQ advising a model's built-in defaults, and the middle of the range (its "mid-point rule")
for what has none. hpbench knows what its own keys mean, so its first configuration is:

* a value the study file itself sets outside [space] for a key it also searches (``[model]
  family = "gru"`` beside a searched ``family``), where the searched range holds it: what the
  user would run unsearched, as Keras Tuner's ``default=`` and Syne Tune's ``points_to_evaluate``
  take a stated default before any rule; for every other key:
* the optimizer: Adam where the space offers it (then AdamW, AMSGrad, RMSprop, Nesterov,
  momentum, SGD, Adagrad); its learning rate the one its library defaults to
  (:data:`LEARNING_RATES`; a reinforcement-learning task 3e-4, a GAN 2e-4, their references'
  rates), momentum 0.9, AdamW's weight decay PyTorch's 0.01, other weight decays their lowest;
* PPO's own settings where an RL study searches them (discount 0.99, GAE's lambda 0.95,
  clipping 0.2, 10 update epochs, no entropy bonus);
* the batch size nearest Keras's 32 (the larger of two as near), never the full batch while a
  mini-batch is offered; the initialization PyTorch's own (``default``), else Glorot's
  (``xavier_uniform``, Keras's), else He's; ReLU; no dropout nor label smoothing; a constant learning rate;
* everything else by the mid-point rule: the middle of a range (on a log scale for
  ``loguniform``; integers rounded down), the middle of a list of numbers, the first of a list
  of names (list the one to try first first: the model family, for one).

Each value lies within its dimension, so the point is one the searcher could have drawn;
conditional dimensions appear only where their condition holds. Pure and torch-free.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from hpbench.space.distributions import Choice, Distribution, LogUniform, RandInt, Uniform
from hpbench.space.space import SearchSpace

# the optimizers in the order the first configuration prefers them
OPTIMIZERS = ("adam", "adamw", "amsgrad", "rmsprop", "nesterov", "momentum", "sgd", "adagrad")
# each optimizer's default learning rate in its library: PyTorch's for the Adam family, RMSprop
# and Adagrad; Keras's 0.01 for the SGD family (PyTorch's SGD names none worth starting from)
LEARNING_RATES = {"adam": 1e-3, "adamw": 1e-3, "amsgrad": 1e-3, "rmsprop": 1e-2, "adagrad": 1e-2,
                  "sgd": 1e-2, "momentum": 1e-2, "nesterov": 1e-2}
# a task's own starting rate, whatever its optimizer: PPO's (Schulman et al. 2017, and the
# common references since), DCGAN's (Radford et al. 2016)
TASK_LEARNING_RATES = {"rl": 3e-4, "gan": 2e-4}
BATCH_SIZE = 32  # Keras's Model.fit
INITS = ("default", "xavier_uniform", "kaiming_uniform", "xavier_normal", "kaiming_normal", "orthogonal")
ACTIVATIONS = ("relu", "gelu", "leaky_relu", "silu", "elu", "tanh")
SCHEDULES = ("constant", "none")
MOMENTUM = 0.9
ADAMW_WEIGHT_DECAY = 1e-2  # torch.optim.AdamW's
# other keys with a value their references start from: PPO's (the paper's Atari and MuJoCo
# settings, kept by Stable-Baselines3 and CleanRL)
VALUES = {"optimizer.momentum": MOMENTUM, "train.gamma": 0.99, "train.gae_lambda": 0.95, "train.clip_range": 0.2,
          "train.update_epochs": 10}
# keys whose libraries' default is "none of it": their lowest value
LOWEST = ("train.label_smoothing", "train.entropy_coef")


def default_point(space: SearchSpace, *, fixed: Mapping[str, Any], task: str = "supervised",
                  written: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The first configuration of a search over ``space`` (searched key -> value), as the module
    describes. ``fixed``: the study's configuration by section (``{"optimizer": {"name": ...}}``),
    for what a searched value depends on but the space does not search (a fixed optimizer's
    learning rate); ``written``: the study file's own tables by section, as written (nothing the
    parse filled in), whose values for a searched path come first."""
    point: dict[str, Any] = {}
    by_path: dict[str, Any] = {}
    for dim in space:
        if not dim.active(point):
            continue
        own = _at(written or {}, dim.path)
        if own is not None and dim.dist.contains(own):
            value = dim.dist.resolve(own)
        else:
            value = _value(dim.path, dim.dist, chosen=by_path, fixed=fixed, task=task)
        point[dim.key] = value
        by_path[dim.path] = value
    return point


def _value(path: str, dist: Distribution, *, chosen: Mapping[str, Any], fixed: Mapping[str, Any], task: str) -> Any:
    optimizer = chosen.get("optimizer.name", _at(fixed, "optimizer.name"))
    if path == "optimizer.name":
        return _preferred(dist, OPTIMIZERS)
    if path in ("optimizer.lr", "train.d_lr"):  # a GAN's discriminator has its own rate
        rate = TASK_LEARNING_RATES.get(task) or LEARNING_RATES.get(str(optimizer))
        return _nearest(dist, rate, log=True) if rate else midpoint(dist)
    if path in VALUES:
        return _nearest(dist, VALUES[path], log=False)
    if path in LOWEST or path.endswith(".dropout"):
        return _lowest(dist)
    if path == "optimizer.weight_decay":
        return _nearest(dist, ADAMW_WEIGHT_DECAY, log=True) if optimizer == "adamw" else _lowest(dist)
    if path == "train.batch_size":
        return _batch_size(dist)
    if path == "train.init":
        return _preferred(dist, INITS)
    if path.endswith(".activation"):
        return _preferred(dist, ACTIVATIONS)
    if path == "lr_schedule.name":
        return _preferred(dist, SCHEDULES)
    return midpoint(dist)


def midpoint(dist: Distribution) -> Any:
    """Syne Tune's mid-point rule: a range's middle (geometric for ``loguniform``; an integer
    range's rounded down), a list of numbers' middle one (the upper of two), a list's first
    value otherwise."""
    if isinstance(dist, Choice):
        numbers = _numbers(dist.values)
        return sorted(numbers)[len(numbers) // 2] if numbers is not None else dist.values[0]
    if isinstance(dist, RandInt):
        return (dist.low + dist.high) // 2
    if isinstance(dist, LogUniform):
        return math.sqrt(dist.low * dist.high)
    if isinstance(dist, Uniform):
        return (dist.low + dist.high) / 2
    return dist.sample(random.Random(0))  # a distribution without a middle: a fixed draw of it


def _preferred(dist: Distribution, names: Sequence[str]) -> Any:
    if isinstance(dist, Choice):
        for name in names:
            for value in dist.values:
                if value == name:
                    return value
    return midpoint(dist)


def _nearest(dist: Distribution, target: float, *, log: bool) -> Any:
    """The dimension's value nearest ``target`` (on a log scale when ``log``): itself where the
    range holds it, else the nearer bound; a choice's nearest number (the larger of two as near)."""
    scale = (lambda v: math.log(v) if v > 0 else -math.inf) if log else (lambda v: v)
    if isinstance(dist, Choice):
        numbers = _numbers(dist.values)
        if numbers is None:
            return dist.values[0]
        return min(sorted(numbers, reverse=True), key=lambda v: abs(scale(v) - scale(target)))
    if isinstance(dist, RandInt):
        return min(max(round(target), dist.low), dist.high)
    if isinstance(dist, Uniform):
        return min(max(target, dist.low), dist.high)
    return midpoint(dist)


def _lowest(dist: Distribution) -> Any:
    if isinstance(dist, Choice):
        numbers = _numbers(dist.values)
        return min(numbers) if numbers is not None else dist.values[0]
    if isinstance(dist, (RandInt, Uniform)):
        return dist.low
    return midpoint(dist)


def _batch_size(dist: Distribution) -> Any:
    """Nearest :data:`BATCH_SIZE` among the mini-batches offered ("full" only when nothing else is)."""
    if isinstance(dist, Choice):
        sizes = [v for v in dist.values if isinstance(v, int) and not isinstance(v, bool)]
        if sizes:
            return _nearest(Choice(tuple(sizes)), BATCH_SIZE, log=True)
        return dist.values[0]
    return _nearest(dist, BATCH_SIZE, log=True)


def _numbers(values: Sequence[Any]) -> list[float] | None:
    """The values when every one is a plain number, else None."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return list(values)
    return None


def _at(tables: Mapping[str, Any], path: str) -> Any:
    """The value ``tables`` (a study's tables by section) hold at ``path`` (``"optimizer.name"``,
    ``"train.early_stopping.patience"``), or None (TOML has no null: None is never a set value)."""
    node: Any = tables
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
