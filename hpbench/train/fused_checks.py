"""Whether the members' runs can train as one stack (:mod:`hpbench.train.fused`), beyond their
configurations (:func:`hpbench.config.unfusable`, :func:`hpbench.config.siblings_differ`): data in
memory, splits of one size, and for a model that goes through ``vmap`` (not written out by
:mod:`hpbench.train.fused_layers`) no buffer that training updates and no random draw in training,
found by one training-mode forward of a copy (the global random stream left as it was).
"""

from __future__ import annotations

import copy

import torch

from hpbench.train.fused_dropout import get_state
from hpbench.train.fused_layers import native
from hpbench.train.supervised import SupervisedRun


def updated_buffers(model: torch.nn.Module, x: torch.Tensor) -> list[str]:
    """The buffers one training-mode forward of a copy of ``model`` on ``x`` changes: running
    statistics (BatchNorm's ``running_mean``, ``num_batches_tracked``, a user module's moving
    average), as opposed to constants such as the transformer's sinusoidal positional encoding,
    which the members share unchanged. The global random stream is left as it was."""
    probe = copy.deepcopy(model).train()
    before = {n: b.clone() for n, b in probe.named_buffers()}
    if not before:
        return []
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        probe(x)
    return [n for n, b in probe.named_buffers() if n not in before or not torch.equal(b, before[n])]


def differ(runs: list[SupervisedRun]) -> str | None:
    """Why the members' built runs cannot train as one stack, or None."""
    first = runs[0]
    if first.data.stream is not None:
        return "streamed data"
    x = first.data.x_train
    if x is None:
        return "streamed data"
    if not native(first.model) and (moved := updated_buffers(first.model, x[:2])):
        return f"the model updates buffers in training (running statistics: {', '.join(moved)}), which vmap cannot"
    if not native(first.model) and draws_random(first.model, x[:2]):
        return "the model draws random numbers in training (dropout), which vmap cannot draw as each member's run alone would"
    for r in runs[1:]:
        if r.data.n_train != first.data.n_train or r.data.x_val is None or first.data.x_val is None or len(r.data.x_val) != len(first.data.x_val):
            return "the members' splits differ in size"
    return None


def draws_random(model: torch.nn.Module, x: torch.Tensor) -> bool:
    """Whether one training-mode forward of a copy of ``model`` on ``x`` draws from the global
    random stream of ``x``'s device (dropout, a user module's noise). The stream is left as it was."""
    probe = copy.deepcopy(model).train()
    device = x.device
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        before = get_state(device)
        probe(x)
        return not torch.equal(before, get_state(device))
