"""Model families: one module per family, registered by name.

A family builder has the signature ``build(*, input_shape, n_outputs, params, kind) -> nn.Module``
where ``params`` holds the family's validated parameters (defaults filled in) and ``kind`` the
data's :class:`~hpbench.data.kinds.DataKind` (``input_shape`` is in that kind's layout). Each
family registers the kinds it reads (``reads``). A user model is ``family = "package.module:build"``
with the same signature (``kind`` is passed when the builder accepts it).
"""

from __future__ import annotations

import inspect
from typing import Any

from hpbench.data.kinds import KINDS, DataKind, default_kind
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
    "pool": Param(OneOf(("max", "avg", "none"), "pooling"), "max", "pooling by 2 after each conv block (2x2 on images)"),
    "batch_norm": Param(Bool(), True, "batch normalization in each conv block"),
    "activation": Param(OneOf(ACTIVATIONS, "activation"), "relu", "nonlinearity after each hidden layer"),
    "width": Param(Int(min=1, max=65536), 64, "units of the dense head"),
    "dropout": Param(Float(min=0.0, max=1.0, max_open=True), 0.0, "dropout rate after each hidden layer"),
    "global_pool": Param(Bool(), False, "average each channel over the whole map before the head (position-invariant; Lin et al. 2014)"),
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


ALL_KINDS = KINDS
SEQUENCE_READERS = KINDS  # recurrent families and the transformer read every kind as a sequence (L, C)


@FAMILIES.register("mlp", params=_MLP, doc="fully connected network (any kind, flattened)", reads=ALL_KINDS)
def _mlp(**kw: Any) -> Any:
    from hpbench.models.mlp import build

    return build(**kw)


@FAMILIES.register("cnn", params=_CNN, doc="conv blocks + dense head: 2-D on images, 1-D on signals and sequences",
                   reads=(DataKind.SIGNAL.value, DataKind.SEQUENCE.value, DataKind.IMAGE.value))
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
                  doc="Elman RNN, sequence -> label", activation="tanh", reads=SEQUENCE_READERS)(_recurrent("rnn"))
FAMILIES.register("lstm", params=_RNN, doc="LSTM, sequence -> label", activation="tanh", reads=SEQUENCE_READERS)(_recurrent("lstm"))
FAMILIES.register("gru", params=_RNN, doc="GRU, sequence -> label", activation="tanh", reads=SEQUENCE_READERS)(_recurrent("gru"))


@FAMILIES.register("transformer", params=_TRANSFORMER, doc="transformer encoder, sequence -> label (mean-pooled)", reads=SEQUENCE_READERS)
def _transformer(**kw: Any) -> Any:
    from hpbench.models.transformer import build

    return build(**kw)


BUILTIN = ("mlp", "cnn", "rnn", "lstm", "gru", "transformer")


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


def family_reads(family: str) -> tuple[str, ...] | None:
    """The data kinds a registered family reads; ``None`` for a user family (its own business)."""
    if family in FAMILIES:
        return tuple(FAMILIES.get(family).meta.get("reads", KINDS))
    return None


def build_model(family: str, *, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any], kind: str | None = None) -> Any:
    """Build the ``nn.Module`` of a family (registered name or ``"package.module:build"``) for
    samples of ``input_shape`` of ``kind`` (by default the kind the shape's length implies:
    :func:`hpbench.data.kinds.default_kind`)."""
    dk = DataKind(kind) if kind is not None else None
    fn: Any
    kw: dict[str, Any]
    if family in FAMILIES:
        entry = FAMILIES.get(family)
        full = {**entry.defaults(), **{k: v for k, v in params.items() if k in entry.params}}
        fn, kw = entry.build, dict(input_shape=tuple(input_shape), n_outputs=n_outputs, params=full)
    else:
        fn, kw = import_object(family), dict(input_shape=tuple(input_shape), n_outputs=n_outputs, params=dict(params))
    if _accepts_kind(fn):  # hpbench's own families read None as their default layout; others get one
        kw["kind"] = dk if dk is not None or family in BUILTIN else default_kind(input_shape)
    return fn(**kw)


def _accepts_kind(fn: Any) -> bool:
    """Whether a builder takes ``kind`` (user and plugin builders written before kinds existed do not)."""
    try:
        ps = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "kind" or p.kind is inspect.Parameter.VAR_KEYWORD for p in ps)
