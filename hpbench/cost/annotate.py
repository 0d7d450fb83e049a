"""The cost columns of one trial: predicted before it runs (``predict_trial``), spent after
(``spent``). Pure functions of the trial's configuration and the device model; the dispatcher
calls them in the driver and the results store records what they return."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from hpbench.config import TrialConfig
from hpbench.cost import conv, coverage, gan, rl
from hpbench.cost import trial_time as tt
from hpbench.cost.device import DeviceModel
from hpbench.cost.ops import StepCost
from hpbench.cost.recurrent import CELLS
from hpbench.train import eval_memory

# Tasks with their own predicted columns (the supervised task's are predict_trial's own).
TASK_PREDICTORS: dict[str, Callable[..., dict[str, Any]]] = {"rl": rl.predict_trial, "gan": gan.predict_trial}

EVAL_CHUNK = eval_memory.MAX_ROWS  # hpbench.train.evaluate.EVAL_CHUNK: rows per evaluation pass at most (eval_chunk: the trial's)

PREDICTED_COLUMNS = ("n_params", "flops_per_step", "flops_per_epoch", "predicted_flops", "predicted_step_s",
                     "predicted_epoch_s", "predicted_s", "naive_s", "regime", "predicted_warmup_s", "concurrency_slowdown",
                     "predicted_s_p10", "predicted_s_p90", "batch_rows")  # rl adds env_step_s and predicted_env_epoch_s
SPENT_COLUMNS = ("flops_spent", "predicted_spent_s", "predicted_spent_s_p10", "predicted_spent_s_p90", "measured_s", "prediction_error")
COST_NOTE = "cost_note"  # why a trial's cost is missing or how it was counted (absent when all went as usual)


def not_predicted(err: BaseException) -> dict[str, Any]:
    """The columns of a trial whose cost could not be predicted: the reason, never a silent blank."""
    return {COST_NOTE: f"cost not predicted: {type(err).__name__}: {err}"[:500]}


@lru_cache(maxsize=64)
def _shape(key: tuple[Any, ...]) -> tuple[int, int, tuple[int, ...], int, str, str]:
    from hpbench.data.prepare import data_shape as shape_of

    names = ("dataset", "options", "val_fraction", "test_fraction", "preprocess", "seed", "shape", "kind", "stream")
    kw = dict(zip(names, key, strict=True))
    s = shape_of(**{**kw, "options": dict(kw["options"])})
    return s.n_train, s.n_val, tuple(s.input_shape), int(s.n_outputs), s.task, s.kind.value


def data_shape(cfg: TrialConfig) -> tuple[int, int, tuple[int, ...], int, str, str]:
    """(n_train, n_val, input_shape, n_outputs, task, kind) of the trial's data (streamed data is not loaded)."""
    from hpbench.data.prepare import config_kwargs, data_key

    return _shape(data_key(**config_kwargs(cfg.data, cfg.seed)))


def batch_rows(cfg: TrialConfig) -> int:
    """A supervised trial's rows per step (``"full"``: every training row; at most them all):
    where early stopping ends it moves with it (:func:`hpbench.cost.ends.batch_fraction`)."""
    n_train = data_shape(cfg)[0]
    return n_train if cfg.train.batch_size == "full" else min(int(cfg.train.batch_size), n_train)


def eval_chunk(cfg: TrialConfig) -> int:
    """Rows per evaluation pass of a supervised trial, by the trainer's rule
    (:func:`hpbench.train.build.eval_rows`) on its model built on ``meta``: what :func:`predict_trial`
    prices its validation pass as (ceil(n_val / rows) passes of that many rows). Kept per process
    (a search's configurations share a model's shape more often than not)."""
    _, _, shape, n_out, _, kind = data_shape(cfg)
    bs = batch_rows(cfg)
    params = dict(cfg.model.params)
    key = (cfg.model.family, repr(sorted(params.items())), shape, n_out, kind, bs)
    if key not in _EVAL_CHUNKS:
        if len(_EVAL_CHUNKS) >= EVAL_CHUNKS_KEPT:
            _EVAL_CHUNKS.clear()
        _EVAL_CHUNKS[key] = _sized(cfg.model.family, params, shape=shape, n_out=n_out, kind=kind, batch=bs)
    return _EVAL_CHUNKS[key]


EVAL_CHUNKS_KEPT = 256
_EVAL_CHUNKS: dict[tuple[Any, ...], int] = {}


def _sized(family: str, params: dict[str, Any], *, shape: tuple[int, ...], n_out: int, kind: str, batch: int) -> int:
    """:func:`eval_chunk` of a model built on ``meta`` (on the CPU where it cannot be, as :func:`hpbench.cost.count.count_step` builds it)."""
    import torch

    from hpbench.models import build_model

    try:
        with torch.device("meta"):
            model = build_model(family, input_shape=shape, n_outputs=n_out, params=params, kind=kind)
    except Exception:
        torch.manual_seed(0)
        model = build_model(family, input_shape=shape, n_outputs=n_out, params=params, kind=kind)
    return eval_memory.eval_rows(model, sample_shape=shape, floor=batch, cap=EVAL_CHUNK)


def eval_passes(cfg: TrialConfig) -> tuple[int, int]:
    """(passes, rows counted per pass) of a supervised trial's validation: ceil(n_val / rows) passes
    at :func:`eval_chunk`'s rows at most, counted as that many passes of equal rows, so that their
    FLOPs are the validation rows' own (the trainer's last pass is the short one); (0, 0) without
    validation rows."""
    n_val = data_shape(cfg)[1]
    if not n_val:
        return 0, 0
    passes = math.ceil(n_val / eval_chunk(cfg))
    return passes, math.ceil(n_val / passes)


def epoch_steps(cfg: TrialConfig, *, whole_recurrent: tuple[str, ...] = ()) -> tuple[int, int, StepCost, StepCost | None]:
    """(steps per epoch, validation rows, the full step counted with one evaluation pass (:func:`eval_passes`), the
    smaller last step or None when it is full) of a supervised trial's epoch: what
    :func:`predict_trial` prices, and the benchmarks that take its prediction apart.
    ``whole_recurrent``: the recurrent cell types counted whole (those the device prices from its grid)."""
    from hpbench.cost.count import count_step, n_steps
    from hpbench.cost.step_options import StepOptions

    n_train, n_val, shape, n_out, task, kind = data_shape(cfg)
    steps, bs, last_bs = n_steps(n_train=n_train, batch_size=cfg.train.batch_size)
    common: dict[str, Any] = dict(family=cfg.model.family, model_params=dict(cfg.model.params), input_shape=shape, n_outputs=n_out,
                                  task=task, kind=kind, optimizer=cfg.optimizer.name, optimizer_params=dict(cfg.optimizer.params),
                                  n_source=n_train, whole_recurrent=whole_recurrent, options=StepOptions.of(cfg))
    full = count_step(batch_size=bs, eval_size=eval_passes(cfg)[1] or None, **common)
    last = count_step(batch_size=last_bs, **common) if last_bs != bs else None
    return steps, n_val, full, last


def predict_trial(cfg: TrialConfig, *, device_model: DeviceModel, env_cache_dir: Path | None = None, max_concurrent: int = 1) -> dict[str, Any]:
    """Predicted cost columns of a trial run to ``max_epochs`` (a task other than ``supervised``:
    its own predictor, :data:`TASK_PREDICTORS`; ``env_cache_dir``: where rl's environment times are cached)
    while ``max_concurrent`` trials share the machine: the whole trial's seconds, first-epoch
    warm-up and concurrency slowdown included (:mod:`hpbench.cost.trial_time`), its regime and its
    P10-P90 interval."""
    from hpbench.cost.predict import predict_epoch

    if cfg.task in TASK_PREDICTORS:
        return TASK_PREDICTORS[cfg.task](cfg, device_model=device_model, env_cache_dir=env_cache_dir, max_concurrent=max_concurrent)

    steps, _, full, last = epoch_steps(cfg, whole_recurrent=tuple(c for c in CELLS if device_model.prices_recurrent(c)))
    ep = predict_epoch(full=full, last=last, n_steps=steps, device=device_model, eval_cost=full,
                       n_eval_chunks=eval_passes(cfg)[0],
                       state_bytes=tt.state_working_set_bytes(n_params=full.n_params, optimizer=cfg.optimizer.name))
    epochs = cfg.train.max_epochs
    slow = tt.concurrency_slowdown(regime=ep.regime, max_concurrent=max_concurrent, slowdowns=device_model.concurrency_slowdown)
    epoch_s = slow * (ep.epoch_s + device_model.trainer_epoch_s)
    # first_epoch_s (the trainer probe's fixed first-epoch extra) is charged to every trial: a reused
    # Tune worker still pays a new model's first calls, and in Ray each trial's first epoch read a
    # median 12 ms over its second (benchmarks/cost_model.py, seed 216413716, tiny trials included)
    warmup_s = slow * tt.warmup_seconds(epoch_s=ep.epoch_s, warmup_fraction=device_model.warmup_fraction,
                                        first_epoch_s=device_model.first_epoch_s)
    # each new convolution shape's first call (oneDNN's primitive creation), when the grid measured it
    warmup_s += slow * conv.first_calls_seconds(((op.shape, op.phase) for op in (*full.ops, *(last.ops if last else ()))
                                                 if op.kind == "conv2d"), first_call_s=device_model.conv_first_call_s)
    trial_s = epoch_s * epochs + warmup_s
    band = tt.interval(predicted_s=trial_s, regime=ep.regime, intervals=device_model.intervals)
    said = ["counted on the CPU (the model does not run on meta)"] if full.counted_on != "meta" else []
    if str(cfg.train.precision) != "fp32":  # hpbench.cost.step_options: autocast's kernels are not calibrated
        said.append(f"{cfg.train.precision} priced as fp32 (autocast's kernels are not timed by the calibration; "
                    "measured once here, an MLP on a CPU: fp16 ~10x the fp32 time, bf16 ~0.7x)")
    notes = {COST_NOTE: "; ".join(said)} if said else {}
    return {
        **coverage.columns(full.uncounted, total_flops=full.total_flops),
        **notes,
        "n_params": full.n_params,
        "flops_per_step": ep.flops_per_step,
        "flops_per_epoch": ep.flops_per_epoch + ep.eval_flops,
        "predicted_flops": (ep.flops_per_epoch + ep.eval_flops) * epochs,
        "predicted_step_s": ep.step_s,
        "predicted_epoch_s": epoch_s,
        "predicted_s": trial_s,
        "naive_s": ep.naive_epoch_s * epochs,
        "steps_per_epoch": steps,
        "batch_rows": batch_rows(cfg),
        "regime": str(ep.regime),
        "predicted_warmup_s": warmup_s,
        "concurrency_slowdown": slow,
        "predicted_s_p10": band[0] if band else None,
        "predicted_s_p90": band[1] if band else None,
    }


def spent(columns: dict[str, Any], *, epochs_run: int, measured_s: float | None) -> dict[str, Any]:
    """What a trial actually spent after ``epochs_run`` epochs (pruned and early-stopped trials
    spend less), and the error of the prediction for those epochs: (predicted - measured) / measured.
    The predicted seconds are the whole epochs run: ``predicted_epoch_s`` each, plus the first
    epoch's warm-up; the interval scales with them."""
    per_epoch_flops = columns.get("flops_per_epoch")
    per_epoch_s = columns.get("predicted_epoch_s")
    out: dict[str, Any] = {"flops_spent": None, "predicted_spent_s": None, "predicted_spent_s_p10": None, "predicted_spent_s_p90": None,
                           "measured_s": measured_s, "prediction_error": None}
    if per_epoch_flops is None or per_epoch_s is None:
        return out
    out["flops_spent"] = float(per_epoch_flops) * epochs_run
    warm = number(columns.get("predicted_warmup_s")) if epochs_run > 0 else 0.0
    out["predicted_spent_s"] = float(per_epoch_s) * epochs_run + warm
    total, p10, p90 = (number(columns.get(k)) for k in ("predicted_s", "predicted_s_p10", "predicted_s_p90"))
    if total > 0 and p10 > 0 and p90 > 0:
        out["predicted_spent_s_p10"] = out["predicted_spent_s"] * p10 / total
        out["predicted_spent_s_p90"] = out["predicted_spent_s"] * p90 / total
    if measured_s and measured_s > 0 and epochs_run > 0:
        out["prediction_error"] = (out["predicted_spent_s"] - measured_s) / measured_s
    return out


def number(v: Any) -> float:
    """A column's number, 0.0 when it is missing or not a finite number."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else 0.0
