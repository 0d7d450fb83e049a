"""Every knob of one RL run, as a frozen keyword-only dataclass validated once (torch-free, gym-free).

Defaults follow CleanRL's ``ppo.py`` and RL-Zoo's classic-control settings; each has its reason.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Algorithm(enum.StrEnum):
    PPO = "ppo"  # clipped surrogate, several epochs of minibatches per rollout (Schulman et al. 2017)
    A2C = "a2c"  # advantage actor-critic: one gradient step per rollout on GAE advantages (Mnih et al. 2016)
    REINFORCE = "reinforce"  # Monte-Carlo returns minus a learned value baseline, one step per rollout (Williams 1992)


class Activation(enum.StrEnum):
    """The nonlinearities of the policy and value networks (the mlp family's own, hpbench.models.ACTIVATIONS)."""

    TANH = "tanh"
    RELU = "relu"
    GELU = "gelu"
    SIGMOID = "sigmoid"
    LEAKY_RELU = "leaky_relu"
    ELU = "elu"
    SILU = "silu"


OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "amsgrad", "adamw")


@dataclass(frozen=True, kw_only=True)
class RLConfig:
    algorithm: Algorithm = Algorithm.PPO  # the most robust of the three under a hyperparameter search
    env_id: str = "CartPole-v1"  # any registered Gymnasium id; CartPole solves in seconds
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)  # passed to gymnasium.make
    n_envs: int = 8  # parallel copies (SyncVectorEnv): decorrelates a rollout's samples
    n_steps: int = 256  # steps per env per rollout: 8 x 256 = 2048 samples per update round
    steps_per_epoch: int = 2048  # env steps (all envs) per epoch; a multiple of n_envs x n_steps
    gamma: float = 0.99  # discount: ~100-step horizon, the classic-control standard
    gae_lambda: float = 0.95  # GAE bias/variance trade-off (Schulman et al. 2016 use 0.95-0.99)
    clip_range: float = 0.2  # PPO's epsilon (Schulman et al. 2017, Table 3 best)
    clip_range_vf: float | None = None  # value clipping: CleanRL's ablation shows it rarely helps
    entropy_coef: float = 0.0  # CartPole needs no exploration bonus; 0.01 for harder envs
    value_coef: float = 0.5  # CleanRL / SB3 default weight of the value loss
    update_epochs: int | None = None  # None: 4 for PPO (CleanRL), 1 for A2C / REINFORCE (on-policy once)
    n_minibatches: int | None = None  # None: 4 for PPO (CleanRL), 1 for A2C / REINFORCE (the whole rollout)
    max_grad_norm: float | None = 0.5  # global gradient-norm clip (CleanRL, SB3); None: no clipping
    target_kl: float | None = None  # stop an update round early once approx-KL exceeds it; None: never
    normalize_advantages: bool = True  # per-minibatch zero mean, unit std (CleanRL)
    normalize_obs: bool = False  # running mean/std of observations; helps MuJoCo-like scales, not CartPole
    normalize_rewards: bool = False  # scale rewards by the running std of the discounted return (SB3 VecNormalize)
    eval_episodes: int = 20  # deterministic-policy episodes per epoch; CartPole's "solved" is 475 over them
    eval_seed: int = 10_000  # eval episodes reset with eval_seed + i, every epoch the same episodes
    reward_threshold: float | None = None  # None: the env's spec.reward_threshold (CartPole-v1: 475)
    stop_on_solve: bool = True  # mark the run solved (the trainer stops it) once eval_return >= threshold
    hidden: tuple[int, ...] = (64, 64)  # CleanRL's actor and critic MLPs (separate networks)
    activation: Activation = Activation.TANH  # tanh: the PPO paper's and CleanRL's choice for MLPs
    cnn_channels: tuple[int, ...] = (16, 32)  # image encoder: 3x3 stride-2 convs, then a hidden[-1] linear
    log_std_init: float = 0.0  # Gaussian policies start with std 1 (state-independent log-std)
    lr: float = 2.5e-4  # CleanRL's PPO learning rate
    optimizer: str = "adam"  # built by name: hpbench's optimizer registry in a study, torch_optimizer's 8 names by default
    optimizer_kwargs: Mapping[str, Any] = field(default_factory=dict)  # torch's defaults (CleanRL sets Adam's eps=1e-5)
    seed: int = 0  # env resets, action sampling, minibatch order and initialization
    threads: int = 1  # torch intra-op threads; small networks gain nothing from more

    def __post_init__(self) -> None:
        _check_enum(Algorithm, "algorithm", self.algorithm)
        _check_enum(Activation, "activation", self.activation)
        object.__setattr__(self, "algorithm", Algorithm(self.algorithm))
        object.__setattr__(self, "activation", Activation(self.activation))
        object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "cnn_channels", tuple(self.cnn_channels))
        if not isinstance(self.env_id, str) or not self.env_id:
            raise ValueError(f"env_id must be a Gymnasium environment id, but got {self.env_id!r}")
        for name in ("n_envs", "n_steps", "steps_per_epoch", "eval_episodes", "threads"):
            _check_int(name, getattr(self, name), low=1)
        for name in ("update_epochs", "n_minibatches"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), low=1)
        if self.steps_per_epoch % self.rollout_size:
            raise ValueError(f"steps_per_epoch must be a multiple of n_envs x n_steps = {self.n_envs} x {self.n_steps} = "
                             f"{self.rollout_size}, but got steps_per_epoch={self.steps_per_epoch}")
        if self.minibatches > self.rollout_size:
            raise ValueError(f"n_minibatches must be <= n_envs x n_steps = {self.rollout_size}, but got n_minibatches={self.minibatches}")
        for name in ("gamma", "gae_lambda"):
            _check_float(name, getattr(self, name), low=0.0, high=1.0)
        _check_float("clip_range", self.clip_range, low=0.0, high=math.inf, low_open=True)
        for name in ("clip_range_vf", "max_grad_norm", "target_kl"):
            if getattr(self, name) is not None:
                _check_float(name, getattr(self, name), low=0.0, high=math.inf, low_open=True)
        for name in ("entropy_coef", "value_coef"):
            _check_float(name, getattr(self, name), low=0.0, high=math.inf)
        _check_float("lr", self.lr, low=0.0, high=math.inf, low_open=True)
        if not self.hidden or any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden must be one or more positive layer widths, but got hidden={self.hidden!r}")
        if any(not isinstance(c, int) or isinstance(c, bool) or c < 1 for c in self.cnn_channels):
            raise ValueError(f"cnn_channels must be positive channel counts, but got cnn_channels={self.cnn_channels!r}")
        if not isinstance(self.optimizer, str) or not self.optimizer:
            raise ValueError(f"optimizer must be an optimizer's name, but got optimizer={self.optimizer!r}")

    @property
    def rollout_size(self) -> int:
        """Samples per rollout (one update round): n_envs x n_steps."""
        return self.n_envs * self.n_steps

    @property
    def rollouts_per_epoch(self) -> int:
        return self.steps_per_epoch // self.rollout_size

    @property
    def epochs_per_update(self) -> int:
        """Passes over each rollout (PPO's K); A2C and REINFORCE take one."""
        if self.update_epochs is not None:
            return self.update_epochs
        return 4 if self.algorithm is Algorithm.PPO else 1

    @property
    def minibatches(self) -> int:
        if self.n_minibatches is not None:
            return self.n_minibatches
        return 4 if self.algorithm is Algorithm.PPO else 1


def _check_enum(enum_cls: type[enum.StrEnum], name: str, value: Any) -> None:
    allowed = [e.value for e in enum_cls]
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, but got {name}={value!r}")


def _check_int(name: str, value: Any, *, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, but got {name}={value!r}")


def _check_float(name: str, value: Any, *, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and value <= high
    if not ok:
        rule = f"{'>' if low_open else '>='} {low}" + ("" if high == math.inf else f" and <= {high}")
        raise ValueError(f"{name} must be a finite number {rule}, but got {name}={value!r}")
