"""PPO's losses (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"), pure functions.

Signs follow the optimizer: every loss here is minimized. The total is
L = L^CLIP + c_v·L^V - c_e·H (the paper's eq. 9 with its objective negated).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, kw_only=True)
class LossParts:
    """One minibatch's losses and diagnostics (0-d tensors; ``policy``, ``value`` and ``entropy`` carry gradients)."""

    policy: torch.Tensor
    value: torch.Tensor
    entropy: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor

    def total(self, *, value_coef: float, entropy_coef: float) -> torch.Tensor:
        return self.policy + value_coef * self.value - entropy_coef * self.entropy


def clipped_surrogate(*, logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """-E[min(r·A, clip(r, 1-ε, 1+ε)·A)] with r = π(a|s) / π_old(a|s) (Schulman et al. 2017, eq. 7)."""
    ratio = (logprob - old_logprob).exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages
    return -torch.min(unclipped, clipped).mean()


def value_loss(*, values: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor | None = None,
               clip_range_vf: float | None = None) -> torch.Tensor:
    """½·E[(V(s) - R)²]; with ``clip_range_vf`` the pessimistic max of the unclipped error and the error
    of V_old + clip(V - V_old, ±ε_v) (OpenAI baselines' ppo2; CleanRL's ``clip_vloss``)."""
    err = (values - returns).pow(2)
    if clip_range_vf is not None:
        if old_values is None:
            raise ValueError("value clipping needs old_values (the values recorded in the rollout)")
        clipped = old_values + (values - old_values).clamp(-clip_range_vf, clip_range_vf)
        err = torch.max(err, (clipped - returns).pow(2))
    return 0.5 * err.mean()


def approx_kl(*, logprob: torch.Tensor, old_logprob: torch.Tensor) -> torch.Tensor:
    """KL(π_old ‖ π) ≈ E_old[(r - 1) - log r]: unbiased and never negative (Schulman 2020,
    "Approximating KL Divergence", the k3 estimator; CleanRL's ``approx_kl``)."""
    log_ratio = logprob - old_logprob
    return ((log_ratio.exp() - 1.0) - log_ratio).mean()


def clip_fraction(*, logprob: torch.Tensor, old_logprob: torch.Tensor, clip_range: float) -> torch.Tensor:
    """Share of samples whose ratio is outside [1-ε, 1+ε] (the clipped term is active or the min picks it)."""
    return ((logprob - old_logprob).exp().sub(1.0).abs() > clip_range).float().mean()


def ppo_loss(*, logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor, entropy: torch.Tensor, values: torch.Tensor,
             returns: torch.Tensor, old_values: torch.Tensor, clip_range: float, clip_range_vf: float | None) -> LossParts:
    with torch.no_grad():
        kl = approx_kl(logprob=logprob, old_logprob=old_logprob)
        frac = clip_fraction(logprob=logprob, old_logprob=old_logprob, clip_range=clip_range)
    return LossParts(
        policy=clipped_surrogate(logprob=logprob, old_logprob=old_logprob, advantages=advantages, clip_range=clip_range),
        value=value_loss(values=values, returns=returns, old_values=old_values, clip_range_vf=clip_range_vf),
        entropy=entropy.mean(), approx_kl=kl, clip_fraction=frac,
    )
