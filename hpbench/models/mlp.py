"""MLP: ``depth`` hidden layers of ``width`` units, then a linear head (logits).

``depth = 0`` is logistic/softmax regression; ``depth = 1, activation = "relu"`` on a binary
task is the textbook network (input, one ReLU hidden layer, sigmoid output: the sigmoid is
applied by the loss, ``BCEWithLogitsLoss``).
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from hpbench.models.layers import activation


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any], kind: Any = None) -> nn.Module:
    """Any kind of sample, flattened (``kind`` does not change what an MLP reads)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width_in = math.prod(input_shape)
    for _ in range(params["depth"]):
        layers += [nn.Linear(width_in, params["width"]), activation(params["activation"])]
        if params["dropout"] > 0:
            layers.append(nn.Dropout(params["dropout"]))
        width_in = params["width"]
    layers.append(nn.Linear(width_in, n_outputs))
    return nn.Sequential(*layers)
