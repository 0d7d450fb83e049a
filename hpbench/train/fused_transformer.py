"""hpbench's transformer (:mod:`hpbench.models.transformer`) for every member at once, on stacked
parameters (:mod:`hpbench.train.fused_layers`: rows ``[M, B, T, D]``, Linear weights transposed).

Through ``vmap``, PyTorch has no batching rule for the attention kernel (``scaled_dot_product_attention``
and the encoder layer's inference path fall back to a loop over the members). Here each linear map is
one ``baddbmm`` over the members, the attention of every member and sample one
``scaled_dot_product_attention`` call (attention has no parameters: members only add to its batch),
LayerNorm one ``layer_norm`` without affine and one ``addcmul`` with the members' weights. The
arithmetic is ``nn.TransformerEncoderLayer``'s (post-norm or ``norm_first``), checked against each
member's module by tests/test_fused_layers.py (rel 1e-5). The sinusoidal positional encoding is a
constant buffer, stacked with the members' parameters and only read.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from hpbench.models.transformer import _Encoder
from hpbench.train.fused_dropout import Attention, Dropout, plain_attention, plain_dropout

Tensors = dict[str, torch.Tensor]
Linear = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def native(model: _Encoder) -> bool:
    """Whether every encoder layer is one this module writes out (self-attention with packed
    projections and biases, no final norm)."""
    enc = model.encoder
    return enc.norm is None and all(isinstance(layer, nn.TransformerEncoderLayer) and layer.self_attn.batch_first
                                    and layer.self_attn._qkv_same_embed_dim and layer.self_attn.in_proj_bias is not None
                                    and layer.self_attn.bias_k is None for layer in enc.layers)


def transposed_names(model: nn.Module) -> set[str]:
    """The attention's packed input projections, kept transposed as every Linear weight is."""
    return {f"{n}.in_proj_weight" for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)}


def forward(model: _Encoder, params: Tensors, buffers: Tensors, x: torch.Tensor, linear: Linear, *, dropout: Dropout = plain_dropout,
            attention: Attention = plain_attention) -> torch.Tensor:
    """The members' outputs ``[M, B, out]`` on ``x`` ``[M, B, ...]`` (``linear(x, wt, b)``: a stacked Linear;
    ``dropout`` and ``attention`` draw the masks: :mod:`hpbench.train.fused_dropout`)."""
    m, b = x.shape[:2]
    x = x.reshape(m, b, *model.stored)
    if model.transpose:
        x = x.transpose(2, 3)
    h = linear(x, params["embed.weight"], params.get("embed.bias"))  # [M, B, T, D]
    pos = params.get("pos", buffers.get("pos"))
    if pos is not None:
        h = h + pos  # [M, 1, T, D]
    for i, layer in enumerate(model.encoder.layers):
        h = _layer(layer, params, h, f"encoder.layers.{i}.", linear, dropout, attention)
    return linear(h.mean(dim=2), params["head.weight"], params.get("head.bias"))


def _layer(layer: nn.TransformerEncoderLayer, params: Tensors, x: torch.Tensor, key: str, linear: Linear, dropout: Dropout,
           sdpa: Attention) -> torch.Tensor:
    def norm(name: str, v: torch.Tensor) -> torch.Tensor:
        ln: nn.LayerNorm = getattr(layer, name)
        out = F.layer_norm(v, ln.normalized_shape, None, None, ln.eps)
        w, b = params.get(f"{key}{name}.weight"), params.get(f"{key}{name}.bias")
        if w is not None:
            out = out * w.unsqueeze(1).unsqueeze(1)
        return out if b is None else out + b.unsqueeze(1).unsqueeze(1)

    def self_attention(v: torch.Tensor) -> torch.Tensor:
        attn = layer.self_attn
        m, b, t, d = v.shape
        heads = attn.num_heads
        qkv = linear(v, params[f"{key}self_attn.in_proj_weight"], params[f"{key}self_attn.in_proj_bias"])
        q, k, val = qkv.view(m, b, t, 3, heads, d // heads).permute(3, 0, 1, 4, 2, 5).unbind(0)  # each [M, B, heads, T, d/heads]
        out = sdpa(q, k, val, attn.dropout if attn.training else 0.0)
        out = out.transpose(2, 3).reshape(m, b, t, d)
        out = linear(out, params[f"{key}self_attn.out_proj.weight"], params.get(f"{key}self_attn.out_proj.bias"))
        if layer.training and layer.dropout1.p > 0:  # the module drops its attention's output time-major (MultiheadAttention's
            out = out.transpose(1, 2).contiguous().transpose(1, 2)  # [T, B, D], batch_first a view of it): each mask drawn in that layout
        return dropout(out, layer.dropout1.p, layer.training)

    def feed_forward(v: torch.Tensor) -> torch.Tensor:
        v = dropout(layer.activation(linear(v, params[f"{key}linear1.weight"], params.get(f"{key}linear1.bias"))), layer.dropout.p,
                    layer.training)
        v = linear(v, params[f"{key}linear2.weight"], params.get(f"{key}linear2.bias"))
        return dropout(v, layer.dropout2.p, layer.training)

    if layer.norm_first:
        x = x + self_attention(norm("norm1", x))
        return x + feed_forward(norm("norm2", x))
    x = norm("norm1", x + self_attention(x))
    return norm("norm2", x + feed_forward(x))
