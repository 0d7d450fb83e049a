"""Seconds of hpbench's own rollout, update and evaluation loops with a slim policy: what an rl
epoch spends besides the work its network's widths add, which the device model prices
(:mod:`hpbench.cost.rl`).

A rollout step is one pass of :func:`~hpbench.train.rl.rollout.collect`'s loop (the environment's
steps in the ``SyncVectorEnv`` and its bookkeeping, the forward pass, sampling from the policy's
distribution and its log-probs, numpy <-> tensor conversions, the normalizers, the episode tracker)
with its share of the rollout's stacking; an update step is a gradient step of
:func:`~hpbench.train.rl.update.update` with its share of the round (the returns' recursion,
minibatch indexing, gradient clipping, the losses read back); an evaluation step is
:func:`~hpbench.train.rl.evaluate.eval_step`. They run as training runs them, at the study's copies,
rollout length, minibatches, algorithm and optimizer, with the study's layers one unit wide
(:func:`slim_policy`): the Python around each layer costs what it costs at any width, and the device
model, which prices the study's network, is told to take the slim one's price back out. The
environment's own time (``env_step_s``, :func:`~hpbench.train.rl.cost.measure_env_step_s`) is
inside these seconds.

Measured once per environment and these settings on a machine, and cached with the environment's
step time (:mod:`hpbench.cost.envtime`).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium.vector import SyncVectorEnv

from hpbench.train.rl.config import RLConfig
from hpbench.train.rl.cost import cached_seconds, env_cache_key, record
from hpbench.train.rl.envs import EnvInfo, env_info, make_vector_env
from hpbench.train.rl.evaluate import eval_step
from hpbench.train.rl.normalize import ObsNormalizer, RewardScaler
from hpbench.train.rl.optim import torch_optimizer
from hpbench.train.rl.policy import ActorCritic, build_policy
from hpbench.train.rl.rollout import EpisodeTracker, Rollout, collect
from hpbench.train.rl.update import update

MIN_STEPS = 256  # vector steps timed per run (whole rollouts: at least one)


@dataclass(frozen=True, kw_only=True)
class LoopTimes:
    rollout_step_s: float  # one vector step of a rollout: n_envs environment steps and the loop's work around them
    update_step_s: float  # one gradient step of an update round, its share of the round's own work included
    eval_step_s: float  # one vector step of the evaluation: eval_episodes environment steps and the loop's work


def slim_policy(cfg: RLConfig, info: EnvInfo) -> ActorCritic:
    """The study's actor-critic with every layer one unit (channel) wide: its layers, activations and
    action head, next to no arithmetic."""
    return build_policy(info, hidden=(1,) * len(cfg.hidden), activation=cfg.activation, cnn_channels=(1,) * len(cfg.cnn_channels),
                        log_std_init=cfg.log_std_init, seed=0)


def loop_cache_key(cfg: RLConfig) -> str:
    """The cache's key: the environment and what the loops' work per step depends on."""
    return (f"loop {env_cache_key(cfg.env_id, cfg.env_kwargs)} n_envs={cfg.n_envs} n_steps={cfg.n_steps} eval_copies={cfg.eval_episodes} "
            f"normalize_obs={cfg.normalize_obs} normalize_rewards={cfg.normalize_rewards} algorithm={cfg.algorithm} "
            f"update_epochs={cfg.epochs_per_update} n_minibatches={cfg.minibatches} clip={cfg.max_grad_norm is not None} "
            f"normalize_advantages={cfg.normalize_advantages} optimizer={cfg.optimizer} layers={len(cfg.hidden)} "
            f"convs={len(cfg.cnn_channels)} activation={cfg.activation}")


def measure_loop_step_s(cfg: RLConfig, *, min_steps: int = MIN_STEPS, repeats: int = 3,
                        cache: MutableMapping[str, dict[str, Any]] | None = None) -> LoopTimes:
    """Seconds per vector step of the rollout and of the evaluation (the median of ``repeats`` runs of
    at least ``min_steps`` vector steps each, after a warm-up), on the thread's CPU clock at the run's
    torch threads (as :func:`~hpbench.train.rl.cost.measure_env_step_s`). With ``cache``, as
    :func:`~hpbench.train.rl.cost.measure_env_step_s`: a record of this machine and rules is returned
    instead, a new measurement stored under :func:`loop_cache_key`."""
    if min_steps < 1 or repeats < 1:
        raise ValueError(f"min_steps and repeats must be >= 1, but got min_steps={min_steps}, repeats={repeats}")
    key = loop_cache_key(cfg)
    hit = cached_seconds(cache, key)
    if hit is not None:
        return _times(hit)
    info = env_info(cfg.env_id, cfg.env_kwargs)
    policy = slim_policy(cfg, info)
    rollouts = max(1, math.ceil(min_steps / cfg.n_steps))
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # as the run sets them (more threads than one spin at each small op's barrier)
    rollout, envs, rollout_state = _rollout_timer(cfg, info, policy)
    evaluation, eval_envs = _eval_timer(cfg, info, policy)
    try:
        rollout(1)
        evaluation(10)
        updating = _update_timer(cfg, policy, rollout_state["rollout"])
        updating()
        times = LoopTimes(rollout_step_s=statistics.median(rollout(rollouts) / (rollouts * cfg.n_steps) for _ in range(repeats)),
                          update_step_s=statistics.median(updating() for _ in range(repeats)),
                          eval_step_s=statistics.median(evaluation(min_steps) / min_steps for _ in range(repeats)))
    finally:
        envs.close()
        eval_envs.close()
        torch.set_num_threads(threads)
    if cache is not None:
        cache[key] = record(env_id=cfg.env_id, env_kwargs=dict(cfg.env_kwargs or {}), rollout_step_s=times.rollout_step_s,
                            update_step_s=times.update_step_s, eval_step_s=times.eval_step_s, n_rollouts=rollouts * repeats, n_eval_steps=min_steps * repeats)
    return times


def _times(hit: Mapping[str, Any]) -> LoopTimes:
    return LoopTimes(rollout_step_s=float(hit["rollout_step_s"]), update_step_s=float(hit["update_step_s"]), eval_step_s=float(hit["eval_step_s"]))


def _rollout_timer(cfg: RLConfig, info: EnvInfo, policy: ActorCritic) -> tuple[Callable[[int], float], SyncVectorEnv, dict[str, Any]]:
    """A function of ``n``: the seconds of ``n`` rollouts of ``cfg.n_steps`` steps; its envs (to close)
    and its state (``"rollout"``: the last rollout, for the update's timing)."""
    envs, obs = make_vector_env(cfg.env_id, seeds=list(range(cfg.n_envs)), env_kwargs=cfg.env_kwargs)
    state: dict[str, Any] = {"obs": obs}
    generator = torch.Generator().manual_seed(0)
    obs_norm = ObsNormalizer(obs.shape[1:], enabled=cfg.normalize_obs)
    reward_scaler = RewardScaler(cfg.n_envs, gamma=cfg.gamma, enabled=cfg.normalize_rewards)
    tracker = EpisodeTracker(n_envs=cfg.n_envs)

    def run(n: int) -> float:
        t0 = time.thread_time()
        for _ in range(n):
            state["rollout"], state["obs"] = collect(envs=envs, obs=state["obs"], policy=policy, info=info, n_steps=cfg.n_steps,
                                                     generator=generator, obs_norm=obs_norm, reward_scaler=reward_scaler, tracker=tracker)
        seconds = time.thread_time() - t0
        tracker.pop()
        return seconds

    return run, envs, state


def _update_timer(cfg: RLConfig, policy: ActorCritic, rollout: Rollout) -> Callable[[], float]:
    """A function: the seconds per gradient step of one update round on ``rollout``, with the study's optimizer
    (torch's of that name; Adam for one only the study's registry knows)."""
    try:
        optimizer = torch_optimizer(cfg.optimizer, policy.parameters(), lr=cfg.lr, params=dict(cfg.optimizer_kwargs))
    except (ValueError, KeyError, TypeError):
        optimizer = torch_optimizer("adam", policy.parameters(), lr=cfg.lr, params={})
    generator = torch.Generator().manual_seed(0)

    def run() -> float:
        t0 = time.thread_time()
        out = update(policy=policy, optimizer=optimizer, rollout=rollout, cfg=cfg, generator=generator)
        return (time.thread_time() - t0) / max(1, int(out["n_updates"]))

    return run


def _eval_timer(cfg: RLConfig, info: EnvInfo, policy: ActorCritic) -> tuple[Callable[[int], float], SyncVectorEnv]:
    """A function of ``n``: the seconds of ``n`` evaluation steps of ``cfg.eval_episodes`` copies (and its envs, to close)."""
    seeds = list(range(cfg.eval_episodes))
    envs, obs = make_vector_env(cfg.env_id, seeds=seeds, env_kwargs=cfg.env_kwargs)
    state = {"obs": obs}
    obs_norm = ObsNormalizer(obs.shape[1:], enabled=cfg.normalize_obs)
    n = len(seeds)

    def run(steps: int) -> float:
        returns, lengths, done = np.zeros(n), np.zeros(n, np.int64), np.zeros(n, bool)
        t0 = time.thread_time()
        with torch.no_grad():  # as evaluate() runs it
            for _ in range(steps):
                state["obs"] = eval_step(policy, envs, state["obs"], info=info, obs_norm=obs_norm, returns=returns, lengths=lengths,
                                         done=done)
        return time.thread_time() - t0

    return run, envs


def loop_epoch_seconds(times: LoopTimes, cfg: RLConfig, *, optimizer_steps: int, eval_steps: int) -> float:
    """An epoch's seconds in the slim policy's loops: ``steps_per_epoch / n_envs`` rollout vector steps,
    ``optimizer_steps`` gradient steps and ``eval_steps / eval_episodes`` evaluation vector steps
    (``eval_steps``: the evaluation's env steps)."""
    return (times.rollout_step_s * (cfg.steps_per_epoch // cfg.n_envs) + times.update_step_s * optimizer_steps
            + times.eval_step_s * eval_steps / cfg.eval_episodes)
