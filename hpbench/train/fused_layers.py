"""The members' networks as one network over stacked parameters (:mod:`hpbench.train.fused`).

Every stacked tensor leads with the member axis ``M``. The families hpbench builds are run as
batched kernels written out layer by layer, each the same arithmetic as the member's own layer:

- rows ``[M, B, F]`` (MLPs, the CNN's dense head, the recurrent head): a ``Linear`` is one
  ``baddbmm`` over weights kept transposed, ``[M, in, out]`` (their gradients then come out in
  the parameters' own layout: no transposing copy per step); activations and dropout act on
  every element alike (each member's dropout mask drawn from its own stream, as its run alone draws it:
  :mod:`hpbench.train.fused_dropout`);
- channels ``[B, M·C, *spatial]`` (the CNN's conv blocks; images channels-last): member ``m`` owns channels
  ``m·C … (m+1)·C - 1``, so a convolution is one grouped convolution (``groups = M``),
  ``BatchNorm`` one ``batch_norm`` call over the members' stacked affine parameters and running
  statistics (updated in place, as each member's own), pooling acts per channel as it does alone;
- recurrent layers (RNN, GRU, LSTM, stacked and bidirectional): the input gates of every time
  step as one ``baddbmm`` over the members (:func:`_recurrent_layer`), the recurrence as one
  autograd node with a hand-written backward (:mod:`hpbench.train.fused_recurrence`), PyTorch's
  gate equations as documented for ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (tests/test_fused_layers.py:
  the same outputs and gradients as the modules, rel 1e-5).

- the transformer: :mod:`hpbench.train.fused_transformer` (attention of every member in one call).

Anything else (a user family) goes through ``vmap(functional_call)``, which cannot update
buffers (:func:`native` says which path a model takes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import stack_module_state

from hpbench.models.cnn import _ConvNet
from hpbench.models.recurrent import _Recurrent
from hpbench.models.transformer import _Encoder
from hpbench.train import fused_transformer
from hpbench.train.fused_dropout import Attention, Dropout, plain_attention, plain_dropout
from hpbench.train.fused_recurrence import Recurrence

_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SiLU)
_ROWS = (nn.Flatten, nn.Linear, nn.Dropout, *_ELEMENTWISE)
_CHANNELS = (nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
             nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, *_ELEMENTWISE)
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}
Tensors = dict[str, torch.Tensor]


def native(model: nn.Module) -> bool:
    """Whether ``model``'s structure is one this module runs as batched kernels."""
    if isinstance(model, nn.Sequential):
        return all(isinstance(m, _ROWS) for m in model)
    if isinstance(model, _ConvNet):
        return all(isinstance(m, (*_CHANNELS, *_ROWS)) for m in model.body)
    if isinstance(model, _Recurrent):
        rnn = model.rnn
        return rnn.mode in _GATES and rnn.batch_first and getattr(rnn, "proj_size", 0) == 0 and rnn.bias
    if isinstance(model, _Encoder):
        return fused_transformer.native(model)
    return False


def transposed_names(model: nn.Module) -> frozenset[str]:
    """The parameters kept transposed in the stack (last two dimensions swapped): Linear and
    recurrent weight matrices, so that a step multiplies by them without transposing."""
    out = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    out |= {f"{n}.{p}" for n, m in model.named_modules() if isinstance(m, nn.RNNBase) for p, _ in m.named_parameters() if p.startswith("weight_")}
    return frozenset(out | fused_transformer.transposed_names(model))


def stack(models: Sequence[nn.Module], transposed: frozenset[str]) -> tuple[Tensors, Tensors]:
    """The members' parameters (leaves that require grad) and buffers, stacked."""
    params, buffers = stack_module_state(list(models))
    params = {n: (p.detach().transpose(-1, -2).contiguous().requires_grad_() if n in transposed else p) for n, p in params.items()}
    return params, buffers


def member_tensor(stacked: torch.Tensor, pos: int, *, transposed: bool) -> torch.Tensor:
    """Member ``pos``'s tensor in its module's own layout."""
    return stacked[pos].transpose(-1, -2) if transposed else stacked[pos]


def forward(model: nn.Module, params: Tensors, buffers: Tensors, x: torch.Tensor, *, dropout: Dropout = plain_dropout,
            attention: Attention = plain_attention) -> torch.Tensor:
    """The members' outputs ``[M, B, out]`` on their inputs ``x`` ``[M, B, ...]`` (``model``: one
    member's module for its structure and train/eval mode; :func:`native` must hold). ``dropout(x, p,
    training)`` and ``attention(q, k, v, p)`` draw the masks (:mod:`hpbench.train.fused_dropout`:
    each member's from its own stream)."""
    if isinstance(model, nn.Sequential):
        return _rows(model, params, x, "", dropout)
    if isinstance(model, _ConvNet):
        m, b = x.shape[:2]
        x = x.reshape(m, b, *model.shape)
        if model.transpose:
            x = x.transpose(2, 3)
        x = x.transpose(0, 1).reshape(b, m * x.shape[2], *x.shape[3:])  # channels [B, M·C, *spatial]
        if x.dim() == 4:  # images channels-last: the grouped conv, pooling and activations of a conv block
            # measured 1.5-2x less CPU than NCHW (8 members x 8 channels, 8x8 digits, batch 64, forward + backward, 1 thread)
            x = x.contiguous(memory_format=torch.channels_last)
        return _conv_body(model.body, params, buffers, x, m, dropout)
    if isinstance(model, _Encoder):
        return fused_transformer.forward(model, params, buffers, x, _linear, dropout=dropout, attention=attention)
    assert isinstance(model, _Recurrent)  # internal: native() chose the path
    return _recurrent(model, params, x, dropout)


def _rows(seq: nn.Sequential, params: Tensors, x: torch.Tensor, prefix: str, dropout: Dropout) -> torch.Tensor:
    for name, layer in seq.named_children():
        x = _row_layer(layer, params, x, f"{prefix}{name}", dropout)
    return x


def _row_layer(layer: nn.Module, params: Tensors, x: torch.Tensor, key: str, dropout: Dropout) -> torch.Tensor:
    if isinstance(layer, nn.Flatten):
        return x.flatten(2)
    if isinstance(layer, nn.Linear):
        return _linear(x, params[f"{key}.weight"], params.get(f"{key}.bias"))
    if isinstance(layer, nn.Dropout):
        return dropout(x, layer.p, layer.training)  # each member's rows [B, F], as its own nn.Dropout draws
    return layer(x)  # elementwise


def _linear(x: torch.Tensor, wt: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``x`` ``[M, B, in]`` times the transposed weights ``[M, in, out]`` plus the bias ``[M, out]``."""
    if x.dim() != 3:
        return _linear(x.flatten(1, -2), wt, b).view(*x.shape[:-1], wt.shape[-1])
    return torch.bmm(x, wt) if b is None else torch.baddbmm(b.unsqueeze(1), x, wt)


def _conv_body(body: nn.Sequential, params: Tensors, buffers: Tensors, x: torch.Tensor, m: int, dropout: Dropout) -> torch.Tensor:
    rows = False
    for name, layer in pool_before_relu(body.named_children()):
        key = f"body.{name}"
        if rows:
            x = _row_layer(layer, params, x, key, dropout)
        elif isinstance(layer, nn.Flatten):  # [B, M·C, *spatial] -> [M, B, C·prod(spatial)], each member flattened as alone
            x = x.reshape(x.shape[0], m, -1).transpose(0, 1)
            rows = True
        elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            w, b = params[f"{key}.weight"], params.get(f"{key}.bias")
            conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
            x = conv(x, w.flatten(0, 1), None if b is None else b.flatten(), layer.stride, layer.padding, layer.dilation,  # type: ignore[arg-type]
                     layer.groups * m)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            x = _batch_norm(layer, params, buffers, x, key)
        else:  # activations and pooling act on each channel alone
            x = layer(x)
    return x


def pool_before_relu(layers: Iterable[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """``layers`` with every ReLU that a max pool follows moved after it: ReLU is monotone, so
    ``relu(max(window)) == max(relu(window))`` bit for bit, and each gradient reaches the same
    input (the window's first maximum where it is positive, none where it is not). The ReLU then
    acts on a quarter of the elements. Measured on the stacked conv block of 8 members (8
    channels each, 8x8 digits, batch 64, dense head; forward + backward, 2 threads): 2.29 ms
    -> 1.51 ms a step; one member's own block (the unfused side) gains within the noise."""
    out = list(layers)
    for i in range(len(out) - 1):
        if isinstance(out[i][1], nn.ReLU) and isinstance(out[i + 1][1], (nn.MaxPool1d, nn.MaxPool2d)):
            out[i], out[i + 1] = out[i + 1], out[i]
    return out


def _batch_norm(layer: nn.modules.batchnorm._BatchNorm, params: Tensors, buffers: Tensors, x: torch.Tensor, key: str) -> torch.Tensor:
    """``nn.BatchNorm*d``'s forward for every member at once: the stacked running statistics are
    views of the members' own, updated in place as each member's module updates its own."""
    rm, rv = buffers[f"{key}.running_mean"], buffers[f"{key}.running_var"]
    momentum = layer.momentum
    if layer.training:
        tracked = buffers[f"{key}.num_batches_tracked"]
        tracked.add_(1)
        if momentum is None:  # a cumulative moving average (the same count for every member)
            momentum = 1.0 / float(tracked[0])
    w, b = params.get(f"{key}.weight"), params.get(f"{key}.bias")
    return F.batch_norm(x, rm.view(-1), rv.view(-1), None if w is None else w.flatten(), None if b is None else b.flatten(),
                        layer.training, momentum or 0.0, layer.eps)


def _recurrent(model: _Recurrent, params: Tensors, x: torch.Tensor, dropout: Dropout) -> torch.Tensor:
    rnn = model.rnn
    m, b = x.shape[:2]
    x = x.reshape(m, b, *model.shape)
    if model.transpose:
        x = x.transpose(2, 3)
    x = x.transpose(1, 2)  # time second, [M, T, B, I]: each step's rows one slice
    finals: list[torch.Tensor] = []
    for layer in range(rnn.num_layers):
        outs, finals = [], []
        for d in range(model.dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            p = {k: params[f"rnn.{k}{sfx}"] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            keep = layer + 1 < rnn.num_layers
            out = _recurrent_layer(rnn.mode, x, **p, reverse=d == 1, keep_outputs=keep)
            outs.append(out)
            if not keep:
                finals.append(out)
        if layer + 1 < rnn.num_layers:
            x = torch.cat(outs, dim=-1) if model.dirs == 2 else outs[0]
            if rnn.dropout > 0:  # each member's outputs time-major [T, B, dirs·H], as ATen's RNN draws between layers
                x = dropout(x, rnn.dropout, rnn.training)
    last = torch.cat(finals, dim=-1)  # [M, B, dirs·H]: the last layer's final states, forward then reverse
    return _linear(last, params["head.weight"], params.get("head.bias"))


def _recurrent_layer(mode: str, x: torch.Tensor, *, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih: torch.Tensor,
                     bias_hh: torch.Tensor, reverse: bool, keep_outputs: bool) -> torch.Tensor:
    """One direction of one layer over ``x`` ``[M, T, B, I]`` (weights transposed: ``[M, I, G·H]``,
    ``[M, H, G·H]``; gates in PyTorch's order: GRU r, z, n; LSTM i, f, g, o): every step's input
    gates as one batched matmul, then the recurrence as one autograd node
    (:class:`~hpbench.train.fused_recurrence.Recurrence`). Returns the outputs ``[M, T, B, H]``, or
    only the final state ``[M, B, H]`` unless ``keep_outputs``."""
    m, t, b, _ = x.shape
    hidden = weight_hh.shape[1]
    gru = mode == "GRU"
    # the hidden biases folded into the input gates where they only add (all but GRU's n gate)
    bias = torch.cat([bias_ih[:, : 2 * hidden] + bias_hh[:, : 2 * hidden], bias_ih[:, 2 * hidden :]], dim=1) if gru else bias_ih + bias_hh
    gi = torch.baddbmm(bias.unsqueeze(1), x.reshape(m, t * b, -1), weight_ih).view(m, t, b, -1)
    out: torch.Tensor = Recurrence.apply(mode, gi, weight_hh, bias_hh[:, 2 * hidden :] if gru else None, reverse, keep_outputs)
    return out
