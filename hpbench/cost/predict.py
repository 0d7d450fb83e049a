"""Time prediction from a step's ops and a device model: a per-op roofline plus per-op overheads.

Every op the step dispatches (recorded on ``meta`` by :mod:`hpbench.cost.count`) costs a
dispatch overhead and a kernel time; every ``nn.Module`` call costs Python overhead. The kernel
time of one op is its roofline on this device, with rates measured by micro-benchmarks
(:mod:`hpbench.cost.microbench`, kept in :mod:`hpbench.cost.device`) at a range of sizes (small kernels run far below peak):

    matmul:      max(FLOPs / R_mm(M, K, N), bytes / BW(bytes))   (R_mm: measured on a grid of shapes)
    recurrent:   Σ_layers FLOPs / R_cell(seq, batch, input, hidden)   (a whole nn.RNN/GRU/LSTM call, forward + backward
                                                  or evaluation, its ops skipped: :mod:`hpbench.cost.recurrent`)
    convolution: FLOPs / R_conv(batch·H·W, C_in, C_out, k)   (a whole nn.Conv2d call, forward + backward or
                                                  evaluation, its ops skipped: :mod:`hpbench.cost.conv`; without
                                                  a grid, FLOPs / R_conv_fwd(FLOPs) and FLOPs / R_conv_bwd(FLOPs))
    attention:   (batch · heads) · (a + b · T_q·T_k·d)     (fused flash attention, forward or backward)
    random draw: elements · s_per_element(generator)     (dropout's mask, noise: :mod:`hpbench.cost.rng`)
    activation:  bytes / BW(bytes) + elements · (s_per_element(op, size) - ReLU's)   (tanh, GELU, ...: :mod:`hpbench.cost.activations`)
    other ops:   bytes / BW(bytes)               (element-wise and reductions; pooling, norms and softmax apart;
                                                  BW: the copy bandwidth measured at the same data volume,
                                                  in-cache for small ops, DRAM for large ones)

and an epoch is a calibrated sum of these, per kind::

    t = c_epoch + c_step·n_steps + c_module·n_module_calls + c_op·n_forward_ops + c_op_backward·n_backward_ops
        + c_op_nograd·n_optimizer_and_eval_ops + c_view·n_views + c_matmul·Σ matmul + c_conv·Σ conv + c_memory·Σ memory + c_memory_strided·Σ memory_strided
        + c_memory_optimizer·Σ memory_optimizer + c_recurrent·Σ recurrent + c_random·Σ random + c_activation·Σ activation

The kernel coefficients stay near 1 when the micro-benchmarks describe the kernels well; the
overhead coefficients are seconds per op (see :mod:`hpbench.cost.suite` for the fit). The
overhead terms dominate small models (the issue's MLP step: 1.4 MFLOP in 0.9 ms), the roofline
terms large ones. The naive baseline is total FLOPs / peak FLOP/s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpbench.cost import activations, conv, recurrent, rng
from hpbench.cost.formulas import ELEMENTWISE_PER_ELEMENT
from hpbench.cost.ops import SDPA_MATH_BACKWARD, OpRecord, StepCost
from hpbench.cost.regime import Regime, regime_of

if TYPE_CHECKING:
    from hpbench.cost.device import DeviceModel

FEATURES = ("epoch", "step", "module", "op", "op_backward", "op_nograd", "view", "matmul", "conv", "recurrent", "memory",
            "memory_strided", "memory_optimizer", "random", "activation")
# "recurrent": the seconds of whole recurrent layers from their cell's grid (hpbench.cost.recurrent),
# with a fitted coefficient: the grid times each layer alone, back to back, with its weights and
# buffers hot; in an epoch the same call runs between the optimizer's and the data's work
# (session 7: with the coefficient held at 1 like matmul's, GRUs replayed -48% and LSTMs -39%).
# Memory-bound ops that walk 4-D or strided data (pooling windows, per-channel norm statistics,
# softmax rows) run well below a streaming element-wise op's bandwidth: their own coefficient.
# The optimizer's element-wise ops run back to back on one parameter's tensors (weight, gradient,
# moments), which stay in cache from one op to the next, unlike the forward and backward ops that
# stream activations: their own coefficient too.
# "random": the seconds of drawing random numbers at the device's measured rate per element; held at
# 1 like matmul's (the suite's probes draw none, so the fit could not see it). "activation": what an
# activation's ops cost beyond ReLU's (the suite's probes use ReLU); held at 1 too.

TRAIN_PHASES = ("forward", "backward", "optimizer")
# The phase whose ops pay which overhead: forward ops record autograd nodes; backward ops run in
# the autograd engine (C++, no Python); optimizer and evaluation ops run without autograd.
_OP_FEATURE = {"forward": "op", "backward": "op_backward", "optimizer": "op_nograd", "eval": "op_nograd"}


def matmul_seconds(*, flops: float, nbytes: float, flops_per_s: float, bytes_per_s: float) -> float:
    """Roofline of one matmul: bound by arithmetic or by moving its operands, whichever is slower
    (Williams et al. 2009, "Roofline")."""
    return max(flops / flops_per_s, nbytes / bytes_per_s)


def op_kernel(op: OpRecord, *, device: DeviceModel) -> tuple[str, float]:
    """(feature, seconds) of one op's kernel on ``device``."""
    if op.kind == "attention":
        bh, t_q, t_k, d = op.shape
        return "matmul", device.attention_seconds(bh=bh, t_q=t_q, t_k=t_k, d=d, backward=op.name.endswith("backward"))
    if op.kind == "random":
        return "random", rng.seconds(op=op.name, elements=op.shape[0] if op.shape else 0.0, per_element_s=device.random_s_per_element)
    if op.kind == "matmul":
        if "convolution" in op.name:
            backward = "backward" in op.name
            return "conv", op.flops / device.conv_rate(op.flops, backward=backward)
        # a product of known shape at the rate measured for that shape (each of B batched ones alone)
        rate = device.matmul_shape_rate(m=op.shape[1], k=op.shape[2], n=op.shape[3]) if len(op.shape) == 4 else device.matmul_rate(op.flops)
        return "matmul", matmul_seconds(flops=op.flops, nbytes=op.bytes, flops_per_s=rate, bytes_per_s=device.bandwidth(op.bytes))
    feature = "memory_strided" if op.kind in ("norm", "softmax") or "pool" in op.name else "memory"
    return feature, op.bytes / device.bandwidth(op.bytes) if op.bytes else 0.0


def grid_priced_modules(ops: Iterable[OpRecord], *, device: DeviceModel) -> set[str]:
    """The recurrent and convolution modules priced whole from the device's grids (their own ops skipped)."""
    return {op.module for op in ops if (op.kind == "recurrent" and device.prices_recurrent(op.name.split(":", 1)[1]))
            or (op.kind == "conv2d" and device.prices_conv())}


def conv_kernel(op: OpRecord, *, device: DeviceModel) -> float:
    """Seconds of one recorded ``nn.Conv2d`` call (kind "conv2d") on ``device``: training (forward
    + backward) in phase "forward", evaluation in phase "eval" (:func:`hpbench.cost.conv.layer_seconds`)."""
    return conv.layer_seconds(shape=op.shape, train=op.phase == "forward", rate=device.conv_shape_rate)


def recurrent_kernel(op: OpRecord, *, device: DeviceModel) -> float:
    """Seconds of one recorded recurrent call (kind "recurrent") on ``device``: training (forward
    + backward) in phase "forward", evaluation in phase "eval" (:func:`hpbench.cost.recurrent.module_seconds`)."""
    return recurrent.module_seconds(cell=op.name.split(":", 1)[1], shape=op.shape, train=op.phase == "forward", rate=device.recurrent_rate,
                                    axes=device.recurrent_grid, cliff=device.recurrent_cliff)


def features(ops: Iterable[OpRecord], *, device: DeviceModel, phases: tuple[str, ...] = TRAIN_PHASES, state_bytes: float = 0.0) -> dict[str, float]:
    """The time model's inputs for the ops of the given phases (one 'step' of them when a training phase is among them).

    ``state_bytes``: the optimizer step's working set (weights, gradients and optimizer state,
    :func:`hpbench.cost.trial_time.state_working_set_bytes`). The optimizer's element-wise ops
    walk all of it every step, so each is priced at the bandwidth measured at that volume (DRAM
    once it outgrows the caches), not at the in-cache rate of its own tensor."""
    ops = list(ops)
    # Recurrent layers and convolutions with a measured grid: one kernel each (the "recurrent" and
    # "conv" terms); every op their forward, backward or evaluation dispatched is in that
    # measurement, so it is skipped here, but for the masks a stacked layer's dropout draws (the
    # grid measured single layers).
    priced = grid_priced_modules(ops, device=device) if device.recurrent_grid or device.conv_grid else set()
    if priced:
        ops = [op for op in ops if op.module not in priced or op.kind in ("recurrent", "conv2d", "module", "random")]
    f = dict.fromkeys(FEATURES, 0.0)
    f["step"] = 1.0 if any(p in TRAIN_PHASES for p in phases) else 0.0
    # Fused recurrent layers: their forward ops are one kernel; their backward ops cannot be
    # attributed, so the backward op count is scaled by the forward's kept/decomposed ratio.
    fwd = [op for op in ops if op.phase == "forward" and op.kind not in ("fused", "module", "free", "conv2d")]
    n_kept = sum(1 for op in fwd if not op.fused)
    ratio = n_kept / len(fwd) if fwd and n_kept < len(fwd) else 1.0
    # An attention that trains with dropout: the device runs its fused kernel or its math path, not both.
    skipped_path = "math" if device.fuses_attention_dropout else "fused"
    # Fused attention: the math path's backward ops are replaced by the "sdpa_backward" kernel.
    fused_attention_backward = any(op.name == "sdpa_backward" and op.attention_path != skipped_path for op in ops)
    for op in ops:
        if op.phase not in phases or op.kind == "replaced" or op.attention_path == skipped_path:
            continue
        if op.kind == "recurrent":
            f["recurrent"] += recurrent_kernel(op, device=device) if op.module in priced else 0.0
            continue
        if op.kind == "conv2d":
            f["conv"] += conv_kernel(op, device=device) if op.module in priced else 0.0
            continue
        if fused_attention_backward and op.phase == "backward" and op.name in SDPA_MATH_BACKWARD:
            continue
        w = ratio if op.phase == "backward" else 1.0
        if op.kind == "module":
            f["module"] += 0.0 if op.fused else 1.0
            continue
        if op.kind == "free":
            f["view"] += 0.0 if op.fused else w
            continue
        if op.kind != "fused" and not (op.fused and op.kind != "matmul"):  # a fused layer's element-wise work stays in cache
            name, s = op_kernel(op, device=device)
            if name == "memory" and op.phase == "optimizer":
                name, s = "memory_optimizer", op.bytes / device.bandwidth(max(op.bytes, state_bytes)) if op.bytes else 0.0
            f[name] += s
            if op.kind == "elementwise" and device.activation_s_per_element:
                f["activation"] += activations.excess_seconds(op=op.name, elements=op.flops / ELEMENTWISE_PER_ELEMENT,
                                                              per_element_s=device.activation_s_per_element)
        f[_OP_FEATURE[op.phase]] += 0.0 if op.fused else w
    return f


def add(a: dict[str, float], b: dict[str, float], scale: float = 1.0) -> dict[str, float]:
    return {k: a.get(k, 0.0) + scale * b.get(k, 0.0) for k in FEATURES}


def seconds(feats: dict[str, float], coef: dict[str, float]) -> float:
    """t = Σ coef_k · feature_k."""
    return float(sum(coef.get(k, 0.0) * feats.get(k, 0.0) for k in FEATURES))


def epoch_features(*, full: StepCost, last: StepCost | None, n_steps: int, device: DeviceModel, eval_cost: StepCost | None = None,
                   n_eval_chunks: int = 1, state_bytes: float = 0.0) -> dict[str, float]:
    """Features of one epoch: (n_steps - 1) full steps, one last step, the evaluation pass, and the epoch itself."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, but got {n_steps}")
    f_full = features(full.ops, device=device, state_bytes=state_bytes)
    f_last = features((last or full).ops, device=device, state_bytes=state_bytes)
    f_eval = features((eval_cost or full).ops, device=device, phases=("eval",))
    out = add(add(f_last, f_full, n_steps - 1), f_eval, n_eval_chunks)
    out["epoch"] = 1.0
    return out


@dataclass(frozen=True, kw_only=True)
class EpochPrediction:
    flops_per_step: float  # a full-batch step: forward + backward + optimizer
    flops_per_epoch: float  # every training step of the epoch (eval pass not included)
    eval_flops: float  # the validation pass of the epoch
    step_s: float
    epoch_s: float
    naive_epoch_s: float  # (training + eval FLOPs) / peak FLOP/s
    regime: Regime  # what bounds the epoch (hpbench.cost.regime)


def predict_epoch(*, full: StepCost, last: StepCost | None, n_steps: int, device: DeviceModel, eval_cost: StepCost | None = None,
                  n_eval_chunks: int = 1, state_bytes: float = 0.0) -> EpochPrediction:
    """Seconds of one epoch: (n_steps - 1) full steps, one last (possibly smaller) step, and the
    evaluation pass (``n_eval_chunks`` forward passes of ``eval_cost``'s "eval" phase)."""
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, but got {n_steps}")
    last = last or full
    ev = eval_cost or full
    epoch_flops = (n_steps - 1) * full.total_flops + last.total_flops
    eval_flops = n_eval_chunks * ev.flops("eval")
    naive = (epoch_flops + eval_flops) / device.peak_flops_per_s
    if device.hypothetical:  # the textbook model: FLOPs / FLOP/s
        step_s, ep_s, regime = full.total_flops / device.peak_flops_per_s, naive, Regime.COMPUTE
    else:
        step_s = seconds(features(full.ops, device=device, state_bytes=state_bytes), device.coef)
        feats = epoch_features(full=full, last=last, n_steps=n_steps, device=device, eval_cost=ev, n_eval_chunks=n_eval_chunks,
                               state_bytes=state_bytes)
        ep_s, regime = seconds(feats, device.coef), regime_of(feats, device.coef)
    return EpochPrediction(flops_per_step=full.total_flops, flops_per_epoch=epoch_flops, eval_flops=eval_flops,
                           step_s=step_s, epoch_s=ep_s, naive_epoch_s=naive, regime=regime)
