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

from hpbench.cost import microbench
from hpbench.cost.count import count_module_step, n_steps
from hpbench.cost.device import DeviceModel
from hpbench.cost.fit import (  # noqa: F401 (the fit's names, read from the suite by its callers)
    ANCHOR,
    ANCHORED_FIT,
    ANCHORED_MEMORY,
    ANCHORED_OPS,
    BOUNDED_FIT,
    FIXED,
    SuiteFit,
    bounds,
    fit_coef,
    fit_rows,
    priors,
)
from hpbench.cost.microbench import timer
from hpbench.cost.predict import epoch_features
from hpbench.cost.regime import Regime, shares
from hpbench.cost.trial_time import state_working_set_bytes
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


def probe_epoch(p: Probe, *, device: str) -> Any:
    """A zero-argument function timing one more epoch of probe ``p`` (the trainer's loop, then the
    evaluation pass; random data on the device), its model and optimizer kept between calls."""
    torch.manual_seed(0)
    model, shape = build_probe(p)
    model = model.to(device)
    x, y = torch.randn((p.n_train, *shape), device=device), torch.randint(0, 10, (p.n_train,), device=device)
    xv, yv = torch.randn((p.n_val, *shape), device=device), torch.randint(0, 10, (p.n_val,), device=device)
    now = timer(device)
    opt = build_optimizer(p.optimizer, model.parameters(), lr=1e-3, params={})
    loss_fn, gen, mixed = torch.nn.CrossEntropyLoss(), torch.Generator().manual_seed(0), MixedPrecision.of("fp32", torch.device(device))

    def epoch() -> float:
        t0 = now()
        train_epoch(model, opt, x=x, y=y, batch_size=p.batch_size, loss_fn=loss_fn, generator=gen, precision=mixed)
        evaluate(model, xv, yv, "multiclass", loss_fn)
        return now() - t0

    return epoch


ROUNDS = 3  # timed epochs per probe, one per round over every probe (hpbench.cost.microbench.interleaved)


def measure_rows(base: DeviceModel, *, device: str, probes: tuple[Probe, ...], rounds: int = ROUNDS,
                 ) -> list[tuple[dict[str, float], float, float]]:
    """(features, fastest epoch s, first epoch s) of each probe: every probe's first epoch, then
    ``rounds`` rounds that each time one epoch of every probe (interleaved: a burst of other work
    slows one epoch of several probes, which the fastest of a probe's rounds leaves out, instead
    of every timed epoch of one probe, which three back-to-back epochs all met). A probe's first
    epoch happens once and the firsts run back to back, so a burst can cover a run of them: the fit
    reads a low quantile of first / fastest over the probes (:func:`hpbench.cost.warmup.warmup_fraction`)."""
    epochs = {str(i): probe_epoch(p, device=device) for i, p in enumerate(probes)}
    first = {k: e() for k, e in epochs.items()}
    timed = microbench.interleaved(epochs, rounds=rounds)
    return [(probe_features(p, base), min(timed[str(i)]), first[str(i)]) for i, p in enumerate(probes)]


def most_bound(base: DeviceModel, coef: dict[str, float], *, probes: tuple[Probe, ...] = PROBES) -> dict[str, Probe]:
    """Per regime, the probe whose predicted epoch holds the largest share of that regime's terms
    (what :mod:`hpbench.cost.concurrency` runs two at a time)."""
    feats = [(p, shares(probe_features(p, base), coef)) for p in probes]
    return {str(r): max(feats, key=lambda f: f[1][r])[0] for r in Regime}


def fit(base: DeviceModel, *, device: str, quick: bool = False, probes: tuple[Probe, ...] | None = None) -> SuiteFit:
    chosen = probes or (QUICK if quick else PROBES)
    return fit_rows(measure_rows(base, device=device, probes=chosen), kinds=[p.kind for p in chosen],
                    prior=priors(base) if ANCHORED_FIT else None, limits=bounds(base) if BOUNDED_FIT else None)
