"""Transformer encoder for sequences shaped (time, features): a linear embedding to
``d_model``, a positional encoding (sinusoidal, learned or none), ``layers`` encoder layers
(``heads`` attention heads, ``ff_width`` feed-forward units), mean pooling over time, a
linear head. Every kind is read as a sequence as the recurrent families read it (a signal
(C, L) as L steps of C channels).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hpbench.data.kinds import DataKind
from hpbench.models.layers import activation
from hpbench.models.recurrent import sequence_shape


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any], kind: DataKind | None = None) -> nn.Module:
    d_model, heads = params["d_model"], params["heads"]
    if d_model % heads:
        raise ValueError(f"model.heads: must divide model.d_model, but got d_model={d_model}, heads={heads}")
    steps, features, transpose = sequence_shape(input_shape, kind)
    act = params["activation"]
    layer = nn.TransformerEncoderLayer(
        d_model, heads, dim_feedforward=params["ff_width"], dropout=params["dropout"],
        activation=act if act in ("relu", "gelu") else activation(act), batch_first=True,
    )
    encoder = nn.TransformerEncoder(layer, params["layers"], enable_nested_tensor=False)
    return _Encoder(encoder, (steps, features), d_model, n_outputs, params["positional"], transpose=transpose)


def sinusoidal(steps: int, d_model: int) -> torch.Tensor:
    """Vaswani et al. 2017, section 3.5: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...)."""
    pos = torch.arange(steps, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(steps, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe


class _Encoder(nn.Module):
    keeps_own_init = ("pos",)  # a learned positional embedding keeps its N(0, 0.02) under any [train] init
    def __init__(self, encoder: nn.TransformerEncoder, shape: tuple[int, int], d_model: int, n_outputs: int, positional: str, *,
                 transpose: bool = False) -> None:
        super().__init__()
        self.shape = shape  # (steps, features) the encoder reads
        self.stored = (shape[1], shape[0]) if transpose else shape  # a sample as stored ((C, L) for a signal)
        self.transpose = transpose
        self.embed = nn.Linear(shape[1], d_model)
        self.encoder = encoder
        self.head = nn.Linear(d_model, n_outputs)
        self.pos: torch.Tensor | None
        if positional == "learned":
            self.pos = nn.Parameter(torch.zeros(1, shape[0], d_model))
            nn.init.normal_(self.pos, std=0.02)
        elif positional == "sinusoidal":
            self.register_buffer("pos", sinusoidal(shape[0], d_model)[None], persistent=False)
        else:
            self.pos = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.stored)
        h = self.embed(x.transpose(1, 2) if self.transpose else x)
        if self.pos is not None:
            h = h + self.pos
        return self.head(self.encoder(h).mean(dim=1))
