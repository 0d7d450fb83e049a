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


def training_effects(model: torch.nn.Module, x: torch.Tensor) -> tuple[list[str], bool]:
    """What one training-mode forward of a copy of ``model`` on ``x`` does beyond its output: the
    buffers it changes (running statistics: BatchNorm's ``running_mean``, ``num_batches_tracked``,
    a user module's moving average; not constants such as the transformer's sinusoidal positional
    encoding, which the members share unchanged), and whether it draws from the global random
    stream of ``x``'s device (dropout, a user module's noise). The stream is left as it was."""
    probe = copy.deepcopy(model).train()
    before = {n: b.clone() for n, b in probe.named_buffers()}
    device = x.device
    with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        state = get_state(device)
        probe(x)
        drew = not torch.equal(state, get_state(device))
    return [n for n, b in probe.named_buffers() if n not in before or not torch.equal(b, before[n])], drew


def differ(runs: list[SupervisedRun]) -> str | None:
    """Why the members' built runs cannot train as one stack, or None."""
    first = runs[0]
    if first.data.stream is not None:
        return "streamed data"
    x = first.data.x_train
    if x is None:
        return "streamed data"
    if not native(first.model):
        moved, drew = training_effects(first.model, x[:2])
        if moved:
            return f"the model updates buffers in training (running statistics: {', '.join(moved)}), which vmap cannot"
        if drew:
            return "the model draws random numbers in training (dropout), which vmap cannot draw as each member's run alone would"
    for r in runs[1:]:
        if r.data.n_train != first.data.n_train or r.data.x_val is None or first.data.x_val is None or len(r.data.x_val) != len(first.data.x_val):
            return "the members' splits differ in size"
    return None

