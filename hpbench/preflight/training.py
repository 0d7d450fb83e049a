"""The pre-flight's checks of what the trainer builds around a network that trains: the
study's learning-rate schedules built over its optimizer, and its initializations applied to it.
A plugin schedule or initializer is user code: one that raises is named here, before any trial,
not by every trial. Torch is imported inside the functions (:mod:`hpbench.preflight.models`)."""

from __future__ import annotations

import math
from typing import Any

from hpbench.config import ModelConfig, OptimizerConfig
from hpbench.preflight.load import user_code_problem
from hpbench.preflight.problems import Problem
from hpbench.preflight.shapes import InitCase, ScheduleCase


def check_schedule(source: str, net: Any, case: ScheduleCase, *, optimizer: OptimizerConfig, n_train: int) -> Problem | None:
    """The schedule built as the trainer builds it, over the study's (first) optimizer on ``net``;
    nothing when that optimizer cannot be built (its own problem is reported)."""
    from hpbench.train.optimizers import build_optimizer
    from hpbench.train.schedules import Horizon, build_schedule

    trainable = [p for p in net.parameters() if p.requires_grad]
    try:
        built = build_optimizer(optimizer.name, trainable, lr=optimizer.lr, params=dict(optimizer.params))
    except Exception:
        return None
    batch = n_train if case.batch_size == "full" else int(case.batch_size)
    horizon = Horizon(max_epochs=case.max_epochs, steps_per_epoch=max(1, math.ceil(n_train / max(1, batch))))
    name = case.schedule.name
    try:
        build_schedule(name, built, params=dict(case.schedule.params), horizon=horizon, metric=case.metric, mode=case.mode)
    except Exception as err:
        return user_code_problem(source, "lr_schedule.name", f"building the learning-rate schedule {name!r} raised", err)
    return None


def check_init(source: str, net: Any, model: ModelConfig, case: InitCase) -> Problem | None:
    """The initialization applied to ``net`` as the trainer applies it."""
    from hpbench.models import family_activation
    from hpbench.train.initializers import initialize

    params = dict(model.params)
    try:
        initialize(net, case.name, activation=family_activation(model.family, params), params=dict(case.params))
    except Exception as err:
        return user_code_problem(source, "train.init", f"applying the initialization {case.name!r} raised", err)
    return None
