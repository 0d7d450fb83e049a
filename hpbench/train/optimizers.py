"""Optimizers, registered by name with the hyperparameters each one accepts.

All are ``torch.optim`` classes; SGD's variants (plain, momentum, Nesterov) and Adam's
(Adam, AMSGrad, AdamW) are separate names because users search over them as such.
"""

from __future__ import annotations

from typing import Any

from hpbench.registry import Param, Registry
from hpbench.rules import Float, ListOf

OPTIMIZERS: Registry[Any] = Registry(what="optimizer", group="hpbench.optimizers")

_WD = Param(Float(min=0.0), 0.0, "L2 weight decay (decoupled for adamw)")
_EPS = Param(Float(min=0.0, min_open=True), 1e-8, "term added to the denominator for stability")
_BETAS = Param(ListOf(Float(min=0.0, max=1.0, max_open=True), min_len=2, max_len=2), (0.9, 0.999), "decay rates of the first and second moment estimates")
_MOMENTUM = Param(Float(min=0.0, max=1.0, max_open=True), 0.9, "momentum factor")


@OPTIMIZERS.register("sgd", params={"weight_decay": _WD}, doc="plain stochastic gradient descent")
def _sgd(params: Any, *, lr: float, weight_decay: float = 0.0) -> Any:
    import torch

    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("momentum", params={"momentum": _MOMENTUM, "weight_decay": _WD}, doc="SGD with (heavy-ball) momentum")
def _momentum(params: Any, *, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> Any:
    import torch

    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


@OPTIMIZERS.register("nesterov", params={"momentum": _MOMENTUM, "weight_decay": _WD}, doc="SGD with Nesterov momentum")
def _nesterov(params: Any, *, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> Any:
    import torch

    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)


@OPTIMIZERS.register("adagrad", params={"eps": Param(Float(min=0.0, min_open=True), 1e-10, "term added to the denominator for stability"), "weight_decay": _WD},
                     doc="Adagrad (Duchi et al. 2011)")
def _adagrad(params: Any, *, lr: float, eps: float = 1e-10, weight_decay: float = 0.0) -> Any:
    import torch

    return torch.optim.Adagrad(params, lr=lr, eps=eps, weight_decay=weight_decay)


@OPTIMIZERS.register(
    "rmsprop",
    params={"alpha": Param(Float(min=0.0, max=1.0, max_open=True), 0.99, "smoothing"), "momentum": Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "momentum factor"), "eps": _EPS, "weight_decay": _WD},
    doc="RMSprop (Hinton's lecture notes, 2012)",
)
def _rmsprop(params: Any, *, lr: float, alpha: float = 0.99, momentum: float = 0.0, eps: float = 1e-8, weight_decay: float = 0.0) -> Any:
    import torch

    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum, eps=eps, weight_decay=weight_decay)


def _adam_family(cls: str, amsgrad: bool) -> Any:
    def build(params: Any, *, lr: float, betas: Any = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> Any:
        import torch

        return getattr(torch.optim, cls)(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    return build


_ADAM_PARAMS = {"betas": _BETAS, "eps": _EPS, "weight_decay": _WD}
OPTIMIZERS.register("adam", params=_ADAM_PARAMS, doc="Adam (Kingma & Ba 2015)")(_adam_family("Adam", False))
OPTIMIZERS.register("amsgrad", params=_ADAM_PARAMS, doc="Adam with the AMSGrad fix (Reddi et al. 2018)")(_adam_family("Adam", True))
OPTIMIZERS.register("adamw", params={**_ADAM_PARAMS, "weight_decay": Param(Float(min=0.0), 0.01, "decoupled weight decay")},
                   doc="Adam with decoupled weight decay (Loshchilov & Hutter 2019)")(_adam_family("AdamW", False))


# torch.optim classes with a fused kernel on the CPU and GPUs (torch >= 2.4): one kernel updates
# every parameter, where the default (single-tensor on a CPU) dispatches ~10 ops per parameter
# tensor. Measured on the race's models (one thread, 4 epochs with validation, exclusive.sh):
# whole trials 1.28-1.65x faster with Adam, AdamW and AMSGrad (MLPs on tabular data and digits),
# 1.16x Adagrad, 1.13x Nesterov, ~1.0x plain SGD and a GRU (docs/benchmarks.md, session 36).
# The same update, its float rounding aside.
FUSED_KERNEL = frozenset({"Adam", "AdamW", "SGD", "Adagrad"})


def has_fused_kernel(optimizer: Any) -> bool:
    """Whether torch has a fused kernel for ``optimizer``'s update (its class; not a differentiable one)."""
    return type(optimizer).__name__ in FUSED_KERNEL and not any(g.get("differentiable") for g in optimizer.param_groups)


def use_fused_kernel(optimizer: Any) -> bool:
    """Switch ``optimizer`` to torch's fused kernel where it has one for every parameter (floating
    point, on a device torch fuses for: not ``meta``); True when switched."""
    from torch.optim.optimizer import _get_fused_kernels_supported_devices

    params = [p for g in optimizer.param_groups for p in g["params"]]
    devices = set(_get_fused_kernels_supported_devices())
    if not params or not has_fused_kernel(optimizer) or not all(p.is_floating_point() and p.device.type in devices for p in params):
        return False
    for group in optimizer.param_groups:
        group["fused"], group["foreach"] = True, False
    return True


def build_optimizer(name: str, model_params: Any, *, lr: float, params: dict[str, Any], fused: bool = True) -> Any:
    """The optimizer ``name`` over ``model_params``, on torch's fused kernel where it has one
    (:func:`use_fused_kernel`) unless ``fused`` is False."""
    from hpbench.train import eager  # imports torch: not at this module's import

    eager.install()  # the optimizer imports no TorchDynamo (~2 CPU-s a process)
    entry = OPTIMIZERS.get(name)
    kwargs = {**entry.defaults(), **{k: v for k, v in params.items() if k in entry.params}}
    optimizer = entry.build(model_params, lr=lr, **kwargs)
    if fused:
        use_fused_kernel(optimizer)
    return optimizer
