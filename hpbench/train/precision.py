"""Mixed precision of a training step: which dtype the forward pass and the loss run in, and
whether the loss is scaled.

``bf16``/``fp16`` run the forward pass and the loss under ``torch.autocast`` (weights and
optimizer stay fp32); ``fp16`` also scales the loss (``torch.amp.GradScaler``) so small
gradients do not underflow. Evaluation stays fp32. Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class Precision(enum.StrEnum):
    """``[train] precision``."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


@dataclass(frozen=True, kw_only=True)
class MixedPrecision:
    """A trial's precision on its device; built once per trial (the scaler keeps its scale across epochs)."""

    precision: Precision
    device_type: str
    scaler: Any = None  # torch.amp.GradScaler for fp16, else None

    @classmethod
    def of(cls, precision: str, device: torch.device) -> MixedPrecision:
        import torch

        if precision not in tuple(Precision):
            raise ValueError(f"train.precision must be one of {', '.join(Precision)}, but got {precision!r}")
        p = Precision(precision)
        scaler = torch.amp.GradScaler(device.type) if p is Precision.FP16 else None
        return cls(precision=p, device_type=device.type, scaler=scaler)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context the forward pass and the loss run in."""
        if self.precision is Precision.FP32:
            return contextlib.nullcontext()
        import torch

        dtype = torch.bfloat16 if self.precision is Precision.BF16 else torch.float16
        return torch.autocast(device_type=self.device_type, dtype=dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, *, clip: Callable[[], None] | None = None) -> None:
        """Backward pass and optimizer update (through the scaler for fp16); ``clip`` clips the
        gradients in between (unscaled first under fp16, so that it sees their true size)."""
        if self.scaler is None:
            loss.backward()
            if clip is not None:
                clip()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        if clip is not None:
            self.scaler.unscale_(optimizer)
            clip()
        self.scaler.step(optimizer)
        self.scaler.update()

