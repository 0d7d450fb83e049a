"""RNN / LSTM / GRU for sequences shaped (time, features): ``layers`` stacked cells of
``hidden_size`` units (both directions if ``bidirectional``); the last layer's final hidden
state (forward and backward, concatenated) feeds a linear head.

Non-sequence inputs are read as sequences: tabular (F,) as F steps of one feature, images
(C, H, W) as H steps (rows) of C*W features.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def sequence_shape(input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(time, features) of a sample shaped ``input_shape``."""
    if len(input_shape) == 1:
        return input_shape[0], 1
    if len(input_shape) == 2:
        return input_shape[0], input_shape[1]
    if len(input_shape) == 3:
        c, h, w = input_shape
        return h, c * w
    raise ValueError(f"a sequence model needs inputs shaped (time, features), but the data has shape {input_shape}")


def build(*, cell: str, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    steps, features = sequence_shape(input_shape)
    kwargs: dict[str, Any] = {
        "input_size": features,
        "hidden_size": params["hidden_size"],
        "num_layers": params["layers"],
        "bidirectional": params["bidirectional"],
        "dropout": params["dropout"] if params["layers"] > 1 else 0.0,
        "batch_first": True,
    }
    if cell == "rnn":
        kwargs["nonlinearity"] = params.get("nonlinearity", "tanh")
    return _Recurrent(_CELLS[cell](**kwargs), (steps, features), n_outputs)


class _Recurrent(nn.Module):
    def __init__(self, rnn: nn.RNNBase, shape: tuple[int, int], n_outputs: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.shape = shape
        self.dirs = 2 if rnn.bidirectional else 1
        self.head = nn.Linear(rnn.hidden_size * self.dirs, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(x.reshape(x.shape[0], *self.shape))
        if isinstance(h, tuple):  # LSTM: (h_n, c_n)
            h = h[0]
        last = h[-self.dirs :]  # the last layer's directions: (dirs, N, H)
        return self.head(last.transpose(0, 1).reshape(x.shape[0], -1))
