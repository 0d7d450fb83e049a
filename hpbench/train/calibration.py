"""Calibration of a classifier's probabilities: expected calibration error, reliability
bins and temperature scaling.

ECE (Naeini et al. 2015; Guo et al. 2017, eq. 3): split the predictions into ``n_bins``
equal-width bins of confidence (the top-class probability) and average, weighted by the
bin's share of samples, the gap ``|accuracy(bin) - mean confidence(bin)|``.

Temperature scaling (Guo et al. 2017, §4.2): divide the logits by one scalar ``T > 0`` fitted
by minimising the NLL on the validation split (LBFGS over ``log T``); the predicted class,
and so the accuracy, is unchanged.

A binary model's single logit ``z`` is read as the two-class logits ``[0, z]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

N_BINS = 15  # Guo et al. 2017 use 15 bins
METHODS = ("none", "temperature")


def as_multiclass(logits: torch.Tensor) -> torch.Tensor:
    """(N, C) logits as they are; a binary model's (N,) or (N, 1) logit ``z`` as ``[0, z]``."""
    if logits.ndim == 2 and logits.shape[1] > 1:
        return logits
    z = logits.reshape(-1, 1)
    return torch.cat([torch.zeros_like(z), z], dim=1)


@dataclass(frozen=True)
class Reliability:
    """Per-bin mean confidence, accuracy and sample count (empty bins: count 0)."""

    confidence: list[float]
    accuracy: list[float]
    count: list[int]

    @property
    def ece(self) -> float:
        n = sum(self.count)
        return sum(c * abs(a - f) for f, a, c in zip(self.confidence, self.accuracy, self.count, strict=True)) / n if n else float("nan")


def _binned(z: torch.Tensor, labels: torch.Tensor, n_bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each member's bins of ``z`` ``[M, N, C]`` (float64 logits) for ``labels`` ``[M, N]``: the count,
    mean confidence and accuracy per bin (``[M, n_bins]`` each), every member's bins counted in one
    ``bincount`` over member-offset bin indices."""
    m = len(z)
    conf, pred = F.softmax(z, dim=-1).max(dim=-1)
    correct = (pred == labels).double()
    # bin i holds confidences in (i/n, (i+1)/n]; confidence is >= 1/C > 0, so none is lost
    idx = (torch.clamp(torch.ceil(conf * n_bins).long() - 1, 0, n_bins - 1) + torch.arange(m, device=z.device)[:, None] * n_bins).flatten()
    count = torch.bincount(idx, minlength=m * n_bins).view(m, n_bins)
    conf_sum = z.new_zeros(m * n_bins).index_add_(0, idx, conf.flatten()).view(m, n_bins)
    acc_sum = z.new_zeros(m * n_bins).index_add_(0, idx, correct.flatten()).view(m, n_bins)
    safe = count.clamp(min=1).double()
    return count, conf_sum / safe, acc_sum / safe


@torch.no_grad()
def reliability(logits: torch.Tensor, y: torch.Tensor, *, n_bins: int = N_BINS) -> Reliability:
    count, conf, acc = _binned(as_multiclass(logits).double()[None], y.reshape(1, -1).long(), n_bins)
    return Reliability(confidence=conf[0].tolist(), accuracy=acc[0].tolist(), count=count[0].tolist())


@torch.no_grad()
def member_ece(logits: torch.Tensor, y: torch.Tensor, *, n_bins: int = N_BINS) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`ece` and :func:`nll` of each member of a fused group at once (float64, ``[M]`` each):
    ``logits`` ``[M, N, C]`` (a binary model's ``[M, N]`` or ``[M, N, 1]``), labels ``y`` ``[M, N]``."""
    m, n = logits.shape[:2]
    z = as_multiclass(logits.reshape(m * n, -1)).view(m, n, -1).double()
    labels = y.reshape(m, -1).long()
    nll_ = F.cross_entropy(z.flatten(0, 1), labels.flatten(), reduction="none").view(m, -1).mean(1)
    count, conf, acc = _binned(z, labels, n_bins)
    return (count * (acc - conf).abs()).sum(1) / count.sum(1), nll_


def ece(logits: torch.Tensor, y: torch.Tensor, *, n_bins: int = N_BINS) -> float:
    """Expected calibration error of ``logits`` for labels ``y`` (0 = perfectly calibrated)."""
    return reliability(logits, y, n_bins=n_bins).ece


@torch.no_grad()
def nll(logits: torch.Tensor, y: torch.Tensor, *, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under ``softmax(logits / T)``."""
    return float(F.cross_entropy(as_multiclass(logits).double() / temperature, y.reshape(-1).long()).item())


def fit_temperature(logits: torch.Tensor, y: torch.Tensor, *, max_iter: int = 100) -> float:
    """The temperature ``T`` minimising the NLL of ``softmax(logits / T)`` (LBFGS on log T)."""
    z = as_multiclass(logits).detach().double()
    target = y.reshape(-1).long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), target)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.exp().item())
    return t if t == t and 0 < t < float("inf") else 1.0


def calibrate(logits: torch.Tensor, y: torch.Tensor, *, n_bins: int = N_BINS) -> dict[str, float | str]:
    """Fit temperature scaling on (validation) ``logits``; the final-row fields a trial records."""
    import json

    t = fit_temperature(logits, y)
    before = reliability(logits, y, n_bins=n_bins)
    after = reliability(logits / t, y, n_bins=n_bins)
    return {
        "temperature": t,
        "ece_before": before.ece, "ece_after": after.ece,
        "nll_before": nll(logits, y), "nll_after": nll(logits, y, temperature=t),
        "reliability": json.dumps({"before": before.__dict__, "after": after.__dict__}),
    }
