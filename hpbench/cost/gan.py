"""The predicted cost columns of a gan trial (``[model] task = "gan"``): both networks' work per
epoch, and seconds from the device model.

FLOPs of an epoch (:func:`hpbench.train.gan.cost.epoch_flops`, formulas and their check there):
``g_steps_per_epoch`` x (``d_steps`` discriminator updates — G forward without grad, D forward and
backward on a real and a fake batch, plus the gradient penalty's double backward with
``wasserstein_gp`` — and one generator update — G forward and backward through a frozen D), then
the evaluation's G forward on ``n_eval_samples``.

Seconds of an epoch on the device model (:mod:`hpbench.cost.predict`), term by term::

    t = g_steps_per_epoch x (d_steps x t(D update) + t(G update)) + t(G forward at n_eval_samples)

where t(D update) is a counted training step of D on a batch of 2 x batch_size (real and fake)
plus, with the penalty, the same step again on batch_size samples (a double backward costs about
what a forward and backward on twice the batch do: 6 F_D per sample, as the FLOPs formula says),
and t(G update) a counted step of G followed by D (D's weight gradients, which the real step
skips, make it an upper bound by 1 F_D per sample). The optimizer's update is in each counted step.

The regime is that of the epoch's summed terms (:mod:`hpbench.cost.regime`), and the whole trial is
priced as a supervised one (:mod:`hpbench.cost.trial_time`): the trainer's seconds per epoch, the
first epoch's warm-up, the slowdown of ``max_concurrent`` trials in that regime, and its P10-P90.
"""

from __future__ import annotations

import math
from typing import Any

from hpbench.config import TrialConfig
from hpbench.cost import trial_time as tt
from hpbench.cost.device import DeviceModel
from hpbench.cost.regime import Regime, regime_of


def predict_trial(cfg: TrialConfig, *, device_model: DeviceModel, max_concurrent: int = 1, **_: Any) -> dict[str, Any]:
    """Predicted cost columns of a gan trial run to ``max_epochs`` while ``max_concurrent`` trials
    share the machine: the supervised task's columns, its regime and P10-P90 interval included."""
    import torch

    from hpbench.cost.count import count_module_step
    from hpbench.cost.predict import TRAIN_PHASES, add, features, seconds
    from hpbench.data.prepare import config_kwargs, data_shape
    from hpbench.train.gan.config import GANLoss
    from hpbench.train.gan.cost import epoch_flops, mlp_forward_flops
    from hpbench.train.gan.networks import discriminator, generator
    from hpbench.train.gan.task import gan_config

    gan = gan_config(cfg)
    shape = data_shape(**config_kwargs(cfg.data, cfg.seed)).input_shape
    dim = math.prod(shape)
    g_net = generator(latent_dim=gan.latent_dim, out_dim=dim, hidden=gan.g_hidden, depth=gan.g_depth, activation=gan.activation)
    d_net = discriminator(in_dim=dim, hidden=gan.d_hidden, depth=gan.d_depth, activation=gan.activation)
    f_g = mlp_forward_flops(sizes=[gan.latent_dim, *[gan.g_hidden] * gan.g_depth, dim])
    f_d = mlp_forward_flops(sizes=[dim, *[gan.d_hidden] * gan.d_depth, 1])
    gp = gan.loss is GANLoss.WASSERSTEIN_GP and gan.gp_weight > 0
    per_epoch = epoch_flops(g_forward=f_g, d_forward=f_d, batch_size=gan.batch_size, steps_per_epoch=gan.steps_per_epoch,
                            d_steps=gan.d_steps, gradient_penalty=gp, n_eval_samples=gan.n_eval_samples)
    b = gan.batch_size
    d_opt, g_opt = gan.d_optimizer, gan.g_optimizer
    d_step = count_module_step(d_net, x=torch.zeros(2 * b, dim), optimizer=d_opt.name, optimizer_params=dict(d_opt.params))
    d_gp = count_module_step(d_net, x=torch.zeros(b, dim), optimizer=d_opt.name, optimizer_params=dict(d_opt.params)) if gp else None
    g_step = count_module_step(torch.nn.Sequential(g_net, d_net), x=torch.zeros(b, gan.latent_dim), optimizer=g_opt.name,
                               optimizer_params=dict(g_opt.params), eval_x=torch.zeros(gan.n_eval_samples, gan.latent_dim))
    step_flops = gan.d_steps * (d_step.total_flops + (d_gp.total_flops if d_gp else 0.0)) + g_step.total_flops
    naive = per_epoch / device_model.peak_flops_per_s
    if device_model.hypothetical:
        step_s, epoch_s, regime = step_flops / device_model.peak_flops_per_s, naive, Regime.COMPUTE
    else:
        d_state = tt.state_working_set_bytes(n_params=sum(p.numel() for p in d_net.parameters()), optimizer=d_opt.name)
        g_state = tt.state_working_set_bytes(n_params=sum(p.numel() for p in g_net.parameters()), optimizer=g_opt.name)

        def f(cost: Any, state: float, phases: tuple[str, ...] = TRAIN_PHASES) -> dict[str, float]:
            return features(cost.ops, device=device_model, phases=phases, state_bytes=state)

        d_f = add(f(d_step, d_state), f(d_gp, d_state) if d_gp is not None else {})
        step_f = add(f(g_step, g_state), d_f, gan.d_steps)  # one generator step and its d_steps discriminator steps
        epoch_f = add(add({}, step_f, gan.steps_per_epoch), f(g_step, 0.0, ("eval",)))
        epoch_f["epoch"] = 1.0
        step_s, epoch_s, regime = seconds(step_f, device_model.coef), seconds(epoch_f, device_model.coef), regime_of(epoch_f, device_model.coef)
    # a whole trial as the supervised task prices one (hpbench.cost.trial_time): the trainer's
    # seconds per epoch, the first epoch's warm-up, concurrent trials' slowdown, the regime's interval
    slow = tt.concurrency_slowdown(regime=regime, max_concurrent=max_concurrent, slowdowns=device_model.concurrency_slowdown)
    warmup_s = slow * tt.warmup_seconds(epoch_s=epoch_s, warmup_fraction=device_model.warmup_fraction, first_epoch_s=device_model.first_epoch_s)
    epoch_s = slow * (epoch_s + device_model.trainer_epoch_s)
    epochs = cfg.train.max_epochs
    trial_s = epoch_s * epochs + warmup_s
    band = tt.interval(predicted_s=trial_s, regime=regime, intervals=device_model.intervals)
    return {
        "n_params": sum(p.numel() for p in (*g_net.parameters(), *d_net.parameters())),
        "flops_per_step": step_flops,
        "flops_per_epoch": per_epoch,
        "predicted_flops": float(per_epoch * epochs),  # a float as every task's (an int printed as 304601600000 beside 3.05e+11)
        "predicted_step_s": step_s,
        "predicted_epoch_s": epoch_s,
        "predicted_s": trial_s,
        "naive_s": naive * epochs,
        "regime": str(regime),
        "predicted_warmup_s": warmup_s,
        "concurrency_slowdown": slow,
        "predicted_s_p10": band[0] if band else None,
        "predicted_s_p90": band[1] if band else None,
        "steps_per_epoch": gan.steps_per_epoch,
    }
