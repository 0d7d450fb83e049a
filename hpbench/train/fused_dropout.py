"""Each fused member's dropout drawn as its run alone draws it (:mod:`hpbench.train.fused`).

A run alone draws its dropout masks from the global random stream of its device: ``build()``
(:mod:`hpbench.train.build`) seeds it with the trial's seed, the initialization draws from it, and
nothing else does before the first training step (the shuffling has its own generator; the
evaluation-size probe, :func:`hpbench.train.eval_memory.row_bytes`, forks the stream). Each
dropout then draws from it: on the CPU ``F.dropout`` is ``empty_like(x).bernoulli_(1 - p)``, divided
by ``1 - p``, times ``x`` (a CUDA device runs its fused kernel instead); which numbers land where
depends on the tensor's shape and layout.

So :class:`MemberStreams` keeps, for each member, the state its run's stream has once the run is
built (:meth:`MemberStreams.capture`), and each dropout of the stacked forward runs, member by
member, the very op the member's own module runs, on that member's slice (the shape and layout the
module draws on), with the member's state installed as the default generator's, keeping the state
it leaves. The slices: rows ``[B, F]`` (an MLP's and the CNN head's ``nn.Dropout``; the CNN has no
dropout between its conv blocks); a recurrent layer's outputs time-major ``[T, B, dirs·H]``, as
ATen's RNN applies ``dropout`` between stacked layers; the transformer's attention weights inside
``scaled_dot_product_attention`` on ``[B, heads, T, head_dim]``, and its three ``nn.Dropout``
on ``[B, T, D]``. tests/test_fused_dropout.py checks every family's members against their runs
alone, epoch by epoch. The ``vmap`` path (a user family) cannot do this: a model that draws random
numbers in training is not fused there (:func:`hpbench.train.fused_checks.training_effects`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def get_state(device: torch.device) -> torch.Tensor:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)


class MemberStreams:
    """The members' own random streams on ``device``, one state per stack position."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.states: list[torch.Tensor] = []

    def capture(self) -> None:
        """The state the stream has now (a member's run just built) as the next member's."""
        self.states.append(get_state(self.device))

    def keep(self, positions: Sequence[int]) -> None:
        """The members at ``positions`` stay in the stack, in that order (the others stopped)."""
        self.states = [self.states[i] for i in positions]

    def each(self, fn: Callable[..., torch.Tensor], *xs: torch.Tensor) -> torch.Tensor:
        """``fn`` on each member's slices of ``xs`` (member axis first), under that member's
        stream; the results stacked. The global stream is left as it was."""
        saved = get_state(self.device)
        out = []
        try:
            for pos in range(len(self.states)):
                _set(self.device, self.states[pos])
                out.append(fn(*(x[pos] for x in xs)))
                self.states[pos] = get_state(self.device)
        finally:
            _set(self.device, saved)
        return torch.stack(out)

    def dropout(self, x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
        """``F.dropout`` of every member's slice of ``x`` (member axis first), each from its stream."""
        if not training or p == 0:
            return x
        return self.each(lambda v: F.dropout(v, p, True), x)


    def attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: float) -> torch.Tensor:
        """``scaled_dot_product_attention`` of ``q, k, v`` ``[M, B, heads, T, d]``: with dropout, each
        member's call on its own ``[B, heads, T, d]``, under its stream; without, one call for all."""
        if p == 0:
            return plain_attention(q, k, v, p)
        return self.each(lambda q1, k1, v1: F.scaled_dot_product_attention(q1, k1, v1, dropout_p=p), q, k, v)


def plain_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """One draw over the whole stack from the global stream (no member's own: direct calls of the stacked forward)."""
    return F.dropout(x, p, training)


def plain_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: float) -> torch.Tensor:
    """Every member's and sample's attention in one call (its dropout, if any, from the global stream)."""
    m, b = q.shape[:2]
    return F.scaled_dot_product_attention(q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), dropout_p=p).unflatten(0, (m, b))


Dropout = Callable[[torch.Tensor, float, bool], torch.Tensor]  # (x, p, training): the members' dropout of x [M, ...]
Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]  # (q, k, v, dropout p), each [M, B, heads, T, d]
