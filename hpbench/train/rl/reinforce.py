"""REINFORCE with a learned value baseline, and A2C: the plain policy-gradient loss.

Both take one gradient step per rollout (the estimator is on-policy only for the policy that
collected the data). REINFORCE's advantage is the discounted return minus the baseline,
G_t - V(s_t) (Williams 1992, eq. 11, with Sutton & Barto 2018, §13.4's baseline); A2C's is GAE
(Mnih et al. 2016 use n-step returns, GAE(λ) generalizes them). Episodes cut by the rollout's
end or a time limit are bootstrapped from V (see :mod:`hpbench.train.rl.returns`), so with
rollouts longer than the episodes REINFORCE's returns are Monte-Carlo returns.
"""

from __future__ import annotations

import torch

from hpbench.train.rl.ppo import LossParts, approx_kl, value_loss


def policy_gradient_loss(*, logprob: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """-E[A_t · log π(a_t|s_t)]: its gradient is the policy-gradient estimate (advantages held constant)."""
    return -(advantages.detach() * logprob).mean()


def pg_loss(*, logprob: torch.Tensor, old_logprob: torch.Tensor, advantages: torch.Tensor, entropy: torch.Tensor, values: torch.Tensor,
            returns: torch.Tensor) -> LossParts:
    with torch.no_grad():
        kl = approx_kl(logprob=logprob, old_logprob=old_logprob)
    return LossParts(policy=policy_gradient_loss(logprob=logprob, advantages=advantages), value=value_loss(values=values, returns=returns),
                     entropy=entropy.mean(), approx_kl=kl, clip_fraction=torch.zeros(()))
