"""What a user writes by hand for the race's three problems, shared by the peers' scripts: the
search space as an Optuna define-by-run function (the same dimensions, ranges and conditions
as studies/race/*.toml), the models, and a plain PyTorch training loop with early stopping
(Keras-style: patience on the validation loss, best weights restored). Plain PyTorch and
Optuna only: nothing from hpbench's trainer or models.

Every contestant logs JSON lines on stdout: ``{"event": "epoch", "t": <unix time>, "trial": k,
"epoch": e, "val": <validation accuracy>}`` for each epoch report, and ``{"event": "trial",
"t": ..., "trial": k, "best_val": ..., "test": ..., "params": {...}}`` when a trial ends (completed, pruned or
stopped early): ``test`` is the accuracy on the held-out test split of the weights the trial
keeps (those of its lowest validation loss), measured as the trial trains.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from benchmarks.race_peers.problems import LOADERS

_print_lock = threading.Lock()


def log(event: str, **fields: Any) -> None:
    """One JSON line on stdout, stamped with the wall clock (the race subtracts its process start)."""
    line = json.dumps({"event": event, "t": time.time(), **fields})
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@dataclass(frozen=True, kw_only=True)
class Fixed:
    """The study's fixed settings ([train] and the fixed model keys)."""

    max_epochs: int
    batch_size: int
    patience: int
    step_size: int = 8
    ff_width: int = 128  # the transformer's feed-forward width (hpbench's default)


FIXED = {
    "digits": Fixed(max_epochs=30, batch_size=64, patience=3),
    "tabular": Fixed(max_epochs=30, batch_size=64, patience=4, step_size=8),
    "signals": Fixed(max_epochs=20, batch_size=64, patience=3),
}


def suggest(trial: Any, problem: str) -> None:
    """The study's [space] as Optuna define-by-run suggestions (conditions as ``if``)."""
    if problem == "digits":
        opt = trial.suggest_categorical("optimizer", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw"])
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("batch_size", [16, 64, 256, "full"])
        trial.suggest_categorical("init", ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "normal", "zeros"])
        trial.suggest_int("depth", 1, 4)
        trial.suggest_categorical("width", [32, 128, 512])
        trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])
        if opt in ("momentum", "nesterov"):
            trial.suggest_float("momentum", 0.5, 0.99)
    elif problem == "tabular":
        opt = trial.suggest_categorical("optimizer", ["momentum", "adam", "adamw"])
        trial.suggest_float("lr", 1e-4, 3e-1, log=True)
        if opt == "momentum":
            trial.suggest_float("momentum", 0.5, 0.99)
        if opt == "adamw":
            trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True)
        schedule = trial.suggest_categorical("lr_schedule", ["constant", "cosine", "step"])
        if schedule == "step":
            trial.suggest_float("gamma", 0.1, 0.9)
        trial.suggest_categorical("batch_size", [32, 128])
        trial.suggest_categorical("width", [32, 64, 128, 256])
        trial.suggest_int("depth", 1, 4)
        trial.suggest_float("dropout", 0.0, 0.5)
    elif problem == "signals":
        family = trial.suggest_categorical("family", ["rnn", "lstm", "gru", "transformer"])
        trial.suggest_float("lr", 3e-4, 3e-2, log=True)
        trial.suggest_int("layers", 1, 2)
        if family == "transformer":
            trial.suggest_categorical("d_model", [16, 32])
            trial.suggest_categorical("heads", [2, 4])
        else:
            trial.suggest_categorical("hidden_size", [16, 32, 64])
    else:
        raise ValueError(f"unknown problem {problem!r}")


# ---- models ---------------------------------------------------------------------------------

_ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


def mlp(n_in: int, n_out: int, *, depth: int, width: int, activation: str = "relu", dropout: float = 0.0) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), _ACT[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def init_weights(model: nn.Module, name: str, activation: str) -> None:
    gain_of = "tanh" if activation == "tanh" else "relu"
    for pname, p in model.named_parameters():
        if pname.endswith("bias"):
            nn.init.zeros_(p)
        elif name == "xavier_uniform":
            nn.init.xavier_uniform_(p)
        elif name == "xavier_normal":
            nn.init.xavier_normal_(p)
        elif name == "kaiming_uniform":
            nn.init.kaiming_uniform_(p, nonlinearity=gain_of)
        elif name == "kaiming_normal":
            nn.init.kaiming_normal_(p, nonlinearity=gain_of)
        elif name == "orthogonal":
            nn.init.orthogonal_(p)
        elif name == "normal":
            nn.init.normal_(p, std=0.05)
        elif name == "zeros":
            nn.init.zeros_(p)


class Recurrent(nn.Module):
    """A signal (channels, steps) read as steps of channels; the last layer's final state -> classes."""

    def __init__(self, cell: str, channels: int, n_out: int, *, hidden_size: int, layers: int) -> None:
        super().__init__()
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](channels, hidden_size, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.rnn(x.transpose(1, 2))
        h = h[0] if isinstance(h, tuple) else h
        return self.head(h[-1])


class Encoder(nn.Module):
    """Linear embedding, sinusoidal positions, a transformer encoder, mean over time -> classes."""

    def __init__(self, channels: int, steps: int, n_out: int, *, d_model: int, heads: int, layers: int, ff_width: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=ff_width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.embed = nn.Linear(channels, d_model)  # after the encoder: the same random draws as hpbench's (tests/test_race.py)
        pos = torch.arange(steps, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(steps, d_model)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        self.register_buffer("pe", pe[None])
        self.head = nn.Linear(d_model, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x.transpose(1, 2)) + self.pe).mean(dim=1))


def build(problem: str, p: dict[str, Any], shape: tuple[int, ...], n_out: int) -> nn.Module:
    if problem == "digits":
        model = mlp(shape[0], n_out, depth=p["depth"], width=p["width"], activation=p["activation"])
        init_weights(model, p["init"], p["activation"])
        return model
    if problem == "tabular":
        return mlp(shape[0], n_out, depth=p["depth"], width=p["width"], dropout=p["dropout"])
    channels, steps = shape
    if p["family"] == "transformer":
        return Encoder(channels, steps, n_out, d_model=p["d_model"], heads=p["heads"], layers=p["layers"], ff_width=FIXED[problem].ff_width)
    return Recurrent(p["family"], channels, n_out, hidden_size=p["hidden_size"], layers=p["layers"])


def optimizer(p: dict[str, Any], params: Any) -> torch.optim.Optimizer:
    name, lr = p.get("optimizer", "adam"), p["lr"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=p["momentum"], nesterov=name == "nesterov")
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(params, lr=lr, amsgrad=name == "amsgrad")
    return torch.optim.AdamW(params, lr=lr, weight_decay=p.get("weight_decay", 0.01))


def schedule(p: dict[str, Any], opt: torch.optim.Optimizer, fixed: Fixed) -> Any:
    name = p.get("lr_schedule", "constant")
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=fixed.max_epochs)
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=fixed.step_size, gamma=p["gamma"])
    return None


# ---- training -------------------------------------------------------------------------------

_data: dict[str, dict[str, torch.Tensor]] = {}
_data_lock = threading.Lock()


def data(problem: str) -> dict[str, torch.Tensor]:
    """The problem's splits as tensors, loaded once per process."""
    with _data_lock:
        if problem not in _data:
            _data[problem] = {k: torch.as_tensor(v) for k, v in LOADERS[problem]().items()}
        return _data[problem]


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(nn.functional.cross_entropy(logits, y))
        acc = float((logits.argmax(dim=1) == y).float().mean())
    model.train()
    return loss, acc


def train(problem: str, p: dict[str, Any], *, seed: int, report: Callable[[int, float, float], bool]) -> dict[str, float]:
    """Train one configuration; ``report(epoch, val_accuracy, test_of_kept_weights)`` after each
    epoch returns True to stop (pruned). Returns the trial's best validation accuracy and the test accuracy of the
    weights it keeps (its lowest validation loss, restored as Keras does)."""
    d, fixed = data(problem), FIXED[problem]
    torch.manual_seed(seed)
    n_out = int(d["y"].max()) + 1
    model = build(problem, p, tuple(d["x"].shape[1:]), n_out)
    opt = optimizer(p, model.parameters())
    sched = schedule(p, opt, fixed)
    n = len(d["x"])
    bs = n if p.get("batch_size") == "full" else int(p.get("batch_size", fixed.batch_size))
    gen = torch.Generator().manual_seed(seed)
    best_loss, best_val, test, wait = float("inf"), 0.0, float("nan"), 0
    for epoch in range(1, fixed.max_epochs + 1):
        for idx in torch.randperm(n, generator=gen).split(bs):
            opt.zero_grad()
            nn.functional.cross_entropy(model(d["x"][idx]), d["y"][idx]).backward()
            opt.step()
        if sched is not None:
            sched.step()
        loss, val = _evaluate(model, d["x_val"], d["y_val"])
        best_val = max(best_val, val)
        if loss < best_loss:  # the weights kept: evaluate them on the test split now (restore_best_weights)
            best_loss, wait = loss, 0
            test = _evaluate(model, d["x_test"], d["y_test"])[1]
        else:
            wait += 1
        if report(epoch, val, test) or wait >= fixed.patience or not math.isfinite(loss):
            break
    return {"best_val": best_val, "test": test}
