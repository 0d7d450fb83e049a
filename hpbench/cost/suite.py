"""The calibration suite: timed training steps of small synthetic networks, from which the
step-time model's coefficients are fitted. The timed loop body is the trainer's
(gather a batch, zero_grad, forward, loss, backward, optimizer step, running loss sum)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpbench.cost.predict import FEATURES, features


@dataclass(frozen=True, kw_only=True)
class Probe:
    kind: str  # "mlp" or "cnn"
    n_in: int  # features (mlp) or image side (cnn, 1 channel... c_in channels)
    depth: int
    width: int  # units (mlp) or channels (cnn)
    batch_size: int
    optimizer: str = "adam"


PROBES = (
    Probe(kind="mlp", n_in=64, depth=1, width=16, batch_size=8),
    Probe(kind="mlp", n_in=64, depth=1, width=32, batch_size=64, optimizer="sgd"),
    Probe(kind="mlp", n_in=64, depth=4, width=64, batch_size=32),
    Probe(kind="mlp", n_in=64, depth=8, width=32, batch_size=16),
    Probe(kind="mlp", n_in=128, depth=2, width=256, batch_size=256),
    Probe(kind="mlp", n_in=64, depth=2, width=512, batch_size=128, optimizer="sgd"),
    Probe(kind="mlp", n_in=256, depth=2, width=1024, batch_size=256),
    Probe(kind="mlp", n_in=512, depth=1, width=2048, batch_size=512, optimizer="sgd"),
    Probe(kind="cnn", n_in=8, depth=1, width=8, batch_size=32),
    Probe(kind="cnn", n_in=16, depth=2, width=16, batch_size=64, optimizer="sgd"),
    Probe(kind="cnn", n_in=16, depth=2, width=32, batch_size=128),
)
QUICK = (PROBES[0], PROBES[2], PROBES[4], PROBES[6], PROBES[8])


def build_probe(p: Probe) -> tuple[Any, tuple[int, ...]]:
    from torch import nn

    if p.kind == "mlp":
        layers: list[nn.Module] = []
        w = p.n_in
        for _ in range(p.depth):
            layers += [nn.Linear(w, p.width), nn.ReLU()]
            w = p.width
        layers.append(nn.Linear(w, 10))
        return nn.Sequential(*layers), (p.n_in,)
    layers = []
    c, side = 1, p.n_in
    for _ in range(p.depth):
        layers += [nn.Conv2d(c, p.width, 3, padding=1, bias=False), nn.BatchNorm2d(p.width), nn.ReLU(), nn.MaxPool2d(2)]
        c, side = p.width, side // 2
    layers += [nn.Flatten(), nn.Linear(c * side * side, 10)]
    return nn.Sequential(*layers), (1, p.n_in, p.n_in)


def time_steps(model: Any, *, x: Any, y: Any, batch_size: int, optimizer: str, device: str, min_s: float = 0.08, repeats: int = 3) -> float:
    """Median seconds per training step, with the trainer's loop body."""

    import torch

    from hpbench.cost.device import _timer
    from hpbench.train.optimizers import build_optimizer

    now = _timer(device)
    opt = build_optimizer(optimizer, model.parameters(), lr=1e-3, params={})
    loss_fn = torch.nn.CrossEntropyLoss()
    n = len(x)
    total = torch.zeros((), device=device)

    def step(i: int) -> None:
        nonlocal total
        idx = perm[(i * batch_size) % max(n - batch_size, 1):][:batch_size]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        total += loss.detach() * len(xb)

    perm = torch.randperm(n).to(device)
    for i in range(2):
        step(i)
    t0 = now()
    step(0)
    one = max(now() - t0, 1e-6)
    k = max(1, int(min_s / one))
    samples = []
    for _ in range(repeats):
        t0 = now()
        for i in range(k):
            step(i)
        samples.append((now() - t0) / k)
    samples.sort()
    return samples[len(samples) // 2]


def probe_features(p: Probe, base: Any) -> dict[str, float]:
    import torch

    from hpbench.cost.count import count_module_step

    model, shape = build_probe(p)
    cost = count_module_step(model, x=torch.zeros((p.batch_size, *shape)), y=torch.zeros(p.batch_size, dtype=torch.int64),
                             loss_fn=torch.nn.CrossEntropyLoss(), optimizer=p.optimizer, n_source=4 * p.batch_size)
    return features(cost.ops, device=base)


def measure_probe(p: Probe, *, device: str) -> float:
    import torch

    torch.manual_seed(0)
    model, shape = build_probe(p)
    model = model.to(device)
    n = 4 * p.batch_size
    x = torch.randn((n, *shape), device=device)
    y = torch.randint(0, 10, (n,), device=device)
    return time_steps(model, x=x, y=y, batch_size=p.batch_size, optimizer=p.optimizer, device=device)


def fit_coef(rows: list[tuple[dict[str, float], float]]) -> tuple[dict[str, float], float]:
    """Non-negative least squares on relative error: min Σ (f·c / t - 1)², c >= 0.
    Returns the coefficients and the median relative error of the fit."""
    import numpy as np
    from scipy.optimize import nnls

    a = np.array([[f[k] / t for k in FEATURES] for f, t in rows])
    scale = a.max(axis=0)
    scale[scale == 0] = 1.0
    c, _ = nnls(a / scale, np.ones(len(rows)))
    c = c / scale
    coef = {k: float(v) for k, v in zip(FEATURES, c, strict=True)}
    errs = sorted(abs(float(np.dot(a[i], c)) - 1.0) for i in range(len(rows)))
    return coef, errs[len(errs) // 2]


def fit(base: Any, *, device: str, quick: bool = False, probes: tuple[Probe, ...] | None = None) -> tuple[dict[str, float], float]:
    rows = [(probe_features(p, base), measure_probe(p, device=device)) for p in (probes or (QUICK if quick else PROBES))]
    return fit_coef(rows)
