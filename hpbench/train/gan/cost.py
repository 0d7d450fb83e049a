"""FLOPs of GAN training, from the per-sample forward FLOPs of G and D (pure functions).

Convention as in ``hpbench.cost.formulas``: one multiply-add = 2 FLOPs, matmuls only, and a
backward pass costs 2x its forward (weight gradient + input gradient; Kaplan et al. 2020, §2.1)
or 1x when only one of the two is needed. With F_G, F_D the forward FLOPs of one sample through
G and D and B the batch size:

- D step: G forward without grad on B noise vectors (F_G), D forward + full backward on B real and
  B fake samples (2 · 3 F_D)                                        → B · (F_G + 6 F_D)
- gradient penalty (WGAN-GP), per interpolated sample: D forward (1 F_D), its input gradient with
  ``create_graph`` (1 F_D: no weight gradients), then backprop through both graphs (2 F_D + 2 F_D)
                                                                    → B · 6 F_D
- G step: G forward + backward (3 F_G), D forward + input-gradient-only backward (D is frozen, 2 F_D)
                                                                    → B · (3 F_G + 2 F_D)
- evaluation: one G forward per evaluation sample                   → n_eval · F_G

Checked against the matmul FLOPs ``torch.utils.flop_counter`` counts op by op (tests/test_gan.py):
the counted steps land up to 7 % below these figures (5 % on a 16-64-64-2 G: its first layer
needs no input gradient, which a per-sample forward total cannot single out).
Optimizer updates, the generator average and the metrics are O(parameters) or O(samples) and left out.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hpbench.train.gan.config import GANConfig, GANLoss

D_STEP_PER_SAMPLE_D = 6  # forward + backward (3x) on a real and a fake sample
GP_PER_SAMPLE_D = 6  # forward, input gradient, double backward (measured: 5.98 on a 3-layer MLP critic)
G_STEP_PER_SAMPLE_G = 3  # forward + backward
G_STEP_PER_SAMPLE_D = 2  # forward + input gradient through the frozen D


def mlp_forward_flops(*, sizes: Sequence[int]) -> int:
    """Per-sample forward FLOPs of an MLP with layer widths ``sizes`` (input, hidden..., output):
    Σ 2·in·out over consecutive pairs (biases and activations are O(width) and left out)."""
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list >= 2 positive widths, but got {list(sizes)}")
    return sum(2 * a * b for a, b in itertools.pairwise(sizes))


def d_step_flops(*, g_forward: float, d_forward: float, batch_size: int, gradient_penalty: bool) -> float:
    """One discriminator update (see the module docstring)."""
    per_sample = g_forward + D_STEP_PER_SAMPLE_D * d_forward + (GP_PER_SAMPLE_D * d_forward if gradient_penalty else 0)
    return batch_size * per_sample


def g_step_flops(*, g_forward: float, d_forward: float, batch_size: int) -> float:
    """One generator update (see the module docstring)."""
    return batch_size * (G_STEP_PER_SAMPLE_G * g_forward + G_STEP_PER_SAMPLE_D * d_forward)


def epoch_flops(*, g_forward: float, d_forward: float, batch_size: int, steps_per_epoch: int, d_steps: int,
                gradient_penalty: bool, n_eval_samples: int = 0) -> float:
    """FLOPs of one ``GANRun.train_epoch``: ``steps_per_epoch`` x (``d_steps`` D updates + one G update),
    plus the evaluation's G forward on ``n_eval_samples``."""
    for name, value in (("g_forward", g_forward), ("d_forward", d_forward)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0 FLOPs, but got {name}={value}")
    for name, n in (("batch_size", batch_size), ("steps_per_epoch", steps_per_epoch), ("d_steps", d_steps)):
        if n < 1:
            raise ValueError(f"{name} must be >= 1, but got {name}={n}")
    d = d_step_flops(g_forward=g_forward, d_forward=d_forward, batch_size=batch_size, gradient_penalty=gradient_penalty)
    g = g_step_flops(g_forward=g_forward, d_forward=d_forward, batch_size=batch_size)
    return steps_per_epoch * (d_steps * d + g) + n_eval_samples * g_forward


def config_epoch_flops(config: GANConfig, *, data_dim: int) -> float:
    """:func:`epoch_flops` for the MLP networks a :class:`GANConfig` builds on ``data_dim``-feature samples."""
    g = mlp_forward_flops(sizes=[config.latent_dim, *[config.g_hidden] * config.g_depth, data_dim])
    d = mlp_forward_flops(sizes=[data_dim, *[config.d_hidden] * config.d_depth, 1])
    return epoch_flops(g_forward=g, d_forward=d, batch_size=config.batch_size, steps_per_epoch=config.steps_per_epoch,
                       d_steps=config.d_steps, gradient_penalty=config.loss is GANLoss.WASSERSTEIN_GP and config.gp_weight > 0,
                       n_eval_samples=config.n_eval_samples)
