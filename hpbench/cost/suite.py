"""The calibration suite: timed training epochs of small synthetic networks (built from
``torch.nn`` here, on random data), from which the epoch-time model's coefficients are fitted.

The timed epoch is the trainer's own (:func:`hpbench.train.epoch.train_epoch`: shuffle, per batch
gather / zero_grad / forward / loss / backward / optimizer step / running loss sum, under the
trial's precision), then the evaluation pass (:func:`hpbench.train.evaluate.evaluate`). The probes cover every kind of layer
the model families use (linear, conv + batch norm + pooling, RNN, GRU, LSTM, attention) at
widths, depths, batch sizes and input shapes of their own; none is a configuration of
``benchmarks/cost_model.py`` (which checks the fitted model on hpbench's families and datasets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hpbench.cost.count import count_module_step, n_steps
from hpbench.cost.device import DeviceModel
from hpbench.cost.microbench import timer
from hpbench.cost.predict import FEATURES, epoch_features
from hpbench.cost.regime import Regime, regime_of, shares
from hpbench.cost.trial_time import residual_intervals, state_working_set_bytes
from hpbench.train.epoch import train_epoch
from hpbench.train.evaluate import evaluate
from hpbench.train.optimizers import build_optimizer
from hpbench.train.precision import MixedPrecision


@dataclass(frozen=True, kw_only=True)
class Probe:
    kind: str  # "mlp", "cnn", "rnn", "gru", "lstm" or "attention"
    n_in: int  # features (mlp, recurrent, attention: per timestep) or image side (cnn)
    depth: int  # hidden layers, conv blocks, stacked recurrent / encoder layers
    width: int  # units, channels, hidden size or d_model
    batch_size: int
    n_train: int
    seq_len: int = 1  # timesteps (recurrent, attention)
    optimizer: str = "adam"
    n_val: int = 200


PROBES = (
    Probe(kind="mlp", n_in=48, depth=1, width=24, batch_size=8, n_train=400),
    Probe(kind="mlp", n_in=100, depth=3, width=48, batch_size=24, n_train=800, optimizer="sgd"),
    Probe(kind="mlp", n_in=48, depth=6, width=96, batch_size=48, n_train=1200),
    Probe(kind="mlp", n_in=100, depth=2, width=384, batch_size=96, n_train=1200, optimizer="momentum"),
    Probe(kind="mlp", n_in=200, depth=2, width=768, batch_size=192, n_train=1500),
    Probe(kind="mlp", n_in=100, depth=1, width=1536, batch_size=384, n_train=1500),
    Probe(kind="mlp", n_in=100, depth=2, width=160, batch_size=1000, n_train=1000),
    Probe(kind="mlp", n_in=30, depth=5, width=12, batch_size=600, n_train=600, optimizer="rmsprop"),
    # small batches on wide layers: the optimizer's element-wise work dominates the step
    Probe(kind="mlp", n_in=80, depth=3, width=320, batch_size=12, n_train=480),
    Probe(kind="mlp", n_in=40, depth=2, width=640, batch_size=24, n_train=480, optimizer="rmsprop"),
    Probe(kind="cnn", n_in=10, depth=1, width=6, batch_size=24, n_train=600),
    Probe(kind="cnn", n_in=12, depth=2, width=12, batch_size=48, n_train=1000),
    Probe(kind="cnn", n_in=12, depth=2, width=24, batch_size=96, n_train=1000, optimizer="sgd"),
    Probe(kind="cnn", n_in=10, depth=1, width=48, batch_size=1000, n_train=1000),
    Probe(kind="rnn", n_in=3, depth=1, width=24, batch_size=24, n_train=600, seq_len=12),
    Probe(kind="rnn", n_in=6, depth=2, width=96, batch_size=96, n_train=800, seq_len=16),
    Probe(kind="gru", n_in=3, depth=1, width=24, batch_size=48, n_train=600, seq_len=12),
    Probe(kind="gru", n_in=6, depth=1, width=96, batch_size=96, n_train=800, seq_len=16),
    Probe(kind="lstm", n_in=3, depth=1, width=24, batch_size=24, n_train=600, seq_len=12),
    Probe(kind="lstm", n_in=6, depth=2, width=96, batch_size=96, n_train=800, seq_len=16),
    Probe(kind="attention", n_in=6, depth=1, width=24, batch_size=24, n_train=600, seq_len=12),
    Probe(kind="attention", n_in=6, depth=2, width=96, batch_size=96, n_train=800, seq_len=16),
)
QUICK = PROBES[::2]


class _Last(nn.Module):
    """The last timestep of a recurrent layer's output (a sequence classifier's head input)."""

    def forward(self, x: Any) -> Any:
        out = x[0] if isinstance(x, tuple) else x
        return out[:, -1]


class _MeanT(nn.Module):
    def forward(self, x: Any) -> Any:
        return x.mean(dim=1)


def build_probe(p: Probe) -> tuple[Any, tuple[int, ...]]:
    """(model, input shape of one sample)."""
    if p.kind == "mlp":
        layers: list[nn.Module] = []
        w = p.n_in
        for _ in range(p.depth):
            layers += [nn.Linear(w, p.width), nn.ReLU()]
            w = p.width
        layers.append(nn.Linear(w, 10))
        return nn.Sequential(*layers), (p.n_in,)
    if p.kind == "cnn":
        layers = []
        c, side = 1, p.n_in
        for _ in range(p.depth):
            layers += [nn.Conv2d(c, p.width, 3, padding=1, bias=False), nn.BatchNorm2d(p.width), nn.ReLU(), nn.MaxPool2d(2)]
            c, side = p.width, side // 2
        layers += [nn.Flatten(), nn.Linear(c * side * side, 10)]
        return nn.Sequential(*layers), (1, p.n_in, p.n_in)
    if p.kind in ("rnn", "gru", "lstm"):
        cell = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[p.kind]
        return nn.Sequential(cell(p.n_in, p.width, num_layers=p.depth, batch_first=True), _Last(), nn.Linear(p.width, 10)), (p.seq_len, p.n_in)
    if p.kind == "attention":
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(p.width, 4, 2 * p.width, dropout=0.0, batch_first=True), p.depth,
                                    enable_nested_tensor=False)
        return nn.Sequential(nn.Linear(p.n_in, p.width), enc, _MeanT(), nn.Linear(p.width, 10)), (p.seq_len, p.n_in)
    raise ValueError(f"probe kind must be one of mlp, cnn, rnn, gru, lstm, attention, but got {p.kind!r}")


def time_epochs(model: Any, *, x: Any, y: Any, x_val: Any, y_val: Any, batch_size: int, optimizer: str, device: str,
                n_epochs: int = 3, precision: str = "fp32") -> float:
    """Seconds of an epoch of the trainer's loop (:func:`hpbench.train.epoch.train_epoch`, then
    :func:`hpbench.train.evaluate.evaluate`): the fastest of ``n_epochs`` after one warm-up epoch
    (on a shared machine, other processes only ever add time)."""
    return time_epochs_first(model, x=x, y=y, x_val=x_val, y_val=y_val, batch_size=batch_size, optimizer=optimizer, device=device,
                             n_epochs=n_epochs, precision=precision)[0]


def time_epochs_first(model: Any, *, x: Any, y: Any, x_val: Any, y_val: Any, batch_size: int, optimizer: str, device: str,
                      n_epochs: int = 3, precision: str = "fp32") -> tuple[float, float]:
    """(fastest epoch after the first, first epoch): the first one carries the warm-up (optimizer
    state created, allocator grown, caches cold)."""
    now = timer(device)
    opt = build_optimizer(optimizer, model.parameters(), lr=1e-3, params={})
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    mixed = MixedPrecision.of(precision, torch.device(device))

    def epoch() -> None:
        train_epoch(model, opt, x=x, y=y, batch_size=batch_size, loss_fn=loss_fn, generator=gen, precision=mixed)
        evaluate(model, x_val, y_val, "multiclass", loss_fn)

    t0 = now()
    epoch()
    first = now() - t0
    samples = []
    for _ in range(n_epochs):
        t0 = now()
        epoch()
        samples.append(now() - t0)
    return min(samples), first


def probe_features(p: Probe, base: DeviceModel) -> dict[str, float]:
    """The epoch-time model's features of one probe epoch on the device ``base``."""
    model, shape = build_probe(p)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps, bs, last_bs = n_steps(n_train=p.n_train, batch_size=p.batch_size)

    def count(b: int, eval_size: int | None) -> Any:
        return count_module_step(model, x=torch.zeros((b, *shape)), y=torch.zeros(b, dtype=torch.int64), loss_fn=loss_fn,
                                 optimizer=p.optimizer, n_source=p.n_train,
                                 eval_x=torch.zeros((eval_size, *shape)) if eval_size else None)

    full = count(bs, min(p.n_val, 8192))
    last = count(last_bs, None) if last_bs != bs else None
    return epoch_features(full=full, last=last, n_steps=steps, device=base, eval_cost=full, n_eval_chunks=math.ceil(p.n_val / 8192),
                          state_bytes=state_working_set_bytes(n_params=full.n_params, optimizer=p.optimizer))


def measure_probe(p: Probe, *, device: str) -> float:
    """Measured seconds of one probe epoch on ``device`` (random data, on the device)."""
    return measure_probe_first(p, device=device)[0]


def measure_probe_first(p: Probe, *, device: str) -> tuple[float, float]:
    """(fastest, first) epoch seconds of one probe on ``device``."""
    torch.manual_seed(0)
    model, shape = build_probe(p)
    model = model.to(device)
    x = torch.randn((p.n_train, *shape), device=device)
    y = torch.randint(0, 10, (p.n_train,), device=device)
    xv = torch.randn((p.n_val, *shape), device=device)
    yv = torch.randint(0, 10, (p.n_val,), device=device)
    return time_epochs_first(model, x=x, y=y, x_val=xv, y_val=yv, batch_size=p.batch_size, optimizer=p.optimizer, device=device)


# Kernel terms whose rates the device's micro-benchmarks measure directly (matmul and fused
# attention in "matmul", convolution in "conv"): pure roofline, coefficient 1, not fitted.
FIXED = {"matmul": 1.0, "conv": 1.0}
# The fit's anchors. Op counts, module counts and step counts rise together across the probes, as
# do the memory terms, so a free least-squares fit is degenerate: it set op_backward, step and
# module to 0 and memory to 4-7x (session 5/6 calibrations) and let the other terms absorb what
# one term got wrong. Every term a micro-benchmark measures is anchored to that measurement by a
# ridge toward its prior, in relative units: the fit minimises
#     Σ_probes (f·c / t - 1)²  +  ANCHOR · Σ_anchored ((c_k - prior_k) / prior_k)²,   c >= 0,
# still one non-negative least squares (the anchors are extra rows). The memory terms' prior is 1
# (bandwidth measured at each op's data volume); the per-op terms' prior is the measured dispatch
# floor of one eager op (microbench.measure_overhead). The terms no micro-benchmark measures
# (epoch, step, module, view) stay free. ANCHOR = 0.003: a term at 2x its prior costs as much as
# 5.5% error on one probe (chosen on the replay of two recorded runs; 0.01 and 0.05 raised their
# median error from 22 to 30 and 34%).
# NOT the calibration's fit yet (ANCHORED_FIT): on three held-out recorded runs the anchored fit
# replayed no better than the free one (c=1 median 49.4 vs 48.9%, P90 100.9 vs 96.6%:
# results/benchmarks/calib_rows.md). The free fit on the suite's rows puts memory at 10x,
# strided memory at 30x and forward ops at 4x their micro-benchmarks: those micro-benchmarks (a
# contiguous copy's bandwidth, a no-grad 1-element add) do not measure what the epochs pay per
# element-wise byte and per recorded op, so anchoring to them trades the suite's fit for
# plausibility. Switch it on once the anchors are micro-benchmarks of the same work.
ANCHOR = 0.003
ANCHORED_FIT = False
ANCHORED_MEMORY = ("memory", "memory_strided", "memory_optimizer")
ANCHORED_OPS = ("op", "op_backward", "op_nograd")


def priors(base: DeviceModel) -> dict[str, float]:
    """Each anchored term's micro-benchmark value on ``base`` (see ANCHOR)."""
    return {**dict.fromkeys(ANCHORED_MEMORY, 1.0), **dict.fromkeys(ANCHORED_OPS, base.op_overhead_s)}


def fit_coef(rows: list[tuple[dict[str, float], float]], *, fixed: dict[str, float] | None = None,
             prior: dict[str, float] | None = None, anchor: float = ANCHOR) -> tuple[dict[str, float], float]:
    """Non-negative least squares on relative error: min Σ (f·c / t - 1)², c >= 0, with the
    ``fixed`` coefficients held (their terms taken off t first) and each ``prior`` term pulled
    toward its value by ``anchor`` (see ANCHOR; no prior: the free fit). Returns the
    coefficients and the median relative error of the fit."""
    import numpy as np
    from scipy.optimize import nnls

    fixed = FIXED if fixed is None else fixed
    prior = {k: v for k, v in (prior or {}).items() if k not in fixed and v > 0}
    free = [k for k in FEATURES if k not in fixed]
    a = np.array([[f.get(k, 0.0) / t for k in free] for f, t in rows])
    rhs = np.array([1.0 - sum(v * f.get(k, 0.0) for k, v in fixed.items()) / t for f, t in rows])
    # anchor rows: sqrt(anchor) · c_k / prior_k = sqrt(anchor)
    w = np.sqrt(anchor)
    extra = [[w / prior[k] if j == k else 0.0 for j in free] for k in free if k in prior]
    if extra:
        a = np.vstack([a, np.array(extra)])
        rhs = np.concatenate([rhs, np.full(len(extra), w)])
    scale = a.max(axis=0)
    scale[scale == 0] = 1.0
    c, _ = nnls(a / scale, rhs)
    c = c / scale
    coef = {**{k: float(v) for k, v in zip(free, c, strict=True)}, **fixed}
    coef = {k: coef[k] for k in FEATURES}
    errs = sorted(abs(sum(coef[k] * f.get(k, 0.0) for k in FEATURES) / t - 1.0) for f, t in rows)
    return coef, errs[len(errs) // 2]


@dataclass(frozen=True, kw_only=True)
class SuiteFit:
    coef: dict[str, float]
    fit_error: float  # median relative error over the probes
    warmup_fraction: float  # median (first - fastest) / fastest over the probes
    intervals: dict[str, tuple[float, float]]  # per regime: P10, P90 of measured / predicted (hpbench.cost.trial_time)


def fit_rows(rows: list[tuple[dict[str, float], float, float]], *, kinds: list[str] | None = None,
             prior: dict[str, float] | None = None) -> SuiteFit:
    """The fit of (features, fastest s, first s) rows: coefficients, then the residual ratios
    (measured / predicted) by regime and the first epoch's warm-up. Residuals are held out: each
    probe is predicted by a fit without it, or, with ``kinds`` (each row's kind of network), by a
    fit without every probe of its kind (leave one kind out), so the intervals speak of networks
    whose kind the fit has not seen, as a user's model is (a fit that saw a probe's near twins
    read P10-P90 0.72-1.40 on the overhead-bound probes, while the trials of hpbench's families
    in benchmarks/cost_model.py fell inside only 54-71% of the time)."""
    coef, err = fit_coef([(f, t) for f, t, _ in rows], prior=prior)
    groups = kinds if kinds is not None and len(set(kinds)) > 1 else [str(i) for i in range(len(rows))]
    if len(groups) != len(rows):
        raise ValueError(f"kinds must name every row's kind ({len(rows)}), but got {len(groups)}")
    held: dict[str, dict[str, float]] = {}
    for g in dict.fromkeys(groups):
        rest = [(f, t) for (f, t, _), h in zip(rows, groups, strict=True) if h != g]
        held[g] = fit_coef(rest, prior=prior)[0] if len(rest) >= 2 else coef
    residuals = []
    for (f, t, _), g in zip(rows, groups, strict=True):
        pred = sum(held[g][k] * f.get(k, 0.0) for k in FEATURES)
        if pred > 0:
            residuals.append((regime_of(f, coef), t / pred))
    warm = sorted(max(0.0, first / t - 1.0) for _, t, first in rows if t > 0)
    return SuiteFit(coef=coef, fit_error=err, warmup_fraction=warm[len(warm) // 2] if warm else 0.0,
                    intervals=residual_intervals(residuals))


def measure_rows(base: DeviceModel, *, device: str, probes: tuple[Probe, ...]) -> list[tuple[dict[str, float], float, float]]:
    """(features, fastest epoch s, first epoch s) of each probe."""
    return [(probe_features(p, base), *measure_probe_first(p, device=device)) for p in probes]


def most_bound(base: DeviceModel, coef: dict[str, float], *, probes: tuple[Probe, ...] = PROBES) -> dict[str, Probe]:
    """Per regime, the probe whose predicted epoch holds the largest share of that regime's terms
    (what :mod:`hpbench.cost.concurrency` runs two at a time)."""
    feats = [(p, shares(probe_features(p, base), coef)) for p in probes]
    return {str(r): max(feats, key=lambda f: f[1][r])[0] for r in Regime}


def fit(base: DeviceModel, *, device: str, quick: bool = False, probes: tuple[Probe, ...] | None = None) -> SuiteFit:
    chosen = probes or (QUICK if quick else PROBES)
    return fit_rows(measure_rows(base, device=device, probes=chosen), kinds=[p.kind for p in chosen],
                    prior=priors(base) if ANCHORED_FIT else None)
