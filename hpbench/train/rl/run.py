"""One RL run, advanced one epoch at a time: what the trainer drives, reports and checkpoints.

An epoch is ``steps_per_epoch`` environment steps (``rollouts_per_epoch`` rollouts, each followed
by its update round), then one deterministic evaluation. The metrics it returns are named in
:data:`METRICS`. Once ``eval_return`` reaches the reward threshold the run is ``solved`` and
``steps_to_solve`` records the env steps taken (the trainer stops it when ``stop_on_solve``).

Seeds: training env copies, policy initialization and the sampling / minibatch generator each
get an independent stream of ``config.seed``; evaluation episodes use ``eval_seed + i`` for every
run, so all trials are scored on the same episodes. The same seed gives the same numbers on CPU.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from hpbench.train.rl.config import RLConfig
from hpbench.train.rl.envs import check_env, make_vector_env, resume_seeds, stream_seeds
from hpbench.train.rl.evaluate import evaluate
from hpbench.train.rl.normalize import ObsNormalizer, RewardScaler
from hpbench.train.rl.optim import OptimizerBuilder, torch_optimizer
from hpbench.train.rl.policy import build_policy
from hpbench.train.rl.rollout import EpisodeTracker, collect
from hpbench.train.rl.update import update

# The keys of train_epoch's metrics, in report order (NaN where an epoch has no value, e.g. no episode ended).
METRICS = (
    "eval_return",  # mean return of eval_episodes deterministic episodes (the value to maximize)
    "eval_length",
    "train_return",  # mean raw return of the training episodes that ended this epoch
    "episode_length",  # their mean length
    "n_episodes",
    "entropy",  # mean policy entropy over the update's minibatches
    "approx_kl",
    "clip_fraction",
    "policy_loss",
    "value_loss",
    "explained_variance",
    "n_updates",  # gradient steps taken this epoch
    "env_steps",  # training env steps so far (evaluation steps not included)
    "eval_env_steps",  # env steps the evaluation took
    "solved",  # 1.0 once eval_return >= the reward threshold
    "steps_to_solve",  # env_steps at the first solved epoch, NaN before
    "rollout_s",  # wall time: collecting, updating, evaluating
    "update_s",
    "eval_s",
)
_STREAM_ENVS, _STREAM_INIT, _STREAM_SAMPLING = 0, 1, 2


class RLRun:
    def __init__(self, config: RLConfig, *, build_optimizer: OptimizerBuilder = torch_optimizer) -> None:
        cfg = self.config = config
        torch.set_num_threads(cfg.threads)
        self.info = check_env(cfg)
        self.threshold = cfg.reward_threshold if cfg.reward_threshold is not None else self.info.reward_threshold
        self.policy = build_policy(self.info, hidden=cfg.hidden, activation=cfg.activation, cnn_channels=cfg.cnn_channels,
                                   log_std_init=cfg.log_std_init, seed=stream_seeds(cfg.seed, _STREAM_INIT, 1)[0])
        self.optimizer = build_optimizer(cfg.optimizer, self.policy.parameters(), lr=cfg.lr, params=dict(cfg.optimizer_kwargs))
        self.generator = torch.Generator().manual_seed(stream_seeds(cfg.seed, _STREAM_SAMPLING, 1)[0])
        self.envs, self._obs = make_vector_env(cfg.env_id, seeds=stream_seeds(cfg.seed, _STREAM_ENVS, cfg.n_envs), env_kwargs=cfg.env_kwargs)
        self.eval_seeds = [cfg.eval_seed + i for i in range(cfg.eval_episodes)]
        self.eval_envs, _ = make_vector_env(cfg.env_id, seeds=self.eval_seeds, env_kwargs=cfg.env_kwargs)
        self.obs_norm = ObsNormalizer(self._obs.shape[1:], enabled=cfg.normalize_obs)
        self.reward_scaler = RewardScaler(cfg.n_envs, gamma=cfg.gamma, enabled=cfg.normalize_rewards)
        self.tracker = EpisodeTracker(n_envs=cfg.n_envs)
        self.epoch = 0
        self.env_steps = 0
        self.steps_to_solve: int | None = None

    @property
    def solved(self) -> bool:
        return self.steps_to_solve is not None

    def train_epoch(self) -> dict[str, float]:
        cfg = self.config
        self.policy.train()
        rounds: list[dict[str, Any]] = []
        rollout_s = update_s = 0.0
        for _ in range(cfg.rollouts_per_epoch):
            t0 = time.perf_counter()
            rollout, self._obs = collect(envs=self.envs, obs=self._obs, policy=self.policy, info=self.info, n_steps=cfg.n_steps,
                                         generator=self.generator, obs_norm=self.obs_norm, reward_scaler=self.reward_scaler, tracker=self.tracker)
            t1 = time.perf_counter()
            rounds.append(update(policy=self.policy, optimizer=self.optimizer, rollout=rollout, cfg=cfg, generator=self.generator))
            rollout_s, update_s = rollout_s + t1 - t0, update_s + time.perf_counter() - t1
            self.env_steps += rollout.n_samples
        t2 = time.perf_counter()
        self.policy.eval()
        result = evaluate(self.policy, self.eval_envs, info=self.info, seeds=self.eval_seeds, obs_norm=self.obs_norm)
        eval_s = time.perf_counter() - t2
        self.epoch += 1
        if self.steps_to_solve is None and self.threshold is not None and result.mean_return >= self.threshold:
            self.steps_to_solve = self.env_steps
        episodes = self.tracker.pop()
        n_updates = sum(r["n_updates"] for r in rounds)
        metrics: dict[str, float] = {
            "eval_return": result.mean_return, "eval_length": result.mean_length,
            "train_return": _mean([e[0] for e in episodes]), "episode_length": _mean([e[1] for e in episodes]), "n_episodes": float(len(episodes)),
        }
        for key in ("entropy", "approx_kl", "clip_fraction", "policy_loss", "value_loss"):  # rounds weighted by their gradient steps
            metrics[key] = sum(r[key] * r["n_updates"] for r in rounds if r["n_updates"]) / n_updates if n_updates else math.nan
        metrics.update({
            "explained_variance": _mean([r["explained_variance"] for r in rounds]), "n_updates": float(n_updates),
            "env_steps": float(self.env_steps), "eval_env_steps": float(result.env_steps), "solved": float(self.solved),
            "steps_to_solve": math.nan if self.steps_to_solve is None else float(self.steps_to_solve),
            "rollout_s": rollout_s, "update_s": update_s, "eval_s": eval_s,
        })
        return {k: metrics[k] for k in METRICS}

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run continues from: networks, optimizer, generator, normalization statistics and
        counters: tensors and plain values only (``torch.load(weights_only=True)`` reads it back; nothing in
        it runs code when loaded). The environments are not in it: :meth:`load_state_dict` makes new ones."""
        return {
            "epoch": self.epoch, "env_steps": self.env_steps, "steps_to_solve": self.steps_to_solve,
            "policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
            "obs_norm": self.obs_norm.stats.state_dict(), "reward_scaler": self.reward_scaler.state_dict(), "tracker": self.tracker.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`. The training environments are made anew and reset with seeds
        drawn from (seed, epoch), so the episodes in progress at the checkpoint are dropped (their partial
        returns too) and new ones start: a resumed run is reproducible (the same checkpoint always gives
        the same numbers) but not bit-identical to the run that was not interrupted."""
        self.epoch, self.env_steps, self.steps_to_solve = int(state["epoch"]), int(state["env_steps"]), state["steps_to_solve"]
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.obs_norm.stats.load_state_dict(state["obs_norm"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.reward_scaler.returns[:] = 0.0  # the episodes in progress are gone
        self.tracker.load_state_dict(state["tracker"])
        self.tracker.returns[:], self.tracker.lengths[:] = 0.0, 0
        self.envs.close()
        seeds = resume_seeds(self.config.seed, _STREAM_ENVS, self.epoch, self.config.n_envs)
        self.envs, self._obs = make_vector_env(self.config.env_id, seeds=seeds, env_kwargs=self.config.env_kwargs)

    def close(self) -> None:
        self.envs.close()
        self.eval_envs.close()

    def __enter__(self) -> RLRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _mean(values: list[float] | list[int]) -> float:
    return float(sum(values) / len(values)) if values else math.nan
