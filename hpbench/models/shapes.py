"""Shapes read off a model's module calls, and what they hold: pure functions on torch modules and
tensors (torch imported by the caller), shared by the cost model's hooks (:mod:`hpbench.cost`)
and the trainer's evaluation passes (:mod:`hpbench.train.eval_memory`). Importing this module
does not import torch."""

from __future__ import annotations

from typing import Any

RECURRENT_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}  # gate matrices per cell


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


def attention_shape(m: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, int, int, int]:
    """(batch · heads, query length, key length, head dim) of a call of ``nn.MultiheadAttention``
    ``m`` with ``args`` and ``kwargs`` (batched in either layout or unbatched)."""
    q = args[0] if args else kwargs["query"]
    k = args[1] if len(args) > 1 else kwargs.get("key", q)
    if q.dim() == 3:
        b, t_q = (q.shape[0], q.shape[1]) if m.batch_first else (q.shape[1], q.shape[0])
        t_k = k.shape[1] if m.batch_first else k.shape[0]
    else:
        b, t_q, t_k = 1, q.shape[0], k.shape[0]
    return int(b * m.num_heads), int(t_q), int(t_k), int(m.embed_dim // m.num_heads)


def tensors(x: Any) -> list[Any]:
    import torch
    from torch.utils._pytree import tree_leaves

    return [t for t in tree_leaves(x) if isinstance(t, torch.Tensor)]


def workspace_bytes(*, cell: str, seq_len: int, batch: int, hidden: int) -> float:
    """Bytes of the gates a training call of one direction of one layer keeps for its backward pass (float32)."""
    return 4.0 * seq_len * batch * RECURRENT_GATES[cell] * hidden
