"""The optimizer, built by name from ``torch.optim`` through an injectable callable.

:data:`OptimizerBuilder` has the signature of ``hpbench.train.optimizers.build_optimizer``,
so the trainer can pass hpbench's registry in place of :func:`torch_optimizer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from hpbench.train.rl.config import OPTIMIZER_NAMES

OptimizerBuilder = Callable[..., torch.optim.Optimizer]  # (name, parameters, *, lr, params) -> optimizer


def torch_optimizer(name: str, parameters: Iterable[torch.nn.Parameter], *, lr: float, params: Mapping[str, Any]) -> torch.optim.Optimizer:
    """sgd / momentum / nesterov / adagrad / rmsprop / adam / amsgrad / adamw with ``params`` as keyword arguments
    (a momentum variant's ``momentum`` defaults to 0.9, as in hpbench's registry)."""
    try:
        return _build(name, parameters, lr=lr, kw=dict(params))
    except TypeError as e:  # a keyword the optimizer does not take
        raise ValueError(f"optimizer {name!r} does not accept the parameters {dict(params)}: {e}") from e


def _build(name: str, parameters: Iterable[torch.nn.Parameter], *, lr: float, kw: dict[str, Any]) -> torch.optim.Optimizer:
    opt = torch.optim
    if name == "sgd":
        return opt.SGD(parameters, lr=lr, **kw)
    if name in ("momentum", "nesterov"):
        return opt.SGD(parameters, lr=lr, **{"momentum": 0.9, **kw}, nesterov=name == "nesterov")
    if name == "adagrad":
        return opt.Adagrad(parameters, lr=lr, **kw)
    if name == "rmsprop":
        return opt.RMSprop(parameters, lr=lr, **kw)
    if name in ("adam", "amsgrad"):
        return opt.Adam(parameters, lr=lr, **kw, amsgrad=name == "amsgrad")
    if name == "adamw":
        return opt.AdamW(parameters, lr=lr, **kw)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_NAMES)}, but got {name!r}")
