"""Discounted returns and generalized advantage estimation (pure functions on (T, N) tensors).

Time runs along dim 0 (T steps), environments along dim 1. Episode ends are given twice:

* ``terminated[t]``: step t reached a terminal state (its value is 0: no bootstrap);
* ``ended[t]``: step t ended the episode, terminated *or* truncated (time limit): the
  recursion must not carry anything from the next episode back across it.

``next_values[t]`` is V(s_{t+1}) of the state step t actually reached: the next step's state
within an episode, the *final* observation of an episode that ended at t (not the reset one),
and for the rollout's last step the state the next rollout starts from. A truncated episode is
therefore bootstrapped from its true last state (Pardo et al. 2018, "Time Limits in RL"),
and a rollout cut in mid-episode from the state where it was cut.
"""

from __future__ import annotations

import torch


def discounted_returns(*, rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor, ended: torch.Tensor,
                       gamma: float) -> torch.Tensor:
    """G_t = r_t + γ·G_{t+1} within an episode; at an episode's or the rollout's end
    G_t = r_t + γ·(1 - terminated_t)·V(s_{t+1}) (Sutton & Barto 2018, eq. 3.9, with bootstrapping
    where the episode is cut, §7.1). With every episode complete these are Monte-Carlo returns."""
    _check(rewards, next_values, terminated, ended)
    nonterminal = 1.0 - terminated.float()
    cont = 1.0 - ended.float()
    out = torch.empty_like(rewards)
    running = next_values[-1]  # the rollout's last step: bootstrap from where it was cut
    for t in range(len(rewards) - 1, -1, -1):
        bootstrap = nonterminal[t] * next_values[t]
        running = rewards[t] + gamma * (cont[t] * running + (1.0 - cont[t]) * bootstrap)
        out[t] = running
    return out


def gae(*, rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor, ended: torch.Tensor,
        gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous
    Control Using GAE", eq. 16): δ_t = r_t + γ·(1 - terminated_t)·V(s_{t+1}) - V(s_t),
    A_t = δ_t + γλ·(1 - ended_t)·A_{t+1}. Returns (advantages, value targets A_t + V(s_t)).
    λ = 1 gives the discounted returns minus V; λ = 0 the one-step TD error."""
    _check(rewards, next_values, terminated, ended)
    if values.shape != rewards.shape:
        raise ValueError(f"values must have the rewards' shape {tuple(rewards.shape)}, but got {tuple(values.shape)}")
    deltas = rewards + gamma * (1.0 - terminated.float()) * next_values - values
    cont = 1.0 - ended.float()
    adv = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(len(rewards) - 1, -1, -1):
        running = deltas[t] + gamma * gae_lambda * cont[t] * running
        adv[t] = running
    return adv, adv + values


def _check(rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor, ended: torch.Tensor) -> None:
    for name, x in (("next_values", next_values), ("terminated", terminated), ("ended", ended)):
        if x.shape != rewards.shape:
            raise ValueError(f"{name} must have the rewards' shape {tuple(rewards.shape)}, but got {tuple(x.shape)}")
    if bool((terminated.bool() & ~ended.bool()).any()):
        raise ValueError("every terminated step must also be an ended step (terminated implies ended)")
