"""Optimizers by name, for G and D separately, through one injectable callable.

:data:`OptimizerBuilder` has the signature of ``hpbench.train.optimizers.build_optimizer``, so the
trainer can pass hpbench's registry in place of :func:`torch_optimizer`, this package's
stand-alone default (the same eight names, straight from ``torch.optim``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

OptimizerBuilder = Callable[..., torch.optim.Optimizer]  # (name, parameters, *, lr, params) -> Optimizer

# name -> (torch.optim class, fixed keyword arguments, the keyword arguments a user may set)
_ADAM_KEYS = frozenset({"betas", "eps", "weight_decay"})
_SGD_KEYS = frozenset({"momentum", "weight_decay"})
_TABLE: dict[str, tuple[str, dict[str, Any], frozenset[str]]] = {
    "sgd": ("SGD", {}, frozenset({"weight_decay"})),
    "momentum": ("SGD", {"momentum": 0.9}, _SGD_KEYS),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}, _SGD_KEYS),
    "adagrad": ("Adagrad", {}, frozenset({"eps", "weight_decay"})),
    "rmsprop": ("RMSprop", {}, frozenset({"alpha", "momentum", "eps", "weight_decay"})),
    "adam": ("Adam", {}, _ADAM_KEYS),
    "amsgrad": ("Adam", {"amsgrad": True}, _ADAM_KEYS),
    "adamw": ("AdamW", {}, _ADAM_KEYS),
}
OPTIMIZER_NAMES = tuple(_TABLE)


def torch_optimizer(name: str, model_params: Iterable[torch.nn.Parameter], *, lr: float, params: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``torch.optim`` optimizer ``name`` over ``model_params``; unknown names or keys are errors."""
    if name not in _TABLE:
        close = difflib.get_close_matches(name, OPTIMIZER_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"optimizer: unknown name {name!r}{hint}; known: {', '.join(OPTIMIZER_NAMES)}")
    cls, fixed, allowed = _TABLE[name]
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"optimizer {name}: unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}")
    kwargs = {**fixed, **params}
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return getattr(torch.optim, cls)(model_params, lr=lr, **kwargs)
