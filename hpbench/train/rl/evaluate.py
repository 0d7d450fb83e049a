"""Deterministic evaluation: the policy's most likely action (or Gaussian mean) on fixed episodes.

One vector copy per episode, each reset with its own fixed seed every evaluation, so every
epoch (and every trial of a study) is scored on the same starting states, and short episodes are
not over-counted (which taking the first n episodes finished by fewer copies would do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from hpbench.train.rl.envs import EnvInfo
from hpbench.train.rl.normalize import ObsNormalizer
from hpbench.train.rl.policy import ActorCritic
from hpbench.train.rl.rollout import as_tensor, env_actions

DEFAULT_MAX_STEPS = 10_000  # per episode, for environments registered without a time limit


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    returns: tuple[float, ...]
    lengths: tuple[int, ...]
    env_steps: int  # steps taken, including those of copies already done (their work still costs)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def mean_length(self) -> float:
        return float(np.mean(self.lengths))


@torch.no_grad()
def evaluate(policy: ActorCritic, envs: VectorEnv, *, info: EnvInfo, seeds: Sequence[int], obs_norm: ObsNormalizer) -> EvalResult:
    """One episode per copy of ``envs`` (``len(seeds)`` copies), acting deterministically."""
    if envs.num_envs != len(seeds):
        raise ValueError(f"evaluate needs one env copy per seed, but got {envs.num_envs} copies and {len(seeds)} seeds")
    obs, _ = envs.reset(seed=list(seeds))  # type: ignore[arg-type]  # VectorEnv takes one seed per copy
    n = len(seeds)
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    done = np.zeros(n, bool)
    max_steps = info.max_episode_steps or DEFAULT_MAX_STEPS
    steps = 0
    while not done.all() and steps < max_steps:
        obs = eval_step(policy, envs, obs, info=info, obs_norm=obs_norm, returns=returns, lengths=lengths, done=done)
        steps += 1
    return EvalResult(returns=tuple(map(float, returns)), lengths=tuple(map(int, lengths)), env_steps=steps * n)


def eval_step(policy: ActorCritic, envs: VectorEnv, obs: np.ndarray, *, info: EnvInfo, obs_norm: ObsNormalizer, returns: np.ndarray,
              lengths: np.ndarray, done: np.ndarray) -> np.ndarray:
    """One deterministic step of every copy (those done too: their steps still cost); adds the copies
    still running to ``returns`` and ``lengths`` and marks the ended ones in ``done`` (in place).
    Returns the next observations. (Timed as it is by :mod:`hpbench.train.rl.looptime`.)"""
    head, _ = policy(as_tensor(obs_norm(obs, update=False)))
    obs, r, term, trunc, _ = envs.step(env_actions(policy.mode(head), info))
    live = ~done
    returns[live] += r[live]
    lengths[live] += 1
    done |= term | trunc
    return obs
