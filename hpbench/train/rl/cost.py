"""What an RL epoch costs: the network's FLOPs (a pure function of the config's counts) and the
environment's own time per step (measured once per env and machine, cached).

An epoch's network work, with f = forward FLOPs of the actor-critic on one observation:

* rollout: one forward per training env step (actor and critic), plus one bootstrap value
  forward per env copy and rollout (counted as f: the actor part is over-counted, by a
  few tenths of a percent of the rollout at n_steps = 256);
* update: ``update_epochs`` passes over every sample, forward and backward; backward ≈ 2x
  forward (one product for the weight gradient, one for the input gradient: Kaplan et al. 2020,
  "Scaling Laws for Neural Language Models", §2.1, C ≈ 6N per sample = 2N forward + 4N backward);
  ``n_minibatches`` only splits this work, it changes the count of optimizer steps;
* evaluation: one forward per evaluation env step (at most eval_episodes x max_episode_steps).

Truncation bootstraps (one value forward per time-limit episode end) are left out: at most one
per episode, under 1% of CartPole's steps.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from hpbench.train.rl.config import RLConfig

BACKWARD_PER_FORWARD = 2  # Kaplan et al. 2020, §2.1


@dataclass(frozen=True, kw_only=True)
class EpochFlops:
    rollout_forward: int
    update_forward: int
    update_backward: int
    eval_forward: int
    optimizer_steps: int  # gradient steps per epoch: multiply by the optimizer's FLOPs per parameter x n_params

    @property
    def forward(self) -> int:
        return self.rollout_forward + self.update_forward + self.eval_forward

    @property
    def backward(self) -> int:
        return self.update_backward


def epoch_flops(*, forward_flops_per_sample: int, n_envs: int, n_steps: int, steps_per_epoch: int, update_epochs: int, n_minibatches: int,
                eval_steps: int = 0) -> EpochFlops:
    """Forward and backward FLOPs of one epoch (formulas in the module docstring)."""
    for name, value in (("forward_flops_per_sample", forward_flops_per_sample), ("n_envs", n_envs), ("n_steps", n_steps),
                        ("steps_per_epoch", steps_per_epoch), ("update_epochs", update_epochs), ("n_minibatches", n_minibatches)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, but got {name}={value}")
    if steps_per_epoch % (n_envs * n_steps):
        raise ValueError(f"steps_per_epoch must be a multiple of n_envs x n_steps = {n_envs * n_steps}, but got {steps_per_epoch}")
    if eval_steps < 0:
        raise ValueError(f"eval_steps must be >= 0, but got eval_steps={eval_steps}")
    f = forward_flops_per_sample
    rollouts = steps_per_epoch // (n_envs * n_steps)
    update_forward = update_epochs * steps_per_epoch * f
    return EpochFlops(rollout_forward=(steps_per_epoch + rollouts * n_envs) * f, update_forward=update_forward,
                      update_backward=BACKWARD_PER_FORWARD * update_forward, eval_forward=eval_steps * f,
                      optimizer_steps=rollouts * update_epochs * n_minibatches)


def config_epoch_flops(cfg: RLConfig, *, forward_flops_per_sample: int, eval_steps: int = 0) -> EpochFlops:
    """:func:`epoch_flops` with a run's counts (PPO's update epochs and minibatches, A2C's and REINFORCE's single step)."""
    return epoch_flops(forward_flops_per_sample=forward_flops_per_sample, n_envs=cfg.n_envs, n_steps=cfg.n_steps,
                       steps_per_epoch=cfg.steps_per_epoch, update_epochs=cfg.epochs_per_update, n_minibatches=cfg.minibatches,
                       eval_steps=eval_steps)


def max_eval_steps(*, eval_episodes: int, max_episode_steps: int) -> int:
    """The evaluation's env steps when every episode runs to its time limit (the evaluator steps all copies together)."""
    return eval_episodes * max_episode_steps


def forward_flops_per_sample(policy: Any, obs_shape: tuple[int, ...], *, image: bool = False) -> int:
    """FLOPs of the actor-critic on one observation (matmuls and convolutions, as counted by
    ``torch.utils.flop_counter.FlopCounterMode``; element-wise activations are left out). ``obs_shape``
    is the env's observation shape ((H, W, C) for images, read as uint8)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros((1, *obs_shape), dtype=torch.uint8 if image else torch.float32)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        policy(x)
    return int(counter.get_total_flops())


# -- environment time ------------------------------------------------------------------------

def env_cache_key(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> str:
    """The cache's key: the id, and its make() arguments when there are any (``"CartPole-v1"``, ``'X-v0 {"size": 8}'``)."""
    return env_id if not env_kwargs else f"{env_id} {json.dumps(dict(env_kwargs), sort_keys=True)}"


# The version of what the env timings measure: a cached record of other rules is measured again.
# 1 until session 49: the action was drawn (action_space.sample()) inside the timed loop, on the wall
# clock; 2: drawn before the clock starts, on the thread's CPU clock, and the rollout's and
# evaluation's own loops are timed too (:mod:`hpbench.train.rl.looptime`).
TIMING_RULES = 2


def machine() -> str:
    """The kind of machine a timing holds for (its records say it)."""
    return f"{platform.machine()} {platform.processor() or platform.node()}"


def cached_seconds(cache: Mapping[str, Mapping[str, Any]] | None, key: str) -> Mapping[str, Any] | None:
    """The record under ``key`` when it was measured here, by these rules, with this gymnasium; else None."""
    import gymnasium as gym

    hit = None if cache is None else cache.get(key)
    if hit is None or hit.get("gymnasium") != gym.__version__ or hit.get("machine") != machine() or hit.get("rules") != TIMING_RULES:
        return None
    return hit


def record(**fields: Any) -> dict[str, Any]:
    """A cache record: ``fields`` and what it holds for (gymnasium, machine, rules, when)."""
    import gymnasium as gym

    return {**fields, "gymnasium": gym.__version__, "machine": machine(), "rules": TIMING_RULES, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def measure_env_step_s(env_id: str, *, n: int = 2000, env_kwargs: Mapping[str, Any] | None = None, seed: int = 0, repeats: int = 3,
                       cache: MutableMapping[str, dict[str, Any]] | None = None) -> float:
    """Seconds per environment step with random actions (drawn before the clock starts), resets
    included (the median of ``repeats`` runs of ``n`` steps after 100 warm-up steps), on the thread's
    CPU clock: a figure cached once per machine must not keep the load it was measured under (on a
    quiet machine wall and CPU agree; the wall clock until :data:`TIMING_RULES` 2). With ``cache``,
    a stored entry measured by these :data:`TIMING_RULES` with the same gymnasium version on the same
    kind of machine is returned instead, and a new measurement is stored as ``cache[env_cache_key(...)] =
    {"env_id", "env_kwargs", "seconds_per_step", "n_steps", "gymnasium", "machine", "rules", "measured_at"}``
    (JSON-ready: the lead's cost store can keep the dict as is)."""
    from hpbench.train.rl.envs import make_env

    if n < 1 or repeats < 1:
        raise ValueError(f"n and repeats must be >= 1, but got n={n}, repeats={repeats}")
    key = env_cache_key(env_id, env_kwargs)
    hit = cached_seconds(cache, key)
    if hit is not None:
        return float(hit["seconds_per_step"])
    env = make_env(env_id, env_kwargs)
    try:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        _steps(env, 100)
        seconds = statistics.median(_steps(env, n) / n for _ in range(repeats))
    finally:
        env.close()
    if cache is not None:
        cache[key] = record(env_id=env_id, env_kwargs=dict(env_kwargs or {}), seconds_per_step=seconds, n_steps=n * repeats)
    return seconds


def _steps(env: Any, n: int) -> float:
    """Seconds of ``n`` steps (resets included) with random actions drawn before the clock starts: the
    rollout never calls ``action_space.sample()``, whose draw from a Box (30-45 us here) cost 2-6x a
    classic-control step and was timed with it until session 49 (:data:`TIMING_RULES` 1)."""
    actions = [env.action_space.sample() for _ in range(n)]
    t0 = time.thread_time()
    for action in actions:
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
    return time.thread_time() - t0
