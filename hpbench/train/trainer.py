"""The one trainer every trial runs. Usable from Python without Ray::

    from hpbench.train.trainer import train
    outcome = train(trial_config, report=print)

It builds the data (tensors preloaded on the trial's device), the model, its initialization
and the optimizer; trains epoch by epoch with Keras-exact early stopping; and hands each
epoch's metrics to ``report`` (the dispatcher passes Ray Tune's reporter, which may prune the
trial by raising out of it).

Optional techniques, each in its own module: starting from a saved trial's weights with
layers frozen (``transfer``), a teacher's soft targets (``distill``) and temperature scaling
of the final model on the validation split (``calibration``).
"""

from __future__ import annotations

import copy
import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hpbench.config import TrialConfig
from hpbench.data.augment import Augment
from hpbench.data.prepare import Splits, prepare
from hpbench.models import build_model, family_activation
from hpbench.train import tasks
from hpbench.train.early_stopping import EarlyStopping, EarlyStoppingState
from hpbench.train.initializers import initialize
from hpbench.train.optimizers import build_optimizer

Reporter = Callable[[dict[str, Any]], None]
StateHook = Callable[[dict[str, Any]], None]  # receives the resumable state after each epoch


class StopReason(enum.StrEnum):
    COMPLETED = "completed"  # ran max_epochs
    EARLY_STOPPED = "early_stopped"
    DIVERGED = "diverged"  # a non-finite loss or monitored value
    PRUNED = "pruned"  # stopped by the scheduler (set by the dispatcher)
    FAILED = "failed"  # raised (set by the dispatcher)


@dataclass
class TrialOutcome:
    history: list[dict[str, Any]]
    stop_reason: StopReason
    best_epoch: int  # 1-based epoch whose weights the model ends with
    n_params: int
    early_stopping: EarlyStoppingState | None
    wall_s: float
    model: Any = field(default=None, repr=False)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class Prepared:
    """A trial's data as tensors on its device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    splits: Splits
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    augment: Augment | None = None  # applied to training batches only


def load_data(cfg: TrialConfig, device: torch.device) -> Prepared:
    d = cfg.data
    s = prepare(dataset=d.dataset, options=dict(d.options), val_fraction=d.val_fraction, test_fraction=d.test_fraction, preprocess=d.preprocess, seed=cfg.seed)
    ydtype = torch.float32 if s.task == "regression" else torch.int64
    augment = None
    if "augment" in d.preprocess:
        if not s.image:
            raise ValueError(f"data.preprocess: 'augment' applies to image data only, but dataset {d.dataset!r} is not images")
        augment = Augment()

    def t(a: Any, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype).to(device)

    has_test = s.x_test is not None and s.y_test is not None
    return Prepared(
        t(s.x_train, torch.float32), t(s.y_train, ydtype), t(s.x_val, torch.float32), t(s.y_val, ydtype), s,
        x_test=t(s.x_test, torch.float32) if has_test else None, y_test=t(s.y_test, ydtype) if has_test else None, augment=augment,
    )


def build(cfg: TrialConfig, splits: Splits, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(cfg.seed)
    params = dict(cfg.model.params)
    model = build_model(cfg.model.family, input_shape=splits.input_shape, n_outputs=splits.n_outputs, params=params)
    initialize(model, cfg.train.init, activation=family_activation(cfg.model.family, params), params=dict(cfg.train.init_params))
    return model.to(device)


@torch.no_grad()
def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, loss_fn: torch.nn.Module, *, chunk: int = 8192) -> dict[str, float]:
    model.eval()
    outs = [model(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    loss = float(loss_fn(out, y).item())
    return tasks.metrics(task, out, y, loss)


def train(cfg: TrialConfig, *, report: Reporter | None = None, on_state: StateHook | None = None,
          start_state: dict[str, Any] | None = None) -> TrialOutcome:
    """Train one trial. ``on_state`` gets, before each ``report``, the state that
    ``start_state`` resumes from (model, optimizer, early stopping, shuffling, history): the
    dispatcher checkpoints it so that a failed trial retries from its last epoch."""
    t0 = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.train.device)
    data = load_data(cfg, device)
    task = data.splits.task
    model = build(cfg, data.splits, device)
    n_params = sum(p.numel() for p in model.parameters())
    first_fields: dict[str, Any] = {}
    if cfg.model.init_from is not None:
        from hpbench.train import transfer

        info = transfer.apply(model, cfg.model.init_from, freeze=cfg.model.freeze)
        first_fields = {"n_trainable": info.n_trainable, "n_reused": info.n_reused, "new_head": info.new_head}
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(cfg.optimizer.name, trainable, lr=cfg.optimizer.lr, params=dict(cfg.optimizer.params))
    loss_fn = tasks.loss_fn(task)
    teacher = None
    if cfg.distill is not None and cfg.distill.alpha > 0:  # alpha = 0: hard labels only, no teacher to run
        from hpbench.train.distill import kd_loss, load_teacher

        teacher = load_teacher(cfg.distill.teacher, device=device, input_shape=data.splits.input_shape, n_outputs=data.splits.n_outputs)
    es_cfg = cfg.train.early_stopping
    es = (
        EarlyStopping(es_cfg.monitor, min_delta=es_cfg.min_delta, patience=es_cfg.patience, mode=es_cfg.mode, baseline=es_cfg.baseline,
                      restore_best_weights=es_cfg.restore_best_weights, start_from_epoch=es_cfg.start_from_epoch)
        if es_cfg else None
    )
    autocast, scaler = _mixed_precision(cfg.train.precision, device)
    n = len(data.x_train)
    bs = n if cfg.train.batch_size == "full" else min(int(cfg.train.batch_size), n)
    gen = torch.Generator().manual_seed(cfg.seed)
    aug_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1) if data.augment is not None else None
    history: list[dict[str, Any]] = []
    best_state: dict[str, torch.Tensor] | None = None
    reason = StopReason.COMPLETED
    start_epoch = 0
    if start_state is not None:
        model.load_state_dict(start_state["model"])
        opt.load_state_dict(start_state["optimizer"])
        gen.set_state(start_state["generator"])
        if es is not None and start_state.get("early_stopping") is not None:
            es.__dict__.update(start_state["early_stopping"])
        best_state, history, start_epoch = start_state["best_state"], list(start_state["history"]), int(start_state["epoch"])
    for epoch in range(start_epoch, cfg.train.max_epochs):
        e0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(device) if bs < n else None
        total = torch.zeros((), device=device)
        for i in range(0, n, bs):
            if perm is None:
                xb, yb = data.x_train, data.y_train
            else:
                idx = perm[i : i + bs]
                xb, yb = data.x_train[idx], data.y_train[idx]
            if aug_gen is not None:
                xb = data.augment(xb, aug_gen)  # type: ignore[misc]
            opt.zero_grad(set_to_none=True)
            with autocast():
                if teacher is None:
                    loss = loss_fn(model(xb), yb)
                else:
                    with torch.no_grad():
                        t_out = teacher(xb)
                    loss = kd_loss(model(xb), t_out, yb, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature)  # type: ignore[union-attr]
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            total.add_(loss.detach(), alpha=len(xb))  # one in-place op, no host sync
        train_loss = float(total.item()) / n
        val = evaluate(model, data.x_val, data.y_val, task, loss_fn)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss, **{f"val_{k}": v for k, v in val.items()}}
        row["epoch_s"] = time.perf_counter() - e0
        if epoch == 0:
            row["n_params"] = n_params
            row["device"] = device.type
            row.update(first_fields)
        diverged = not math.isfinite(train_loss) or not math.isfinite(val["loss"])
        stop = False
        if es is not None:
            if es.on_epoch_end(epoch, row) and es.restore_best_weights:
                best_state = copy.deepcopy(model.state_dict())
            stop = es.stop_training
            diverged = diverged or es.diverged
        if diverged:
            reason, stop = StopReason.DIVERGED, True
        elif stop:
            reason = StopReason.EARLY_STOPPED
        last = stop or epoch + 1 == cfg.train.max_epochs
        best_epoch = (es.best_epoch + 1) if (es is not None and es.restore_best_weights and best_state is not None) else epoch + 1
        final: dict[str, Any] = {}
        if last:
            row.update(_final_fields(reason, best_epoch, es))
            if best_state is not None:
                model.load_state_dict(best_state)  # the final model: calibrated, saved and returned
            if cfg.train.calibration == "temperature" and not diverged:
                from hpbench.train.calibration import calibrate

                row.update(calibrate(_logits(model, data.x_val), data.y_val))
            if on_state is not None:
                final = {"final_model": _model_record(cfg, data.splits, model, temperature=row.get("temperature"))}
        history.append(row)
        if on_state is not None:
            on_state({"epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                      "early_stopping": dict(vars(es)) if es is not None else None, "best_state": best_state, "history": history, **final})
        if report is not None:
            report(row)
        if last:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrialOutcome(
        history=history, stop_reason=reason, best_epoch=history[-1]["best_epoch"], n_params=n_params,
        early_stopping=es.state() if es else None, wall_s=time.perf_counter() - t0, model=model,
    )


def _mixed_precision(precision: str, device: torch.device) -> tuple[Any, Any]:
    """(autocast context factory, gradient scaler or None). ``bf16``/``fp16`` run the forward
    pass and the loss under ``torch.autocast`` (weights and optimizer stay fp32); ``fp16``
    also scales the loss so small gradients do not underflow. Evaluation stays fp32."""
    import contextlib

    if precision == "fp32":
        return contextlib.nullcontext, None
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return (lambda: torch.autocast(device_type=device.type, dtype=dtype)), scaler


def evaluate_test(cfg: TrialConfig, model: torch.nn.Module) -> dict[str, float]:
    """Evaluate a trained model once on the held-out test split (``data.test_fraction > 0``);
    returns ``test_``-prefixed metrics (``test_loss``, ``test_accuracy`` …)."""
    if cfg.data.test_fraction <= 0:
        raise ValueError(f"data.test_fraction: evaluating on a test split needs test_fraction > 0, but got {cfg.data.test_fraction}")
    device = next(model.parameters()).device
    data = load_data(cfg, device)
    assert data.x_test is not None and data.y_test is not None  # internal: test_fraction > 0 makes a test split
    out = evaluate(model, data.x_test, data.y_test, data.splits.task, tasks.loss_fn(data.splits.task))
    return {f"test_{k}": v for k, v in out.items()}


@torch.no_grad()
def _logits(model: torch.nn.Module, x: torch.Tensor, *, chunk: int = 8192) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])


def _model_record(cfg: TrialConfig, splits: Splits, model: torch.nn.Module, *, temperature: float | None) -> dict[str, Any]:
    """What a saved weights file holds (hpbench.results.weights): the weights and what rebuilds the model."""
    return {"state_dict": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
            "family": cfg.model.family, "params": dict(cfg.model.params), "input_shape": tuple(splits.input_shape),
            "n_outputs": int(splits.n_outputs), "task": splits.task, "temperature": temperature}


def _final_fields(reason: StopReason, best_epoch: int, es: EarlyStopping | None) -> dict[str, Any]:
    out: dict[str, Any] = {"stop_reason": reason.value, "best_epoch": best_epoch}
    if es is not None:
        st = es.state()
        out.update(es_best=st.best, es_best_epoch=st.best_epoch, es_wait=st.wait, es_stopped_epoch=st.stopped_epoch)
    return out
