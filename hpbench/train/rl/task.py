"""The ``rl`` task (:mod:`hpbench.train.task`): the shared trainer drives an :class:`RLRun` one
epoch (``steps_per_epoch`` environment steps, then the deterministic evaluation) at a time.

A trial's :class:`~hpbench.config.TrialConfig` becomes an :class:`RLConfig`: ``[data] env``, the
task's own keys (``[model] algorithm``, ``[train] n_envs``, ...), the policy network from ``[model]
family`` and its parameters, ``[optimizer]`` (built by hpbench's optimizer registry), ``[train]
clip_norm`` as the gradient-norm clip, the trial's seed and threads.

Epoch rows: ``val_return`` / ``val_length`` (the evaluation), ``train_*`` (training episodes and the
update's diagnostics), ``train_loss`` (the loss the gradient steps minimized: policy + value_coef x
value - entropy_coef x entropy), ``env_steps`` (so far) and the wall-clock split. A trial whose
``val_return`` reaches the reward threshold stops as ``solved`` (``stop_on_solve``); its last row
carries ``steps_to_solve`` and ``env_steps``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpbench.config import TrialConfig
from hpbench.results.status import StopReason
from hpbench.train.optimizers import build_optimizer
from hpbench.train.rl import keys
from hpbench.train.rl.config import RLConfig
from hpbench.train.rl.normalize import NormalizedPolicy
from hpbench.train.rl.run import RLRun

STATE_KEY = "rl"  # the run's state inside the trainer's (whose own keys include "epoch")


def rl_config(cfg: TrialConfig) -> RLConfig:
    """The :class:`RLConfig` of a trial (its keys validated by the study parser; RLConfig checks them again)."""
    if not cfg.data.env:
        raise ValueError("data.env: the rl task needs a Gymnasium environment id")
    own = {k: v for k, v in cfg.task_params.items() if k in keys.TRAIN or k in keys.MODEL}
    clip = cfg.train.clip_norm if cfg.train.clip_norm is not None else keys.CLIP_NORM_DEFAULT
    return RLConfig(env_id=cfg.data.env, **own, **keys.policy_params(cfg.model.family, dict(cfg.model.params)), lr=cfg.optimizer.lr,
                    optimizer=cfg.optimizer.name, optimizer_kwargs=dict(cfg.optimizer.params), max_grad_norm=clip, seed=cfg.seed,
                    threads=cfg.threads)


class RLTaskRun:
    """One rl trial (:class:`hpbench.train.task.TaskRun`); the policy trains on the CPU."""

    def __init__(self, cfg: TrialConfig) -> None:
        self.cfg = cfg
        self.rl = rl_config(cfg)
        self.run = RLRun(self.rl, build_optimizer=build_optimizer)
        # normalize_obs: the model holds the observation statistics too, so the best epoch's weights are kept with its own
        self.normalized = NormalizedPolicy(self.run.policy, self.run.obs_norm.stats.mean.shape) if self.rl.normalize_obs else None
        self.model = self.normalized if self.normalized is not None else self.run.policy
        self.n_params = sum(p.numel() for p in self.model.parameters())

    def first_fields(self) -> dict[str, Any]:
        return {"device": "cpu"}

    def run_epoch(self) -> dict[str, Any]:
        m = self.run.train_epoch()
        if self.normalized is not None:  # the statistics this epoch's evaluation used
            self.normalized.set_stats(self.run.obs_norm.stats.state_dict())
        rl = self.rl
        loss = m["policy_loss"] + rl.value_coef * m["value_loss"] - rl.entropy_coef * m["entropy"]
        return {
            "train_loss": loss, "val_return": m["eval_return"], "val_length": m["eval_length"],
            "train_return": m["train_return"], "train_episode_length": m["episode_length"], "train_episodes": m["n_episodes"],
            "train_entropy": m["entropy"], "train_approx_kl": m["approx_kl"], "train_clip_fraction": m["clip_fraction"],
            "train_policy_loss": m["policy_loss"], "train_value_loss": m["value_loss"], "train_explained_variance": m["explained_variance"],
            "train_updates": m["n_updates"], "learning_rate": float(self.run.optimizer.param_groups[0]["lr"]),
            "env_steps": int(m["env_steps"]), "eval_env_steps": int(m["eval_env_steps"]),
            "rollout_s": m["rollout_s"], "update_s": m["update_s"], "eval_s": m["eval_s"],
        }

    def diverged(self, row: Mapping[str, Any]) -> bool:
        return not math.isfinite(row["train_loss"]) or not math.isfinite(row["val_return"])

    def stop_reason(self) -> StopReason | None:
        return StopReason.SOLVED if self.run.solved and self.rl.stop_on_solve else None

    def final_fields(self, *, diverged: bool) -> dict[str, Any]:
        return {"steps_to_solve": self.run.steps_to_solve, "env_steps": self.run.env_steps}

    def record(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The weights file of an rl trial: the policy's weights and what rebuilds it (plain values: weights_only loads it)."""
        info, rl = self.run.info, self.rl
        obs_norm = self.normalized.stats() if self.normalized is not None else self.run.obs_norm.stats.state_dict()  # the best epoch's
        return {"state_dict": {k: v.detach().to("cpu", copy=True) for k, v in self.run.policy.state_dict().items()},
                "task": "rl", "family": self.cfg.model.family, "params": dict(self.cfg.model.params), "env": rl.env_id,
                "algorithm": rl.algorithm.value, "input_shape": tuple(info.obs_shape), "n_outputs": int(info.n_actions),
                "obs_kind": info.obs_kind.value, "head_kind": info.head_kind.value, "hidden": list(rl.hidden),
                "activation": rl.activation.value, "cnn_channels": list(rl.cnn_channels), "normalize_obs": rl.normalize_obs,
                "obs_norm": obs_norm, "temperature": None}

    def state_dict(self) -> dict[str, Any]:
        return {STATE_KEY: self.run.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.run.load_state_dict(state[STATE_KEY])

    def close(self) -> None:
        self.run.close()
