"""Model families: one module per family, registered by name.

A family builder has the signature ``build(*, input_shape, n_outputs, params) -> nn.Module``
where ``params`` holds the family's validated parameters (defaults filled in). A user model is
``family = "package.module:build"`` with the same signature.
"""

from __future__ import annotations

from typing import Any

from hpbench.registry import Param, Registry, import_object
from hpbench.study.rules import Bool, Float, Int, OneOf

FAMILIES: Registry[Any] = Registry(what="model family")

ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "leaky_relu", "elu", "silu")

_MLP = {
    "depth": Param(Int(min=0, max=64), 2, "hidden layers"),
    "width": Param(Int(min=1, max=65536), 128, "units per hidden layer"),
    "activation": Param(OneOf(ACTIVATIONS, "activation"), "relu"),
    "dropout": Param(Float(min=0.0, max=1.0, max_open=True), 0.0),
}
_CNN = {
    "conv_depth": Param(Int(min=1, max=8), 2, "conv blocks"),
    "channels": Param(Int(min=1, max=4096), 16, "channels of the first block (doubling per block)"),
    "kernel": Param(Int(min=1, max=15), 3),
    "pool": Param(OneOf(("max", "avg", "none"), "pooling"), "max"),
    "batch_norm": Param(Bool(), True),
    "activation": Param(OneOf(ACTIVATIONS, "activation"), "relu"),
    "width": Param(Int(min=1, max=65536), 64, "units of the dense head"),
    "dropout": Param(Float(min=0.0, max=1.0, max_open=True), 0.0),
}


@FAMILIES.register("mlp", params=_MLP, doc="fully connected network")
def _mlp(**kw: Any) -> Any:
    from hpbench.models.mlp import build

    return build(**kw)


@FAMILIES.register("cnn", params=_CNN, doc="conv blocks + dense head, for image data")
def _cnn(**kw: Any) -> Any:
    from hpbench.models.cnn import build

    return build(**kw)


def family_params(family: str) -> dict[str, Param] | None:
    """The parameters a family accepts; ``None`` for a user family (anything goes)."""
    if family in FAMILIES:
        return FAMILIES.get(family).params
    return None


def build_model(family: str, *, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> Any:
    """Build the ``nn.Module`` of a family (registered name or ``"package.module:build"``)."""
    if family in FAMILIES:
        entry = FAMILIES.get(family)
        full = {**entry.defaults(), **{k: v for k, v in params.items() if k in entry.params}}
        return entry.build(input_shape=tuple(input_shape), n_outputs=n_outputs, params=full)
    fn = import_object(family)
    return fn(input_shape=tuple(input_shape), n_outputs=n_outputs, params=dict(params))
