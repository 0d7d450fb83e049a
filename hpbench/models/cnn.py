"""CNN: ``conv_depth`` blocks of conv → [batch norm] → activation → [pool], channels doubling
per block, then [global average pooling] and a dense head. 2-D convolutions on images ``(C, H, W)``, 1-D convolutions on
signals ``(C, L)`` and on sequences ``(L, C)`` (transposed to channels first). Tables are
refused: their columns have no order to convolve along (declare ``[data] kind = "signal"``
and a ``shape`` if they do)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hpbench.data.kinds import DataKind, as_signal, default_kind
from hpbench.models.layers import activation

_POOL = {(1, "max"): nn.MaxPool1d, (1, "avg"): nn.AvgPool1d, (2, "max"): nn.MaxPool2d, (2, "avg"): nn.AvgPool2d}


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any], kind: DataKind | None = None) -> nn.Module:
    kind = DataKind(kind) if kind is not None else (DataKind.IMAGE if len(input_shape) == 2 else default_kind(input_shape))
    if kind is DataKind.IMAGE:
        shape = (1, *input_shape) if len(input_shape) == 2 else tuple(input_shape)  # (H, W) -> one channel
        if len(shape) != 3:
            raise ValueError(f"model.family 'cnn' needs images shaped (C, H, W), but the data has shape {input_shape}")
        c_in, spatial, transpose = shape[0], [shape[1], shape[2]], False
    elif kind is DataKind.TABULAR:
        raise ValueError(f"model.family 'cnn' convolves images, signals and sequences, but the data is a table of shape {input_shape} "
                         "(declare [data] kind = \"signal\" and shape = [C, L] if its columns are a signal)")
    else:
        c_in, length, transpose = as_signal(kind, input_shape)
        shape, spatial = (c_in, length), [length]
    dims = len(spatial)
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    norm = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    layers: list[nn.Module] = []
    channels = params["channels"]
    k = params["kernel"]
    for _ in range(params["conv_depth"]):
        layers.append(conv(c_in, channels, k, padding=k // 2, bias=not params["batch_norm"]))
        spatial = [s + 2 * (k // 2) - k + 1 for s in spatial]  # an even kernel grows the map by one
        if params["batch_norm"]:
            layers.append(norm(channels))
        layers.append(activation(params["activation"]))
        if params["pool"] != "none" and min(spatial) >= 2:
            layers.append(_POOL[dims, params["pool"]](2))
            spatial = [s // 2 for s in spatial]
        c_in, channels = channels, channels * 2
    if params.get("global_pool", False):  # global average pooling: one value per channel (Lin, Chen & Yan 2014)
        layers.append(nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1))
        spatial = [1] * dims
    layers.append(nn.Flatten())
    head_in = c_in * spatial[0] * (spatial[1] if dims == 2 else 1)
    layers += [nn.Linear(head_in, params["width"]), activation(params["activation"])]
    if params["dropout"] > 0:
        layers.append(nn.Dropout(params["dropout"]))
    layers.append(nn.Linear(params["width"], n_outputs))
    return _ConvNet(nn.Sequential(*layers), tuple(input_shape) if transpose else shape, transpose=transpose)


class _ConvNet(nn.Module):
    """Reshapes flat inputs to the sample shape (a sequence ``(L, C)`` then to ``(C, L)``) before the conv stack."""

    def __init__(self, body: nn.Sequential, shape: tuple[int, ...], *, transpose: bool) -> None:
        super().__init__()
        self.body = body
        self.shape = shape
        self.transpose = transpose

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.shape)
        return self.body(x.transpose(1, 2) if self.transpose else x)
