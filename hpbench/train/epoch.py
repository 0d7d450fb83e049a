"""One training epoch: the loop every trial runs and the cost model's calibration times.

Batches come shuffled from tensors on the device (:func:`train_epoch`) or from a DataLoader
over streamed data (:func:`train_batches`, the loop both run). Shuffle (when the batch is
smaller than the training set), then per batch: gather, augment
(training batches only), ``zero_grad``, forward pass and loss under the trial's precision
(:mod:`hpbench.train.precision`), backward pass, gradient clipping when asked, optimizer update
(through the loss scaler for fp16), a per-step learning-rate schedule's step when there is one,
and a running sum of the loss kept on the device (one in-place op, no host sync).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import torch

from hpbench.train.build import shuffled
from hpbench.train.precision import MixedPrecision

if TYPE_CHECKING:
    from hpbench.train.distill import Distillation

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (model output, targets) -> loss
Augmentation = Callable[[torch.Tensor], torch.Tensor]  # a training batch -> the augmented batch


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                loss_fn: LossFn, generator: torch.Generator, precision: MixedPrecision, augment: Augmentation | None = None,
                distill: Distillation | None = None, clip: Callable[[], None] | None = None,
                after_step: Callable[[], None] | None = None) -> float:
    """Train ``model`` for one epoch over ``(x, y)`` (on the model's device) in batches of
    ``batch_size`` (<= ``len(x)``; the whole set is one batch, unshuffled, when equal), the order
    drawn from ``generator``: :func:`train_batches` over :func:`hpbench.train.build.shuffled`."""
    return train_batches(model, optimizer, batches=shuffled(x, y, batch_size=batch_size, generator=generator), loss_fn=loss_fn,
                         precision=precision, augment=augment, distill=distill, clip=clip, after_step=after_step)


def train_batches(model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  loss_fn: LossFn, precision: MixedPrecision, augment: Augmentation | None = None, distill: Distillation | None = None,
                  clip: Callable[[], None] | None = None, after_step: Callable[[], None] | None = None) -> float:
    """The epoch loop: one optimizer step per batch of ``batches`` (on the model's device; from
    tensors in memory or a DataLoader). With ``distill`` the loss is the distillation loss
    against its teacher instead of ``loss_fn``. ``clip`` clips the gradients before each update
    (:mod:`hpbench.train.clipping`); ``after_step`` runs after each update (a per-step
    learning-rate schedule). Returns the mean training loss over the epoch's samples."""
    model.train()
    total: torch.Tensor | None = None
    n = 0
    for xb, yb in batches:
        if augment is not None:
            xb = augment(xb)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            loss = loss_fn(model(xb), yb) if distill is None else distill.loss(model, xb, yb)
        precision.step(loss, optimizer, clip=clip)
        if after_step is not None:
            after_step()
        if total is None:
            total = torch.zeros((), device=loss.device)
        total.add_(loss.detach(), alpha=len(xb))  # one in-place op, no host sync
        n += len(xb)
    if total is None or n == 0:
        raise ValueError("an epoch with no training batches (is the training split empty?)")
    return float(total.item()) / n
