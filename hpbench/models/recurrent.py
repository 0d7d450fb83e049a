"""RNN / LSTM / GRU for sequences shaped (time, features): ``layers`` stacked cells of
``hidden_size`` units (both directions if ``bidirectional``); the last layer's final hidden
state (forward and backward, concatenated) feeds a linear head.

Every kind is read as a sequence (:func:`hpbench.data.kinds.as_sequence`): a signal (C, L) as
L steps of C channels, tabular (F,) as F steps of one feature, images (C, H, W) as H steps
(rows) of C*W features.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hpbench.data.kinds import DataKind, as_sequence, default_kind

_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def sequence_shape(input_shape: tuple[int, ...], kind: DataKind | None = None) -> tuple[int, int, bool]:
    """(time, features, transpose) of a sample shaped ``input_shape`` of ``kind`` (by default
    hpbench's earlier layout: (F,) tabular, (T, F) a sequence, (C, H, W) an image)."""
    if not 1 <= len(input_shape) <= 3:
        raise ValueError(f"a sequence model needs inputs shaped (time, features), but the data has shape {input_shape}")
    return as_sequence(DataKind(kind) if kind is not None else default_kind(input_shape), input_shape)


def build(*, cell: str, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any], kind: DataKind | None = None) -> nn.Module:
    steps, features, transpose = sequence_shape(input_shape, kind)
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
    return _Recurrent(_CELLS[cell](**kwargs), (features, steps) if transpose else (steps, features), n_outputs, transpose=transpose)


class _Recurrent(nn.Module):
    def __init__(self, rnn: nn.RNNBase, shape: tuple[int, int], n_outputs: int, *, transpose: bool = False) -> None:
        super().__init__()
        self.rnn = rnn
        self.shape = shape  # a sample as stored: (L, C), or (C, L) for a signal (transposed to (L, C))
        self.transpose = transpose
        self.dirs = 2 if rnn.bidirectional else 1
        self.head = nn.Linear(rnn.hidden_size * self.dirs, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.shape)
        _, h = self.rnn(x.transpose(1, 2) if self.transpose else x)
        if isinstance(h, tuple):  # LSTM: (h_n, c_n)
            h = h[0]
        last = h[-self.dirs :]  # the last layer's directions: (dirs, N, H)
        return self.head(last.transpose(0, 1).reshape(x.shape[0], -1))
