"""A small residual 1-D CNN for signals, as a user would write it for hpbench::

    [model]
    family = "examples.resnet1d.model:build"
    channels = 32

hpbench calls ``build`` with the trial's model parameters (searched ones included), the shape
of one sample and the data's kind, and trains what it returns like any built-in family: same
trainer, same early stopping, same cost model (FLOPs counted from this module).

The network: a stem convolution, ``blocks`` residual blocks (conv → batch norm → ReLU → conv →
batch norm, plus the block's input, then ReLU; He et al. 2016), each followed by a max-pool that
halves the length, global average pooling over time, dropout and a linear head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

# The model parameters this builder reads, with their defaults ([model] keys, searchable in [space]).
DEFAULTS: dict[str, Any] = {"channels": 32, "blocks": 2, "kernel": 7, "dropout": 0.0}


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class ResNet1D(nn.Module):
    def __init__(self, *, in_channels: int, length: int, n_outputs: int, channels: int, blocks: int, kernel: int, dropout: float,
                 time_first: bool) -> None:
        super().__init__()
        self.time_first = time_first  # a sequence (L, C) is turned into a signal (C, L)
        self.stem = nn.Sequential(nn.Conv1d(in_channels, channels, kernel, padding=kernel // 2, bias=False), nn.BatchNorm1d(channels), nn.ReLU())
        layers: list[nn.Module] = []
        for _ in range(blocks):
            layers.append(ResidualBlock(channels, kernel))
            if length >= 2:
                layers.append(nn.MaxPool1d(2))
                length //= 2
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # (N, L): one channel
            x = x.unsqueeze(1)
        elif self.time_first:
            x = x.transpose(1, 2)
        return self.head(self.blocks(self.stem(x)).mean(dim=2))


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any], kind: str = "signal") -> nn.Module:
    """hpbench's user-family signature: ``input_shape`` is one sample's shape in the layout of
    ``kind`` (``(C, L)`` for a signal, ``(L, C)`` for a sequence, ``(F,)`` for a table: read as
    one channel of length F)."""
    p = {**DEFAULTS, **params}
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"model: unknown parameter {unknown[0]!r} for the residual 1-D CNN; it takes {', '.join(DEFAULTS)}")
    if p["kernel"] % 2 == 0 or p["kernel"] < 1:
        raise ValueError(f"model.kernel: must be a positive odd number (the convolutions keep the length), but got {p['kernel']}")
    if kind == "image":
        raise ValueError(f"the residual 1-D CNN reads signals, sequences or tables, but the data are images {tuple(input_shape)}")
    if len(input_shape) == 1:
        c_in, length, time_first = 1, input_shape[0], False
    elif kind == "sequence":
        length, c_in = input_shape
        time_first = True
    else:
        c_in, length = input_shape
        time_first = False
    return ResNet1D(in_channels=c_in, length=length, n_outputs=n_outputs, channels=int(p["channels"]), blocks=int(p["blocks"]),
                    kernel=int(p["kernel"]), dropout=float(p["dropout"]), time_first=time_first)
