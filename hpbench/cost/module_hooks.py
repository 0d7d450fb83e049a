"""The module hooks of a counted step (:mod:`hpbench.cost.recorder`'s recorder ``rec``): each
``nn.Module`` call recorded, recurrent layers and 2-D convolutions recorded whole (their shapes, for
the device's grids), the ops of fused recurrent layers marked, and each ``nn.MultiheadAttention``
call recorded as the kernel a device runs for it. Built lazily: importing this module does not
import torch.
"""

from __future__ import annotations

import math
from typing import Any

from hpbench.models.shapes import attention_shape, recurrent_shape

# Recurrent layers that run as one fused kernel per layer on CPU. Measured with torch.profiler
# (torch 2.13, CPU, 20 timesteps): nn.LSTM trains through oneDNN's fused RNN (72 aten events per
# step), while nn.RNN and nn.GRU run their per-timestep cells as separate aten ops (900 and 1859
# events), so those ops each pay the dispatcher's overhead and are not marked fused.
FUSED_RECURRENT = ("LSTM",)


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
        # asked for its weights (nn.MultiheadAttention's default), it computes them op by op: no fused kernel anywhere
        if kwargs.get("need_weights", args[4] if len(args) > 4 else True):
            rec.attention_paths.append("")
            return
        bh, t_q, t_k, d = attention_shape(m, args, kwargs)
        trains = torch.is_grad_enabled() and rec.phase == "forward"
        dropout = trains and m.training and m.dropout > 0
        rec.attention(bh=bh, t_q=t_q, t_k=t_k, d=d, backward=trains, dropout=dropout)
        rec.attention_paths.append("math" if dropout else "replaced")

    def post(*_a: Any) -> None:
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
