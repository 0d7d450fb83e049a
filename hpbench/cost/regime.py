"""What bounds a step: compute, memory traffic, or fixed per-op and per-step overheads.

A prediction is a sum of terms (:mod:`hpbench.cost.predict`); its regime is the group of terms
that holds the largest share of the predicted seconds:

    compute   = c_matmul·Σ matmul + c_conv·Σ conv + c_recurrent·Σ recurrent + c_random·Σ random + c_activation·Σ activation   (arithmetic)
    memory    = c_memory·Σ memory + c_memory_strided·Σ memory_strided + c_memory_optimizer·Σ memory_optimizer
    overhead  = everything else (per epoch, per step, per module call, per op dispatched)

The regime keys the calibration residuals (a prediction interval per regime,
:mod:`hpbench.cost.trial_time`) and the in-run correction (:mod:`hpbench.cost.correct`).
"""

from __future__ import annotations

from enum import StrEnum


class Regime(StrEnum):
    COMPUTE = "compute-bound"
    MEMORY = "memory-bound"
    OVERHEAD = "overhead-bound"


COMPUTE_TERMS = ("matmul", "conv", "recurrent", "random", "activation")  # recurrent: whole layers priced from their grid (hpbench.cost.recurrent);
# random: a generator's arithmetic per number drawn (hpbench.cost.rng); activation: a nonlinearity's beyond ReLU's
MEMORY_TERMS = ("memory", "memory_strided", "memory_optimizer")


def shares(feats: dict[str, float], coef: dict[str, float]) -> dict[Regime, float]:
    """Share of the predicted seconds (Σ coef_k · feature_k) in each regime's terms; all zero when nothing is predicted."""
    parts = {k: max(0.0, coef.get(k, 0.0) * feats.get(k, 0.0)) for k in set(feats) | set(coef)}
    total = sum(parts.values())
    if total <= 0:
        return dict.fromkeys(Regime, 0.0)
    compute = sum(parts.get(k, 0.0) for k in COMPUTE_TERMS)
    memory = sum(parts.get(k, 0.0) for k in MEMORY_TERMS)
    return {Regime.COMPUTE: compute / total, Regime.MEMORY: memory / total, Regime.OVERHEAD: (total - compute - memory) / total}


def regime_of(feats: dict[str, float], coef: dict[str, float]) -> Regime:
    """The regime with the largest share (overhead when nothing is predicted: an empty step is all overhead)."""
    s = shares(feats, coef)
    if not any(s.values()):
        return Regime.OVERHEAD
    return max(Regime, key=lambda r: s[r])


def regime_with_overhead(feats: dict[str, float], coef: dict[str, float], *, overhead_s: float) -> Regime:
    """The regime when ``overhead_s`` seconds outside the model's terms (an rl environment's steps:
    Python per step, bound by no kernel) join the overhead share of Σ coef_k · feature_k."""
    s = shares(feats, coef)
    total = sum(max(0.0, coef.get(k, 0.0) * feats.get(k, 0.0)) for k in set(feats) | set(coef))
    secs = {r: s[r] * total for r in Regime}
    secs[Regime.OVERHEAD] += max(0.0, overhead_s)
    if not any(secs.values()):
        return Regime.OVERHEAD
    return max(Regime, key=lambda r: secs[r])
