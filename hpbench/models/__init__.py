"""Model families: one module per family, registered by name.

A family builder has the signature ``build(*, input_shape, n_outputs, params) -> nn.Module``
where ``params`` holds the family's validated parameters (defaults filled in). A user model is
``family = "package.module:build"`` with the same signature.
"""

from __future__ import annotations

from typing import Any

from hpbench.registry import Param, Registry, import_object
from hpbench.rules import Bool, Float, Int, OneOf

FAMILIES: Registry[Any] = Registry(what="model family", group="hpbench.families")

ACTIVATIONS = ("relu", "tanh", "gelu", "sigmoid", "leaky_relu", "elu", "silu")

_MLP = {
    "depth": Param(Int(min=0, max=64), 2, "hidden layers"),
    "width": Param(Int(min=1, max=65536), 128, "units per hidden layer"),
    "activation": Param(OneOf(ACTIVATIONS, "activation"), "relu", "nonlinearity after each hidden layer"),
    "dropout": Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "dropout rate after each hidden layer"),
}
_CNN = {
    "conv_depth": Param(Int(min=1, max=8), 2, "conv blocks"),
    "channels": Param(Int(min=1, max=4096), 16, "channels of the first block (doubling per block)"),
    "kernel": Param(Int(min=1, max=15), 3, "convolution kernel size"),
    "pool": Param(OneOf(("max", "avg", "none"), "pooling"), "max", "2x2 pooling after each conv block"),
    "batch_norm": Param(Bool(), True, "batch normalization in each conv block"),
    "activation": Param(OneOf(ACTIVATIONS, "activation"), "relu", "nonlinearity after each hidden layer"),
    "width": Param(Int(min=1, max=65536), 64, "units of the dense head"),
    "dropout": Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "dropout rate after each hidden layer"),
}
# Shared by the recurrent families and the transformer, so that the parser's union of the
# families' parameters (``model.family`` searched) gives every shared key one rule.
_LAYERS = Param(Int(min=1, max=32), 1, "stacked layers")
_DROPOUT = Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "dropout rate between layers")
_RNN = {
    "hidden_size": Param(Int(min=1, max=8192), 64, "units per recurrent layer (per direction)"),
    "layers": _LAYERS,
    "bidirectional": Param(Bool(), False, "read the sequence both ways"),
    "dropout": _DROPOUT,
}
_TRANSFORMER = {
    "layers": Param(Int(min=1, max=32), 2, "encoder layers"),
    "d_model": Param(Int(min=1, max=8192), 64, "embedding width (a multiple of heads)"),
    "heads": Param(Int(min=1, max=128), 4, "attention heads (must divide d_model)"),
    "ff_width": Param(Int(min=1, max=65536), 128, "feed-forward width"),
    "dropout": _DROPOUT,
    "activation": Param(OneOf(ACTIVATIONS, "activation"), "relu", "nonlinearity after each hidden layer"),
    "positional": Param(OneOf(("sinusoidal", "learned", "none"), "positional encoding"), "sinusoidal", "positional encoding"),
}


@FAMILIES.register("mlp", params=_MLP, doc="fully connected network")
def _mlp(**kw: Any) -> Any:
    from hpbench.models.mlp import build

    return build(**kw)


@FAMILIES.register("cnn", params=_CNN, doc="conv blocks + dense head, for image data")
def _cnn(**kw: Any) -> Any:
    from hpbench.models.cnn import build

    return build(**kw)


def _recurrent(cell: str) -> Any:
    def build(**kw: Any) -> Any:
        from hpbench.models.recurrent import build

        return build(cell=cell, **kw)

    return build


# The activation each family's weights feed (kaiming's gain follows it); "activation" in the
# params, when the family has one, overrides it.
FAMILIES.register("rnn", params={**_RNN, "nonlinearity": Param(OneOf(("tanh", "relu"), "nonlinearity"), "tanh", "the recurrent nonlinearity")},
                  doc="Elman RNN, sequence -> label", activation="tanh")(_recurrent("rnn"))
FAMILIES.register("lstm", params=_RNN, doc="LSTM, sequence -> label", activation="tanh")(_recurrent("lstm"))
FAMILIES.register("gru", params=_RNN, doc="GRU, sequence -> label", activation="tanh")(_recurrent("gru"))


@FAMILIES.register("transformer", params=_TRANSFORMER, doc="transformer encoder, sequence -> label (mean-pooled)")
def _transformer(**kw: Any) -> Any:
    from hpbench.models.transformer import build

    return build(**kw)


def family_activation(family: str, params: dict[str, Any]) -> str:
    """The nonlinearity a family's weights feed, for initializations that depend on it."""
    if "activation" in params:
        return str(params["activation"])
    if "nonlinearity" in params:
        return str(params["nonlinearity"])
    if family in FAMILIES:
        return str(FAMILIES.get(family).meta.get("activation", "relu"))
    return "relu"


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
