"""Counting one training step (forward + backward + optimizer update) without training.

The step runs once on the ``meta`` device (shapes only, no data, no arithmetic) under
``torch.utils.flop_counter.FlopCounterMode`` — which counts matmuls, convolutions and attention —
and under hpbench's op recorder, which sees every aten op the step dispatches and adds what
FlopCounterMode leaves at 0: element-wise ops, norms, softmax, losses and the optimizer
update (formulas in :mod:`hpbench.cost.formulas`). On ``meta``, recurrent layers run their
decomposed per-timestep gate matmuls, so they are counted too (on a real CPU tensor, the fused
oneDNN kernel counts 0).

Each op is kept as an :class:`OpRecord` (FLOPs, bytes touched, phase) for the time model, and so
is each ``nn.Module`` call (kind ``"module"``: Python overhead, no FLOPs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.cost import formulas as F

PHASES = ("forward", "backward", "optimizer", "eval")  # and "optimizer_init": the first update's state creation, once per trial

# Ops that move no data (views, metadata, scalars read back): free in FLOPs and bytes.
_FREE = {
    "view", "_unsafe_view", "t", "transpose", "permute", "expand", "detach", "alias", "select", "slice",
    "squeeze", "unsqueeze", "lift_fresh", "_local_scalar_dense", "as_strided", "unbind", "split",
    "unsafe_split", "split_with_sizes", "unsafe_split_with_sizes", "_reshape_alias", "reshape", "view_as",
    "expand_as", "chunk", "unsafe_chunk", "narrow", "diagonal", "lift_fresh_copy", "_to_copy",
}
_FILL = {"zeros", "zeros_like", "ones", "ones_like", "empty", "empty_like", "fill_", "zero_", "full", "full_like",
         "new_zeros", "new_empty", "new_ones", "scalar_tensor", "empty_strided", "new_empty_strided", "bernoulli_"}
_NORMS_FWD = {"native_layer_norm", "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
              "_native_batch_norm_legit_no_training", "native_group_norm", "_batch_norm_with_update", "_batch_norm_no_update"}
_NORMS_BWD = {"native_layer_norm_backward", "native_batch_norm_backward", "native_group_norm_backward", "batch_norm_backward"}
# The ops of scaled-dot-product attention's math path, which ``meta`` runs; a CPU or GPU runs one
# fused attention kernel instead (flash attention), recorded as one "attention" op.
# Recorded with kind "replaced" (their FLOPs still count; the time model skips them); the math
# path's backward ops (SDPA_MATH_BACKWARD) cannot be told apart by module and are skipped by name.
_SDPA_MATH = {"bmm", "baddbmm", "_safe_softmax", "_softmax", "mul", "div", "masked_fill"}
SDPA_MATH_BACKWARD = {"bmm", "baddbmm", "_softmax_backward_data", "_safe_softmax_backward"}
_SOFTMAX = {"_softmax", "_safe_softmax", "_log_softmax", "_softmax_backward_data", "_log_softmax_backward_data"}


@dataclass(frozen=True, kw_only=True)
class OpRecord:
    name: str  # aten op, e.g. "addmm"
    kind: str  # "matmul" (FlopCounterMode counts it), "norm", "softmax", "elementwise", "fill", "free", "fused", "module",
    # "attention" (one fused kernel; "sdpa" and "sdpa_backward"), "replaced" (an op of the math path that kernel replaces)
    phase: str  # one of PHASES
    flops: float
    bytes: float  # bytes read and written (inputs + outputs)
    fused: bool = False  # inside a recurrent layer: one fused kernel on a real CPU/GPU ("fused" marks its launch)
    shape: tuple[int, ...] = ()  # kind "attention": (batch · heads, query length, key length, head dim)


@dataclass(frozen=True, kw_only=True)
class StepCost:
    """FLOPs of one training step at one batch size, with its ops."""

    batch_size: int
    n_params: int
    ops: tuple[OpRecord, ...]
    flop_counter_flops: int  # what FlopCounterMode alone counts (matmul, conv, attention)

    def flops(self, *phases: str) -> float:
        want = phases or ("forward", "backward", "optimizer")
        return float(sum(op.flops for op in self.ops if op.phase in want))

    @property
    def forward_flops(self) -> float:
        return self.flops("forward")

    @property
    def backward_flops(self) -> float:
        return self.flops("backward")

    @property
    def optimizer_flops(self) -> float:
        return self.flops("optimizer")

    @property
    def total_flops(self) -> float:
        """Forward + backward + optimizer update (not the evaluation pass)."""
        return self.flops("forward", "backward", "optimizer")


def _numel(t: Any) -> int:
    return int(t.numel())


def _tensors(x: Any) -> list[Any]:
    import torch
    from torch.utils._pytree import tree_leaves

    return [t for t in tree_leaves(x) if isinstance(t, torch.Tensor)]


def classify(name: str, args: Sequence[Any], kwargs: dict[str, Any], out: Any, *, matmul_flops: int) -> tuple[str, float]:
    """(kind, FLOPs) of one aten op; matmul FLOPs come from FlopCounterMode's registry."""
    if matmul_flops:
        return "matmul", float(matmul_flops)
    if name in _FREE:
        return "free", 0.0
    if name in _FILL:
        return "fill", 0.0
    outs = _tensors(out)
    ins = _tensors(list(args) + list(kwargs.values()))
    n_out = max((_numel(t) for t in outs), default=0)
    n_in = max((_numel(t) for t in ins), default=0)
    if name in _NORMS_FWD:
        return "norm", float(F.NORM_FORWARD_PER_ELEMENT * n_in)
    if name in _NORMS_BWD:
        return "norm", float(F.NORM_BACKWARD_PER_ELEMENT * n_in)
    if name in _SOFTMAX:
        return "softmax", float(F.SOFTMAX_PER_ELEMENT * n_out)
    # element-wise or a reduction: one FLOP per element of the larger side
    return "elementwise", float(F.ELEMENTWISE_PER_ELEMENT * max(n_in, n_out))


class _Recorder:
    """A TorchDispatchMode (built lazily so this module imports without torch)."""

    def __new__(cls) -> Any:
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import flop_registry

        class Recorder(TorchDispatchMode):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.ops: list[OpRecord] = []
                self.phase = "forward"
                self.fused_depth = 0
                self.attention_depth = 0

            def enter_fused(self, name: str) -> None:
                if self.fused_depth == 0:
                    self.ops.append(OpRecord(name=f"fused:{name}", kind="fused", phase=self.phase, flops=0.0, bytes=0.0))
                self.fused_depth += 1

            def exit_fused(self) -> None:
                self.fused_depth = max(0, self.fused_depth - 1)

            def attention(self, *, bh: int, t_q: int, t_k: int, d: int, backward: bool) -> None:
                """One scaled-dot-product attention (its forward, and its backward when training)."""
                # FLOPs stay with the math-path ops it replaces (counted once); q, k, v, out in float32 moved
                nbytes = float(4 * bh * d * (2 * t_q + 2 * t_k))  # q, k, v, out in float32
                kw = dict(kind="attention", fused=self.fused_depth > 0, shape=(bh, t_q, t_k, d))
                self.ops.append(OpRecord(name="sdpa", phase=self.phase, flops=0.0, bytes=nbytes, **kw))  # type: ignore[arg-type]
                if backward:
                    self.ops.append(OpRecord(name="sdpa_backward", phase="backward", flops=0.0, bytes=2 * nbytes, **kw))  # type: ignore[arg-type]

            def module_call(self, name: str) -> None:
                self.ops.append(OpRecord(name=f"module:{name}", kind="module", phase=self.phase, flops=0.0, bytes=0.0,
                                         fused=self.fused_depth > 0))

            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                packet = func._overloadpacket
                if func.namespace != "aten":
                    return out
                mm = int(flop_registry[packet](*args, **kwargs, out_val=out)) if packet in flop_registry else 0
                name = packet.__name__
                kind, flops = classify(name, args, kwargs, out, matmul_flops=mm)
                nbytes = 0.0 if kind == "free" else float(sum(t.numel() * t.element_size() for t in _tensors((args, kwargs, out))))
                if self.attention_depth > 0 and name in _SDPA_MATH:
                    kind = "replaced"
                self.ops.append(OpRecord(name=name, kind=kind, phase=self.phase, flops=flops, bytes=nbytes, fused=self.fused_depth > 0))
                return out

        return Recorder()


def count_module_step(model: Any, *, x: Any, y: Any | None = None, loss_fn: Any = None, optimizer: str = "adam",
                      optimizer_params: dict[str, Any] | None = None, eval_x: Any | None = None,
                      n_source: int | None = None) -> StepCost:
    """Count one training step of ``model`` on input ``x`` (any device; moved to ``meta``).

    ``loss_fn(out, y)`` defaults to ``out.sum()``; ``optimizer`` is an hpbench optimizer name.
    ``eval_x`` adds a forward pass under ``no_grad`` recorded in phase ``"eval"``. ``n_source``
    records the trainer's batch gather from a training set of that many rows and its running
    loss sum, so that the step holds every op the trainer's loop dispatches.
    """
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from hpbench.train.optimizers import build_optimizer

    model = copy.deepcopy(model).to("meta")
    x = x.detach().to("meta").requires_grad_(x.requires_grad)  # a leaf on meta: backward never copies to the source device
    y = y.to("meta") if y is not None else None
    n_params = sum(p.numel() for p in model.parameters())
    opt = build_optimizer(optimizer, model.parameters(), lr=1e-3, params=dict(optimizer_params or {})) if n_params else None
    rec = _Recorder()
    _hook_modules(model, rec)  # before the recurrent hooks: a fused layer's own call is not fused
    _hook_recurrent(model, rec)
    _hook_attention(model, rec)
    model.train()
    source = None
    if n_source is not None:
        source = (torch.zeros((n_source, *x.shape[1:]), device="meta"), torch.zeros((n_source, *y.shape[1:]), dtype=y.dtype, device="meta") if y is not None else None)
    with FlopCounterMode(display=False) as fc, rec:
        if source is not None:  # the trainer's gather: x_train[idx], y_train[idx]
            idx = torch.zeros(x.shape[0], dtype=torch.int64, device="meta")
            x = source[0][idx]
            y = source[1][idx] if source[1] is not None else None
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = loss_fn(out, y) if loss_fn is not None else out.sum()
        if source is not None:  # total += loss.detach() * len(xb)
            torch.zeros((), device="meta").add_(loss.detach() * x.shape[0])
        rec.phase = "backward"
        if loss.requires_grad:
            loss.backward()
        rec.fused_depth = 0
        if opt is not None:
            # The first update also creates the optimizer's state (zeros_like per moment): record
            # it as "optimizer_init" (counted by no phase) and a second, steady-state update as the step's.
            rec.phase = "optimizer_init"
            opt.step()
            rec.phase = "optimizer"
            opt.step()
        rec.phase = "optimizer"
        if eval_x is not None:
            rec.phase = "eval"
            model.eval()
            with torch.no_grad():
                out = model(eval_x.to("meta"))
                out = out[0] if isinstance(out, tuple) else out
                if loss_fn is not None and y is not None:
                    loss_fn(out, torch.zeros((out.shape[0], *y.shape[1:]), dtype=y.dtype, device="meta"))
    return StepCost(batch_size=int(x.shape[0]), n_params=int(n_params), ops=tuple(rec.ops), flop_counter_flops=int(fc.get_total_flops()))


# Recurrent layers that run as one fused kernel per layer on CPU. Measured with torch.profiler
# (torch 2.13, CPU, 20 timesteps): nn.LSTM trains through oneDNN's fused RNN (72 aten events per
# step), while nn.RNN and nn.GRU run their per-timestep cells as separate aten ops (900 and 1859
# events), so those ops each pay the dispatcher's overhead and are not marked fused.
FUSED_RECURRENT = ("LSTM",)


def _hook_recurrent(model: Any, rec: Any) -> None:
    """Mark the ops of fused recurrent layers (:data:`FUSED_RECURRENT`): on meta they run
    decomposed per timestep, on the CPU as one oneDNN kernel per layer. (Backward ops cannot be
    told apart by module; :func:`hpbench.cost.predict.features` scales their count like the forward's.)"""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.RNNBase) and type(m).__name__ in FUSED_RECURRENT:
            name = type(m).__name__
            m.register_forward_pre_hook(lambda *_a, n=name: rec.enter_fused(n))
            m.register_forward_hook(lambda *_a: rec.exit_fused())


def _hook_attention(model: Any, rec: Any) -> None:
    """Record each ``nn.MultiheadAttention`` call's attention as one fused op (CPU: flash
    attention for CPU, one kernel forward and one backward) and mark its math-path ops fused."""
    import torch
    from torch import nn

    def pre(m: Any, args: tuple[Any, ...]) -> None:
        q, k = args[0], args[1] if len(args) > 1 else args[0]
        if q.dim() == 3:
            b, t_q = (q.shape[0], q.shape[1]) if m.batch_first else (q.shape[1], q.shape[0])
            t_k = k.shape[1] if m.batch_first else k.shape[0]
        else:
            b, t_q, t_k = 1, q.shape[0], k.shape[0]
        rec.attention(bh=int(b * m.num_heads), t_q=int(t_q), t_k=int(t_k), d=int(m.embed_dim // m.num_heads),
                      backward=torch.is_grad_enabled() and rec.phase == "forward")
        rec.attention_depth += 1

    def post(*_a: Any) -> None:
        rec.attention_depth = max(0, rec.attention_depth - 1)

    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            m.register_forward_pre_hook(pre)
            m.register_forward_hook(post)


def _hook_modules(model: Any, rec: Any) -> None:
    """Record every ``nn.Module`` call (each costs a Python ``__call__`` on a real device)."""
    for m in model.modules():
        m.register_forward_pre_hook(lambda mod, _a, rec=rec: rec.module_call(type(mod).__name__))


def fake_targets(task: str, *, n: int, n_outputs: int) -> Any:
    import torch

    if task == "multiclass":
        return torch.zeros(n, dtype=torch.int64, device="meta")
    return torch.zeros(n, dtype=torch.float32, device="meta")


def count_step(*, family: str, model_params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: str,
               batch_size: int, optimizer: str = "adam", optimizer_params: dict[str, Any] | None = None,
               eval_size: int | None = None, n_source: int | None = None) -> StepCost:
    """Count one training step of a model family at ``batch_size`` (built on ``meta``: no weights allocated)."""
    import torch

    from hpbench.models import build_model
    from hpbench.train import tasks

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, but got {batch_size}")
    with torch.device("meta"):
        model = build_model(family, input_shape=tuple(input_shape), n_outputs=n_outputs, params=dict(model_params))
    x = torch.zeros((batch_size, *input_shape), device="meta")
    y = fake_targets(task, n=batch_size, n_outputs=n_outputs)
    ex = torch.zeros((eval_size, *input_shape), device="meta") if eval_size else None
    return count_module_step(model, x=x, y=y, loss_fn=tasks.loss_fn(task), optimizer=optimizer,
                             optimizer_params=optimizer_params, eval_x=ex, n_source=n_source)


def n_steps(*, n_train: int, batch_size: int | str) -> tuple[int, int, int]:
    """(steps per epoch, full batch size, last batch size) for the trainer's loop."""
    bs = n_train if batch_size == "full" else min(int(batch_size), n_train)
    steps = math.ceil(n_train / bs)
    return steps, bs, n_train - (steps - 1) * bs
