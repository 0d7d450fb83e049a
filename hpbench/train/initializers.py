"""Weight initializations, applied to every weight tensor of every module (linear, conv,
recurrent and attention weights alike); biases are zeroed. 1-D weights (norm scales) are left
at their defaults (ones) — initializing a norm's scale to zero would switch the layer off.
"""

from __future__ import annotations

from typing import Any

from hpbench.registry import Param, Registry
from hpbench.rules import Float

INITIALIZERS: Registry[Any] = Registry(what="initialization", group="hpbench.initializers")


def _gain_nonlinearity(activation: str) -> Any:
    # kaiming's fan/gain must match the activation that follows the layer.
    return {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid"}.get(activation, "relu")


@INITIALIZERS.register("default", doc="PyTorch's own per-layer initialization, biases included")
def _default(w: Any, **_: Any) -> None:  # handled by initialize(); registered for validation
    return None


@INITIALIZERS.register("xavier_uniform", doc="Glorot & Bengio 2010, uniform")
def _xavier_uniform(w: Any, **_: Any) -> None:
    import torch.nn.init as I

    I.xavier_uniform_(w)


@INITIALIZERS.register("xavier_normal", doc="Glorot & Bengio 2010, normal")
def _xavier_normal(w: Any, **_: Any) -> None:
    import torch.nn.init as I

    I.xavier_normal_(w)


@INITIALIZERS.register("kaiming_uniform", doc="He et al. 2015, uniform, gain from the family's activation")
def _kaiming_uniform(w: Any, *, activation: str = "relu", **_: Any) -> None:
    import torch.nn.init as I

    I.kaiming_uniform_(w, mode="fan_in", nonlinearity=_gain_nonlinearity(activation))


@INITIALIZERS.register("kaiming_normal", doc="He et al. 2015, normal, gain from the family's activation")
def _kaiming_normal(w: Any, *, activation: str = "relu", **_: Any) -> None:
    import torch.nn.init as I

    I.kaiming_normal_(w, mode="fan_in", nonlinearity=_gain_nonlinearity(activation))


@INITIALIZERS.register("orthogonal", doc="orthogonal matrices (Saxe et al. 2014)")
def _orthogonal(w: Any, **_: Any) -> None:
    import torch.nn.init as I

    I.orthogonal_(w)


@INITIALIZERS.register("normal", params={"std": Param(Float(min=0.0, min_open=True), 0.05, "standard deviation (train.init_std)")},
                       doc="N(0, std^2)")
def _normal(w: Any, *, std: float = 0.05, **_: Any) -> None:
    import torch.nn.init as I

    I.normal_(w, mean=0.0, std=std)


@INITIALIZERS.register("zeros", doc="all zeros: the symmetry problem's reference (hidden units stay identical)")
def _zeros(w: Any, **_: Any) -> None:
    import torch.nn.init as I

    I.zeros_(w)


def initialize(model: Any, name: str, *, activation: str = "relu", params: dict[str, Any] | None = None) -> int:
    """Initialize every weight of ``model`` in place (a layer's kernel: 2-D and over; biases are
    zeroed); returns how many tensors were set. A module lists the parameters that are no layer's
    kernel, such as a learned positional embedding, in ``keeps_own_init`` (their leaf names): those
    keep their own initialization, as an embedding keeps its own initializer in Keras (a
    ``zeros`` init zeroed the transformer's positions, an ``orthogonal`` one flattened them)."""
    if name == "default":  # keep PyTorch's own per-layer initialization
        return 0
    entry = INITIALIZERS.get(name)
    kwargs = {**entry.defaults(), **(params or {})}
    own = {f"{prefix}.{leaf}" if prefix else leaf for prefix, module in model.named_modules()
           for leaf in getattr(module, "keeps_own_init", ())}
    n = 0
    for pname, p in model.named_parameters():
        if pname in own:
            continue
        leaf = pname.rsplit(".", 1)[-1]
        if "bias" in leaf:
            p.data.zero_()
        elif p.dim() >= 2:
            entry.build(p.data, activation=activation, **kwargs)
            n += 1
    return n
