"""The pre-flight's memory check: a network whose training needs more memory than this machine has
available is refused before it is built.

What one training holds, and so what the pre-flight itself allocates for the first network it
steps an optimizer over (:func:`hpbench.preflight.models.check_models`), is the weights, their
gradients and the optimizer's state: :func:`training_bytes`. The state is measured, not listed:
:func:`state_copies` steps the optimizer once over a small parameter and counts what it keeps, in
copies of the weights: 0 for plain SGD, 1 for momentum, Nesterov, Adagrad and RMSprop (2 with its
``momentum`` > 0), 2 for Adam and AdamW, 3 for AMSGrad (its ``max_exp_avg_sq``); a plugin
optimizer's own. The check counted weights and gradients only (2x), while stepping Adam took ~3.9x
the weights (peak RSS of ``hpbench estimate`` on MLPs of 65 MB to 1 GB of weights: bug hunt s51/h1,
finding 3): a network between 1/4 and 1/2 of the available memory passed it and got the process
killed by the kernel, without a word, in the pre-flight itself.

Decided: the check counts one training, the heaviest optimizer configuration the study can pair
with the network (the check runs per network, and a search pairs every network with every
optimizer), not ``max_concurrent`` of them. The pre-flight allocates one at a time; the trials run
in Ray's workers, on this machine or on a cluster's other nodes, and how many share one node is
Ray's scheduling (``cpus_per_trial``), which this check does not see. Activations, the data and
Python's own memory are not counted either: it refuses what cannot fit, it does not promise that
what passes fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.config import ModelConfig, OptimizerConfig
from hpbench.errors import shown
from hpbench.preflight.problems import Problem

_PROBE = (64, 64)  # the parameter an optimizer is stepped over to measure its state (16 KB)


@dataclass(frozen=True, kw_only=True)
class OptimizerState:
    """An optimizer configuration and the state it keeps, in copies of the weights."""

    optimizer: OptimizerConfig
    copies: float


def state_copies(opt: OptimizerConfig) -> float:
    """The state ``opt`` keeps after a step, in copies of the weights it trains (its tensors of
    more than one element; a step counter is not one): measured over a small parameter, as the
    trainer builds the optimizer. 0 where building or stepping it raises (the optimizer check names that)."""
    import torch

    from hpbench.train.optimizers import build_optimizer

    p = torch.nn.Parameter(torch.zeros(_PROBE))
    try:
        optimizer = build_optimizer(opt.name, [p], lr=opt.lr, params=dict(opt.params))
        p.grad = torch.ones_like(p)
        optimizer.step()
    except Exception:
        return 0.0
    held = sum(t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values()
               if isinstance(t, torch.Tensor) and t.numel() > 1)
    return held / (p.numel() * p.element_size())


def heaviest(optimizers: Sequence[OptimizerConfig]) -> OptimizerState:
    """The configuration among ``optimizers`` (none: the default, Adam) whose state is the largest."""
    measured = [OptimizerState(optimizer=o, copies=state_copies(o)) for o in optimizers or (OptimizerConfig(),)]
    return max(measured, key=lambda m: m.copies)


def training_bytes(weights: int, copies: float) -> int:
    """Memory one training holds for ``weights`` bytes of parameters: the weights, their gradients
    (as many bytes) and the optimizer's state (``copies`` times as many)."""
    return int(weights * (2 + copies))


def available_memory_bytes() -> int | None:
    """This machine's available memory (Linux's ``MemAvailable``), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def too_large(model: ModelConfig, *, input_shape: tuple[int, ...], n_outputs: int, kind: str | None, optimizer: OptimizerState,
              source: str, key: str) -> Problem | None:
    """A network whose training (:func:`training_bytes`, with ``optimizer``) needs more memory than
    this machine has available. Counted on torch's meta device, which allocates nothing (a CNN of
    19 GB of weights, built for the check, got the process killed on a 24 GB machine); a builder
    that cannot build there is not checked."""
    import torch

    from hpbench.models import build_model

    available = available_memory_bytes()
    if available is None:
        return None
    try:
        with torch.device("meta"):
            net: Any = build_model(model.family, input_shape=input_shape, n_outputs=n_outputs, params=dict(model.params), kind=kind)
        n_params = sum(p.numel() for p in net.parameters())
        weights = sum(p.numel() * p.element_size() for p in net.parameters())
    except Exception:
        return None
    need = training_bytes(weights, optimizer.copies)
    if need <= available:
        return None
    state = (f"{optimizer.copies:.3g} times as much for the state of the optimizer {optimizer.optimizer.name!r}" if optimizer.copies
             else f"no state for the optimizer {optimizer.optimizer.name!r}")
    return Problem(source=source, key=key, rule=f"the network must fit in this machine's available memory ({_gb(available)})",
                   value=shown(f"{n_params:,} parameters, whose training needs {_gb(need)}: {_gb(weights)} of weights, as much again for "
                               f"their gradients and {state}"),
                   hint="a narrower or shallower network; --no-preflight skips this check, for a cluster whose nodes have the memory")


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"
