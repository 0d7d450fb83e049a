"""Time prediction from a step's ops and a device model.

A step's time is a calibrated sum over its ops (see :class:`~hpbench.cost.device.DeviceModel`):

    t = c_step + c_op · n_ops + c_view · n_views + c_compute · Σ_matmul FLOPs/R(FLOPs) + c_conv · Σ_conv FLOPs/R(FLOPs) + c_memory · Σ_other bytes/BW

R(f) is the measured matmul FLOP/s at a matmul of f FLOPs (small matmuls run far below peak),
BW the measured memory bandwidth. The overhead terms dominate small models (the issue's MLP
step: 1.4 MFLOP in 0.9 ms), the roofline terms large ones. The naive baseline is total FLOPs /
peak FLOP/s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpbench.cost.count import OpRecord, StepCost

if TYPE_CHECKING:
    from hpbench.cost.device import DeviceModel

FEATURES = ("step", "op", "view", "compute", "conv", "memory")


def features(ops: Iterable[OpRecord], *, device: DeviceModel, phases: tuple[str, ...] = ("forward", "backward", "optimizer")) -> dict[str, float]:
    """The time model's inputs for the ops of the given phases (one 'step' of them)."""
    ops = list(ops)
    f = dict.fromkeys(FEATURES, 0.0)
    f["step"] = 1.0
    # Recurrent layers: forward ops inside them are one fused kernel; their backward ops cannot
    # be attributed, so the backward op count is scaled by the forward's fused/decomposed ratio.
    fwd = [op for op in ops if op.phase == "forward"]
    n_fwd = sum(1 for op in fwd if op.kind != "fused")
    n_kept = sum(1 for op in fwd if not op.fused)
    ratio = n_kept / n_fwd if n_fwd and n_kept < n_fwd else 1.0
    for op in ops:
        if op.phase not in phases:
            continue
        w = ratio if op.phase == "backward" else 1.0
        if op.kind == "free":
            f["view"] += 0 if op.fused else w
            continue
        f["op"] += 0 if op.fused else w
        if op.kind == "matmul":  # convolutions run other kernels than mm: their own coefficient
            f["conv" if "conv" in op.name else "compute"] += op.flops / device.matmul_rate(op.flops)
        else:
            f["memory"] += op.bytes / device.bandwidth_bytes_per_s
    return f


def add(a: dict[str, float], b: dict[str, float], scale: float = 1.0) -> dict[str, float]:
    return {k: a.get(k, 0.0) + scale * b.get(k, 0.0) for k in FEATURES}


def seconds(feats: dict[str, float], coef: dict[str, float]) -> float:
    """t = Σ coef_k · feature_k."""
    return float(sum(coef.get(k, 0.0) * feats.get(k, 0.0) for k in FEATURES))


@dataclass(frozen=True, kw_only=True)
class EpochPrediction:
    flops_per_step: float  # a full-batch step: forward + backward + optimizer
    flops_per_epoch: float  # every training step of the epoch (eval pass not included)
    eval_flops: float  # the validation pass of the epoch
    step_s: float
    epoch_s: float
    naive_epoch_s: float  # (training + eval FLOPs) / peak FLOP/s


def predict_epoch(*, full: StepCost, last: StepCost | None, n_steps: int, device: DeviceModel, eval_cost: StepCost | None = None,
                  n_eval_chunks: int = 1) -> EpochPrediction:
    """Seconds of one epoch: (n_steps - 1) full steps, one last (possibly smaller) step, and the
    evaluation pass (``n_eval_chunks`` forward passes of ``eval_cost``'s "eval" phase)."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, but got {n_steps}")
    last = last or full
    f_full = features(full.ops, device=device)
    f_last = features(last.ops, device=device)
    ev = eval_cost or full
    f_eval = features(ev.ops, device=device, phases=("eval",))
    epoch_flops = (n_steps - 1) * full.total_flops + last.total_flops
    eval_flops = n_eval_chunks * ev.flops("eval")
    naive = (epoch_flops + eval_flops) / device.peak_flops_per_s
    if device.hypothetical:  # the textbook model: FLOPs / FLOP/s
        step_s, ep_s = full.total_flops / device.peak_flops_per_s, naive
    else:
        step_s = seconds(f_full, device.coef)
        ep_s = seconds(add(add(f_last, f_full, n_steps - 1), f_eval, n_eval_chunks), device.coef)
    return EpochPrediction(flops_per_step=full.total_flops, flops_per_epoch=epoch_flops, eval_flops=eval_flops,
                           step_s=step_s, epoch_s=ep_s, naive_epoch_s=naive)
