"""The study keys of the ``rl`` task (``[model] task = "rl"``), with the rule each value must
satisfy: what the study parser checks, the JSON Schema describes and :mod:`hpbench.train.rl.task`
turns into an :class:`~hpbench.train.rl.config.RLConfig`. Torch-free and gym-free.

Defaults are :class:`RLConfig`'s (a test keeps them equal). Keys the ``rl`` task takes from the
common tables keep their meaning: ``[optimizer]`` (name, lr and its own hyperparameters),
``[train] max_epochs`` (an epoch = ``steps_per_epoch`` environment steps), ``early_stopping``,
``clip_norm`` (the global gradient-norm clip; 0.5 when unset, CleanRL's) and ``[model] family``
with its parameters (the policy and value networks: ``mlp`` for vector observations, ``cnn``
for images).
"""

from __future__ import annotations

from typing import Any

from hpbench.registry import Param
from hpbench.rules import Bool, Float, Int, OneOf, Str
from hpbench.train.rl.config import Algorithm

DATA = {
    "env": Param(Str(), doc="a Gymnasium environment id, e.g. CartPole-v1, or module:EnvId for one the module registers "
                 "(task rl; required there, instead of dataset)"),
}

MODEL = {
    "algorithm": Param(OneOf(tuple(a.value for a in Algorithm), "algorithm"), Algorithm.PPO.value,
                       "ppo (clipped surrogate), a2c (advantage actor-critic) or reinforce (Monte-Carlo returns with a value baseline)"),
}

_POSITIVE = Float(min=0.0, min_open=True)
_UNIT = Float(min=0.0, max=1.0)

TRAIN = {
    "n_envs": Param(Int(min=1, max=4096), 8, "parallel environment copies (gymnasium.vector.SyncVectorEnv)"),
    "n_steps": Param(Int(min=1), 256, "steps per environment copy per rollout (one update round per rollout)"),
    "steps_per_epoch": Param(Int(min=1), 2048, "environment steps (all copies) per epoch: a multiple of n_envs x n_steps"),
    "gamma": Param(_UNIT, 0.99, "discount factor"),
    "gae_lambda": Param(_UNIT, 0.95, "GAE's lambda (ppo, a2c): 0 = one-step TD, 1 = Monte-Carlo"),
    "clip_range": Param(_POSITIVE, 0.2, "PPO's clipping epsilon of the probability ratio"),
    "clip_range_vf": Param(_POSITIVE, doc="PPO's clipping of the value change (unset: no value clipping)"),
    "entropy_coef": Param(Float(min=0.0), 0.0, "weight of the entropy bonus"),
    "value_coef": Param(Float(min=0.0), 0.5, "weight of the value loss"),
    "update_epochs": Param(Int(min=1), doc="passes over each rollout (unset: 4 for ppo, 1 for a2c and reinforce)"),
    "n_minibatches": Param(Int(min=1), doc="minibatches per pass (unset: 4 for ppo, 1 for a2c and reinforce)"),
    "target_kl": Param(_POSITIVE, doc="end an update round once the approximate KL exceeds this (unset: never)"),
    "normalize_advantages": Param(Bool(), True, "per-minibatch zero mean and unit std of the advantages"),
    "normalize_obs": Param(Bool(), False, "running mean/std normalization of vector observations"),
    "normalize_rewards": Param(Bool(), False, "scale rewards by the running std of the discounted return"),
    "eval_episodes": Param(Int(min=1, max=10_000), 20, "deterministic-policy episodes per epoch (val_return is their mean return)"),
    "eval_seed": Param(Int(min=0), 10_000, "evaluation episode i resets with eval_seed + i (the same episodes every epoch and trial)"),
    "reward_threshold": Param(Float(), doc="val_return that solves the env (unset: the env's spec.reward_threshold, CartPole-v1: 475)"),
    "stop_on_solve": Param(Bool(), True, "stop a trial as 'solved' once val_return reaches the reward threshold"),
    "log_std_init": Param(Float(min=-20.0, max=2.0), 0.0, "initial log standard deviation of a Gaussian policy (continuous actions)"),
}

# The [train] keys only some algorithms read, and those algorithms (refused beside a fixed algorithm that ignores them).
ALGORITHM_KEYS = {"gae_lambda": ("ppo", "a2c"), "clip_range": ("ppo",), "clip_range_vf": ("ppo",)}

# The policy network's defaults when [model] leaves them out: CleanRL's 2 x 64 tanh actor and critic
# (the mlp family's own defaults, 2 x 128 relu, are for supervised models).
MLP_DEFAULTS = {"depth": 2, "width": 64, "activation": "tanh"}
CNN_DEFAULTS = {"conv_depth": 2, "channels": 16, "width": 64, "activation": "relu"}
FAMILIES = {"mlp": "vector", "cnn": "image"}  # the families a policy can be, and the observations each reads
# A family's parameters the rl networks do not have, each with why (the rule an error names).
_FIXED_CNN = "the rl cnn's convolutions are fixed (3x3, stride 2, no pooling or normalization)"
UNSUPPORTED_FAMILY_PARAMS = {
    "dropout": "an rl policy has no dropout (it would make the rollout's and the update's log-probabilities differ)",
    "kernel": _FIXED_CNN, "pool": _FIXED_CNN, "batch_norm": _FIXED_CNN,
}
# Keys of the common tables that mean nothing to the rl task (rejected when set or searched).
NOT_FOR_RL = ("data.dataset", "data.val_fraction", "data.test_fraction", "data.preprocess", "model.init_from", "model.freeze",
              "train.batch_size", "train.init", "train.init_std", "train.calibration", "train.precision", "train.devices",
              "train.clip_value", "train.label_smoothing")
CLIP_NORM_DEFAULT = 0.5  # CleanRL's and SB3's max_grad_norm

# The metrics an rl trial reports per epoch (the epochs table's columns): the evaluation's under
# val_, the training rollouts' and the update's under train_.
METRICS = ("train_loss", "val_return", "val_length", "train_return", "train_episode_length", "train_episodes", "train_entropy",
           "train_approx_kl", "train_clip_fraction", "train_policy_loss", "train_value_loss", "train_explained_variance", "train_updates")


def policy_params(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """The :class:`RLConfig` network fields of ``[model] family`` and its parameters (the rl
    defaults filled in): ``mlp`` → ``depth`` hidden layers of ``width``; ``cnn`` →
    ``conv_depth`` 3x3 stride-2 convolutions of ``channels`` doubling per layer, then ``width``
    features. Raises ValueError for another family (the study parser checks this first)."""
    if family == "mlp":
        p = {**MLP_DEFAULTS, **params}
        return {"hidden": (int(p["width"]),) * int(p["depth"]), "activation": str(p["activation"])}
    if family == "cnn":
        p = {**CNN_DEFAULTS, **params}
        return {"hidden": (int(p["width"]),), "activation": str(p["activation"]),
                "cnn_channels": tuple(int(p["channels"]) * 2**i for i in range(int(p["conv_depth"])))}
    raise ValueError(f"model.family: the rl task's policy is one of {', '.join(FAMILIES)}, but got {family!r}")
