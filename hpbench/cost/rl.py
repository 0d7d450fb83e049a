"""The predicted cost columns of an rl trial (``[model] task = "rl"``): the network's FLOPs, counted
like the supervised task's, and seconds from the device model plus the measured loops around the environment.

FLOPs of an epoch (:func:`hpbench.train.rl.cost.epoch_flops`, formulas there): the rollout's
forward passes (one per environment step, one bootstrap per copy and rollout), ``update_epochs``
passes of forward and backward (2x forward) over every sample, the evaluation's forward passes,
plus the optimizer's update per gradient step (counted op by op, :mod:`hpbench.cost.count`).

Seconds of an epoch on the device model (:mod:`hpbench.cost.predict`), term by term::

    t = n_updates x t(update step at minibatch n_envs·n_steps/n_minibatches: forward, backward, optimizer)
      + (steps_per_epoch / n_envs + rollouts) x t(forward at batch n_envs)
      + eval_steps / eval_episodes x t(forward at batch eval_episodes)
      + steps_per_epoch / n_envs x rollout_step_s + eval_steps / eval_episodes x eval_step_s

where ``rollout_step_s`` and ``eval_step_s`` are the measured seconds per vector step of hpbench's own
rollout and evaluation loops on the environment, networks left out (:mod:`hpbench.train.rl.looptime`:
the environment's steps in the vector env, sampling, log-probs, tensor conversions, normalization,
bookkeeping, the returns' recursion; cached per machine by :mod:`hpbench.cost.envtime`; their sum is
``predicted_env_epoch_s``), and ``eval_steps`` the evaluation's worst case, every episode running to
the time limit (``eval_episodes x max_episode_steps``): a policy whose episodes end early costs less,
so the prediction is an upper bound on the evaluation. ``env_step_s`` is the environment's own time
per step (:func:`hpbench.train.rl.cost.measure_env_step_s`), inside the loops' seconds. Not counted:
the update's work between its priced steps (minibatch indexing, gradient clipping, reading the
losses back).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpbench.config import TrialConfig
from hpbench.cost.device import DeviceModel


def predict_trial(cfg: TrialConfig, *, device_model: DeviceModel, env_cache_dir: Path | None = None, max_concurrent: int = 1,
                  **_: Any) -> dict[str, Any]:
    """Predicted cost columns of an rl trial run to ``max_epochs`` (the supervised task's columns,
    plus ``env_step_s`` and ``predicted_env_epoch_s``), priced as a whole trial like the supervised
    task's (:mod:`hpbench.cost.trial_time`): its regime (the environment's seconds count as
    overhead), the trainer's seconds per epoch, the first epoch's warm-up, the slowdown of
    ``max_concurrent`` trials and the regime's P10-P90 interval."""
    import torch

    from hpbench.cost import trial_time as tt
    from hpbench.cost.count import count_module_step
    from hpbench.cost.envtime import env_step_seconds, loop_step_seconds
    from hpbench.cost.predict import add, features, seconds
    from hpbench.cost.regime import Regime, regime_with_overhead
    from hpbench.train.rl.cost import config_epoch_flops, forward_flops_per_sample, max_eval_steps
    from hpbench.train.rl.envs import ObsKind, env_info
    from hpbench.train.rl.evaluate import DEFAULT_MAX_STEPS
    from hpbench.train.rl.looptime import loop_epoch_seconds, slim_policy
    from hpbench.train.rl.policy import build_policy
    from hpbench.train.rl.task import rl_config

    rl = rl_config(cfg)
    info = env_info(rl.env_id, rl.env_kwargs)
    policy = build_policy(info, hidden=rl.hidden, activation=rl.activation, cnn_channels=rl.cnn_channels, log_std_init=rl.log_std_init, seed=0)
    image = info.obs_kind is ObsKind.IMAGE
    obs_shape = (info.obs_shape[1], info.obs_shape[2], info.obs_shape[0]) if image else info.obs_shape  # what the env returns
    dtype = torch.uint8 if image else torch.float32
    f = forward_flops_per_sample(policy, obs_shape, image=image)
    eval_steps = max_eval_steps(eval_episodes=rl.eval_episodes, max_episode_steps=info.max_episode_steps or DEFAULT_MAX_STEPS)
    epoch = config_epoch_flops(rl, forward_flops_per_sample=f, eval_steps=eval_steps)

    def count(net: Any, batch: int, eval_batch: int) -> Any:
        return count_module_step(_actor_and_critic(net), x=torch.zeros((batch, *obs_shape), dtype=dtype),
                                 loss_fn=_update_loss(rl, categorical=policy.log_std is None),
                                 optimizer=cfg.optimizer.name, optimizer_params=dict(cfg.optimizer.params),
                                 eval_x=torch.zeros((eval_batch, *obs_shape), dtype=dtype))

    def epoch_features(net: Any) -> tuple[dict[str, float], dict[str, float]]:
        """t above (the network's terms), as one feature vector (seconds() is linear in it), and the update step's."""
        update = count(net, rl.rollout_size // rl.minibatches, rl.n_envs)  # its eval phase: one rollout forward at batch n_envs
        evaluation = count(net, 1, rl.eval_episodes)
        step_f = features(update.ops, device=device_model)
        epoch_f = add(add(add({}, step_f, epoch.optimizer_steps), features(update.ops, device=device_model, phases=("eval",)), forwards),
                      features(evaluation.ops, device=device_model, phases=("eval",)), eval_steps / rl.eval_episodes)
        return epoch_f, step_f

    update = count(policy, rl.rollout_size // rl.minibatches, rl.n_envs)
    flops_per_epoch = float(epoch.forward + epoch.backward) + epoch.optimizer_steps * update.optimizer_flops
    forwards = rl.steps_per_epoch // rl.n_envs + rl.rollouts_per_epoch
    env_s = env_epoch_s = 0.0
    naive = flops_per_epoch / device_model.peak_flops_per_s
    if device_model.hypothetical:  # the textbook model: FLOPs / FLOP/s
        step_s, epoch_s, regime = update.total_flops / device_model.peak_flops_per_s, naive, Regime.COMPUTE
    else:
        coef = device_model.coef
        env_s = env_step_seconds(rl.env_id, cache_dir=env_cache_dir)
        epoch_f, step_f = epoch_features(policy)
        # the loops measured with the slim policy, less the device model's price of its network: the seconds the device model does not see
        loops_s = loop_epoch_seconds(loop_step_seconds(rl, cache_dir=env_cache_dir), rl, optimizer_steps=epoch.optimizer_steps, eval_steps=eval_steps)
        env_epoch_s = max(0.0, loops_s - seconds(epoch_features(slim_policy(rl, info))[0], coef))
        epoch_f["epoch"] = 1.0
        step_s, epoch_s = seconds(step_f, coef), seconds(epoch_f, coef) + env_epoch_s
        regime = regime_with_overhead(epoch_f, coef, overhead_s=env_epoch_s)
    epochs = cfg.train.max_epochs
    # (a hypothetical device measured none of these: no slowdown, warm-up or trainer seconds, no interval)
    slow = tt.concurrency_slowdown(regime=regime, max_concurrent=max_concurrent, slowdowns=device_model.concurrency_slowdown)
    warmup_s = slow * tt.warmup_seconds(epoch_s=epoch_s, warmup_fraction=device_model.warmup_fraction, first_epoch_s=device_model.first_epoch_s)
    epoch_s = slow * (epoch_s + device_model.trainer_epoch_s)
    trial_s = epoch_s * epochs + warmup_s
    band = tt.interval(predicted_s=trial_s, regime=regime, intervals=device_model.intervals)
    return {
        "n_params": update.n_params,
        "flops_per_step": update.total_flops,
        "flops_per_epoch": flops_per_epoch,
        "predicted_flops": flops_per_epoch * epochs,
        "predicted_step_s": step_s,
        "predicted_epoch_s": epoch_s,
        "predicted_s": trial_s,
        "naive_s": naive * epochs,
        "steps_per_epoch": epoch.optimizer_steps,
        "env_step_s": env_s,
        "predicted_env_epoch_s": env_epoch_s,
        "regime": str(regime),
        "predicted_warmup_s": warmup_s,
        "concurrency_slowdown": slow,
        "predicted_s_p10": band[0] if band else None,
        "predicted_s_p90": band[1] if band else None,
    }


def _update_loss(rl: Any, *, categorical: bool) -> Any:
    """The update's minibatch loss on the counted output (the actor's head, then the value), with the
    algorithm's own loss functions, so that its ops are counted too (the rollout's tensors are zeros)."""
    import torch

    from hpbench.train.rl.config import Algorithm
    from hpbench.train.rl.ppo import ppo_loss
    from hpbench.train.rl.reinforce import pg_loss

    def loss(out: torch.Tensor, _: Any) -> torch.Tensor:
        head, values = out[:, :-1], out[:, -1]
        zeros = torch.zeros(len(out), device=out.device)
        if categorical:  # ActorCritic.log_prob / entropy of a categorical head
            logp = torch.log_softmax(head, dim=-1)
            logprob = logp.gather(-1, zeros.long().unsqueeze(-1)).squeeze(-1)
            entropy = -(logp.exp() * logp).sum(-1)
        else:  # a Gaussian head's log-density (its log-std is a parameter of the policy)
            logprob = (-0.5 * head.pow(2) - 0.5).sum(-1)
            entropy = zeros + 1.0
        adv = zeros
        if rl.normalize_advantages:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        common = dict(logprob=logprob, old_logprob=zeros, advantages=adv, entropy=entropy, values=values, returns=zeros)
        if rl.algorithm is Algorithm.PPO:
            parts = ppo_loss(**common, old_values=zeros, clip_range=rl.clip_range, clip_range_vf=rl.clip_range_vf)
        else:
            parts = pg_loss(**common)
        return parts.total(value_coef=rl.value_coef, entropy_coef=rl.entropy_coef)

    return loss


def _actor_and_critic(policy: Any) -> Any:
    """The policy as one module whose output holds the actor's head and the critic's value, so
    that a counted backward runs through both networks (as the update's loss does)."""
    import torch
    from torch import nn

    class ActorAndCritic(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            head, value = self.policy(obs)
            return torch.cat([head, value.unsqueeze(-1)], dim=-1)

    return ActorAndCritic()
