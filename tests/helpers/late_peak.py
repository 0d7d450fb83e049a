"""A user model family whose study metric and loss peak at different epochs, for a study under
``restore_best_weights`` with ``monitor = "val_loss"``: ``family = "tests.helpers.late_peak:build"``.

After its first training epoch it answers with its trained logits times 0.01, nearly equal (val_loss
just under ln(n_classes), the best it will have; val_accuracy that of its first epoch); after the
later ones with its trained logits times 1000, so that every mistake costs hundreds in val_loss
while val_accuracy rises with training. Early stopping then keeps epoch 1, where val_accuracy is not
the trial's highest (unless a later epoch scores every validation example right)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class LatePeak(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out))
        self.epochs_trained = 0  # training epochs begun (the trainer sets train mode once an epoch): not in the state dict

    def train(self, mode: bool = True) -> LatePeak:
        super().train(mode)
        if mode:
            self.epochs_trained += 1
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            return out
        return out * (0.01 if self.epochs_trained <= 1 else 1000.0)


def build(*, input_shape: tuple[int, ...], n_outputs: int, params: dict[str, Any]) -> nn.Module:
    n_in = 1
    for d in input_shape:
        n_in *= d
    return LatePeak(n_in, n_outputs)
