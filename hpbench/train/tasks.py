"""Loss and metrics per task: cross-entropy (multiclass), binary cross-entropy with logits
(binary), MSE (regression). Metrics are named as reported: ``loss``, ``accuracy``, ``ece``
(expected calibration error, 15 bins) and ``nll`` (negative log-likelihood) for
classification, ``rmse`` and ``r2`` for regression (``val_`` prefixed by the trainer)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

METRICS = {
    "multiclass": ("loss", "accuracy", "ece", "nll"),
    "binary": ("loss", "accuracy", "ece", "nll"),
    "regression": ("loss", "rmse", "r2"),
}


def loss_fn(task: str, *, label_smoothing: float = 0.0) -> nn.Module:
    """The task's loss. ``label_smoothing`` (classification; the training loss only: validation
    and test losses are the plain ones, comparable across trials) mixes the one-hot target with
    the uniform one as Keras does: multiclass ``y · (1 - ε) + ε / K`` (``CrossEntropyLoss``'s own
    ``label_smoothing``), binary ``y · (1 - ε) + ε / 2``."""
    if label_smoothing and task == "regression":
        raise ValueError(f"train.label_smoothing applies to classification tasks only, but the task is regression (got {label_smoothing})")
    if task == "multiclass":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if task == "binary":
        return _BinaryLoss(label_smoothing)
    return _RegressionLoss()


class _BinaryLoss(nn.Module):
    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.inner = nn.BCEWithLogitsLoss()
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = y.to(logits.dtype)
        if self.label_smoothing:
            target = target * (1.0 - self.label_smoothing) + 0.5 * self.label_smoothing
        return self.inner(logits.reshape(-1), target)


class _RegressionLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.MSELoss()

    def forward(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.inner(pred.reshape(-1), y.to(pred.dtype))


@torch.no_grad()
def metrics(task: str, out: torch.Tensor, y: torch.Tensor, loss: float) -> dict[str, float]:
    """The task's metrics of outputs ``out`` on targets ``y`` with loss ``loss``. A classifier whose
    loss is not finite has none (NaN): NaN logits would score class 0 (``argmax`` over NaN is 0, a
    NaN binary logit is not > 0), the share of class 0 in ``y``."""
    if task in ("multiclass", "binary") and not math.isfinite(loss):
        return {k: (loss if k == "loss" else math.nan) for k in METRICS[task]}
    if task == "multiclass":
        return {"loss": loss, "accuracy": (out.argmax(dim=1) == y).float().mean().item(), **_calibration(out, y)}
    if task == "binary":
        return {"loss": loss, "accuracy": ((out.reshape(-1) > 0).long() == y).float().mean().item(), **_calibration(out, y)}
    pred = out.reshape(-1)
    yf = y.to(pred.dtype)
    mse = torch.mean((pred - yf) ** 2).item()
    var = torch.var(yf, unbiased=False).item()
    return {"loss": loss, "rmse": mse**0.5, "r2": 1.0 - mse / var if var > 0 else float("nan")}


@torch.no_grad()
def member_metrics(task: str, out: torch.Tensor, y: torch.Tensor) -> list[dict[str, float]]:
    """:func:`metrics` of every member of a fused group at once, with the task's plain loss
    (:func:`loss_fn` without smoothing): ``out`` ``[M, N, ...]``, ``y`` ``[M, N]``, one dict per
    member. A few batched ops and one copy to Python instead of a dozen per member (8 full-batch
    MLPs on digits spent 13% of their fused time in the per-member calls)."""
    m = len(out)
    if task == "regression":
        pred = out.reshape(m, -1)
        yf = y.reshape(m, -1).to(pred.dtype)
        mse = ((pred - yf) ** 2).mean(1)
        var = yf.var(1, unbiased=False)
        rows = torch.stack([mse, var], 1).tolist()
        return [{"loss": e, "rmse": e**0.5, "r2": 1.0 - e / v if v > 0 else float("nan")} for e, v in rows]
    from hpbench.train.calibration import member_ece

    labels = y.reshape(m, -1).long()
    if task == "multiclass":
        loss = F.cross_entropy(out.flatten(0, 1), labels.flatten(), reduction="none").view(m, -1).mean(1)
        correct = out.argmax(dim=-1) == labels
    else:
        z = out.reshape(m, -1)
        loss = F.binary_cross_entropy_with_logits(z, labels.to(z.dtype), reduction="none").mean(1)
        correct = (z > 0).long() == labels
    ece, nll = member_ece(out, labels)
    rows = torch.stack([loss.double(), correct.double().mean(1), ece, nll], 1).tolist()
    # a member whose loss is not finite has no metrics (NaN), as in :func:`metrics`
    return [dict(zip(METRICS[task], r if math.isfinite(r[0]) else [r[0], *[math.nan] * (len(r) - 1)], strict=True)) for r in rows]


def _calibration(out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    from hpbench.train.calibration import ece, nll

    return {"ece": ece(out, y), "nll": nll(out, y)}
