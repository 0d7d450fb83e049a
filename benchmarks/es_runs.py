"""Plain PyTorch training with Keras-style early stopping on ``val_loss``, and a log-log slope: what
the best-epoch benchmarks (``lr_best_epoch.py``, ``size_best_epoch.py``) share. Nothing of
hpbench's trainer: these measure where early stopping ends, not hpbench."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any


def fit(net: Any, opt: Any, loss_of: Callable[[Any, Any], Any], xt: Any, yt: Any, tr: Any, va: Any, *, batch: int, seed: int,
        max_epochs: int, patience: int) -> tuple[int, int]:
    """Train ``net`` on the rows ``tr`` in shuffled batches, validating on ``va`` after each epoch,
    until ``patience`` epochs pass without a lower validation loss (Keras: an improvement resets the
    wait) or ``max_epochs``: (the best epoch, 0-based; the epochs run)."""
    import torch

    best, best_epoch, wait, epochs = math.inf, 0, 0, 0
    g = torch.Generator().manual_seed(seed)
    tr_t, va_t = torch.as_tensor(tr), torch.as_tensor(va)
    for epoch in range(max_epochs):
        net.train()
        order = tr_t[torch.randperm(len(tr_t), generator=g)]
        for i in range(0, len(order), batch):
            b = order[i:i + batch]
            opt.zero_grad()
            loss_of(net(xt[b]), yt[b]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            v = float(loss_of(net(xt[va_t]), yt[va_t]))
        epochs = epoch + 1
        if v < best:
            best, best_epoch, wait = v, epoch, 0
        else:
            wait += 1
            if wait >= patience:
                break
    return best_epoch, epochs


def split_standardized(x: Any, y: Any, *, seed: int, classify: bool = True, eps: float = 1e-8) -> tuple[Any, Any, Any, Any]:
    """A fifth of the rows held out for validation (a seeded permutation), the features standardized
    by the training rows (``eps`` added to their deviations: a feature constant in the training rows
    reads its validation values over it): (x, y as tensors, the training rows, the validation rows)."""
    import numpy as np
    import torch

    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = len(x) // 5
    tr, va = idx[n_val:], idx[:n_val]
    mu, sd = x[tr].mean(0), x[tr].std(0) + eps
    return (torch.tensor((x - mu) / sd, dtype=torch.float32), torch.tensor(y, dtype=torch.long if classify else torch.float32), tr, va)


def log_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) on log(x) over ``points`` of (x, y); None for fewer than 3 distinct x."""
    if len({p[0] for p in points}) < 3:
        return None
    xs = [math.log(p[0]) for p in points]
    ys = [math.log(p[1]) for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((a - mx) ** 2 for a in xs)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True)) / sxx if sxx > 0 else None
