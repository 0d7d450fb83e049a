"""Running statistics for observation normalization and reward scaling (part of a run's state)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class RunningMeanStd:
    """Mean and variance of everything seen so far, merged batch by batch
    (Chan, Golub & LeVeque 1979, the parallel form of Welford's update; as in SB3's VecNormalize)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4  # SB3's epsilon: the first batch dominates, no division by zero

    def update(self, batch: np.ndarray) -> None:
        b_mean, b_var, b_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        # np.asarray: with shape () the running mean and variance are numpy scalars after an update
        return {"mean": torch.from_numpy(np.array(self.mean, dtype=np.float64)), "var": torch.from_numpy(np.array(self.var, dtype=np.float64)),
                "count": float(self.count)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean = state["mean"].numpy().astype(np.float64)
        self.var = state["var"].numpy().astype(np.float64)
        self.count = float(state["count"])


OBS_EPS = 1e-8  # inside the square root of the observation normalization


class ObsNormalizer:
    """(obs - mean) / sqrt(var + eps), clipped to ±clip; statistics updated from training rollouts only."""

    def __init__(self, shape: tuple[int, ...], *, enabled: bool, clip: float = 10.0) -> None:
        self.enabled, self.clip = enabled, clip
        self.stats = RunningMeanStd(shape)

    def __call__(self, obs: np.ndarray, *, update: bool) -> np.ndarray:
        if not self.enabled:
            return obs
        if update:
            self.stats.update(obs)
        out = (obs - self.stats.mean) / np.sqrt(self.stats.var + OBS_EPS)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)


class NormalizedPolicy(nn.Module):
    """A policy that takes raw observations: :class:`ObsNormalizer`'s normalization with fixed
    statistics (its buffers), then the actor-critic. The trainer's model of a ``normalize_obs`` run,
    so the best epoch's weights are kept with that epoch's statistics, and what ``Results.load_model``
    rebuilds from such a record: ``model(obs)`` and ``model.value(obs)`` then act as the run's evaluation did."""

    def __init__(self, policy: nn.Module, shape: tuple[int, ...], *, clip: float = 10.0) -> None:
        super().__init__()
        self.policy, self.clip = policy, clip
        self.register_buffer("obs_mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("obs_var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("obs_count", torch.tensor(1e-4, dtype=torch.float64))

    def set_stats(self, state: dict[str, Any]) -> None:
        """Take a :meth:`RunningMeanStd.state_dict` (its shapes must be the observations')."""
        mean, var = torch.as_tensor(state["mean"], dtype=torch.float64), torch.as_tensor(state["var"], dtype=torch.float64)
        if mean.shape != self.obs_mean.shape or var.shape != self.obs_var.shape:
            raise ValueError(f"obs_norm: mean and var must have the observations' shape {tuple(self.obs_mean.shape)}, "
                             f"but got {tuple(mean.shape)} and {tuple(var.shape)}")
        self.obs_mean.copy_(mean)
        self.obs_var.copy_(var)
        self.obs_count.fill_(float(state["count"]))

    def stats(self) -> dict[str, Any]:
        return {"mean": self.obs_mean.detach().clone(), "var": self.obs_var.detach().clone(), "count": float(self.obs_count)}

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        out = (obs.to(torch.float64) - self.obs_mean) / torch.sqrt(self.obs_var + OBS_EPS)
        return out.clamp(-self.clip, self.clip).to(torch.float32)

    def forward(self, obs: torch.Tensor) -> Any:
        return self.policy(self.normalize(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy.value(self.normalize(obs))  # type: ignore[no-any-return,operator]

    def __getattr__(self, name: str) -> Any:
        """The actor-critic's other members (``mode``, ``log_std``, ...): they do not read observations."""
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["policy"], name)


class RewardScaler:
    """Divide rewards by the running std of the discounted return (SB3 VecNormalize's ``norm_reward``;
    Engstrom et al. 2020, "Implementation Matters in Deep RL", §3: reward scaling)."""

    def __init__(self, n_envs: int, *, gamma: float, enabled: bool, clip: float = 10.0) -> None:
        self.enabled, self.gamma, self.clip = enabled, gamma, clip
        self.stats = RunningMeanStd(())
        self.returns = np.zeros(n_envs, np.float64)

    def __call__(self, rewards: np.ndarray, ended: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return rewards
        self.returns = self.returns * self.gamma + rewards
        self.stats.update(self.returns)
        self.returns[ended] = 0.0
        return np.clip(rewards / np.sqrt(self.stats.var + 1e-8), -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {**self.stats.state_dict(), "returns": torch.from_numpy(self.returns.copy())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stats.load_state_dict(state)
        self.returns = state["returns"].numpy().astype(np.float64)
