"""Collect ``n_steps`` steps from each of ``n_envs`` environments with the current policy.

Besides the tensors the update needs, each step's episodic bookkeeping is kept on raw
(unscaled) rewards by :class:`EpisodeTracker`, which plays the role of Gymnasium's
``RecordEpisodeStatistics`` but is part of the run's checkpointed state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from hpbench.train.rl.envs import EnvInfo, HeadKind
from hpbench.train.rl.normalize import ObsNormalizer, RewardScaler
from hpbench.train.rl.policy import ActorCritic


@dataclass(frozen=True, kw_only=True)
class Rollout:
    """(T, N, ...) tensors of one rollout: T = n_steps, N = n_envs. See :mod:`returns` for next_values."""

    obs: torch.Tensor  # what the policy saw (normalized if enabled)
    actions: torch.Tensor  # as sampled (Gaussian actions before clipping to the bounds)
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor  # scaled if enabled
    next_values: torch.Tensor
    terminated: torch.Tensor
    ended: torch.Tensor  # terminated or truncated

    @property
    def n_samples(self) -> int:
        return int(self.rewards.numel())


@dataclass(kw_only=True)
class EpisodeTracker:
    """Running return and length of each env's current episode, and the episodes finished since the last ``pop``."""

    n_envs: int
    returns: np.ndarray = field(init=False)
    lengths: np.ndarray = field(init=False)
    finished: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.returns = np.zeros(self.n_envs, np.float64)
        self.lengths = np.zeros(self.n_envs, np.int64)

    def step(self, rewards: np.ndarray, ended: np.ndarray) -> None:
        self.returns += rewards
        self.lengths += 1
        for i in np.flatnonzero(ended):
            self.finished.append((float(self.returns[i]), int(self.lengths[i])))
            self.returns[i], self.lengths[i] = 0.0, 0

    def pop(self) -> list[tuple[float, int]]:
        out, self.finished = self.finished, []
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"returns": torch.from_numpy(self.returns.copy()), "lengths": torch.from_numpy(self.lengths.copy()),
                "finished": [list(f) for f in self.finished]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.returns = state["returns"].numpy().copy()
        self.lengths = state["lengths"].numpy().copy()
        self.finished = [(float(r), int(n)) for r, n in state["finished"]]


def env_actions(actions: torch.Tensor, info: EnvInfo) -> np.ndarray:
    """What the env receives: action indices, or Gaussian samples clipped to the Box bounds (CleanRL's ClipAction)."""
    if info.head_kind is HeadKind.CATEGORICAL:
        return actions.numpy().astype(np.int64)
    return np.clip(actions.numpy(), np.asarray(info.action_low), np.asarray(info.action_high)).astype(np.float32)


def as_tensor(obs: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(obs))
    return t if t.dtype == torch.uint8 else t.float()


@torch.no_grad()
def collect(*, envs: VectorEnv, obs: np.ndarray, policy: ActorCritic, info: EnvInfo, n_steps: int, generator: torch.Generator,
            obs_norm: ObsNormalizer, reward_scaler: RewardScaler, tracker: EpisodeTracker) -> tuple[Rollout, np.ndarray]:
    """One rollout from ``obs`` (the envs' current observations); returns it and the observations it ends on."""
    n_envs = len(obs)
    buf_obs: list[torch.Tensor] = []
    actions, logprobs, values, rewards, terminated, ended = [], [], [], [], [], []
    final_values = torch.zeros(n_steps, n_envs)  # V(final obs) of truncated episodes
    truncated_mask = torch.zeros(n_steps, n_envs, dtype=torch.bool)
    for t in range(n_steps):
        o = as_tensor(obs_norm(obs, update=True))
        head, v = policy(o)
        a = policy.sample(head, generator)
        buf_obs.append(o)
        actions.append(a)
        logprobs.append(policy.log_prob(head, a))
        values.append(v)
        obs, r, term, trunc, step_info = envs.step(env_actions(a, info))
        done = term | trunc
        tracker.step(r, done)
        rewards.append(torch.as_tensor(reward_scaler(r.astype(np.float64), done), dtype=torch.float32))
        terminated.append(torch.as_tensor(term))
        ended.append(torch.as_tensor(done))
        cut = trunc & ~term
        if cut.any():  # bootstrap a time-limit truncation from its true last state
            idx = np.flatnonzero(cut)
            final = np.stack([step_info["final_obs"][i] for i in idx])
            final_values[t, torch.as_tensor(idx)] = policy.value(as_tensor(obs_norm(final, update=False)))
            truncated_mask[t, torch.as_tensor(idx)] = True
    last_value = policy.value(as_tensor(obs_norm(obs, update=False)))
    values_t = torch.stack(values)
    next_values = torch.cat([values_t[1:], last_value.unsqueeze(0)])
    next_values = torch.where(truncated_mask, final_values, next_values)
    rollout = Rollout(obs=torch.stack(buf_obs), actions=torch.stack(actions), logprobs=torch.stack(logprobs), values=values_t,
                      rewards=torch.stack(rewards), next_values=next_values, terminated=torch.stack(terminated), ended=torch.stack(ended))
    return rollout, obs
