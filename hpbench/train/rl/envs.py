"""Seeded Gymnasium vector environments, and what their spaces ask of the policy.

Vector environments are ``gymnasium.vector.SyncVectorEnv`` (one process: the shared machines
have few cores, and classic-control steps cost microseconds) in ``SAME_STEP`` autoreset mode:
an episode's last observation comes back in ``info["final_obs"]`` and the returned observation
is already the next episode's first, so the rollout can bootstrap a truncated episode from its
true final state. Copy ``i`` is reset with ``seeds[i]`` once; later resets draw from its own
generator, so the seeds fix every episode.

An id may name the module that registers it, Gymnasium's own ``"module:EnvId"`` form
(``"mycode.envs:LineEnv-v0"``, the module calling ``gymnasium.register("LineEnv-v0", ...)``): every
process that makes or looks up the env imports that module first, the way hpbench imports a user's
model or loader (:func:`hpbench.registry.import_user_module`: an installed package, ``PYTHONPATH``,
or the current directory, which Ray's workers and the helper process share with the driver).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from hpbench.registry import import_user_module
from hpbench.train.rl.config import RLConfig

# how to use one's own environment (the error of an unknown id says it)
REGISTER_HINT = "or register your own: gymnasium.register('MyEnv-v0', entry_point=...) in a module (mycode/envs.py), then env = 'mycode.envs:MyEnv-v0'"


class ObsKind(enum.StrEnum):
    VECTOR = "vector"  # a flat Box: an MLP encoder
    IMAGE = "image"  # a (H, W, C) uint8 Box: a small conv encoder


class HeadKind(enum.StrEnum):
    CATEGORICAL = "categorical"  # Discrete actions
    GAUSSIAN = "gaussian"  # Box actions: a diagonal Gaussian, clipped to the bounds when stepping


@dataclass(frozen=True, kw_only=True)
class EnvInfo:
    """What the policy and the run need to know about an environment (read from one instance)."""

    env_id: str
    obs_kind: ObsKind
    obs_shape: tuple[int, ...]  # images as (C, H, W), the layout the encoder reads
    head_kind: HeadKind
    n_actions: int  # Discrete: the number of actions; Box: the action dimension
    action_low: tuple[float, ...] | None  # Box actions only
    action_high: tuple[float, ...] | None
    reward_threshold: float | None  # the spec's "solved" return, None when the env has none
    max_episode_steps: int | None


class EnvModuleError(ValueError):
    """The module of a ``"module:EnvId"`` id cannot be imported (not found, or its import raised)."""


def split_env_id(env_id: str) -> tuple[str, str]:
    """``("module", "EnvId")`` of Gymnasium's ``"module:EnvId"`` form; ``("", env_id)`` for a plain id."""
    module, sep, name = env_id.partition(":")
    return (module, name) if sep else ("", env_id)


def import_env_module(env_id: str) -> str:
    """Import the module a ``"module:EnvId"`` id names (it registers the env), as hpbench imports user
    code; returns the bare id. Raises :class:`EnvModuleError` naming the module and the id."""
    module, name = split_env_id(env_id)
    if module:
        try:
            import_user_module(module)
        except Exception as e:  # ModuleNotFoundError, or the user's module raising as it is imported
            raise EnvModuleError(f"env_id {env_id!r}: importing its module {module!r} (which should register {name!r}) raised "
                                 f"{type(e).__name__}: {e}") from e
    return name


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``env_id`` (its module imported first), without making the env.
    Raises :class:`EnvModuleError`, or ValueError when the id is not registered."""
    name = import_env_module(env_id)
    try:
        return gym.spec(name)
    except gym.error.Error as e:
        raise ValueError(f"env_id {env_id!r} is not a registered Gymnasium environment: {e}") from e


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> gym.Env:
    """One environment, without the passive checker (it re-checks every step: ~30% of a CartPole step)."""
    import_env_module(env_id)  # gym.make imports it too, but only from sys.path (not the study's folder in every process)
    try:
        return gym.make(env_id, disable_env_checker=True, **dict(env_kwargs or {}))
    except gym.error.Error as e:  # unregistered id, missing extra, bad kwargs
        raise ValueError(f"env_id {env_id!r} cannot be made: {e}") from e


def make_vector_env(env_id: str, *, seeds: Sequence[int], env_kwargs: Mapping[str, Any] | None = None) -> tuple[SyncVectorEnv, np.ndarray]:
    """One copy per seed (copy ``i`` reset with ``seeds[i]``) and their first observations."""
    kwargs = dict(env_kwargs or {})
    envs = SyncVectorEnv([lambda: make_env(env_id, kwargs) for _ in seeds], autoreset_mode=AutoresetMode.SAME_STEP)
    obs, _ = envs.reset(seed=[int(s) for s in seeds])
    return envs, obs


def stream_seeds(seed: int, stream: int, n: int) -> list[int]:
    """``n`` independent seeds for one use (``stream``) of a run's seed: runs with seeds 0 and 1 share no
    env copy (``seed + i`` would give run 0's copy 1 the seed of run 1's copy 0). NumPy's SeedSequence."""
    return [int(s) for s in np.random.SeedSequence([seed, stream]).generate_state(n)]


def resume_seeds(seed: int, stream: int, epoch: int, n: int) -> list[int]:
    """The seeds of the env copies a run resumed after ``epoch`` epochs makes anew: a function of
    (seed, epoch) only, so resuming from the same checkpoint always replays the same episodes."""
    return [int(s) for s in np.random.SeedSequence([seed, stream, epoch]).generate_state(n)]


def env_info(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> EnvInfo:
    env = make_env(env_id, env_kwargs)
    try:
        kind, shape = obs_kind(env.observation_space, env_id=env_id)
        head, n, low, high = action_head(env.action_space, env_id=env_id)
        spec = env.spec
        return EnvInfo(env_id=env_id, obs_kind=kind, obs_shape=shape, head_kind=head, n_actions=n, action_low=low, action_high=high,
                       reward_threshold=None if spec is None or spec.reward_threshold is None else float(spec.reward_threshold),
                       max_episode_steps=None if spec is None else spec.max_episode_steps)
    finally:
        env.close()


def check_env(cfg: RLConfig) -> EnvInfo:
    """What the config's env offers, checked against the config (call it once before the first trial:
    it makes one env instance). Raises ValueError naming the env and the offending setting."""
    info = env_info(cfg.env_id, cfg.env_kwargs)
    if cfg.normalize_obs and info.obs_kind is ObsKind.IMAGE:
        raise ValueError(f"normalize_obs applies to vector observations, but env {cfg.env_id!r} has images {info.obs_shape} "
                         "(they are scaled to [0, 1] by the encoder): set normalize_obs = false")
    return info


def obs_kind(space: gym.Space, *, env_id: str = "") -> tuple[ObsKind, tuple[int, ...]]:
    """A uint8 Box of rank 3 is an (H, W, C) image (returned as (C, H, W)); any other Box is a vector (flattened)."""
    if isinstance(space, spaces.Box):
        if space.dtype == np.uint8 and len(space.shape) == 3:
            h, w, c = space.shape
            return ObsKind.IMAGE, (c, h, w)
        return ObsKind.VECTOR, (int(np.prod(space.shape)),)
    raise ValueError(f"env {env_id!r}: only Box observations (vectors or HxWxC uint8 images) are supported, but got {space}")


def action_head(space: gym.Space, *, env_id: str = "") -> tuple[HeadKind, int, tuple[float, ...] | None, tuple[float, ...] | None]:
    """(head kind, n_actions or action dim, low, high) of an action space."""
    if isinstance(space, spaces.Discrete):
        return HeadKind.CATEGORICAL, int(space.n), None, None
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return HeadKind.GAUSSIAN, int(space.shape[0]), tuple(map(float, space.low)), tuple(map(float, space.high))
    raise ValueError(f"env {env_id!r}: only Discrete or 1-D Box actions are supported, but got {space}")


def reward_threshold(env_id: str) -> float | None:
    """The registered "solved" return (``env.spec.reward_threshold``), without making the env."""
    value = env_spec(env_id).reward_threshold
    return None if value is None else float(value)
