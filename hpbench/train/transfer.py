"""Transfer learning: start a model from a saved trial's weights, freeze all but its last
``k`` layers and give it a new head when the new task's outputs differ.

A *layer* is a module that holds parameters itself (a ``Linear``, ``Conv2d``, ``BatchNorm``,
``LSTM`` …), in the order the model registers them; the head is the last one. Weights are
matched by name: every name must exist in both models, and only the head may differ in shape
(it then keeps its fresh initialization: the new head).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hpbench.train.weights import load_record


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's parameter-holding modules, in registration order."""
    return [(name, m) for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


@dataclass(frozen=True)
class TransferInfo:
    n_reused: int  # parameter tensors loaded from the saved trial
    new_head: bool  # the head's shape differed: it keeps its fresh initialization
    n_frozen: int  # parameters (scalars) frozen
    n_trainable: int


def load_into(model: nn.Module, state: dict[str, torch.Tensor]) -> tuple[int, bool]:
    """Load ``state`` into ``model`` by name; a head of another shape is left as built."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise ValueError("model.init_from: the saved model's layers do not match this model's "
                         f"(missing {missing[:3]}, unexpected {extra[:3]}): use the same family and shape")
    head_name = layers(model)[-1][0]
    head_keys = {k for k in own if k.rpartition(".")[0] == head_name}
    differ = [k for k in own if own[k].shape != state[k].shape]
    bad = [k for k in differ if k not in head_keys]
    if bad:
        raise ValueError(f"model.init_from: only the head may change shape, but {bad[0]} is {tuple(state[bad[0]].shape)} "
                         f"in the saved model and {tuple(own[bad[0]].shape)} here")
    keep = {k: v for k, v in state.items() if k not in differ}
    model.load_state_dict({**own, **keep})
    return len(keep), bool(differ)


def freeze_all_but_last(model: nn.Module, k: int) -> int:
    """Freeze every layer but the last ``k`` (``k`` >= the layer count freezes nothing);
    returns the number of frozen parameters."""
    if k < 1:
        raise ValueError(f"model.freeze: must leave at least the head trainable (k >= 1), but got {k}")
    ls = layers(model)
    n = 0
    for _, m in ls[: max(0, len(ls) - k)]:
        for p in m.parameters(recurse=False):
            p.requires_grad_(False)
            n += p.numel()
    return n


def apply(model: nn.Module, weights: str | Path, *, freeze: int | None = None) -> TransferInfo:
    """Start ``model`` from the weights file of a saved trial and freeze per ``freeze``."""
    record = load_record(weights, finite=True)
    n_reused, new_head = load_into(model, record["state_dict"])
    n_frozen = freeze_all_but_last(model, freeze) if freeze is not None else 0
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return TransferInfo(n_reused=n_reused, new_head=new_head, n_frozen=n_frozen, n_trainable=n_trainable)
