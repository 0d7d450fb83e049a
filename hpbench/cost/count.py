"""Counting one training step (forward + backward + optimizer update) without training.

The step runs once on the ``meta`` device (shapes only, no data, no arithmetic) under hpbench's
op recorder, which sees every aten op the step dispatches, counts matmuls, convolutions and
attention by ``torch.utils.flop_counter``'s formula registry (what ``FlopCounterMode`` counts;
that mode, run as a second dispatch mode, wrapped every op again) and adds what those formulas
leave at 0: element-wise ops, norms, softmax, losses and the optimizer update (formulas in
:mod:`hpbench.cost.formulas`). On ``meta``, recurrent layers run their decomposed per-timestep
gate matmuls, so they are counted too (on a real CPU tensor, the fused oneDNN kernel counts 0).

Each op is kept as an :class:`~hpbench.cost.ops.OpRecord` (FLOPs, bytes touched, phase) for the
time model, and so is each ``nn.Module`` call (kind ``"module"``: Python overhead, no FLOPs); the
recorder is :mod:`hpbench.cost.recorder`'s, its module hooks :mod:`hpbench.cost.module_hooks`'s.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from hpbench.cost.coverage import find_uncounted
from hpbench.cost.module_hooks import hook_recurrent_whole, install_hooks
from hpbench.cost.ops import OpRecord, StepCost, tensor_bytes
from hpbench.cost.recorder import make_recorder
from hpbench.cost.step_options import NO_OPTIONS, StepOptions


def count_module_step(model: Any, *, x: Any, y: Any | None = None, loss_fn: Any = None, optimizer: str = "adam",
                      optimizer_params: dict[str, Any] | None = None, eval_x: Any | None = None,
                      n_source: int | None = None, device: str = "meta", own_model: bool = False,
                      reuse_optimizer: bool = True, whole_recurrent: tuple[str, ...] = (), eval_loss_fn: Any = None,
                      clip: tuple[float | None, float | None] = (None, None), augment: Any = None) -> StepCost:
    """Count one training step of ``model`` on input ``x`` (any device; moved to ``device``:
    ``meta`` runs shapes only, ``cpu`` real arithmetic on zeros, for a model meta cannot run).

    ``loss_fn(out, y)`` defaults to ``out.sum()``; ``optimizer`` is an hpbench optimizer name.
    ``eval_x`` adds a forward pass under ``no_grad`` recorded in phase ``"eval"``. ``n_source``
    records the trainer's batch gather from a training set of that many rows and its running
    loss sum, so that the step holds every op the trainer's loop dispatches. ``own_model``: the
    caller hands ``model`` over (built for this count, on ``device``): it is counted as it is,
    not copied first (the copy protects a caller's module from the recorder's hooks).

    The optimizer's update is recorded in its steady state (the first update, which creates the
    optimizer's state, runs unrecorded: no consumer reads it). Its ops depend only on the
    optimizer, its settings and the parameters' and gradients' shapes (:func:`optimizer_key`),
    so with ``reuse_optimizer`` they are recorded once per process per key and reused (the last
    batch's count and other batch sizes of one model; the update was ~half of a count's CPU).
    """
    import copy

    import torch

    model = model.to(device) if own_model else copy.deepcopy(model).to(device)
    x = x.detach().to(device).requires_grad_(x.requires_grad)  # a leaf on meta: backward never copies to the source device
    y = y.to(device) if y is not None else None
    n_params = sum(p.numel() for p in model.parameters())
    rec = make_recorder()
    install_hooks(model, rec)
    if whole_recurrent:  # recurrent layers a device prices whole from its grid: counted whole (hpbench.cost.module_hooks)
        hook_recurrent_whole(model, rec, cells=whole_recurrent)
    model.train()
    source = None
    if n_source is not None:
        source = (torch.zeros((n_source, *x.shape[1:]), device=device),
                  torch.zeros((n_source, *y.shape[1:]), dtype=y.dtype, device=device) if y is not None else None)
    with rec:
        if source is not None:  # the trainer's gather: x_train[idx], y_train[idx]
            idx = torch.zeros(x.shape[0], dtype=torch.int64, device=device)
            x = source[0][idx]
            y = source[1][idx] if source[1] is not None else None
        if augment is not None:  # the training batch augmented (hpbench.train.epoch.train_batches)
            x = augment(x)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        loss = loss_fn(out, y) if loss_fn is not None else out.sum()
        if source is not None:  # total += loss.detach() * len(xb)
            torch.zeros((), device="meta").add_(loss.detach() * x.shape[0])
        rec.phase = "backward"
        if loss.requires_grad:
            loss.backward()
    rec.fused_depth = 0
    rec.phase = "optimizer"
    if n_params and (clip[0] is not None or clip[1] is not None):  # between the backward pass and the update (hpbench.train.clipping)
        from hpbench.train.clipping import GradClip

        with rec:
            GradClip(params=tuple(p for p in model.parameters() if p.grad is not None), norm=clip[0], value=clip[1])()
    if n_params:
        _record_optimizer_step(rec, model, optimizer=optimizer, optimizer_params=dict(optimizer_params or {}), device=device,
                               reuse=reuse_optimizer)
    if eval_x is not None:
        rec.phase = "eval"
        model.eval()
        with rec, torch.no_grad():
            out = model(eval_x.to(device))
            out = out[0] if isinstance(out, tuple) else out
            if loss_fn is not None and y is not None:
                (eval_loss_fn or loss_fn)(out, torch.zeros((out.shape[0], *y.shape[1:]), dtype=y.dtype, device=device))
    ops = tuple(rec.ops)
    return StepCost(batch_size=int(x.shape[0]), n_params=int(n_params), ops=ops, flop_counter_flops=int(rec.registry_flops),
                    uncounted=find_uncounted(model, ops, batch_size=int(x.shape[0]), called=rec.called), counted_on=device)


OPTIMIZER_CACHE_SIZE = 256  # distinct (optimizer, settings, parameter shapes) kept per process
_OPTIMIZER_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], float]] = OrderedDict()  # key -> (ops, registry FLOPs)


def optimizer_key(model: Any, *, optimizer: str, optimizer_params: dict[str, Any], device: str) -> tuple[Any, ...] | None:
    """What the ops of one steady-state update of ``optimizer`` over ``model``'s parameters
    depend on: the optimizer (its registered factory: a plugin may replace a name), its settings
    (a built-in's float settings as zero or not, :data:`ZERO_BRANCHING_OPTIMIZERS`), the device,
    each parameter's shape, dtype and gradient (shape, dtype, layout; or none), and torch's
    FLOP-formula registry. None when a setting cannot be hashed (then it is recorded every time)."""
    from torch.utils.flop_counter import flop_registry

    from hpbench.train.optimizers import OPTIMIZERS

    opt = optimizer_settings_key(optimizer, optimizer_params)
    params = tuple((tuple(p.shape), str(p.dtype), bool(p.requires_grad),
                    None if p.grad is None else (tuple(p.grad.shape), str(p.grad.dtype), str(p.grad.layout))) for p in model.parameters())
    try:
        key = _frozen((optimizer, id(OPTIMIZERS.get(optimizer)), opt, device, params))
        return (*key, frozenset((op, id(f)) for op, f in flop_registry.items()))
    except (TypeError, KeyError, ValueError):
        return None


def _record_optimizer_step(rec: Any, model: Any, *, optimizer: str, optimizer_params: dict[str, Any], device: str, reuse: bool) -> None:
    """Append one steady-state update's ops to ``rec`` (phase "optimizer"), from the cache when
    the same update was recorded before (:func:`optimizer_key`)."""
    from hpbench.train.optimizers import build_optimizer, has_fused_kernel

    key = optimizer_key(model, optimizer=optimizer, optimizer_params=optimizer_params, device=device) if reuse else None
    if key is not None and key in _OPTIMIZER_CACHE:
        _OPTIMIZER_CACHE.move_to_end(key)
        ops, flops = _OPTIMIZER_CACHE[key]
        rec.ops.extend(ops)
        rec.registry_flops += flops
        return
    opt = build_optimizer(optimizer, model.parameters(), lr=1e-3, params=dict(optimizer_params), fused=False)
    opt.step()  # creates the optimizer's state (zeros_like per moment): not recorded
    first, flops0 = len(rec.ops), rec.registry_flops
    with rec:
        opt.step()
    if has_fused_kernel(opt):  # the trainer runs it as one kernel (hpbench.train.optimizers): what meta cannot run
        rec.ops[first:] = fold_fused(opt, rec.ops[first:])
    if key is not None:
        _OPTIMIZER_CACHE[key] = (tuple(rec.ops[first:]), rec.registry_flops - flops0)
        while len(_OPTIMIZER_CACHE) > OPTIMIZER_CACHE_SIZE:
            _OPTIMIZER_CACHE.popitem(last=False)


PROFILER = "profiler::"  # the step's record_function markers (torch.optim's profiling hook), fused or not


def fold_fused(optimizer: Any, ops: list[OpRecord]) -> list[OpRecord]:
    """``optimizer``'s update recorded op by op (``ops``), as its fused kernel runs it: torch's
    profiler markers, then the one record of :func:`fused_update`."""
    markers = [op for op in ops if op.name.startswith(PROFILER)]
    return [*markers, fused_update(optimizer, [op for op in ops if not op.name.startswith(PROFILER)])]


def fused_update(optimizer: Any, ops: list[OpRecord]) -> OpRecord:
    """The one record of ``optimizer``'s update run by torch's fused kernel, from ``ops``, the same
    update recorded op by op: its arithmetic (their FLOPs), one launch, and the bytes the kernel
    moves: every parameter, gradient and state tensor read once, the parameters and states
    written once (the op-by-op update moves each several times)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    states = [t for p in params for t in optimizer.state.get(p, {}).values() if hasattr(t, "numel") and t.dim() > 0]
    nbytes = float(sum(2 * tensor_bytes(p) + (tensor_bytes(p.grad) if p.grad is not None else 0.0) for p in params)
                   + sum(2 * tensor_bytes(t) for t in states))
    return OpRecord(name=f"_fused_{type(optimizer).__name__.lower()}_", kind="elementwise", phase="optimizer",
                    flops=float(sum(op.flops for op in ops)), bytes=nbytes)


def fake_targets(task: str, *, n: int, n_outputs: int, device: str = "meta") -> Any:
    import torch

    if task == "multiclass":
        return torch.zeros(n, dtype=torch.int64, device=device)
    return torch.zeros(n, dtype=torch.float32, device=device)


# torch's own optimizers (hpbench.train.optimizers; named here: cost imports no train code) branch on
# their float settings only as zero or not (``if weight_decay != 0``, ``if momentum != 0``): the ops
# of one step are the same for momentum 0.9 and 0.95, so those configurations share one count.
ZERO_BRANCHING_OPTIMIZERS = frozenset({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw"})
STEP_CACHE_SIZE = 512  # distinct step shapes kept per process (each StepCost holds a few hundred op records)
_STEP_CACHE: OrderedDict[tuple[Any, ...], StepCost] = OrderedDict()


def _frozen(value: Any) -> Any:
    """A hashable copy of a study value (dicts and lists become tuples); TypeError when it has none."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    hash(value)
    return value


def optimizer_settings_key(optimizer: str, optimizer_params: dict[str, Any] | None) -> dict[str, Any]:
    """An optimizer's settings as its ops depend on them: a built-in's float settings only as zero
    or not (:data:`ZERO_BRANCHING_OPTIMIZERS`), any other optimizer's exactly."""
    opt = dict(optimizer_params or {})
    if optimizer in ZERO_BRANCHING_OPTIMIZERS:
        return {k: (v != 0 if isinstance(v, float) else v) for k, v in opt.items()}
    return opt


def step_key(*, family: str, model_params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: str,
             batch_size: int, optimizer: str, optimizer_params: dict[str, Any] | None, eval_size: int | None,
             n_source: int | None, kind: str | None, whole_recurrent: tuple[str, ...] = ()) -> tuple[Any, ...] | None:
    """What one step's count depends on, as a cache key: everything exactly, except a built-in
    optimizer's float settings, which count only as zero or not (:data:`ZERO_BRANCHING_OPTIMIZERS`).
    None when a value cannot be hashed (the step is then counted every time)."""
    opt = optimizer_settings_key(optimizer, optimizer_params)
    try:
        return _frozen((family, model_params, tuple(input_shape), n_outputs, task, batch_size, optimizer, opt, eval_size, n_source, kind,
                        tuple(sorted(whole_recurrent))))
    except TypeError:
        return None


def count_step(*, family: str, model_params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: str,
               batch_size: int, optimizer: str = "adam", optimizer_params: dict[str, Any] | None = None,
               eval_size: int | None = None, n_source: int | None = None, kind: str | None = None,
               whole_recurrent: tuple[str, ...] = (), options: StepOptions = NO_OPTIONS) -> StepCost:
    """Count one training step of a model family at ``batch_size`` for samples of ``input_shape``
    of ``kind``: built and run on ``meta`` (no
    weights allocated, no arithmetic). A model that cannot run on ``meta`` (a user model reading
    its tensors' values, or building on a device of its own) is counted from the module itself,
    built and run on the CPU on zeros (the training set it gathers from capped at one batch).

    Counts are kept per process by :func:`step_key` (LRU, :data:`STEP_CACHE_SIZE`): a search's
    driver prices every configuration it proposes, and a count costs 0.12-1.57 CPU s here
    (session 9's pair probe) on a machine whose cores the trials need; configurations that differ
    only in learning rate or an optimizer's nonzero settings share one. ``whole_recurrent``: the
    recurrent cell types counted whole (:func:`hpbench.cost.module_hooks.hook_recurrent_whole`: those a
    device prices from its grid). ``options``: the trainer's options the step runs beyond the network
    (:class:`hpbench.cost.step_options.StepOptions`: clipping, label smoothing, augmentation)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, but got {batch_size}")
    from torch.utils.flop_counter import flop_registry

    key = step_key(family=family, model_params=model_params, input_shape=input_shape, n_outputs=n_outputs, task=task,
                   batch_size=batch_size, optimizer=optimizer, optimizer_params=optimizer_params, eval_size=eval_size,
                   n_source=n_source, kind=kind, whole_recurrent=whole_recurrent)
    if key is not None:
        key += (options.key(),)
        key += (frozenset((op, id(f)) for op, f in flop_registry.items()),)  # a FLOP formula registered since changes the count
        if key in _STEP_CACHE:
            _STEP_CACHE.move_to_end(key)
            return _STEP_CACHE[key]
    step = _count_step(family=family, model_params=model_params, input_shape=input_shape, n_outputs=n_outputs, task=task,
                       batch_size=batch_size, optimizer=optimizer, optimizer_params=optimizer_params, eval_size=eval_size,
                       n_source=n_source, kind=kind, whole_recurrent=whole_recurrent, options=options)
    if key is not None:
        _STEP_CACHE[key] = step
        while len(_STEP_CACHE) > STEP_CACHE_SIZE:
            _STEP_CACHE.popitem(last=False)
    return step


def _count_step(*, family: str, model_params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: str,
                batch_size: int, optimizer: str, optimizer_params: dict[str, Any] | None,
                eval_size: int | None, n_source: int | None, kind: str | None, whole_recurrent: tuple[str, ...] = (),
                options: StepOptions = NO_OPTIONS) -> StepCost:
    import torch

    kw: dict[str, Any] = dict(family=family, model_params=model_params, input_shape=tuple(input_shape), n_outputs=n_outputs, task=task,
                              batch_size=batch_size, optimizer=optimizer, optimizer_params=optimizer_params, eval_size=eval_size,
                              kind=kind, whole_recurrent=whole_recurrent, options=options)
    try:
        return _count_on("meta", n_source=n_source, **kw)
    except Exception as meta_error:
        try:
            torch.manual_seed(0)
            return _count_on("cpu", n_source=min(n_source, batch_size) if n_source else None, **kw)
        except Exception as cpu_error:
            raise ValueError(f"model.family {family!r}: its training step could not be counted on meta ({meta_error}) "
                             f"nor on the CPU ({cpu_error})") from cpu_error


def _count_on(device: str, *, family: str, model_params: dict[str, Any], input_shape: tuple[int, ...], n_outputs: int, task: str,
              batch_size: int, optimizer: str, optimizer_params: dict[str, Any] | None, eval_size: int | None, n_source: int | None,
              kind: str | None = None, whole_recurrent: tuple[str, ...] = (), options: StepOptions = NO_OPTIONS) -> StepCost:
    import functools

    import torch

    from hpbench.data.augment import Augment
    from hpbench.models import build_model
    from hpbench.train import tasks

    with torch.device(device):
        model = build_model(family, input_shape=tuple(input_shape), n_outputs=n_outputs, params=dict(model_params), kind=kind)
    x = torch.zeros((batch_size, *input_shape), device=device)
    y = fake_targets(task, n=batch_size, n_outputs=n_outputs, device=device)
    ex = torch.zeros((eval_size, *input_shape), device=device) if eval_size else None
    # as the trainer's: augmentation on image batches only, the smoothed loss for training, the plain one for evaluation
    augment = functools.partial(Augment(), gen=torch.Generator().manual_seed(0)) if options.augment and len(input_shape) == 3 else None
    return count_module_step(model, x=x, y=y, loss_fn=tasks.loss_fn(task, label_smoothing=options.label_smoothing), optimizer=optimizer,
                             optimizer_params=optimizer_params, eval_x=ex, n_source=n_source, device=device, own_model=True,
                             whole_recurrent=whole_recurrent, eval_loss_fn=tasks.loss_fn(task), clip=(options.clip_norm, options.clip_value),
                             augment=augment)


def n_steps(*, n_train: int, batch_size: int | str) -> tuple[int, int, int]:
    """(steps per epoch, full batch size, last batch size) for the trainer's loop."""
    bs = n_train if batch_size == "full" else min(int(batch_size), n_train)
    steps = math.ceil(n_train / bs)
    return steps, bs, n_train - (steps - 1) * bs
