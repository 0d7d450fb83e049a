"""One update round on a rollout: advantages, then epochs of shuffled minibatch gradient steps.

PPO takes ``update_epochs`` x ``n_minibatches`` steps on the clipped surrogate; A2C and REINFORCE
take them on the plain policy-gradient loss (one step on the whole rollout by default).
"""

from __future__ import annotations

from typing import Any

import torch

from hpbench.train.rl.config import Algorithm, RLConfig
from hpbench.train.rl.policy import ActorCritic
from hpbench.train.rl.ppo import LossParts, ppo_loss
from hpbench.train.rl.reinforce import pg_loss
from hpbench.train.rl.returns import discounted_returns, gae
from hpbench.train.rl.rollout import Rollout


def advantages_and_targets(rollout: Rollout, cfg: RLConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, value targets): GAE for PPO and A2C, G_t - V(s_t) for REINFORCE."""
    parts = {"rewards": rollout.rewards, "next_values": rollout.next_values, "terminated": rollout.terminated, "ended": rollout.ended}
    if cfg.algorithm is Algorithm.REINFORCE:
        returns = discounted_returns(**parts, gamma=cfg.gamma)
        return returns - rollout.values, returns
    return gae(**parts, values=rollout.values, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda)


def explained_variance(values: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - Var[targets - values] / Var[targets]: 1 is a perfect critic, 0 no better than a constant (SB3's diagnostic)."""
    var = float(targets.var())
    return float("nan") if var == 0 else 1.0 - float((targets - values).var()) / var


def update(*, policy: ActorCritic, optimizer: torch.optim.Optimizer, rollout: Rollout, cfg: RLConfig,
           generator: torch.Generator) -> dict[str, Any]:
    """Gradient steps on one rollout; returns the mean losses and diagnostics over the steps taken."""
    adv, targets = advantages_and_targets(rollout, cfg)
    flat = {
        "obs": rollout.obs.flatten(0, 1), "actions": rollout.actions.flatten(0, 1), "logprobs": rollout.logprobs.flatten(0, 1),
        "values": rollout.values.flatten(0, 1), "adv": adv.flatten(), "targets": targets.flatten(),
    }
    n = len(flat["adv"])
    sums: dict[str, float] = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0}
    n_updates = 0
    stop = False
    for _ in range(cfg.epochs_per_update):
        for idx in torch.randperm(n, generator=generator).tensor_split(cfg.minibatches):
            parts = _minibatch_loss(policy, {k: v[idx] for k, v in flat.items()}, cfg)
            if cfg.target_kl is not None and float(parts.approx_kl) > cfg.target_kl:
                stop = True  # this step would move the policy too far: end the round (SB3 checks before the step too)
                break
            optimizer.zero_grad(set_to_none=True)
            parts.total(value_coef=cfg.value_coef, entropy_coef=cfg.entropy_coef).backward()
            if cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
            optimizer.step()
            n_updates += 1
            for key, value in (("policy_loss", parts.policy), ("value_loss", parts.value), ("entropy", parts.entropy),
                               ("approx_kl", parts.approx_kl), ("clip_fraction", parts.clip_fraction)):
                sums[key] += float(value.detach())
        if stop:
            break
    out: dict[str, Any] = {k: (v / n_updates if n_updates else float("nan")) for k, v in sums.items()}
    out["n_updates"] = n_updates
    out["explained_variance"] = explained_variance(rollout.values.flatten(), targets.flatten())
    return out


def _minibatch_loss(policy: ActorCritic, mb: dict[str, torch.Tensor], cfg: RLConfig) -> LossParts:
    head, values = policy(mb["obs"])
    logprob = policy.log_prob(head, mb["actions"])
    entropy = policy.entropy(head)
    adv = mb["adv"]
    if cfg.normalize_advantages and len(adv) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    if cfg.algorithm is Algorithm.PPO:
        return ppo_loss(logprob=logprob, old_logprob=mb["logprobs"], advantages=adv, entropy=entropy, values=values, returns=mb["targets"],
                        old_values=mb["values"], clip_range=cfg.clip_range, clip_range_vf=cfg.clip_range_vf)
    return pg_loss(logprob=logprob, old_logprob=mb["logprobs"], advantages=adv, entropy=entropy, values=values, returns=mb["targets"])
