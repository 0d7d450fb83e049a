"""The memory one row of an evaluation costs, and so how many rows one evaluation pass takes.

Evaluation (each epoch's validation pass, the test split, a predictor's ``predict``) ran 8,192
rows per forward pass whatever a row cost. A transformer (d_model 64, 4 heads) on sequences of
500 steps holds 4 x 500 x 500 float32 attention weights per row per layer: it peaked at 4.2 GiB
RSS with 800 validation rows and 16.7 GiB with 3,600, where training at batch 64 took ~1 GiB
(bug hunt s47h4). An MLP's row costs a few kB: 8,192 rows of it are fast and small.

So a pass takes as many rows as :data:`BUDGET_BYTES` of activations hold (:func:`chunk_rows`),
at least the training batch (it fit with its gradients) and at most :data:`MAX_ROWS`. A row's
bytes (:func:`row_bytes`) are read from one forward pass of the model at two row counts, by
module hooks (the shapes the cost model reads too, :mod:`hpbench.models.shapes`): the largest growth per
row of what one module call holds at once, its input and output tensors, plus what a module holds
inside: an attention's weights (batch·heads x L_q x L_k, the scores and their softmax: what the
math path and a CPU's fast path hold; a GPU's flash kernel holds less, so the count errs safe
there) and a recurrent layer's gate workspace (:func:`hpbench.models.shapes.workspace_bytes`).
Weights count at both sizes and cancel. Measured here against one pass's peak RSS: the
transformer above 4.6-5.0 MB a row, counted 8.3; an LSTM(64) on 500 steps 0.25, counted 0.65;
a CNN on 28x28 images 0.10, counted 0.10; an RNN(64), which runs its steps op by op, 0.37,
counted 0.26.

Not the cost model's op recorder: any op under a ``TorchDispatchMode`` imports TorchDynamo (~1.4
CPU-s, which :mod:`hpbench.train.eager` keeps out of trial processes), and a fused kernel (the
transformer's fast path in eval mode) hides from it what it holds. The pass runs with autograd
on (at 2 and 4 rows) so that ``nn.TransformerEncoderLayer`` takes its module path and its
attention is seen. Importing this module does not import torch.
"""

from __future__ import annotations

import math
from typing import Any

MAX_ROWS = 8192  # rows per evaluation pass at most (hpbench.train.build.EVAL_CHUNK): what every model used before
BUDGET_BYTES = 256 * 2**20  # activation bytes one pass may hold: the transformer above at 64 rows peaked ~0.3 GB over its weights
PROBE_ROWS = (2, 4)  # the row counts run (not 1: a model may treat a batch of one apart)


def chunk_rows(*, row_bytes: float | None, floor: int, members: int = 1, cap: int = MAX_ROWS, budget: float = BUDGET_BYTES) -> int:
    """Rows per evaluation pass: ``budget`` over the bytes a row costs (``members`` models evaluated
    together, each on its own rows: fused repeats), at least ``floor`` (the training batch) and at
    most ``cap``; ``floor`` (at most ``cap``) when the row's cost is unknown (None)."""
    floor = max(1, min(int(floor), cap))
    if row_bytes is None or not math.isfinite(row_bytes):
        return floor
    if row_bytes <= 0:
        return cap
    return max(floor, min(cap, int(budget // (row_bytes * max(1, members)))))


def eval_rows(model: Any, *, sample_shape: tuple[int, ...], floor: int, members: int = 1, cap: int = MAX_ROWS) -> int:
    """Rows per evaluation pass of ``model`` (:func:`chunk_rows` of :func:`row_bytes`)."""
    return chunk_rows(row_bytes=row_bytes(model, sample_shape=sample_shape), floor=floor, members=members, cap=cap)


def row_bytes(model: Any, *, sample_shape: tuple[int, ...]) -> float | None:
    """The bytes one more row adds to the largest module call of ``model``'s forward pass in eval
    mode on zeros of ``sample_shape`` (float32, on the model's device; ``meta`` runs shapes only);
    None when the model does not run on them. The model is left in the mode it was in."""
    import torch

    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    calls: list[list[float]] = []
    handles = [m.register_forward_hook(_recorder(calls), with_kwargs=True) for m in model.modules()]
    # eval mode set and restored on each module's flag, not through model.eval() / model.train(): a
    # user model's own train() runs its side effects there (tests/helpers/flaky.py counts its
    # training epochs by it, and counted this probe as one more)
    modes = [(m, m.training) for m in model.modules()]
    for m, _ in modes:
        m.training = False
    held = []
    try:
        # a model that draws random numbers in eval mode leaves the trial's random streams as they were
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for rows in PROBE_ROWS:
                calls.append([])
                with torch.enable_grad():  # the module path of nn.TransformerEncoderLayer (its fast path hides its attention)
                    model(torch.zeros((rows, *sample_shape), device=device).requires_grad_())
                held.append(calls[-1])
    except Exception:
        return None
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    (r1, small), (r2, large) = zip(PROBE_ROWS, held, strict=True)
    if len(small) != len(large):  # the calls differ with the rows: the larger count's largest call, weights and all
        return max(large, default=0.0) / r2
    return max(((b - a) / (r2 - r1) for a, b in zip(small, large, strict=True)), default=0.0)


def _recorder(calls: list[list[float]]) -> Any:
    """A forward hook appending each call's bytes (:func:`call_bytes`) to ``calls[-1]``."""
    def hook(m: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        calls[-1].append(call_bytes(m, args, kwargs, out))

    return hook


def call_bytes(m: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> float:
    """What a call of module ``m`` holds at once: its distinct input and output tensors, and what
    an attention or a recurrent layer holds inside (float32)."""
    from torch import nn

    from hpbench.models.shapes import attention_shape, recurrent_shape, tensors, workspace_bytes

    seen = {id(t): t for t in tensors((args, kwargs, out))}
    total = float(sum(t.numel() * t.element_size() for t in seen.values()))
    if isinstance(m, nn.MultiheadAttention):
        bh, t_q, t_k, _ = attention_shape(m, args, kwargs)
        total += 2 * 4.0 * bh * t_q * t_k  # the scores and their softmax
    elif isinstance(m, nn.RNNBase) and type(m).__name__ in ("RNN", "GRU", "LSTM") and args:
        shape = recurrent_shape(m, args[0])
        if shape:
            seq, batch, _, hidden, layers, dirs = shape
            total += layers * dirs * workspace_bytes(cell=type(m).__name__, seq_len=seq, batch=batch, hidden=hidden)
    return total
