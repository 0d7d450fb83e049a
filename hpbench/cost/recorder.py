"""The op recorder of a counted step: a ``TorchDispatchMode`` that keeps an :class:`OpRecord` of
every aten op the step dispatches (in the current phase), and the module hooks that add each
``nn.Module`` call, record recurrent layers and 2-D convolutions whole, mark the ops of fused
recurrent layers and record fused attention.
Built lazily: importing this module does not import torch.
"""

from __future__ import annotations

import math
from typing import Any

from hpbench.cost.ops import SDPA_MATH, OpRecord, classify, op_bytes, shape_of, tensor_bytes


def make_recorder() -> Any:
    """A fresh recorder (a ``TorchDispatchMode``; its ``ops`` list fills while it is active)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Recorder(TorchDispatchMode):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.ops: list[OpRecord] = []
            self.phase = "forward"
            self.fused_depth = 0
            self.attention_depth = 0
            # per attention now running, what its math path's ops are: "replaced" (by the fused kernel, on every device),
            # "math" (trained with dropout: the fused kernel on a GPU, they on a CPU) or "" (they run everywhere: weights asked for)
            self.attention_paths: list[str] = []
            self.registry_flops = 0  # FLOPs by torch's formula registry (what FlopCounterMode counts: matmul, conv, attention)
            self.modules: list[str] = []  # the qualified names of the modules whose forward is running, outermost first
            self.called: set[str] = set()  # every module whose forward ran
            # autograd sequence numbers of the nodes each recurrent or convolution module's forward
            # created: [(first, end, qualified name)], so that its backward ops are attributed to it
            self.owned_nodes: list[tuple[int, int, str]] = []
            self.quiet = 0  # > 0: ops dispatched now are not recorded (a stand-in's: hook_recurrent_whole)
            self.whole: set[str] = set()  # modules counted whole: their backward ops are not recorded either

        @property
        def module(self) -> str:
            return self.modules[-1] if self.modules else ""

        def enter_fused(self, name: str) -> None:
            if self.fused_depth == 0:
                self.ops.append(OpRecord(name=f"fused:{name}", kind="fused", phase=self.phase, flops=0.0, bytes=0.0, module=self.module))
            self.fused_depth += 1

        def exit_fused(self) -> None:
            self.fused_depth = max(0, self.fused_depth - 1)

        def attention(self, *, bh: int, t_q: int, t_k: int, d: int, backward: bool, dropout: bool = False) -> None:
            """One scaled-dot-product attention (its forward, and its backward when training); with
            ``dropout`` (training with it), the fused records are marked as the "fused" path
            (:data:`hpbench.cost.ops.ATTENTION_PATHS`) and its math-path ops, recorded next, as "math"."""
            # FLOPs stay with the math-path ops it replaces (counted once); q, k, v, out in float32 moved
            nbytes = float(4 * bh * d * (2 * t_q + 2 * t_k))  # q, k, v, out in float32
            kw = dict(kind="attention", fused=self.fused_depth > 0, shape=(bh, t_q, t_k, d), attention_path="fused" if dropout else "")
            self.ops.append(OpRecord(name="sdpa", phase=self.phase, flops=0.0, bytes=nbytes, **kw))  # type: ignore[arg-type]
            if backward:
                self.ops.append(OpRecord(name="sdpa_backward", phase="backward", flops=0.0, bytes=2 * nbytes, **kw))  # type: ignore[arg-type]

        def recurrent(self, *, cell: str, shape: tuple[int, ...], module: str) -> None:
            """One call of a recurrent module (priced whole from the device's recurrent grid when it
            has one, :mod:`hpbench.cost.recurrent`): ``shape`` = (seq, batch, input, hidden, layers,
            directions); phase "forward" stands for its forward and backward."""
            self.ops.append(OpRecord(name=f"recurrent:{cell}", kind="recurrent", phase=self.phase, flops=0.0, bytes=0.0, shape=shape,
                                     module=module))

        def recurrent_flops(self, *, module: str, forward: float, backward: float) -> None:
            """The FLOPs of the last call of recurrent module ``module``, counted whole (its gate
            products, :func:`hpbench.cost.recurrent.layer_flops`): ``forward`` on its record,
            ``backward`` (when it trains) on one of phase "backward" (kind "recurrent_grad": the
            grid's training rate prices both, so the time model skips it)."""
            import dataclasses

            for i in range(len(self.ops) - 1, -1, -1):
                op = self.ops[i]
                if op.kind == "recurrent" and op.module == module:
                    self.ops[i] = dataclasses.replace(op, flops=float(forward))
                    break
            if backward:
                self.ops.append(OpRecord(name="recurrent_backward", kind="recurrent_grad", phase="backward", flops=float(backward), bytes=0.0,
                                         module=module))

        def drawn(self, *, elements: int, module: str) -> None:
            """A dropout mask of ``elements`` drawn inside a module counted whole (a stacked
            recurrent layer's dropout between its layers: the grid measured one layer, without it)."""
            self.ops.append(OpRecord(name="bernoulli_", kind="random", phase=self.phase, flops=float(elements), bytes=4.0 * elements,
                                     shape=(elements,), module=module))

        def conv(self, *, shape: tuple[int, ...], module: str) -> None:
            """One call of an ``nn.Conv2d`` (priced whole from the device's convolution grid when it
            has one, :mod:`hpbench.cost.conv`): ``shape`` = :func:`conv_shape`'s; phase "forward"
            stands for its forward and backward."""
            self.ops.append(OpRecord(name="conv2d", kind="conv2d", phase=self.phase, flops=0.0, bytes=0.0, shape=shape, module=module))

        def backward_module(self) -> str:
            """The recurrent or convolution module whose forward created the autograd node now running ("" for none)."""
            import torch

            node = torch._C._current_autograd_node() if self.owned_nodes else None
            if node is None:
                return ""
            nr = node._sequence_nr()
            return next((name for first, end, name in self.owned_nodes if first <= nr < end), "")

        def module_call(self, name: str) -> None:
            self.ops.append(OpRecord(name=f"module:{name}", kind="module", phase=self.phase, flops=0.0, bytes=0.0,
                                     fused=self.fused_depth > 0, module=self.module))

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if self.quiet or (self.whole and self.phase == "backward" and self.backward_module() in self.whole):
                return out
            packet = func._overloadpacket
            if func.namespace != "aten":  # a custom op (torch.library): no formula unless registered with FlopCounterMode
                if packet in flop_registry:
                    mm = int(flop_registry[packet](*args, **kwargs, out_val=out))
                    self.registry_flops += mm
                    self.ops.append(OpRecord(name=f"{func.namespace}::{packet.__name__}", kind="matmul", phase=self.phase, flops=float(mm),
                                             bytes=tensor_bytes((args, kwargs, out)),
                                             module=self.module))
                    return out
                nbytes = tensor_bytes((args, kwargs, out))
                self.ops.append(OpRecord(name=f"{func.namespace}::{packet.__name__}", kind="uncounted", phase=self.phase, flops=0.0,
                                         bytes=nbytes, fused=self.fused_depth > 0, module=self.module))
                return out
            mm = int(flop_registry[packet](*args, **kwargs, out_val=out)) if packet in flop_registry else 0
            self.registry_flops += mm
            name = packet.__name__
            kind, flops = classify(name, args, kwargs, out, matmul_flops=mm)
            module = self.backward_module() if self.phase == "backward" else self.module
            nbytes = 0.0 if kind == "free" else op_bytes(name, args, kwargs, out)
            path = ""
            if self.attention_depth > 0 and (name in SDPA_MATH or kind == "random") and self.attention_paths:
                if self.attention_paths[-1] == "replaced":
                    kind = "replaced"
                else:
                    path = self.attention_paths[-1]
            self.ops.append(OpRecord(name=name, kind=kind, phase=self.phase, flops=flops, bytes=nbytes, fused=self.fused_depth > 0,
                                     module=module, shape=shape_of(name, kind, args, out), attention_path=path))
            return out

    return Recorder()


# Recurrent layers that run as one fused kernel per layer on CPU. Measured with torch.profiler
# (torch 2.13, CPU, 20 timesteps): nn.LSTM trains through oneDNN's fused RNN (72 aten events per
# step), while nn.RNN and nn.GRU run their per-timestep cells as separate aten ops (900 and 1859
# events), so those ops each pay the dispatcher's overhead and are not marked fused.
FUSED_RECURRENT = ("LSTM",)


def recurrent_shape(m: Any, x: Any) -> tuple[int, ...]:
    """(seq, batch, input, hidden, layers, directions) of a call of ``nn.RNN``/``GRU``/``LSTM``
    ``m`` on ``x`` (batched in either layout or unbatched); () for a packed sequence."""
    if not hasattr(x, "dim") or x.dim() not in (2, 3):
        return ()
    if x.dim() == 2:
        seq, batch = x.shape[0], 1
    else:
        seq, batch = (x.shape[1], x.shape[0]) if m.batch_first else (x.shape[0], x.shape[1])
    return (int(seq), int(batch), int(m.input_size), int(m.hidden_size), int(m.num_layers), 2 if m.bidirectional else 1)


def hook_recurrent(model: Any, rec: Any) -> None:
    """Record each ``nn.RNN``/``GRU``/``LSTM`` call whole (its cell type and shape, for the
    device's recurrent grid) with the autograd nodes its forward creates (its backward ops are
    attributed to it by the running node's sequence number), and mark the ops of fused recurrent
    layers (:data:`FUSED_RECURRENT`): on meta they run decomposed per timestep, on the CPU as one
    oneDNN kernel per layer (without a grid, :func:`hpbench.cost.predict.features` scales the
    backward op count like the forward's)."""
    import torch
    from torch import nn

    for qualified, m in model.named_modules():
        if not isinstance(m, nn.RNNBase) or type(m).__name__ not in ("RNN", "GRU", "LSTM"):
            continue
        cell = type(m).__name__

        def pre(mod: Any, args: tuple[Any, ...], cell: str = cell, qualified: str = qualified) -> None:
            shape = recurrent_shape(mod, args[0]) if args else ()
            if shape:
                rec.recurrent(cell=cell, shape=shape, module=qualified)
            rec.owned_nodes.append((torch._C._autograd._get_sequence_nr(), -1, qualified))
            if cell in FUSED_RECURRENT:
                rec.enter_fused(cell)

        def post(*_a: Any, cell: str = cell) -> None:
            first, _, name = rec.owned_nodes[-1]
            rec.owned_nodes[-1] = (first, torch._C._autograd._get_sequence_nr(), name)
            if cell in FUSED_RECURRENT:
                rec.exit_fused()

        m.register_forward_pre_hook(pre)
        m.register_forward_hook(post)


def hook_recurrent_whole(model: Any, rec: Any, *, cells: Any) -> None:
    """Count each ``nn.RNN``/``GRU``/``LSTM`` of a cell type in ``cells`` whole: its forward is a
    stand-in of the same outputs' shapes, tied to its input and every weight (so that the layers
    before it and its weights' optimizer step are counted as they are), whose ops are not recorded;
    its FLOPs are its gate products' (:func:`hpbench.cost.recurrent.layer_flops`, backward 2x
    forward). For a device whose recurrent grid prices those cells (the time model skips a
    grid-priced module's own ops anyway): on ``meta`` a GRU of 128 steps dispatched ~16,000
    decomposed ops through torch's Python meta kernels, 3.7-9.4 CPU s a count. A call it cannot
    stand in for (a packed sequence, an LSTM with ``proj_size``) runs and is recorded as before."""
    import types

    import torch
    from torch import nn

    from hpbench.cost.recurrent import TRAIN_FLOPS_FACTOR, layer_flops, layer_shapes

    for qualified, m in model.named_modules():
        cell = type(m).__name__
        if not isinstance(m, nn.RNNBase) or cell not in cells or getattr(m, "proj_size", None):
            continue
        real = m.forward

        def stand_in(self: Any, input: Any, hx: Any = None, *, real: Any = real, cell: str = cell, qualified: str = qualified) -> Any:
            shape = recurrent_shape(self, input)
            if not shape:
                return real(input, hx)
            seq, batch, n_in, hidden, layers, dirs = shape
            rec.quiet += 1
            try:
                # every weight gets a gradient, dense as the real layer's (an expanded one would be copied by autograd's
                # accumulation, outside the layer's own nodes)
                tie = sum((p * 0.0).sum() for p in self.parameters())
                first = nn.functional.linear(input, self.weight_ih_l0).narrow(-1, 0, hidden)
                out = (torch.cat([first] * dirs, dim=-1) if dirs > 1 else first) + tie
                h = tie.expand((layers * dirs, batch, hidden) if input.dim() == 3 else (layers * dirs, hidden)).contiguous()  # as dense as h_n
            finally:
                rec.quiet -= 1
            rec.whole.add(qualified)
            forward = sum(layer_flops(cell=cell, seq_len=seq, batch=batch, n_in=k, hidden=hh)
                          for k, hh in layer_shapes(n_in=n_in, hidden=hidden, layers=layers, dirs=dirs))
            trains = torch.is_grad_enabled() and rec.phase == "forward"
            for _ in range(layers - 1 if trains and self.training and self.dropout > 0 else 0):  # a mask on each layer's output but the last
                rec.drawn(elements=seq * batch * hidden * dirs, module=qualified)
            rec.recurrent_flops(module=qualified, forward=forward, backward=(TRAIN_FLOPS_FACTOR - 1) * forward if trains else 0.0)
            return out, ((h, h) if cell == "LSTM" else h)

        m.forward = types.MethodType(stand_in, m)


def conv_shape(m: Any, x: Any, out: Any) -> tuple[int, ...]:
    """(batch·H_out·W_out, map side sqrt(H_out·W_out), C_in, C_out, kernel, input needs a gradient) of a call of ``nn.Conv2d``
    ``m`` on ``x`` giving ``out``, for the shapes the grid measures (square kernel, stride 1, no
    dilation, one group, zero padding); () for any other (priced by its ops)."""
    plain = (m.groups == 1 and tuple(m.stride) == (1, 1) and tuple(m.dilation) == (1, 1) and m.padding_mode == "zeros"
             and m.kernel_size[0] == m.kernel_size[1])
    if not plain or not hasattr(out, "dim") or out.dim() not in (3, 4):
        return ()
    h, w = int(out.shape[-2]), int(out.shape[-1])
    positions = (int(out.shape[0]) if out.dim() == 4 else 1) * h * w
    return (positions, max(1, round(math.sqrt(h * w))), int(m.in_channels), int(m.out_channels), int(m.kernel_size[0]),
            int(bool(x.requires_grad)))


def hook_conv(model: Any, rec: Any) -> None:
    """Record each plain ``nn.Conv2d`` call whole (its shape, for the device's convolution grid)
    with the autograd nodes its forward creates (its ``convolution_backward`` is attributed to it
    by the running node's sequence number, as a recurrent layer's)."""
    import torch
    from torch import nn

    for qualified, m in model.named_modules():
        if type(m) is not nn.Conv2d:
            continue

        def pre(_m: Any, _a: Any, qualified: str = qualified) -> None:
            rec.owned_nodes.append((torch._C._autograd._get_sequence_nr(), -1, qualified))

        def post(mod: Any, args: tuple[Any, ...], out: Any, qualified: str = qualified) -> None:
            first, _, name = rec.owned_nodes[-1]
            rec.owned_nodes[-1] = (first, torch._C._autograd._get_sequence_nr(), name)
            shape = conv_shape(mod, args[0], out) if args else ()
            if shape:
                rec.conv(shape=shape, module=qualified)

        m.register_forward_pre_hook(pre)
        m.register_forward_hook(post)


def hook_attention(model: Any, rec: Any) -> None:
    """Record each ``nn.MultiheadAttention`` call's attention as one fused op (CPU: flash
    attention for CPU, one kernel forward and one backward) and mark its math-path ops replaced;
    one that trains with dropout keeps both, each marked with its path (a CPU runs the math path);
    one asked for its attention weights (``need_weights``, the module's default) runs its math path
    on every device and is recorded as its ops only."""
    import torch
    from torch import nn

    def pre(m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        q = args[0] if args else kwargs["query"]
        k = args[1] if len(args) > 1 else kwargs.get("key", q)
        rec.attention_depth += 1
        # asked for its weights (nn.MultiheadAttention's default), it computes them op by op: no fused kernel anywhere
        if kwargs.get("need_weights", args[4] if len(args) > 4 else True):
            rec.attention_paths.append("")
            return
        if q.dim() == 3:
            b, t_q = (q.shape[0], q.shape[1]) if m.batch_first else (q.shape[1], q.shape[0])
            t_k = k.shape[1] if m.batch_first else k.shape[0]
        else:
            b, t_q, t_k = 1, q.shape[0], k.shape[0]
        trains = torch.is_grad_enabled() and rec.phase == "forward"
        dropout = trains and m.training and m.dropout > 0
        rec.attention(bh=int(b * m.num_heads), t_q=int(t_q), t_k=int(t_k), d=int(m.embed_dim // m.num_heads), backward=trains,
                      dropout=dropout)
        rec.attention_paths.append("math" if dropout else "replaced")

    def post(*_a: Any) -> None:
        rec.attention_depth = max(0, rec.attention_depth - 1)
        if rec.attention_paths:
            rec.attention_paths.pop()

    for m in model.modules():
        if isinstance(m, nn.MultiheadAttention):
            m.register_forward_pre_hook(pre, with_kwargs=True)
            m.register_forward_hook(post)


def hook_modules(model: Any, rec: Any) -> None:
    """Record every ``nn.Module`` call (each costs a Python ``__call__`` on a real device) and
    keep the recorder's stack of running modules (each op records its innermost module)."""
    for qualified, m in model.named_modules():
        def pre(mod: Any, _a: Any, rec: Any = rec, qualified: str = qualified) -> None:
            rec.module_call(type(mod).__name__)
            rec.modules.append(qualified)
            rec.called.add(qualified)

        def post(*_a: Any, rec: Any = rec) -> None:
            if rec.modules:
                rec.modules.pop()

        m.register_forward_pre_hook(pre)
        m.register_forward_hook(post)


def install_hooks(model: Any, rec: Any) -> None:
    """Every hook ``rec`` needs on ``model``."""
    hook_modules(model, rec)  # before the recurrent hooks: a fused layer's own call is not fused
    hook_recurrent(model, rec)
    hook_conv(model, rec)
    hook_attention(model, rec)
