"""What a FLOP count may have missed, layer by layer: never a silent zero.

A counted step sees every op the model dispatches (:mod:`hpbench.cost.recorder`). Two things
escape the FLOP formulas, and each is reported with the layer (module) that ran it:

* an op without a formula: a custom op (``torch.library``, namespace other than ``aten``) that
  nobody registered with ``torch.utils.flop_counter.register_flop_formula``, or an aten op of
  :data:`~hpbench.cost.ops.NO_FORMULA_PREFIXES` (fused RNN kernels, FFTs, dense linear algebra),
  counted as one FLOP per element at most;
* a layer with weights of its own whose forward ran no counted op at all (its arithmetic ran
  outside torch, e.g. in NumPy, or in ops that moved no FLOPs through the dispatcher).

How short the count may be, per training step, is estimated with the dense-layer rule: a layer
that uses each of its ``P`` weights once per sample costs ``2·P·B`` FLOPs forward and ``4·P·B``
backward for a batch of ``B`` (Kaplan et al. 2020, "Scaling laws": C ≈ 6·N per sample). An op
without a formula in the forward pass only (its backward ran through counted torch ops) may miss
the forward's ``2·P·B``; one in both passes, or a layer that ran no counted op, ``6·P·B``. A
layer without weights of its own gets no estimate ("unknown"), and neither does an op without a
formula that only the backward pass ran (backward ops belong to no layer: ``(backward pass)``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hpbench.cost.ops import OpRecord

FORWARD_FLOPS_PER_WEIGHT = 2  # per weight and sample (the dense-layer rule)
DENSE_FLOPS_PER_WEIGHT = 6  # forward 2 + backward 4
BACKWARD = "(backward pass)"


@dataclass(frozen=True, kw_only=True)
class Uncounted:
    """A layer whose FLOPs the count may miss."""

    module: str  # qualified name in the model ("blocks.1.mix"; "(model)" for the model itself)
    type: str  # its class
    reason: str
    n_params: int  # weights of its own (not its children's)
    short_flops: float | None  # estimated FLOPs per training step the count may miss; None: unknown

    def describe(self) -> str:
        short = "unknown" if self.short_flops is None else f"~{self.short_flops:.3g} FLOPs per step"
        return f"{self.module} ({self.type}): {self.reason}; may be short by {short}"


def find_uncounted(model: Any, ops: Sequence[OpRecord], *, batch_size: int, called: Collection[str]) -> tuple[Uncounted, ...]:
    """The layers of ``model`` whose FLOPs the counted ``ops`` (one training step at
    ``batch_size``) may miss, in the model's order. ``called``: the modules whose forward ran (a
    layer whose weights its parent uses directly, like ``nn.MultiheadAttention``'s ``out_proj``,
    never runs its own forward and is not suspect)."""
    forward = [op for op in ops if op.phase == "forward"]
    in_forward: dict[str, list[str]] = {}  # module -> the ops without a formula its forward ran
    for op in forward:
        if op.kind == "uncounted" and op.name not in in_forward.setdefault(op.module, []):
            in_forward[op.module].append(op.name)
    forward_names = {n for names in in_forward.values() for n in names}
    in_backward = list(dict.fromkeys(op.name for op in ops if op.phase == "backward" and op.kind == "uncounted"))
    out: list[Uncounted] = []
    for name, m in model.named_modules():
        own = sum(int(p.numel()) for p in m.parameters(recurse=False))
        ops_named = in_forward.get(name)
        if ops_named:
            both = any(n in in_backward for n in ops_named)
            reason = (f"ran {', '.join(ops_named)}, which has no FLOP formula" + (" (forward and backward)" if both else "")
                      + " (register one with torch.utils.flop_counter.register_flop_formula)")
            per_weight = DENSE_FLOPS_PER_WEIGHT if both else FORWARD_FLOPS_PER_WEIGHT
        elif own and name in called and not _counted(forward, name):
            reason = f"has {own:,} weights but its forward ran no counted op (arithmetic outside torch?)"
            per_weight = DENSE_FLOPS_PER_WEIGHT
        else:
            continue
        short = float(per_weight * own * batch_size) if own else None
        out.append(Uncounted(module=name or "(model)", type=type(m).__name__, reason=reason, n_params=own, short_flops=short))
    backward_only = [n for n in in_backward if n not in forward_names]
    if backward_only:
        out.append(Uncounted(module=BACKWARD, type="autograd", reason=f"ran {', '.join(backward_only)}, which has no FLOP formula",
                             n_params=0, short_flops=None))
    return tuple(out)


def _counted(forward: Iterable[OpRecord], name: str) -> bool:
    """Whether a counted op with FLOPs ran in the forward of module ``name`` or of its children."""
    prefix = f"{name}." if name else ""
    return any(op.flops > 0 and op.kind != "uncounted" and (op.module == name or op.module.startswith(prefix)) for op in forward)


def columns(uncounted: Sequence[Uncounted], *, total_flops: float) -> dict[str, Any]:
    """The trial columns that report them (none when every layer was counted):
    ``uncounted_layers`` (one line per layer, ``; ``-separated) and ``flops_short_per_step`` (the
    estimated FLOPs per step the count may miss; NaN when some are unknown) and
    ``flops_short_share`` (that as a share of the counted plus missed FLOPs)."""
    if not uncounted:
        return {}
    known = [u.short_flops for u in uncounted if u.short_flops is not None]
    short = sum(known) if len(known) == len(uncounted) else float("nan")
    share = short / (total_flops + short) if short == short and total_flops + short > 0 else float("nan")
    return {"uncounted_layers": "; ".join(u.describe() for u in uncounted), "flops_short_per_step": short, "flops_short_share": share}
