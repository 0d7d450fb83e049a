"""CNN for images shaped (channels, height, width): ``conv_depth`` blocks of
conv → [batch norm] → activation → [pool], channels doubling per block, then a dense head."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hpbench.models.layers import activation


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    if len(input_shape) == 2:  # (H, W) -> one channel
        input_shape = (1, *input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"model.family 'cnn' needs image inputs (C, H, W), but the data has shape {input_shape}")
    c_in, h, w = input_shape
    layers: list[nn.Module] = []
    channels = params["channels"]
    k = params["kernel"]
    for _ in range(params["conv_depth"]):
        layers.append(nn.Conv2d(c_in, channels, k, padding=k // 2, bias=not params["batch_norm"]))
        h, w = h + 2 * (k // 2) - k + 1, w + 2 * (k // 2) - k + 1  # an even kernel grows the map by one
        if params["batch_norm"]:
            layers.append(nn.BatchNorm2d(channels))
        layers.append(activation(params["activation"]))
        if params["pool"] != "none" and min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2) if params["pool"] == "max" else nn.AvgPool2d(2))
            h, w = h // 2, w // 2
        c_in, channels = channels, channels * 2
    layers.append(nn.Flatten())
    head_in = c_in * h * w
    layers += [nn.Linear(head_in, params["width"]), activation(params["activation"])]
    if params["dropout"] > 0:
        layers.append(nn.Dropout(params["dropout"]))
    layers.append(nn.Linear(params["width"], n_outputs))
    return _ImageNet(nn.Sequential(*layers), (input_shape[0], input_shape[1], input_shape[2]))


class _ImageNet(nn.Module):
    """Reshapes flat or (N, H, W) inputs to (N, C, H, W) before the conv stack."""

    def __init__(self, body: nn.Sequential, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.body = body
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.reshape(x.shape[0], *self.shape))
